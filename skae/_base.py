"""What every skae estimator shares: parameters, hooks, fit, data intake.

:class:`BaseAutoencoder` is the estimator: its parameter constraints, the
hooks a subclass fills in, ``fit`` and ``partial_fit``, the intake of arrays
and tables, and its tags. How a fit runs and is checked lives in
:mod:`skae._training`, the batched inference path and the public methods on
it in :mod:`skae._inference`, the turning of parameters into a skorch net in
:mod:`skae._wiring`.
"""

import math
import warnings
from abc import ABCMeta, abstractmethod
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
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_feature_names, _check_n_features, validate_data

from . import _tabular, _targets
from ._data import FLOAT_DTYPES, column_means, spread_rows
from ._inference import InferenceMixin
from ._saving import SavingMixin
from ._training import TrainingMixin
from ._wiring import OPTIMIZERS
from .losses import column_errors
from .modules import ACTIVATIONS, CATEGORICAL, NUMERIC, Architecture


class BaseAutoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, TrainingMixin,
                      InferenceMixin, SavingMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of skae's estimators. Not for direct use.

    A subclass defines ``__init__`` (its public parameters, stored as
    given) and the abstract hooks:

    - ``_builder()``: the module builder of :mod:`skae.modules`;
    - ``_criterion()``: the criterion of :mod:`skae.losses` and its settings;
    - ``_score_fn()``: ``fn(module, batch)``, the per-row score.

    It may extend the hooks with defaults here: ``_architecture`` (the
    network's shape), ``_check_data`` (checks of the training data),
    ``_init_weights`` (starting values learned from the data),
    ``_extra_callbacks`` (its own training callbacks),
    ``_callback_params`` (their settings that follow the parameters in a
    continued fit) and ``_keeps_better_start`` (whether a fit ending worse
    than its start reverts to it).
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
        "learning_rate": [StrOptions({"constant", "adaptive", "one_cycle"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
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
        "target_weight": [Interval(Real, 0, 1, closed="both")],
    }

    # A table's column descriptions (see _tabular.describe), set by fit; None
    # for plain numbers (and for models fitted before tables existed).
    _table = None
    # The description of the code's targets (see _targets.describe), set by a
    # fit with target_weight > 0 and labels; None: the model has no target heads.
    _target_spec = None

    # sklearn's set_output wraps only the transform a class defines itself.
    transform = InferenceMixin.transform

    # ------------------------------------------------------------- hooks

    @abstractmethod
    def _builder(self):
        """The module builder of :mod:`skae.modules`: ``Architecture -> nn.Module``.

        A function defined at a module's top level (the net pickles it by name).
        """

    @abstractmethod
    def _criterion(self):
        """``(criterion class, settings)``: the training loss of :mod:`skae.losses`."""

    @abstractmethod
    def _score_fn(self):
        """``fn(module, batch)``: each row's score, higher for rows better explained."""

    def _extra_callbacks(self):
        """``(name, callback)`` pairs of the estimator's own training callbacks."""
        return []

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
            targets=() if self._target_spec is None else _targets.widths(self._target_spec),
        )

    def _output_activation(self):
        if self.output_activation == "auto":
            return "sigmoid" if self.loss == "bce" else "identity"
        if self.loss == "bce" and self.output_activation != "sigmoid":
            raise ValueError(
                f"loss='bce' models probabilities through a sigmoid output; got "
                f"output_activation={self.output_activation!r}. Use 'sigmoid' or 'auto'."
            )
        return self.output_activation

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

    def _init_weights(self, X):
        """Set starting values learned from the data: a table's column weights.

        Each column's loss is divided by the loss of predicting its marginal
        (its mean, flag frequency or level frequencies) on the training
        rows, so that every column counts alike in training, whatever its
        kind and scale.
        """
        if self._table is None:  # plain numbers: missing values at inference get the means
            with torch.no_grad():
                self.net_.module_.input.fill.copy_(torch.as_tensor(column_means(X)))
            return
        heads = self.net_.module_.output
        rows = spread_rows(X, 2**16)
        pre = self._marginal_outputs(X).expand(len(rows), -1)
        with torch.no_grad():
            heads.reset_parameters()
            rows = torch.as_tensor(rows)
            errors = column_errors(pre, rows, self.loss, heads)
            baseline = errors.sum(dim=0) / heads.observed(rows).sum(dim=0).clamp(min=1)
            heads.weights.copy_(1.0 / baseline.clamp(min=1e-2))

    def _keeps_better_start(self):
        """Whether a fit ending worse than its start reverts to the start."""
        return False

    def _callback_params(self):
        """The settings of the built net's callbacks that follow the current parameters.

        ``{'<callback>__<param>': value}``, applied by a continued fit to the
        callbacks the net has (see :func:`skae._wiring.set_callback_params`).
        """
        return {"thread_policy__n_jobs": self.n_jobs,
                "learning_rate__min_lr": self._min_learning_rate()}

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on ``X`` (and its code to predict ``y``, with ``target_weight``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (numpy array or DataFrame of numbers). Never modified.
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            Ignored with ``target_weight=0`` (the default). Above 0, what the
            code learns to predict besides reconstructing ``X``: classes
            (integers, strings, booleans) or numbers (floats), one target per
            column of a 2-D ``y``; ``-1`` (integer ``y``), NaN or None marks
            an unlabeled row (see ``target_weight``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._train(X, y, epochs=None,
                    keep=self.warm_start and self.__sklearn_is_fitted__(), check=True)
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
        y : array-like of shape (n_samples,) or (n_samples, n_targets), default=None
            The code's targets, with ``target_weight`` (see :meth:`fit`). The
            first call fixes their kind and classes (as ``SGDClassifier``'s
            ``classes``); rows of unseen classes later raise an error.

        Returns
        -------
        self : object
            The estimator.
        """
        self._train(X, y, epochs=1, keep=self.__sklearn_is_fitted__())
        return self

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def _model_input(self, X, reset, unseen_levels=False):
        """``X`` as the network reads it.

        Validates ``X`` (and, with ``reset``, decides whether it is a table:
        a DataFrame with boolean or categorical columns, see
        ``categorical_features``, and describes its columns in ``_table``).
        Returns a float array, a CSR matrix for sparse input, or a table's
        columns as the network reads them (:func:`skae._tabular.to_model_input`,
        which marks levels unseen in fit with ``unseen_levels``).
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
        return _tabular.to_model_input(X if isinstance(X, pd.DataFrame) else pd.DataFrame(X),
                                       self._table, unseen_levels)

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
        if all(c.kind == NUMERIC and not c.missing for c in table):
            return None
        if not frame.columns.is_unique:  # inverse_transform could not name its columns
            repeated = sorted(set(frame.columns[frame.columns.duplicated()]), key=str)
            raise ValueError(f"A table's column names must be unique; {repeated} repeat.")
        return table

    def _set_table(self, table):
        """Keep a table's description, and the fitted attributes derived from it."""
        self._table = table = _tabular.as_columns(table)
        if table is None:
            self.__dict__.pop("feature_kinds_", None)
            self.__dict__.pop("categories_", None)
            return
        self.feature_kinds_ = np.array([c.kind for c in table], dtype=object)
        self.categories_ = [np.array(c.levels, dtype=object)
                            for c in table if c.kind == CATEGORICAL]

    def _set_targets(self, spec):
        """Keep the description of the code's targets, and the fitted attributes from it."""
        self._target_spec = spec
        self.__dict__.pop("classes_", None)
        if spec is None:
            self.target_kind_ = None
            return
        self.target_kind_ = _targets.kinds(spec)
        if _targets.CLASSES in [c["kind"] for c in spec["columns"]]:
            self.classes_ = _targets.classes(spec)

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

