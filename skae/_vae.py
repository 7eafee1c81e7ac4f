"""VAETransformer: a variational autoencoder with sampling and likelihoods."""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from . import _synthetic
from ._base import BaseAutoencoder
from ._callbacks import KLWarmup
from ._docstrings import ATTRIBUTES, params
from .losses import VAECriterion
from .modules import VariationalAutoencoder, build_variational_autoencoder

# ``score_samples`` estimates the ELBO's reconstruction term with this many
# fixed quasi-random (scrambled Sobol) standard-normal draws, shared by every
# row: deterministic, independent of batch composition, and with an error far
# below that of as many plain Monte Carlo draws. The draws are moment-matched
# (zero mean, identity covariance), so the estimate is exact wherever the
# decoder's log-likelihood is quadratic in the code (a linear Gaussian VAE);
# 64 raw Sobol points have a second moment of 1.12 in their first dimension,
# which biased the ELBO low.
N_SCORE_DRAWS = 64


class VAETransformer(BaseAutoencoder):
    __doc__ = f"""Variational autoencoder as a scikit-learn transformer.

    The encoder outputs a diagonal Gaussian posterior q(z|x) (a mean and a
    clamped log-variance); training samples codes with the
    reparameterisation trick and minimises, per sample, the reconstruction
    negative log-likelihood summed over features plus ``beta`` times
    KL(q(z|x) || N(0, I)) summed over latent dimensions (the negative ELBO,
    for ``beta=1``). Unlike a plain autoencoder, its latent space has no
    holes: codes drawn from the prior decode to plausible data.

    Parameters
    ----------
    {params("n_components", "categorical_features", "hidden_layer_sizes", "activation",
            "output_activation")}
    loss : {{'mse', 'bce', 'mae'}}, default='mse'
        The decoder's likelihood: ``'mse'`` a Gaussian with a learned scale
        (a fixed unit variance would let the KL term dominate on data in
        [0, 1] and collapse the posterior), ``'bce'`` a Bernoulli on logits
        (for data in [0, 1], exact for binary data), ``'mae'`` a Laplace with
        a learned scale.
    beta : float, default=1.0
        Weight of the KL term (a beta-VAE when not 1). Larger values give
        smoother, more disentangled codes and worse reconstructions.
    kl_warmup : int, default=0
        Epochs over which the KL weight grows linearly from 0 to ``beta``;
        0 is off. Helps against posterior collapse with strong decoders.
    {params("batch_norm", "dropout", "image_shape", "conv_channels", "kernel_size",
            "optimizer", "learning_rate", "learning_rate_init", "weight_decay", "max_grad_norm",
            "batch_size", "max_iter", "early_stopping", "validation_fraction",
            "n_iter_no_change", "tol", "callbacks", "device", "n_jobs", "random_state",
            "verbose", "warm_start", "target_weight",
            learning_rate="constant", learning_rate_init="1e-3", max_iter=200)}

    Attributes
    ----------
    {ATTRIBUTES}

    See Also
    --------
    AutoencoderTransformer : Deterministic autoencoder with the same interface.
    interpolate : Decode the latent path between two inputs.

    Notes
    -----
    ``transform`` returns the posterior mean and ``inverse_transform`` the
    decoder's mean, so both are deterministic. ``score_samples`` is the ELBO
    with ``beta=1`` whatever ``beta`` was trained with: the analytic KL
    term plus the reconstruction term averaged over 64 fixed quasi-random
    (scrambled Sobol, moment-matched) posterior draws shared by all rows, so
    it is deterministic, independent of batch composition, and exact for a
    linear Gaussian decoder. The skorch history
    ``net_.history`` records the epoch means of the reconstruction and KL
    terms as ``train_reconstruction``
    and ``train_kl`` (``valid_*`` with early stopping), and ``kl_weight``
    with ``kl_warmup``; ``loss_curve_`` holds the total.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(n_components=4, max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X).shape
    (1797, 4)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    >>> vae.score(X) < 0  # mean ELBO per sample, in nats
    True
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "loss": [StrOptions({"mse", "bce", "mae"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        categorical_features="from_dtype",
        hidden_layer_sizes=(128, 64),
        activation="relu",
        output_activation="auto",
        loss="mse",
        beta=1.0,
        kl_warmup=0,
        batch_norm=False,
        dropout=0.0,
        image_shape=None,
        conv_channels=(32, 64),
        kernel_size=3,
        optimizer="adam",
        learning_rate="constant",
        learning_rate_init=1e-3,
        weight_decay=0.0,
        max_grad_norm=None,
        batch_size="auto",
        max_iter=200,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        device="cpu",
        n_jobs=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        target_weight=0.0,
    ):
        self.n_components = n_components
        self.categorical_features = categorical_features
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.target_weight = target_weight

    def _builder(self):
        return build_variational_autoencoder

    def _init_weights(self, X):
        super()._init_weights(X)
        # Start the decoder's scale at that of a model predicting the mean:
        # its standard deviation (Gaussian) or mean absolute deviation
        # (Laplace); a table's numeric columns are standardised.
        if self._table is not None:
            spread = 1.0
        elif sp.issparse(X):
            mean = np.asarray(X.mean(axis=0)).ravel()
            spread = np.sqrt(np.mean(np.asarray(X.multiply(X).mean(axis=0)).ravel() - mean**2))
        elif self.loss == "mae":
            spread = np.abs(X - np.median(X, axis=0)).mean()
        else:
            spread = np.sqrt(X.var(axis=0).mean())
        with torch.no_grad():
            self.net_.module_.log_scale.fill_(math.log(max(float(spread), 1e-3)))

    def _criterion(self):
        return VAECriterion, {"loss": self.loss, "beta": self.beta}

    def _extra_callbacks(self):
        return [("kl_warmup", KLWarmup(self.beta, self.kl_warmup))] if self.kl_warmup else []

    def _callback_params(self):
        return {**super()._callback_params(), "kl_warmup__beta": self.beta}

    def _score_fn(self):
        draws = VariationalAutoencoder.quasi_random_draws(N_SCORE_DRAWS, self.n_components_)
        loss = self.loss
        return lambda m, xb: m.elbo(xb, draws, loss)

    def _sample_posterior(self, X, random_state):
        """Decode one code drawn from each row's posterior (``inverse_transform``'s output)."""
        X = self._validate_X(X)
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        generator = torch.Generator(device=self.net_.device).manual_seed(seed)
        return self._decoded(self._batched(X, lambda m, xb: m.sample_posterior(xb, generator)))

    def sample(self, n_samples=1, random_state=None, *, conditions=None):
        """Generate rows drawn from the model: codes from the prior, then the decoder.

        For a model fitted on a table (a DataFrame with boolean or
        categorical columns, or with missing values), the rows are draws
        from the model, not its modes: each code from the prior N(0, I),
        then each column from its head's distribution given the code:

        - a categorical column: a level drawn from its softmax;
        - a boolean column: a flag drawn from its Bernoulli;
        - a numeric column: the decoder's mean plus its likelihood's noise
          (the Gaussian with the learned scale, a Laplace for
          ``loss='mae'``), kept within the column's training range and
          rounded where its training values were whole numbers (integer
          dtypes always are);
        - missing values: each column that had them in fit is left missing
          at its training rate, in each row independently (of the values
          and of the other columns' gaps: the decoder has no head for
          missingness).

        New in 0.3: up to 0.2 ``sample`` returned each column's mode (its
        most probable level, the mean of its numbers, no missing values),
        which piles rows up in the densest part of the table and drops rare
        levels. Tables fitted (and saved) before 0.3 did not record the
        training ranges, whole numbers and missing rates: they sample with
        draws too, but without clipping or rounding beyond the dtype and
        without missing values.

        A model fitted on plain numbers (an array, or a DataFrame of
        numbers without gaps) returns the decoder's mean for each code, as
        before: no likelihood noise is added (for images, the mean image).

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds every draw; an int gives the same rows every call (and,
            for a model of plain numbers, the same codes as before 0.3).
        conditions : dict, optional
            ``{column: value}``, for a model fitted on a DataFrame: rows
            drawn from the model given these values, which every row takes
            (and never misses). The codes are drawn from the model's
            posterior given the columns by importance resampling, with the
            encoder's posterior on a row where only these columns are
            observed (the others enter as missing) as the proposal; a
            ``UserWarning`` says when the weights rest on fewer than 50
            proposals (a condition rare under the model). A column the model
            does not have, a level or flag the column never had, a number
            outside its training range or a fraction for an integer column
            are refused with a ValueError naming them.

        Returns
        -------
        X_new : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            For a model fitted on a DataFrame table, a DataFrame with the
            training columns, order and dtypes (a ``category`` column keeps
            its categories and ``ordered``), indexed 0, 1, ...; for a model
            fitted on an array, an ndarray: the decoder's mean output for
            each draw in float64 (plain numbers), or the drawn table's
            values (an array with missing values).

        Examples
        --------
        >>> import pandas as pd
        >>> from skae import VAETransformer
        >>> df = pd.DataFrame({"size": pd.Categorical(["S", "M", "L"] * 40),
        ...                    "price": [1.0, 2.5, 4.0] * 40})
        >>> vae = VAETransformer(2, max_iter=5, random_state=0).fit(df)
        >>> rows = vae.sample(4, random_state=0)
        >>> list(rows.columns), str(rows["size"].dtype)
        (['size', 'price'], 'category')
        >>> big = vae.sample(3, random_state=0, conditions={"size": "L"})
        >>> big["size"].tolist()
        ['L', 'L', 'L']
        """
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        check_is_fitted(self)
        if conditions is not None and not (self._table is not None
                                           and hasattr(self, "feature_names_in_")):
            raise ValueError("conditions needs a model fitted on a DataFrame (its columns are "
                             "named by the conditions); this one was fitted on "
                             + ("plain numbers." if self._table is None else "an array."))
        rng = check_random_state(random_state)
        if self._table is None:  # plain numbers: the decoder's mean, as before 0.3
            Z = rng.standard_normal((n_samples, self.n_components_))
            return self.inverse_transform(Z)
        module, device = self.net_.module_, self.net_.device
        given = _synthetic.checked_conditions(conditions, self._table) if conditions else {}
        seed = int(rng.randint(np.iinfo(np.int32).max))
        generator = torch.Generator(device=device).manual_seed(seed)
        if given:
            row = torch.as_tensor(_synthetic.given_row(given, self._table), device=device,
                                  dtype=next(module.parameters()).dtype)
            with torch.inference_mode():
                Z, ess = module.eval().conditional_codes(row, n_samples, generator, self.loss)
            Z, ess = Z.double().cpu().numpy(), float(ess)
            if ess < 50:
                warnings.warn(
                    f"The conditions {conditions} are rare under the model: the rows rest on "
                    f"about {ess:.0f} distinct codes (the importance weights' effective sample "
                    "size), so they vary less than the model's conditional does.",
                    UserWarning, stacklevel=2)
        else:
            Z = rng.standard_normal((n_samples, self.n_components_))
        loss = self.loss
        drawn = self._batched(Z, lambda m, zb: m.output.draw(m.decoder(zb), generator, loss,
                                                             m.log_scale))
        frame = _synthetic.sampled_frame(drawn, self._table, rng, given)
        # Fitted on an array (no column names): an array back, as the input was.
        return frame if hasattr(self, "feature_names_in_") else frame.to_numpy()

    def log_likelihood(self, X, n_importance=100, random_state=0):
        """Importance-weighted estimate of log p(x) per sample (the IWAE bound).

        ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`` with ``K = n_importance``
        posterior draws: a lower bound on log p(x) that tightens as K grows
        (K=1 is the ELBO). The VAE literature reports test negative
        log-likelihood as minus this value with K = 5000.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to evaluate.
        n_importance : int, default=100
            Number of importance samples K.
        random_state : int, RandomState instance or None, default=0
            Seeds the draws, which are shared by all rows.

        Returns
        -------
        log_px : ndarray of shape (n_samples,)
            Estimates in nats, in ``X``'s float dtype.
        """
        if not isinstance(n_importance, Integral) or n_importance < 1:
            raise ValueError(f"n_importance must be a positive integer, got {n_importance!r}.")
        X = self._validate_X(X)
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        eps = VariationalAutoencoder.random_draws(n_importance, self.n_components_, seed)
        loss = self.loss
        return self._batched(X, lambda m, xb: m.iwae_bound(xb, eps, loss))
