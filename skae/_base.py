"""What every skae estimator shares: validation, training, batched inference."""

import copy
import math
import threading
import warnings
import weakref
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_array,
    check_is_fitted,
    validate_data,
)

from . import _tabular
from ._data import TensorDataset, training_rows
from ._distributed import broadcast_seed, data_parallel_shard
from ._threads import forward_flops, resolve_n_jobs, restoring_threads, set_threads
from ._wiring import (
    OPTIMIZERS,
    TrainingSpec,
    auto_batch_size,
    check_user_callbacks,
    drawing_from,
    make_net,
    optimizer_kwargs,
    resolve_device,
    set_callback_params,
)
from .exceptions import TrainingDivergedError
from .losses import column_errors, reconstruction_error
from .modules import ACTIVATIONS, Architecture

FLOAT_DTYPES = (np.float64, np.float32)

# Rows per forward pass at inference: large enough to amortise Python work,
# small enough that activations of a few batches stay far below the output.
INFERENCE_BATCH_SIZE = 4096

#: ``early_stopping='auto'`` holds out validation rows above this many rows
#: (HistGradientBoosting's rule).
AUTO_EARLY_STOPPING_ROWS = 10_000


# A fit whose training reconstruction error ends this many times above the
# error it started from (and above the column means') has blown up.
DIVERGENCE_FACTOR = 10.0


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


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base class of skae's estimators. Not for direct use.

    A subclass sets ``_builder`` (the module builder of :mod:`skae.modules`)
    and defines ``__init__`` (its public parameters), ``_criterion`` (the
    criterion of :mod:`skae.losses` and its settings) and ``_score_fn`` (the
    per-row score); it may extend the hooks ``_architecture``,
    ``_check_data``, ``_init_weights``, ``_extra_callbacks`` and
    ``_keeps_better_start``.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "hidden_layer_sizes": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "output_activation": [StrOptions({"auto", "identity", "sigmoid", "tanh"})],
        "batch_norm": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "image_shape": ["array-like", None],
        "conv_channels": ["array-like"],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "learning_rate": [StrOptions({"constant", "adaptive"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callbacks": [list, tuple, None],
        "device": [str, torch.device],
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    # A table's column descriptions (see _tabular.describe), set by fit; None
    # for plain numbers (and for models fitted before tables existed).
    _table = None

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (numpy array or DataFrame of numbers). Never modified.
        y : None
            Ignored; present for Pipeline compatibility.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._train(X, epochs=self.max_iter, keep=self.warm_start and self.__sklearn_is_fitted__(),
                    check=True)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train one more epoch on ``X``, keeping weights and optimizer state.

        The first call initialises the model. Use it to stream data chunk by
        chunk or to continue a fit.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data for this epoch.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The estimator.
        """
        self._train(X, epochs=1, keep=self.__sklearn_is_fitted__())
        return self

    def _train(self, X, epochs, keep, check=False):
        """Build (or keep) the net and train it for up to ``epochs`` epochs.

        With ``check`` (``fit``, not ``partial_fit``), the result is checked
        afterwards: see :meth:`_check_fit`.
        """
        if not keep:
            self.__dict__.pop("net_", None)  # a refit that fails leaves no stale model
        X = self._model_input(X, reset=not keep)
        if keep and self._table is None and not sp.issparse(X) and np.isnan(X).any():
            raise ValueError(
                "Input X contains NaN, and this model was fitted on complete numbers: it "
                "encodes rows with missing values (as if those entries were the training "
                "means) but cannot train on them. Refit (fit with warm_start=False) on data "
                "with gaps: skae then learns a model with missing-value indicators."
            )
        architecture = self._architecture(X.shape[1])
        if not keep:
            self._resolve_auto(X.shape[0], partial=not check)
        self._check_data(X)
        device = resolve_device(self.device)
        generator = torch.Generator(device=device).manual_seed(self._seed(keep, device))
        if keep:
            self._continue_with_current_params(architecture)
        else:
            self.net_ = self._make_net(architecture, device, generator)
            self.n_components_ = self.n_components
            self._init_weights(X)
        X_check = self._rows_to_check(X) if check else None
        start = self._reconstruction_errors(X_check).mean() if check else None
        start_state = copy.deepcopy(self.net_.module_.state_dict()) \
            if check and self._keeps_better_start() else None
        guard = self._fit_net(X, epochs, keep, generator, device)
        if not keep and guard.resumed_epochs_:
            warnings.warn(
                f"fit() resumed from a checkpoint of {guard.resumed_epochs_} epoch(s) that a "
                "callback (e.g. skorch's LoadInitState) loaded when training began. Under "
                "cross-validation or a search, every clone shares the callback's settings and "
                "so resumes from the same checkpoint, trained on other folds' rows: use such "
                "callbacks only for a single fit (see 'Persistence and safety' in the docs).",
                UserWarning,
                stacklevel=4,
            )
        if check and not guard.interrupted_:
            self._check_fit(X_check, start, start_state, epochs)

    def _resolve_auto(self, n_samples, partial):
        """Resolve ``batch_size`` and ``early_stopping`` for a fresh fit on ``n_samples`` rows.

        Kept as ``batch_size_`` and ``do_early_stopping_`` for the fit's
        life (warm starts and ``partial_fit`` continue with them).
        """
        if self.early_stopping == "auto":  # as HistGradientBoosting*; not for partial_fit
            self.do_early_stopping_ = not partial and n_samples > AUTO_EARLY_STOPPING_ROWS
        else:
            self.do_early_stopping_ = bool(self.early_stopping)
        n_train = n_samples - (math.ceil(self.validation_fraction * n_samples)
                               if self.do_early_stopping_ else 0)
        self.batch_size_ = auto_batch_size(n_train) if self.batch_size == "auto" \
            else self.batch_size

    def _seed(self, keep, device):
        """This call's seed: from ``random_state``, moved on by continued fits."""
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max)) + (self.n_iter_ if keep else 0)
        return seed if data_parallel_shard() is None else broadcast_seed(seed, device)

    def _fit_net(self, X, epochs, keep, generator, device):
        """Run skorch's training loop; return the net's :class:`TrainingGuard`."""
        n_rows = X.shape[0]
        self.net_.set_params(batch_size=n_rows if self._optimizer_name == "lbfgs"
                             else min(self.batch_size_, n_rows))
        if self.verbose == 1:
            self.net_.set_params(callbacks__progress_bar__total=epochs)
        guard = dict(self.net_.callbacks_)["training_guard"]
        try:
            with drawing_from(self.net_, generator), restoring_threads():
                self.net_.partial_fit(TensorDataset(training_rows(X, device)), epochs=epochs)
        except TrainingDivergedError:
            # The net keeps the last completed epoch's weights; with none, there
            # is no trained model to keep (the error says so).
            if not self.net_.history:
                self._forget_fit()
            raise
        except BaseException:
            if keep:
                guard.rollback(self.net_)
            else:
                self._forget_fit()
            raise
        finally:
            if hasattr(self, "net_"):
                self.net_.module_.eval()
                self._record_history()
        return guard

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

    def _marginal_outputs(self, X):
        """Decoder outputs (before activation) that predict every row by the column means.

        For a table: each numeric column's mean, each flag's frequency and
        each categorical column's level frequencies.
        """
        if self._table is not None:
            return torch.as_tensor(_tabular.marginal_logits(X, self._table))
        mean = torch.as_tensor(_column_means(X))
        return torch.logit(mean, eps=1e-7) if self.loss == "bce" else mean

    def _baseline_errors(self, X):
        """Per-row error of reconstructing every row by the column means."""
        pre, loss = self._marginal_outputs(X), self.loss
        output = (lambda m: m.output) if self._table is not None else (lambda m: None)
        return self._batched(X, lambda m, xb: reconstruction_error(
            pre.to(xb).expand(len(xb), -1), xb, loss, output(m)))

    def _rows_to_check(self, X):
        """The training rows that :meth:`_check_fit` measures.

        All of them, or an even spread of at most ``INFERENCE_BATCH_SIZE``
        (one inference batch), fewer for wide data (at most ``2**22``
        values, 16 MB in float32, so the checks cost little beside training
        in time and memory); all where the fit may revert to its start.
        """
        if self._keeps_better_start():
            return X
        n_rows = min(INFERENCE_BATCH_SIZE, max(256, 2**22 // max(X.shape[1], 1)))
        return _spread_rows(X, n_rows)

    def _keeps_better_start(self):
        """Whether a fit ending worse than its start reverts to the start."""
        return False

    def _check_fit(self, X, start, start_state, epochs):
        """Refuse a blown-up fit; warn about one that learned nothing or stopped early.

        Compares the reconstruction error of training rows ``X`` after the fit with
        its error before (``start``) and with that of the column means: a
        fit that ended more than ``DIVERGENCE_FACTOR`` times worse than it
        started and worse than the means raises
        :class:`TrainingDivergedError`; one that merely ends worse than the
        means gets a ``ConvergenceWarning``. ``max_iter`` epochs without the
        ``tol`` rule stopping the fit also warn, as in ``MLPRegressor``
        (not with ``tol=0``, which asks for ``max_iter`` epochs).
        """
        end = self._reconstruction_errors(X).mean()
        if start_state is not None and end > start:
            self.net_.module_.load_state_dict(start_state)
            end = start
        baseline = self._baseline_errors(X).mean()
        lr = f"learning_rate_init (it is {self.learning_rate_init:g})"
        if end > baseline and (end > DIVERGENCE_FACTOR * start or not np.isfinite(end)):
            raise TrainingDivergedError(
                f"Training diverged: the training data's reconstruction error went from "
                f"{start:.4g} to {end:.4g} (predicting each column's mean gives "
                f"{baseline:.4g}). Lower {lr}, scale the data (e.g. StandardScaler), or "
                "clip gradients with max_grad_norm."
            )
        if end > baseline:
            warnings.warn(
                f"The fitted model reconstructs its training data worse than predicting "
                f"each column's mean (error {end:.4g} vs {baseline:.4g}): it has learned "
                f"nothing useful. Scale the data (e.g. StandardScaler), lower {lr}, or "
                "train longer (max_iter).",
                ConvergenceWarning,
                stacklevel=5,
            )
        callbacks = dict(self.net_.callbacks_)
        stopper = callbacks.get("early_stopping")
        if self.tol > 0 and stopper is not None and stopper.misses_ < stopper.patience \
                and callbacks["training_guard"].epochs_run_ == epochs:
            warnings.warn(
                f"max_iter={self.max_iter} epochs ended the fit while {self._stopping_rule()}: "
                "it has not converged. Raise max_iter, or set tol=0 to "
                + ("stop early only when the validation loss stops improving at all"
                   if self.do_early_stopping_ else "train exactly max_iter epochs")
                + " (no warning then).",
                ConvergenceWarning,
                stacklevel=5,
            )

    def _stopping_rule(self):
        """What the ``tol`` rule watches, for the warning of a fit that ``max_iter`` ended."""
        if self.do_early_stopping_:
            held_out = "" if self.early_stopping != "auto" else (
                f", which early_stopping='auto' holds out above {AUTO_EARLY_STOPPING_ROWS:,} rows")
            monitored = (f"the validation loss (of the held-out validation_fraction="
                         f"{self.validation_fraction:g} of the rows{held_out})")
        else:
            monitored = "the training loss"
        return (f"{monitored} was still improving by more than tol={self.tol:g} (relative) "
                f"within n_iter_no_change={self.n_iter_no_change} epochs")

    def _record_history(self):
        rows = [row for row in self.net_.history if "train_loss" in row]
        self.n_iter_ = len(rows)
        self.loss_curve_ = [row["train_loss"] for row in rows]
        self.validation_loss_curve_ = (
            [row.get("valid_loss") for row in rows] if self.do_early_stopping_ else None
        )

    def _forget_fit(self):
        """Leave the estimator unfitted: drop the net and its training record."""
        for name in ("net_", "n_iter_", "loss_curve_", "validation_loss_curve_"):
            self.__dict__.pop(name, None)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def _init_weights(self, X):
        """Set starting values learned from the data: a table's column weights.

        Each column's loss is divided by the loss of predicting its marginal
        (its mean, flag frequency or level frequencies) on the training
        rows, so that every column counts alike in training, whatever its
        kind and scale.
        """
        if self._table is None:  # plain numbers: missing values at inference get the means
            with torch.no_grad():
                self.net_.module_.input.fill.copy_(torch.as_tensor(_column_means(X)))
            return
        heads = self.net_.module_.output
        rows = _spread_rows(X, 2**16)
        pre = self._marginal_outputs(X).expand(len(rows), -1)
        with torch.no_grad():
            heads.reset_parameters()
            rows = torch.as_tensor(rows)
            errors = column_errors(pre, rows, self.loss, heads)
            baseline = errors.sum(dim=0) / heads.observed(rows).sum(dim=0).clamp(min=1)
            heads.weights.copy_(1.0 / baseline.clamp(min=1e-2))

    @property
    def _optimizer_name(self):
        return self.optimizer if isinstance(self.optimizer, str) else None

    def _output_activation(self):
        if self.output_activation == "auto":
            return "sigmoid" if self.loss == "bce" else "identity"
        if self.loss == "bce" and self.output_activation != "sigmoid":
            raise ValueError(
                f"loss='bce' models probabilities through a sigmoid output; got "
                f"output_activation={self.output_activation!r}. Use 'sigmoid' or 'auto'."
            )
        return self.output_activation

    def _model_input(self, X, reset):
        """``X`` as the network reads it.

        Validates ``X`` (and, with ``reset``, decides whether it is a table:
        a DataFrame with boolean or categorical columns, see
        ``categorical_features``, and describes its columns in ``_table``).
        Returns a float array, a CSR matrix for sparse input, or a table's
        encoded columns (:func:`skae._tabular.encode`).
        """
        X = _tabular.as_pandas(X)
        self._check_not_empty(X)
        if reset:
            self._set_table(self._describe_table(X))
        if self._table is None:  # a fitted model takes missing values at inference
            X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=reset,
                              accept_sparse=("csr", "csc", "coo"),
                              ensure_all_finite=True if reset else "allow-nan")
            return X.tocsr() if sp.issparse(X) else X
        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        return _tabular.encode(X if isinstance(X, pd.DataFrame) else pd.DataFrame(X),
                               self._table)

    def _check_not_empty(self, X):
        """Refuse a table without rows or columns, in sklearn's words.

        (Before its columns are described: a column of no rows has no
        level, and a frame of no columns no dtype.)
        """
        shape = getattr(X, "shape", None)
        if isinstance(X, pd.DataFrame) or (isinstance(X, np.ndarray) and X.ndim == 2):
            for size, what in zip(shape, ("sample", "feature")):
                if size == 0:
                    raise ValueError(
                        f"Found array with 0 {what}(s) (shape={tuple(shape)}) while a minimum "
                        f"of 1 is required by {type(self).__name__}."
                    )

    def _describe_table(self, X):
        """The description of a table's columns, or None for plain numbers.

        A table is data with boolean or categorical columns, or with missing
        values (they need the table's missing-value indicators).
        """
        if isinstance(X, (list, tuple)):  # array-likes read as arrays
            try:
                X = np.asarray(X)
            except ValueError:  # ragged: validation names the problem
                return None
        if sp.issparse(X) or not hasattr(X, "shape") or len(X.shape) != 2:
            return None
        explicit = self.categorical_features is not None \
            and not (isinstance(self.categorical_features, str))
        if not isinstance(X, pd.DataFrame) and not explicit and not _has_missing(X):
            return None
        # An object ndarray (numbers and text) gets each column's own dtype.
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X).infer_objects()
        mask = _tabular.categorical_mask(X, self.categorical_features)  # X: names or none
        table = _tabular.describe(frame, mask,
                                  check_text=isinstance(self.categorical_features, str))
        if all(c["kind"] == "numeric" and not c["missing"] for c in table):
            return None
        if not frame.columns.is_unique:  # inverse_transform could not name its columns
            repeated = sorted(set(frame.columns[frame.columns.duplicated()]), key=str)
            raise ValueError(f"A table's column names must be unique; {repeated} repeat.")
        return table

    def _set_table(self, table):
        """Keep a table's description, and the fitted attributes derived from it."""
        self._table = table
        if table is None:
            self.__dict__.pop("feature_kinds_", None)
            self.__dict__.pop("categories_", None)
            return
        self.feature_kinds_ = np.array([c["kind"] for c in table], dtype=object)
        self.categories_ = [np.array(c["levels"], dtype=object)
                            for c in table if c["kind"] == "categorical"]

    def _check_data(self, X):
        """Checks that need the data or combine parameters (the architecture's are done)."""
        if self._table is not None and self.loss == "bce":
            raise ValueError(
                "loss='bce' is for numeric data in [0, 1]; a table's numeric columns are "
                "standardised. Use loss='mse' (binary and categorical columns get their own "
                "cross-entropy whatever the loss)."
            )
        largest = max(abs(float(_nanmin(X))), abs(float(_nanmax(X))))
        if largest > np.finfo(np.float32).max:
            raise ValueError(
                f"X has values up to {largest:.3g} in magnitude, beyond the float32 range "
                f"({np.finfo(np.float32).max:.3g}) that training uses. Scale the data "
                "(e.g. StandardScaler)."
            )
        if self.batch_norm and self._architecture(X.shape[1]).hidden_layer_sizes:
            n_train = X.shape[0] - (math.ceil(self.validation_fraction * X.shape[0])
                                    if self.do_early_stopping_ else 0)
            if n_train < 2 or (self.batch_size_ == 1 and self._optimizer_name != "lbfgs"):
                raise ValueError(
                    f"batch_norm=True needs at least 2 rows per training batch; X has "
                    f"{X.shape[0]} sample(s), {n_train} of them for training, and "
                    f"batch_size={self.batch_size_}."
                )
        if self.loss == "bce" and (X.min() < 0 or X.max() > 1):
            raise ValueError(
                f"loss='bce' needs data in [0, 1]; X ranges over [{X.min():g}, {X.max():g}]. "
                "Scale it (e.g. MinMaxScaler) or use loss='mse'."
            )
        if self._optimizer_name == "lbfgs" and self.weight_decay:
            raise ValueError("optimizer='lbfgs' does not support weight_decay; use 'adamw'.")

    def _architecture(self, n_features):
        """The network's :class:`~skae.modules.Architecture` for ``n_features`` inputs.

        Normalises and checks the shape parameters (in one place: the
        :class:`~skae.modules.Architecture`); made once per fit, kept by the
        net, and compared before a warm start.
        """
        return Architecture(
            n_features=n_features,
            n_components=self.n_components,
            hidden_layer_sizes=self.hidden_layer_sizes,
            activation=self.activation,
            output_activation=self._output_activation(),
            batch_norm=self.batch_norm,
            dropout=self.dropout,
            image_shape=self.image_shape,
            conv_channels=self.conv_channels,
            kernel_size=self.kernel_size,
            columns=None if self._table is None else _tabular.model_columns(self._table),
        )

    def _continue_with_current_params(self, architecture):
        """Warm start or partial_fit: apply changed settings, refuse a changed network.

        As ``MLPRegressor`` does, a continued fit uses the current learning
        rate and loss settings; parameters that shape the network cannot
        change without a fresh fit.
        """
        changed = self.net_.module__architecture.changes(architecture)
        scheduled = "learning_rate" in dict(self.net_.callbacks_)
        if scheduled != (self.learning_rate == "adaptive") \
                and self._optimizer_name != "lbfgs":
            changed.append("learning_rate")  # the schedule is a callback of the built net
        if changed:
            raise ValueError(
                "These parameters changed since the network was built: " + ", ".join(changed)
                + ". Continue with the fitted values, or refit with warm_start=False."
            )
        if self.batch_size != "auto":  # a changed batch_size applies, as the lr does
            self.batch_size_ = self.batch_size
        set_callback_params(self.net_, **self._callback_params())
        if self._optimizer_name != "lbfgs":
            self.net_.set_params(lr=self.learning_rate_init)
        # Set on the criterion itself: skorch's set_params(criterion__...) would
        # rebuild the criterion and the optimizer, losing the optimizer's state.
        for name, value in self._criterion()[1].items():
            setattr(self.net_.criterion_, name, value)

    def _callback_params(self):
        """The settings of the built net's callbacks that follow the current parameters.

        ``{'<callback>__<param>': value}``, applied by a continued fit to the
        callbacks the net has (see :func:`skae._wiring.set_callback_params`).
        """
        return {"thread_policy__n_jobs": self.n_jobs,
                "learning_rate__min_lr": self._min_learning_rate()}

    def _min_learning_rate(self):
        """The floor of ``learning_rate='adaptive'``: 1e-3 times ``learning_rate_init``."""
        return self.learning_rate_init * 1e-3

    def _make_net(self, architecture, device, generator):
        """A new, initialised skorch net for ``architecture`` on ``device``.

        What ``fit`` builds before training (its initial weights drawn from
        ``generator``), and what :func:`skae.load` builds before it loads
        the saved weights into it.
        """
        check_user_callbacks(self.callbacks, validation=self.do_early_stopping_,
                             table=self._table is not None)
        return make_net(self._training_spec(device), architecture, generator)

    def _training_spec(self, device):
        """This estimator's parameters resolved for a net on ``device``."""
        criterion, criterion_kwargs = self._criterion()
        name = self._optimizer_name
        adaptive = self.learning_rate == "adaptive" and name != "lbfgs"
        return TrainingSpec(
            builder=type(self)._builder,
            criterion=criterion,
            criterion_kwargs=criterion_kwargs,
            optimizer=OPTIMIZERS[name] if name else self.optimizer,
            optimizer_kwargs=optimizer_kwargs(name, self.learning_rate_init,
                                              self.weight_decay, device),
            device=device,
            batch_size=self.batch_size_,
            max_epochs=self.max_iter,
            validation_fraction=self.validation_fraction if self.do_early_stopping_ else None,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            min_learning_rate=self._min_learning_rate() if adaptive else None,
            max_grad_norm=self.max_grad_norm,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            own_callbacks=tuple(self._extra_callbacks()),
            user_callbacks=tuple(self.callbacks or ()),
        )

    # ------------------------------------------------------------ inference

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

    def _validate_X(self, X):
        check_is_fitted(self)
        return self._model_input(X, reset=False)

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
        frame = _tabular.decode(decoded, self._table, index=index)
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
        X = self._validate_X(X)
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
                stacklevel=2,
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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.sparse = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        return tags


def _has_missing(X):
    """Whether a dense array holds missing values (NaN, None)."""
    try:
        return bool(pd.isna(np.asarray(X)).any())
    except (TypeError, ValueError):
        return False


def _nanmin(X):
    """The smallest number in ``X`` (NaN when every entry is missing, quietly)."""
    if sp.issparse(X):
        return X.min()
    with warnings.catch_warnings():  # an all-missing X is valid input
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmin(X)


def _nanmax(X):
    """The largest number in ``X`` (NaN when every entry is missing, quietly)."""
    if sp.issparse(X):
        return X.max()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(X)


def _column_means(X):
    """Column means of a dense or sparse matrix, as a flat float array."""
    return np.asarray(X.mean(axis=0), dtype=np.float64).ravel()


def _spread_rows(X, n_rows):
    """At most ``n_rows`` rows of ``X``, evenly spread."""
    if X.shape[0] <= n_rows:
        return X
    return X[np.linspace(0, X.shape[0] - 1, n_rows).astype(np.intp)]
