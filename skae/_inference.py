"""The one batched inference path of skae's estimators, and the public methods on it.

Every computation on a fitted model's rows (``transform``,
``inverse_transform``, ``reconstruction_error``, ``score_samples``, and the
checks after a fit) runs through :meth:`InferenceMixin._batched`: eval mode,
no autograd, batches of ``INFERENCE_BATCH_SIZE`` rows, float64 input through
a float64 copy of the module.
"""

import copy
import threading
import warnings
import weakref

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_array, check_is_fitted

from . import _tabular
from ._data import FLOAT_DTYPES
from ._threads import forward_flops, resolve_n_jobs, restoring_threads, set_threads
from .losses import column_errors, reconstruction_error

# Rows per forward pass at inference: large enough to amortise Python work,
# small enough that activations of a few batches stay far below the output.
INFERENCE_BATCH_SIZE = 4096


# Each fitted module's float64 copy (see _float64_module), kept while the module lives.
_FLOAT64_COPIES = weakref.WeakKeyDictionary()
_FLOAT64_COPIES_LOCK = threading.Lock()


def _weights_stamp(module):
    """What identifies the current weights of ``module`` without reading them.

    ``(tensors, numbers)``: each parameter and buffer, with its version
    counter (bumped by every in-place change torch sees: ``load_state_dict``,
    ``copy_`` under ``no_grad``, most optimizer steps) and its storage
    (replaced by ``module.to(...)`` or ``param.data = ...``); and each
    parameter's gradient with its counter: torch's fused optimizers (skae's
    default Adam) step without bumping the parameters' counters, but every
    step follows a backward pass, which replaces the gradient or bumps its
    counter. The tensors themselves are kept, not their ids, so a new
    tensor cannot pass for a freed one whose id it reuses.
    """
    params, buffers = list(module.parameters()), list(module.buffers())
    grads = [p.grad for p in params]
    tensors = (*params, *grads, *buffers)
    numbers = tuple((t._version, t.data_ptr()) if t is not None else None for t in tensors)
    return tensors, numbers


def _same_stamp(a, b):
    return (len(a[0]) == len(b[0]) and all(x is y for x, y in zip(a[0], b[0]))
            and a[1] == b[1])


def _float64_module(module):
    """A float64, eval-mode copy of ``module``, made again only when its weights change.

    The copy is kept beside the module, as long as the module lives (so
    float64 inference holds the weights again, at twice their float32
    size, on the module's device), with the :func:`_weights_stamp` it was
    made from. Every float64 call checks
    the stamp, a few microseconds where copying costs a millisecond or more,
    and copies again if anything changed. Writes through ``param.data`` (a
    separate version counter) outside training are the one change it cannot
    see: change weights under ``torch.no_grad()`` instead.
    """
    stamp = _weights_stamp(module)
    with _FLOAT64_COPIES_LOCK:
        cached = _FLOAT64_COPIES.get(module)
    if cached is not None and _same_stamp(cached[0], stamp):
        return cached[1]
    double = copy.deepcopy(module).double().eval()
    for p in double.parameters():  # inference needs no gradients
        p.grad = None
        p.requires_grad_(False)
    with _FLOAT64_COPIES_LOCK:
        _FLOAT64_COPIES[module] = (stamp, double)
    return double


