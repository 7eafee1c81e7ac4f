"""A prototype of the sampler issue #27 asks ``VAETransformer.sample`` to become.

PROTOTYPE, for ``bench_synthetic.py --prototype`` only: it will be replaced
by ``VAETransformer.sample`` itself once skae's internals settle, and its
numbers are marked as prototype numbers wherever they are reported.

Today ``VAETransformer.sample(n)`` decodes codes drawn from the prior to the
decoder's *mode*: every categorical column its most probable level, every
number the Gaussian's mean, no missing values. That is not a draw from the
model: rare levels vanish and numbers are too smooth. :func:`sample` draws
from the model instead, per column kind:

- the code: ``z ~ N(0, I)`` (the prior), or with ``conditions`` from the
  model's posterior given the conditioned columns (see below);
- a numeric column: ``x = mu_j(z) + exp(log_scale) * eps`` in standardised
  units (``eps ~ N(0, 1)``; ``log_scale`` is the decoder's learned Gaussian
  scale, one scalar shared by the table's numeric columns, as the model is
  trained), then ``x * scale + mean`` in the column's units; clipped to the
  training range ``[min, max]``; rounded to whole numbers where the column
  is of an integer dtype or all its training values were whole numbers;
- a binary (boolean) column: ``Bernoulli(sigmoid(h_j(z)))``;
- a categorical column: a level drawn from ``softmax(h_j(z))`` (its head's
  distribution), not its argmax;
- missing values: each column that had missing values in training is set
  missing in each row independently at its training rate. (The decoder has
  no head for missingness: the indicators enter the encoder only, so the
  rates are recorded from the training data by :func:`training_stats`.
  Missingness is therefore independent of the values and of the other
  columns' missingness.)

The DataFrame is built by skae's own decoding (``skae._tabular.decode``):
the drawn values are handed to it as one-hot blocks and 0/1 flags, so the
result has the training columns, order and dtypes (``category`` levels and
``ordered`` kept), exactly as ``inverse_transform`` gives them.

Conditional sampling (``conditions={"column": value}``): the model's
conditional ``p(rest | given)`` by self-normalised importance resampling.
Proposals ``z`` come from the encoder's posterior on a row where only the
given columns are observed (skae's missing-value path: the other columns
enter as missing), widened by ``proposal_scale``; each is weighted by
``p(z) p(given | z) / q(z)``, with ``p(given | z)`` the decoder's likelihood
of the given values (a level's probability, a flag's, or the Gaussian
density of a number), and ``n_samples`` codes are resampled by weight.
The rest of each row is then drawn as above, the given columns set to the
given values (and never missing). A column the model does not have, a level
or flag the column never had, or a number outside the column's training
range is refused with a ValueError naming it.

Private pieces of skae this prototype touches (the rest is public API):

- ``est._table``: the fitted description of the columns (kinds, levels,
  dtypes, means and scales);
- ``est.net_.module_``: its ``decoder`` (pre-activation head outputs),
  ``log_scale`` (the Gaussian's learned scale) and ``posterior`` (the
  encoder's means and log-variances, for ``conditions``);
- ``skae.modules.head_slices`` and ``skae._tabular.model_columns``,
  ``encode`` and ``decode`` (where each column's head sits; the frame's
  dtypes).

What the real implementation needs beyond this, in skae itself: the training
range, whole-number flag and missing rate of each column kept in the
table's description at fit (``describe``), so ``sample`` needs no training
data (here :func:`training_stats` computes them from the training frame).
"""

import math

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

__all__ = ["training_stats", "sample"]


def training_stats(X):
    """What the sampler needs about each training column that ``_table`` lacks.

    Parameters
    ----------
    X : DataFrame
        The training frame the model was fitted on.

    Returns
    -------
    stats : dict
        ``column -> {"missing_rate", "min", "max", "whole"}`` (``min``,
        ``max`` and ``whole`` for numeric columns only).
    """
    stats = {}
    for name in X.columns:
        series = X[name]
        entry = {"missing_rate": float(series.isna().mean())}
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
                series.dtype):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            values = values[~np.isnan(values)]
            if len(values):
                entry.update(min=float(values.min()), max=float(values.max()),
                             whole=bool(np.all(values == np.round(values))))
        stats[name] = entry
    return stats


def _slices(est):
    from skae._tabular import model_columns
    from skae.modules import head_slices

    return head_slices(model_columns(est._table))


def _torch_rng(rng):
    return torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))


def _check_conditions(est, conditions, stats):
    """``conditions`` checked against the fitted columns; a one-row frame of them."""
    names = [c["name"] for c in est._table]
    row = {}
    for name, value in conditions.items():
        if name not in names:
            raise ValueError(f"conditions names column {name!r}, which the model does not have "
                             f"(its columns: {names}).")
        column = est._table[names.index(name)]
        if column["kind"] == "categorical":
            if value not in column["levels"]:
                raise ValueError(
                    f"conditions gives column {name!r} the value {value!r}, which it never had "
                    f"in fit (its levels: {column['levels']}).")
        elif column["kind"] == "binary":
            if value not in (True, False):
                raise ValueError(f"conditions gives boolean column {name!r} the value {value!r};"
                                 " give True or False.")
        else:
            low, high = stats[name].get("min"), stats[name].get("max")
            if not isinstance(value, (int, float, np.number)) or not low <= value <= high:
                raise ValueError(
                    f"conditions gives numeric column {name!r} the value {value!r}, outside "
                    f"its training range [{low}, {high}].")
        row[name] = value
    return row


