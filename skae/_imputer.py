"""AutoencoderImputer: fill missing values with an autoencoder's reconstruction."""

import math
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import _fit_context, clone
from sklearn.impute._base import _BaseImputer
from sklearn.utils._param_validation import HasMethods
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    _check_n_features,
    check_is_fitted,
    validate_data,
)

from . import _export, _tabular
from ._autoencoder import AutoencoderTransformer
from ._data import FLOAT_DTYPES
from ._vae import VAETransformer


class AutoencoderImputer(_BaseImputer):
    """Fill missing values with an autoencoder's reconstruction of each row.

    A skae estimator learns the joint structure of the columns from the
    observed entries (the loss counts them only, and the network is told
    which entries are missing); ``transform`` replaces every missing entry
    by the model's reconstruction of its row and leaves every observed entry
    as it was, bit for bit. Works on numeric arrays and on DataFrames with
    numeric, boolean and categorical columns (a categorical gap gets a valid
    level), as :class:`~sklearn.impute.IterativeImputer` works with an
    ``estimator``.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer, default=None
        The model, cloned and fitted as ``estimator_``. None: an
        ``AutoencoderTransformer`` with ``n_components`` half the number of
        columns (at least 2) and masking noise (``noise='masking'``,
        ``noise_level=0.2``), which hides a fifth of the observed entries in
        training so the model learns to fill them, trained at a constant
        rate (``learning_rate='constant', learning_rate_init=3e-3,
        max_iter=200``: the settings ``benchmarks/bench_impute.py`` chose
        and measured, before the transformer's default became a one-cycle
        schedule).
    missing_values : int, float, str, np.nan, None or pandas.NA, default=np.nan
        The placeholder for missing values in numeric arrays. DataFrames mark
        them as pandas does (NaN, None, ``pd.NA``).
    add_indicator : bool, default=False
        Append a :class:`~sklearn.impute.MissingIndicator` of the columns
        that had missing values in ``fit``.
    keep_empty_features : bool, default=False
        Keep the columns with no observed value in ``fit`` (filled with 0)
        instead of dropping them from the output, as ``SimpleImputer`` does.
    sample_posterior : bool, default=False
        With a :class:`VAETransformer` estimator: impute from a code drawn
        from each row's posterior instead of its mean (different draws give
        multiple imputations). An error with any other estimator.
    random_state : int, RandomState instance or None, default=None
        Seeds the estimator (when it has a ``random_state``) and the
        posterior draws.

    Attributes
    ----------
    estimator_ : AutoencoderTransformer or VAETransformer
        The fitted model.
    indicator_ : MissingIndicator or None
        The indicator of missing values, with ``add_indicator``.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` had string column names.

    See Also
    --------
    sklearn.impute.IterativeImputer : Imputes each column from the others in turn.
    sklearn.impute.KNNImputer : Imputes from the nearest rows.

    Notes
    -----
    The reconstruction of a row uses its observed entries only: missing
    entries enter the network as the column's training mean (or no level)
    with a missing-value indicator. Rows missing completely at random are
    what this is made for; when values are missing for a reason (MNAR), no
    imputer that sees only the data can correct for it.

    There is no ``max_iter``: feeding the imputed values back in for a
    second pass made the imputations worse on the real tables we measured
    it on, as the network already knows which entries are missing.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import AutoencoderImputer
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(200, 2) @ rng.randn(2, 6)
    >>> X[rng.rand(*X.shape) < 0.1] = np.nan
    >>> imputer = AutoencoderImputer(random_state=0)
    >>> X_filled = imputer.fit_transform(X)
    >>> bool(np.isnan(X_filled).any())
    False
    >>> observed = ~np.isnan(X)
    >>> bool((X_filled[observed] == X[observed]).all())
    True
    """

    _parameter_constraints: dict = {
        **_BaseImputer._parameter_constraints,
        "estimator": [HasMethods(["fit", "transform", "inverse_transform"]), None],
        "sample_posterior": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        missing_values=np.nan,
        add_indicator=False,
        keep_empty_features=False,
        sample_posterior=False,
        random_state=None,
    ):
        super().__init__(missing_values=missing_values, add_indicator=add_indicator,
                         keep_empty_features=keep_empty_features)
        self.estimator = estimator
        self.sample_posterior = sample_posterior
        self.random_state = random_state

    def _input(self, X, reset):
        """``X`` as a DataFrame (a table) or a float array with NaN where missing."""
        X = _tabular.as_pandas(X)
        if _tabular.has_non_numeric_columns(X):
            _check_feature_names(self, X, reset=reset)
            _check_n_features(self, X, reset=reset)
            return X
        nan = _is_nan(self.missing_values)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=reset,
                          ensure_all_finite="allow-nan" if nan else True)
        if not nan:
            X = np.where(X == self.missing_values, np.nan, X)
        return X

    def _estimator(self, n_features):
        if self.estimator is None:
            estimator = AutoencoderTransformer(
                max(2, math.ceil(n_features / 2)), noise="masking", noise_level=0.2,
                learning_rate="constant", learning_rate_init=3e-3, max_iter=200)
        else:
            estimator = clone(self.estimator)
        if self.sample_posterior and not isinstance(estimator, VAETransformer):
            raise ValueError(
                "sample_posterior=True draws imputations from a VAE's posterior; "
                f"estimator is a {type(estimator).__name__}. Pass a VAETransformer."
            )
        if self.random_state is not None and "random_state" in estimator.get_params():
            estimator.set_params(random_state=self.random_state)
        return estimator

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the model on the observed entries of ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data with missing values.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted imputer.
        """
        X = self._input(X, reset=True)
        mask = _mask(X)
        self._fit_indicator(mask)
        self._empty = mask.all(axis=0)
        kept = _columns(X, ~self._empty)
        self.estimator_ = self._estimator(kept.shape[1]).fit(kept)
        return self

    def transform(self, X):
        """Replace every missing entry of ``X`` by the model's reconstruction.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data with missing values.

        Returns
        -------
        X_imputed : ndarray or DataFrame of shape (n_samples, n_features_out)
            ``X`` with its gaps filled and its observed entries unchanged
            (columns empty in ``fit`` dropped, with a warning as
            ``SimpleImputer`` gives, unless ``keep_empty_features``;
            indicator columns appended with ``add_indicator``). A DataFrame
            with non-numeric columns comes back as a DataFrame with its dtypes;
            so does a numeric DataFrame with ``set_output(transform="pandas")``.
            Either way an integer column's imputations are rounded to the
            nearest integer (and clipped to its dtype's range).
        """
        check_is_fitted(self)
        X = _tabular.as_pandas(X)
        frame = X if self._frame_out(X) else None
        X = self._input(X, reset=False)
        mask = _mask(X)
        indicator = self._transform_indicator(mask)
        keep = np.ones(mask.shape[1], bool) if self.keep_empty_features else ~self._empty
        if not keep.all():  # as SimpleImputer warns
            skipped = np.flatnonzero(self._empty)
            if hasattr(self, "feature_names_in_"):
                skipped = self.feature_names_in_[skipped]
            warnings.warn(
                f"Skipping features without any observed values: {skipped.tolist()}. At "
                "least one non-missing value is needed to impute a column; "
                "keep_empty_features=True keeps them (filled with 0).",
                UserWarning,
                stacklevel=3,  # transform's caller, through set_output's wrapper
            )
        reconstruction = self._reconstruct(_columns(X, ~self._empty))
        if frame is not None:  # numbers in, a DataFrame out: in the table's dtypes
            reconstruction = _as_dtypes(reconstruction, _columns(frame, ~self._empty).dtypes)
            X = frame
        out = _columns(X, keep).copy()
        fill = _columns(mask, ~self._empty)
        targets = np.flatnonzero(~self._empty[keep]) if self.keep_empty_features \
            else np.arange(fill.shape[1])
        for j, target in enumerate(targets):
            rows = fill[:, j]
            if rows.any():
                _assign(out, rows, target, _column(reconstruction, j)[rows])
        if self.keep_empty_features:
            for target in np.flatnonzero(self._empty):
                _assign(out, mask[:, target], target, 0)
        return self._with_indicator(out, indicator)

    def _frame_out(self, X):
        """Whether ``X`` is a numeric DataFrame that goes out as a DataFrame (``set_output``)."""
        return isinstance(X, pd.DataFrame) and not _tabular.has_non_numeric_columns(X) \
            and _get_output_config("transform", self)["dense"] != "default"

    def _reconstruct(self, X):
        if not self.sample_posterior:
            return self.estimator_.inverse_transform(self.estimator_.transform(X))
        return self.estimator_._sample_posterior(X, self.random_state)

    def _with_indicator(self, out, indicator):
        if not self.add_indicator:
            return out
        if isinstance(out, pd.DataFrame):
            names = self.indicator_.get_feature_names_out(_check_feature_names_in(self, None))
            flags = pd.DataFrame(np.asarray(indicator), columns=names, index=out.index)
            return pd.concat([out, flags], axis=1)
        return self._concatenate_indicator(out, indicator)

    def get_feature_names_out(self, input_features=None):
        """Get the names of the output columns.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Input column names; ``feature_names_in_`` (or ``x0, x1, ...``)
            if None.

        Returns
        -------
        feature_names_out : ndarray of str objects
            The kept columns' names, then the indicator's.
        """
        check_is_fitted(self)
        input_features = _check_feature_names_in(self, input_features)
        keep = np.ones(len(input_features), bool) if self.keep_empty_features \
            else ~self._empty
        return self._concatenate_indicator_feature_names_out(input_features[keep],
                                                             input_features)

    # ---------------------------------------------- persistence and export

    def _save_state(self):
        """What :func:`skae.save` stores besides the parameters.

        The fitted ``estimator_`` (stored as :func:`skae.save` stores an
        estimator), the input's width and names, which columns were empty in
        ``fit`` and which the indicator flags: plain data.
        """
        fitted = {attr: getattr(self, attr) for attr in ("n_features_in_", "feature_names_in_")
                  if hasattr(self, attr)}
        indicated = None if self.indicator_ is None else self.indicator_.features_
        return {"fitted": {**fitted, "estimator_": self.estimator_, "empty_features": self._empty,
                           "indicator_features": indicated}}

    def _load_state(self, state, device):
        fitted = state["fitted"]
        self.estimator_ = fitted["estimator_"]
        self.n_features_in_ = int(fitted["n_features_in_"])
        if "feature_names_in_" in fitted:
            self.feature_names_in_ = fitted["feature_names_in_"]
        self._empty = np.asarray(fitted["empty_features"], dtype=bool)
        if self._empty.shape != (self.n_features_in_,):
            raise ValueError(f"it marks {self._empty.shape} columns as empty in fit; the "
                             f"imputer has {self.n_features_in_}.")
        # The indicator is fitted on the missing-value mask: one row with a gap
        # in each column it flags gives it back.
        flagged = np.zeros((1, self.n_features_in_), dtype=bool)
        if fitted["indicator_features"] is not None:
            flagged[0, np.asarray(fitted["indicator_features"], dtype=np.intp)] = True
        self._fit_indicator(flagged)

    #: The methods :func:`skae.onnx.to_onnx` exports, and the graph a pipeline gets.
    _onnx_methods = ("transform",)
    _onnx_in_pipeline = "transform"

    def _onnx_graph(self, method, graph_of):
        """``transform`` of numbers as an ONNX graph computes it.

        The ``estimator_``'s transform and inverse_transform graphs
        reconstruct the rows (without the columns empty in fit); each gap
        gets its reconstruction (0 in a column empty in fit, with
        ``keep_empty_features``), each observed entry stays, and the
        indicator's columns follow (1.0 where missing).
        """
        if method not in self._onnx_methods:
            raise ValueError(
                f"method={method!r} of an AutoencoderImputer cannot be exported; exportable: "
                f"{list(self._onnx_methods)}."
            )
        if self.sample_posterior:
            raise ValueError(
                "sample_posterior=True draws a code per row and call, which a graph cannot "
                "reproduce; export an imputer with sample_posterior=False, or call transform "
                "in Python."
            )
        within = " (the imputer's estimator_)"
        encode = graph_of(self.estimator_, "transform", within)
        decode = graph_of(self.estimator_, "inverse_transform", within)
        n_features = self.n_features_in_
        modelled, empty = np.flatnonzero(~self._empty), np.flatnonzero(self._empty)
        kept = np.arange(n_features) if self.keep_empty_features else modelled
        # Where each column's fill sits in [reconstructions, zeros of the empty columns].
        order = _export.constant(np.argsort(np.concatenate([modelled, empty])), torch.long)
        modelled, kept = (_export.constant(v, torch.long) for v in (modelled, kept))
        empty = _export.constant(empty, torch.long)
        flagged = None if self.indicator_ is None \
            else _export.constant(self.indicator_.features_, torch.long)
        marker = None if _is_nan(self.missing_values) else float(self.missing_values)

        def fn(m, x):
            if marker is not None:
                x = torch.where(x == marker, torch.nan, x)
            missing = torch.isnan(x)
            fills = decode.fn(m, encode.fn(m, x.index_select(1, modelled)))
            if len(empty):
                fills = torch.cat([fills, torch.zeros_like(x.index_select(1, empty))], 1)
            out = torch.where(missing, fills.index_select(1, order), x).index_select(1, kept)
            if flagged is None:
                return out
            return torch.cat([out, missing.index_select(1, flagged).to(out.dtype)], 1)

        width = len(kept) + (0 if flagged is None else len(flagged))
        return _export.Graph(method, encode.module, fn, n_features,
                             (("transform", "float", width),))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


def _is_nan(value):
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _mask(X):
    return X.isna().to_numpy() if isinstance(X, pd.DataFrame) else np.isnan(X)


def _as_dtypes(values, dtypes):
    """Float columns ``values`` as a DataFrame of ``dtypes`` (integers rounded)."""
    return pd.DataFrame({j: _tabular.as_numeric_dtype(values[:, j], dtype)
                         for j, dtype in enumerate(dtypes)})


def _columns(X, keep):
    return X.loc[:, keep] if isinstance(X, pd.DataFrame) else X[:, keep]


def _column(X, j):
    return X.iloc[:, j].to_numpy() if isinstance(X, pd.DataFrame) else X[:, j]


def _assign(out, rows, j, values):
    if isinstance(out, pd.DataFrame):
        out.iloc[np.flatnonzero(rows), j] = values
    else:
        out[rows, j] = values