class InferenceMixin:
    """Inference for :class:`~skae._base.BaseAutoencoder`: the batched path, the public methods.

    Reads the fitted ``net_``, ``n_components_``, ``_table`` and the
    parameters ``n_jobs`` and ``loss``; the subclass hooks ``_model_input``
    (rows as the network reads them) and ``_score_fn`` (the per-row score).
    """

    def _batched(self, X, fn):
        """Apply ``fn(module, batch)`` to ``X`` batch by batch.

        The one inference path: eval mode, no autograd, batches of
        ``INFERENCE_BATCH_SIZE`` moved to the device one at a time and written
        into one preallocated output of ``X``'s dtype. Float64 input runs
        through a float64 copy of the module (made once per weights: see
        :func:`_float64_module`), so a row's result depends on the other
        rows in its batch only through float64 rounding (a few ulps: BLAS
        libraries pick other kernels for very small batches on some CPUs).
        """
        dtype = X.dtype
        module = self.net_.module_
        if module.training:  # e.g. left so by a user's own loop on net_.module_
            module.eval()
        if dtype == np.float64:
            module = _float64_module(module)
        device = self.net_.device
        out = None
        flops = min(X.shape[0], INFERENCE_BATCH_SIZE) * forward_flops(self.net_)
        with torch.inference_mode(), restoring_threads() as ceiling:
            set_threads(resolve_n_jobs(self.n_jobs, flops, ceiling))
            for start in range(0, X.shape[0], INFERENCE_BATCH_SIZE):
                batch = X[start:start + INFERENCE_BATCH_SIZE]
                batch = batch.toarray() if sp.issparse(batch) else np.ascontiguousarray(batch)
                if not batch.flags.writeable:
                    batch = batch.copy()
                result = fn(module, torch.from_numpy(batch).to(device)).cpu().numpy()
                if out is None:
                    out = np.empty((X.shape[0], *result.shape[1:]), dtype=dtype)
                out[start:start + len(result)] = result
        return out

    def _validate_X(self, X, unseen_levels=False):
        check_is_fitted(self)
        return self._model_input(X, reset=False, unseen_levels=unseen_levels)

    def transform(self, X):
        """Encode ``X`` into the latent space.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to encode. A level of a categorical column not seen in fit
            is encoded as ``OneHotEncoder(handle_unknown='ignore')`` does:
            as no level at all.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            The codes, in ``X``'s float dtype.
        """
        X = self._validate_X(X)
        return self._batched(X, lambda m, xb: m.encode(xb))

    def inverse_transform(self, X):
        """Decode latent codes back to data space.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_components)
            Latent codes, e.g. the output of :meth:`transform` (a DataFrame
            after ``set_output(transform='pandas')``).

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            Reconstructions, in the codes' float dtype. For a model fitted
            on a table (a DataFrame with boolean or categorical columns), a
            DataFrame with the original column names, order and dtypes:
            numeric columns in their original units, booleans, and each
            categorical column's most probable level (a ``category`` column
            keeps its categories), indexed as the codes are when they are a
            DataFrame; an array if the model was fitted on an array.
        """
        check_is_fitted(self)
        index = X.index if isinstance(X, pd.DataFrame) else None
        Z = check_array(X, dtype=FLOAT_DTYPES, accept_sparse=("csr", "csc", "coo"),
                        input_name="X")
        if Z.shape[1] != self.n_components_:
            raise ValueError(
                f"inverse_transform expects codes of width n_components={self.n_components_}, "
                f"got {Z.shape[1]} columns."
            )
        Z = Z.tocsr() if sp.issparse(Z) else Z  # rows sliced a batch at a time
        return self._decoded(self._batched(Z, lambda m, zb: m.decode(zb)), index)

    def _decoded(self, decoded, index=None):
        """Decoder outputs in data space: an array, or for a table its DataFrame.

        ``index`` (of the rows decoded) indexes the DataFrame; None gives 0, 1, ....
        """
        if self._table is None:
            return decoded
        frame = _tabular.from_model_output(decoded, self._table, index=index)
        # Fitted on an array (no column names): an array back, as the input was.
        return frame if hasattr(self, "feature_names_in_") else frame.to_numpy()

    def reconstruction_error(self, X, per_feature=False):
        """Each row's reconstruction error, or each row's and column's.

        The error of reconstructing ``X`` through its codes
        (``inverse_transform(transform(X))``), in the units training
        minimises: the ``loss`` on numeric arrays (in the data's units: scale
        the columns alike for entries that compare across columns); for a
        table, each column's own loss (squared error of the standardised
        value, or cross-entropy of a flag or a level) divided by the loss of
        predicting that column's marginal in training, so that 1 means "no
        better than the column mean", whatever the column's kind and scale.
        A level unseen in fit adds no error.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to reconstruct.
        per_feature : bool, default=False
            Return one error per row and input column instead of per row.

        Returns
        -------
        errors : ndarray of shape (n_samples,) or (n_samples, ``n_features_in_``)
            The per-row errors (the mean of the per-column errors), or the
            per-column errors, showing which columns a row fails to
            reconstruct.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import AutoencoderTransformer
        >>> X = np.random.RandomState(0).rand(100, 4)
        >>> ae = AutoencoderTransformer(max_iter=5, tol=0, random_state=0).fit(X)
        >>> ae.reconstruction_error(X).shape, ae.reconstruction_error(X, per_feature=True).shape
        ((100,), (100, 4))
        """
        X = self._validate_X(X)
        fn = self._reconstruction_error_fn(per_feature)
        return self._overflows_in_float64(X, fn, self._batched(X, fn))

    def _reconstruction_error_fn(self, per_feature=False):
        """``fn(module, batch)``: each row's (or row's and column's) error through its code.

        In the units training uses (see :meth:`reconstruction_error`).
        """
        loss = self.loss

        def fn(m, xb):
            x_pre = m.decoder(m.encode(xb))
            if per_feature:
                return column_errors(x_pre, xb, loss, m.output)
            return reconstruction_error(x_pre, xb, loss, m.output)  # over observed entries

        return fn

    def _reconstruction_errors(self, X):
        return self._batched(X, self._reconstruction_error_fn())

    def _overflows_in_float64(self, X, fn, values):
        """``values`` (``fn`` over ``X``) with float32 rows that overflowed computed in float64.

        A float32 row whose result is not finite (a square beyond 3.4e38 on
        the way) is computed again, alone with the other such rows, through
        the float64 module; its result, rounded to float32, is finite if it
        fits there, else infinite. The other rows keep their float32 results.
        """
        if X.dtype != np.float32:
            return values
        bad = ~np.isfinite(values)
        rows = np.flatnonzero(bad.reshape(len(values), -1).any(axis=1))
        if len(rows):
            redone = self._batched(X[rows].astype(np.float64), fn)
            with np.errstate(over="ignore"):
                values[rows] = redone
        return values

    def score_samples(self, X):
        """Per-sample score: higher means better reconstructed (less anomalous).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Minus the reconstruction error of each row (autoencoder; see
            :meth:`reconstruction_error`), or its ELBO in nats (VAE), in
            ``X``'s float dtype. A row whose error exceeds that dtype's
            range (values far beyond the training data's, such as 1e20)
            scores ``-inf``, with a ``RuntimeWarning``; the other rows
            score as they would without it.
        """
        return self._score_samples(X)

    def _score_samples(self, X, unseen_levels=False):
        """:meth:`score_samples`; with ``unseen_levels``, a level unseen in fit is scored.

        ``unseen_levels=False`` (``score_samples``): such a level is no
        level, and adds no error. True (:class:`~skae.OutlierDetector`):
        it costs its column's loss for a level outside the training levels
        (:meth:`skae.modules.TabularOutput.column_losses`), weighted as the
        column's other levels, so it makes the row less normal.
        """
        X = self._validate_X(X, unseen_levels)
        fn = self._score_fn()
        scores = self._overflows_in_float64(X, fn, self._batched(X, fn))
        overflowed = ~np.isfinite(scores)
        if overflowed.any():
            scores[overflowed] = -np.inf
            fix = ("Pass float64 data for finite scores of errors up to 1.8e308, or scale "
                   "it as for fit." if X.dtype == np.float32 else "Scale it as for fit.")
            warnings.warn(
                f"score_samples: {int(overflowed.sum())} row(s) scored -inf: their "
                f"reconstruction error exceeds the {X.dtype} range. {fix}",
                RuntimeWarning,
                stacklevel=3,  # score_samples' caller
            )
        return scores

    def score(self, X, y=None):
        """Mean of :meth:`score_samples`; higher is better.

        ``GridSearchCV`` uses it when no ``scoring`` is given. It is in the
        units of the estimator's own ``loss`` (nats of the ELBO for a VAE),
        so it ranks models trained with the same loss only: to compare
        different losses, or a skae model with ``PCA``, pass
        ``scoring=skae.make_reconstruction_scorer()``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : None
            Ignored.

        Returns
        -------
        score : float
            The mean per-sample score of ``X``.
        """
        return float(self.score_samples(X).mean())

    @property
    def _n_features_out(self):
        return self.n_components_