def _partial_frame(est, row):
    """A one-row frame where only the given columns are observed (the rest missing)."""
    data = {}
    for column in est._table:
        name = column["name"]
        if name in row:
            data[name] = pd.Series([row[name]], dtype=object)
        elif column["kind"] == "numeric":
            data[name] = pd.Series([np.nan])
        else:
            data[name] = pd.Series([None], dtype=object)
    return pd.DataFrame(data)


def _log_lik_given(est, h, row):
    """``log p(given | z)`` under the decoder's heads ``h`` (pre-activation)."""
    module = est.net_.module_
    total = torch.zeros(h.shape[0], dtype=h.dtype)
    for column, (start, stop) in zip(est._table, _slices(est)):
        if column["name"] not in row:
            continue
        value = row[column["name"]]
        if column["kind"] == "categorical":
            code = column["levels"].index(value)
            total += torch.log_softmax(h[:, start:stop], dim=1)[:, code]
        elif column["kind"] == "binary":
            logit = h[:, start]
            total += -torch.nn.functional.softplus(-logit if value else logit)
        else:
            sigma = float(torch.exp(module.log_scale))
            x = (float(value) - column["mean"]) / column["scale"]
            total += -0.5 * ((x - h[:, start]) / sigma) ** 2 - math.log(sigma)
    return total


def _conditional_codes(est, row, n_samples, rng, n_proposals, proposal_scale):
    """Codes drawn from the model's posterior given ``row`` (importance resampling)."""
    from skae._tabular import encode

    module = est.net_.module_
    x = torch.as_tensor(encode(_partial_frame(est, row), est._table), dtype=torch.float32)
    with torch.inference_mode():
        mu, logvar = module.posterior(x)
        std = torch.exp(0.5 * logvar) * proposal_scale
        m = max(n_proposals, n_samples)
        eps = torch.randn((m, mu.shape[1]), generator=_torch_rng(rng))
        z = mu + std * eps
        log_prior = -0.5 * (z ** 2).sum(1)
        log_q = -0.5 * (eps ** 2).sum(1) - torch.log(std).sum()
        log_w = log_prior - log_q + _log_lik_given(est, module.decoder(z), row)
    w = torch.softmax(log_w.double(), 0).numpy()
    picked = rng.choice(m, size=n_samples, replace=True, p=w / w.sum())
    ess = float(1.0 / np.sum(w ** 2))
    return z[picked].numpy(), ess


def sample(est, n_samples=1, random_state=None, *, stats, conditions=None,
           n_proposals=20000, proposal_scale=1.5):
    """Rows drawn from a fitted ``VAETransformer``'s model of a table.

    Parameters
    ----------
    est : VAETransformer
        Fitted on a DataFrame with categorical or boolean columns (or gaps).
    n_samples : int, default=1
    random_state : int, RandomState instance or None
    stats : dict
        :func:`training_stats` of the training frame.
    conditions : dict, optional
        ``column -> value``: rows drawn from the model given these values.
    n_proposals, proposal_scale
        Importance resampling for ``conditions`` (see the module's notes).

    Returns
    -------
    X_new : DataFrame of shape (n_samples, n_features_in_)
        The training columns, order and dtypes. With ``conditions``, the
        frame's ``attrs["effective_sample_size"]`` is the importance
        weights' effective sample size (small: the conditional is poorly
        covered by the proposals).
    """
    from skae._tabular import decode

    check_is_fitted(est)
    if est._table is None:
        raise ValueError("the prototype samples tables only (a model fitted on a DataFrame "
                         "with categorical or boolean columns, or gaps).")
    rng = check_random_state(random_state)
    module = est.net_.module_.eval()
    row, ess = {}, None
    if conditions:
        row = _check_conditions(est, conditions, stats)
        Z, ess = _conditional_codes(est, row, n_samples, rng, n_proposals, proposal_scale)
    else:
        Z = rng.standard_normal((n_samples, est.n_components_))
    with torch.inference_mode():
        H = module.decoder(torch.as_tensor(Z, dtype=torch.float32)).double().numpy()
        sigma = float(torch.exp(module.log_scale))
    out = np.zeros_like(H)
    for column, (start, stop) in zip(est._table, _slices(est)):
        name, kind = column["name"], column["kind"]
        if kind == "numeric":
            x = H[:, start] + sigma * rng.standard_normal(n_samples)
            s = stats.get(name, {})
            if "min" in s:
                value = np.clip(x * column["scale"] + column["mean"], s["min"], s["max"])
                if s["whole"]:
                    value = np.round(value)
                x = (value - column["mean"]) / column["scale"]
            if name in row:
                x = np.full(n_samples, (float(row[name]) - column["mean"]) / column["scale"])
            out[:, start] = x
        elif kind == "binary":
            p = 1.0 / (1.0 + np.exp(-H[:, start]))
            flag = rng.random_sample(n_samples) < p
            out[:, start] = np.where(name in row, bool(row.get(name)), flag)
        else:
            logits = H[:, start:stop]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            u = rng.random_sample((n_samples, 1))
            codes = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), stop - start - 1)
            if name in row:
                codes[:] = column["levels"].index(row[name])
            out[np.arange(n_samples), start + codes] = 1.0
    frame = decode(out, est._table)
    for column in est._table:  # gaps at the training rates, never in a given column
        name = column["name"]
        rate = stats.get(name, {}).get("missing_rate", 0.0)
        if rate > 0 and name not in row:
            gaps = rng.random_sample(n_samples) < rate
            if gaps.any():
                if frame[name].dtype.kind in "iub":  # a dtype without NaN: widen it
                    frame[name] = frame[name].astype(float if column["kind"] == "numeric"
                                                     else object)
                frame.loc[gaps, name] = np.nan
    if ess is not None:
        frame.attrs["effective_sample_size"] = ess
    return frame
