"""OutlierDetector: flag rows an autoencoder fails to model, and say which columns."""

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, OutlierMixin, _fit_context, clone
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _export, _tabular
from ._autoencoder import AutoencoderTransformer
from ._data import FLOAT_DTYPES

#: ``contamination='auto'``: a row is an outlier when its modified z-score
#: (Iglewicz and Hoaglin: 0.6745 * (median - score) / MAD, over the training
#: rows' scores) exceeds this.
AUTO_Z = 3.5
#: The MAD of a normal distribution is this many standard deviations.
MAD_TO_STD = 0.6745

#: ``max_samples='auto'``: fit the model on at most this many rows.
AUTO_MAX_SAMPLES = 10_000


class OutlierDetector(OutlierMixin, BaseEstimator):
    """Unsupervised outlier detection with an autoencoder, and per-column explanations.

    A skae estimator learns to reconstruct the rows of ``X`` (which may
    contain the outliers: no labels are needed); a row it models badly is
    an outlier. ``score_samples`` is the estimator's own score (minus the
    reconstruction error for an :class:`~skae.AutoencoderTransformer`, the
    ELBO for a :class:`~skae.VAETransformer`): higher is more normal, as for
    :class:`~sklearn.ensemble.IsolationForest`, whose contract this follows
    (``decision_function``, ``predict``, ``fit_predict``, ``offset_``).
    :meth:`explain` says which columns make each row anomalous.

    On a table, a level of a categorical column that ``fit`` never saw
    makes a row less normal (where the ``estimator_`` itself, as
    :class:`~sklearn.preprocessing.OneHotEncoder` with
    ``handle_unknown='ignore'``, reads it as no level and adds no error).
    It costs the column's negative log-probability of a level outside its
    training levels, in nats, weighted as the column's cross-entropy for a
    level it saw: the probability is estimated in ``fit``
    (:func:`skae.modules.unseen_level_probability`: Good-Turing's share of
    the values whose level was seen once, smoothed, ``(n_1 + 1) / (n +
    1)`` over ``n`` observed values), so a new level of a column whose
    levels all recur costs ``log(n + 1)`` nats, and a new value of an
    identifier-like column, mostly seen once, nearly nothing.
    :meth:`explain` then points at the column.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer, default=None
        The model, cloned and fitted as ``estimator_``. None: a regularised
        ``AutoencoderTransformer`` trained robustly: ``n_components`` half
        the number of columns (at least 2), ``hidden_layer_sizes=(64, 32)``,
        ``dropout=0.2``, ``batch_norm=True``, ``loss='huber'``,
        ``weight_decay=0.01``, ``batch_size=64`` and 10 epochs at a constant
        rate (``max_iter=10, tol=0, learning_rate='constant',
        learning_rate_init=3e-3``). The training rows contain the outliers:
        regularisation keeps the model from learning to reconstruct them,
        and the huber loss (linear beyond an error of 1) limits their pull
        on the weights. These settings were chosen on the 31 ADBench tables
        of ``benchmarks/bench_outliers.py``, where the detector has the
        best mean rank of ten detectors and a mean ROC AUC level with
        IsolationForest's (0.741; see the user guide), and keep a fit to
        seconds (with ``max_samples``).
    contamination : 'auto' or float, default='auto'
        Sets the threshold ``offset_``. A float in (0, 0.5]: the expected
        share of outliers; ``offset_`` is that quantile of the training
        rows' scores, so that share of them is flagged. ``'auto'``: a
        robust rule that needs no guess, the modified z-score of Iglewicz
        and Hoaglin: a row is an outlier when ``0.6745 * (median - score) /
        MAD > 3.5``, the median and the median absolute deviation (MAD)
        taken over the training rows' scores. A normal score distribution
        would flag 0.02% of its rows; reconstruction errors have a longer
        tail, and on clean data the rule flags a few percent at most (it is
        tested: below 5% of fresh rows from the training distribution).
    max_samples : 'auto', int or float, default='auto'
        How many rows the model is fitted on, drawn at random without
        replacement, as ``IsolationForest``'s ``max_samples`` (a float is a
        fraction of the rows). ``'auto'``: all of them up to 10,000 rows.
        Every row is scored, and the threshold is set on all of them.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of rows and the estimator (when it has a
        ``random_state``).

    Attributes
    ----------
    estimator_ : AutoencoderTransformer or VAETransformer
        The fitted model.
    offset_ : float
        The threshold: ``decision_function = score_samples - offset_``, so
        rows with a negative ``decision_function`` are outliers.
    max_samples_ : int
        The number of rows the model was fitted on.
    n_features_in_ : int
        Number of columns seen in ``fit``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Column names, when ``X`` had string column names.

    See Also
    --------
    sklearn.ensemble.IsolationForest : Isolates outliers with random trees.
    sklearn.neighbors.LocalOutlierFactor : Compares each row's density with its neighbours'.
    skae.plotting.plot_explanation : Draws :meth:`explain` for a few rows.

    Notes
    -----
    The threshold is set on the training rows, which the model has seen:
    new normal rows score a little lower, so a float ``contamination``
    flags a little more than that share of them.

    Examples
    --------
    >>> import numpy as np
    >>> from skae import OutlierDetector
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randn(300, 2) @ rng.randn(2, 6) + 0.1 * rng.randn(300, 6)
    >>> X[:5, 3] += 8  # five rows off the structure, in column 3
    >>> detector = OutlierDetector(contamination=0.05, random_state=0).fit(X)
    >>> labels = detector.predict(X)
    >>> labels[:5]
    array([-1, -1, -1, -1, -1])
    >>> float(np.mean(labels == -1))
    0.05
    >>> detector.explain(X[:5]).argmax(axis=1)  # the column to blame
    array([3, 3, 3, 3, 3])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"]), None],
        "contamination": [StrOptions({"auto"}), Interval(Real, 0, 0.5, closed="right")],
        "max_samples": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left"),
                        Interval(Real, 0, 1, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, contamination="auto", max_samples="auto",
                 random_state=None):
        self.estimator = estimator
        self.contamination = contamination
        self.max_samples = max_samples
        self.random_state = random_state

    # ------------------------------------------------------------------ fit

    def _input(self, X, reset):
        """``X`` checked: a DataFrame with non-numeric columns as it is, else numbers.

        NaN are allowed (the estimators read them as missing), as is sparse
        input; the estimator does the rest of the validation.
        """
        X = _tabular.as_pandas(X)
        if _tabular.has_non_numeric_columns(X):
            return validate_data(self, X, reset=reset, skip_check_array=True)
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=reset,
                          accept_sparse=("csr", "csc", "coo"), ensure_all_finite="allow-nan",
                          ensure_min_samples=2 if reset else 1)
        return X.tocsr() if sp.issparse(X) else X

    def _estimator(self, n_features):
        if self.estimator is None:
            estimator = AutoencoderTransformer(
                max(2, math.ceil(n_features / 2)), hidden_layer_sizes=(64, 32), dropout=0.2,
                batch_norm=True, loss="huber", weight_decay=1e-2, batch_size=64, max_iter=10,
                tol=0, learning_rate="constant", learning_rate_init=3e-3)
        else:
            estimator = clone(self.estimator)
        if self.random_state is not None and "random_state" in estimator.get_params():
            estimator.set_params(random_state=self.random_state)
        return estimator

    def _n_fit_rows(self, n_rows):
        if self.max_samples == "auto":
            return min(n_rows, AUTO_MAX_SAMPLES)
        if isinstance(self.max_samples, Integral):
            return min(n_rows, int(self.max_samples))
        return max(1, int(self.max_samples * n_rows))

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit the model on ``X`` (outliers included) and set the threshold.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data: numbers (NaN for missing values), a sparse matrix,
            or a DataFrame with numeric, boolean and categorical columns.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted detector.
        """
        X = self._input(X, reset=True)
        n_rows = X.shape[0]
        self.max_samples_ = self._n_fit_rows(n_rows)
        rows = _take(X, _subsample(n_rows, self.max_samples_, self.random_state))
        self.estimator_ = self._estimator(X.shape[1]).fit(rows)
        self.offset_ = _offset(self._scores(X), self.contamination)
        return self

    # ------------------------------------------------------------ inference

    def _scores(self, X):
        """The ``estimator_``'s scores of the checked ``X``, levels unseen in fit scored.

        A skae estimator scores such a level by its column's probability of
        a level outside the training levels (``_score_samples(X,
        unseen_levels=True)``); another estimator by its ``score_samples``.
        """
        score = getattr(self.estimator_, "_score_samples", None)
        if score is None:
            return self.estimator_.score_samples(X)
        return score(X, unseen_levels=True)

    def score_samples(self, X):
        """The score of each row: higher is more normal.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Rows to score (NaN are read as missing).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            The estimator's ``score_samples``: minus the reconstruction
            error (autoencoder) or the ELBO (VAE).
        """
        check_is_fitted(self)
        return self._scores(self._input(X, reset=False))

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for outliers.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Rows to score.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            Negative for outliers, positive or zero for inliers.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """Label each row: -1 for an outlier, +1 for an inlier.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Rows to label.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function`` is negative, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def explain(self, X):
        """Each column's share of each row's anomaly.

        Column ``j``'s share is how much the row's score recovers when
        column ``j`` is treated as missing (NaN: the model reads the
        column's training mean, or no level, and leaves it out of the
        error), clipped at 0 and divided by the row's total. A value far
        off in one column also spoils the reconstruction of the others
        through the code, so the largest per-column error often points at
        the wrong column; leaving the culprit out removes both effects.
        ``benchmarks/bench_outliers.py`` measures both on real tables.

        In a categorical column, a level unseen in fit is named (treated as
        missing, it costs nothing). A valid but wrong level (a swapped
        category) is named only as far as the model predicts the column
        from the others: on the real mixed tables of
        ``benchmarks/bench_explain_tables.py``, 40-68% of swaps, against
        every number 12 standard deviations off (see the user guide).

        Costs ``n_features_in_ + 1`` scoring passes over ``X``: explain the
        rows of interest, not a whole large table.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Rows to explain.

        Returns
        -------
        shares : ndarray or DataFrame of shape (n_samples, ``n_features_in_``)
            Non-negative; each row sums to 1, or to 0 for a row that no
            single column makes less normal. A DataFrame (pandas or polars)
            gives a pandas DataFrame with its columns and index, as
            ``set_output(transform="pandas")`` would; anything else an
            ndarray.

        Examples
        --------
        >>> import numpy as np
        >>> from skae import OutlierDetector
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randn(300, 2) @ rng.randn(2, 5)
        >>> detector = OutlierDetector(random_state=0).fit(X)
        >>> row = X[:1].copy()
        >>> row[0, 1] += 10
        >>> detector.explain(row).round(2).argmax()
        np.int64(1)
        """
        check_is_fitted(self)
        frame = _tabular.as_pandas(X)
        X = self._input(frame, reset=False)
        base = self._scores(X)
        recovery = np.empty((X.shape[0], X.shape[1]), dtype=np.float64)
        for j in range(X.shape[1]):
            recovery[:, j] = self._scores(_without_column(X, j)) - base
        recovery = np.clip(np.nan_to_num(recovery, nan=0.0), 0, None)
        total = recovery.sum(axis=1, keepdims=True)
        shares = np.divide(recovery, total, out=np.zeros_like(recovery), where=total > 0)
        if isinstance(frame, pd.DataFrame):
            return pd.DataFrame(shares, columns=frame.columns, index=frame.index)
        return shares

    # ---------------------------------------------- persistence and export

    #: What :func:`skae.save` stores besides the parameters: plain data, and the
    #: fitted ``estimator_`` (stored as :func:`skae.save` stores an estimator).
    _saved_attributes = ("estimator_", "offset_", "max_samples_", "n_features_in_",
                         "feature_names_in_")

    def _save_state(self):
        return {"fitted": {attr: getattr(self, attr) for attr in self._saved_attributes
                           if hasattr(self, attr)}}

    def _load_state(self, state, device):
        fitted = state["fitted"]
        self.estimator_ = fitted["estimator_"]
        for attr in self._saved_attributes[1:]:
            if attr in fitted:
                setattr(self, attr, fitted[attr])

    #: The methods :func:`skae.onnx.to_onnx` exports, and the graph a pipeline gets:
    #: skl2onnx's outlier outputs (as IsolationForest's), labels and decision_function.
    _onnx_methods = ("score_samples", "decision_function", "predict")
    _onnx_in_pipeline = "_label_and_scores"

    def _onnx_graph(self, method, graph_of):
        """``method`` as an ONNX graph computes it: the ``estimator_``'s score graph,
        minus ``offset_`` (a float32 constant), and that difference's sign."""
        if method not in (*self._onnx_methods, self._onnx_in_pipeline):
            raise ValueError(
                f"method={method!r} of an OutlierDetector cannot be exported; exportable: "
                f"{sorted(self._onnx_methods)}. To export its model's transform or "
                "inverse_transform, pass its estimator_: to_onnx(detector.estimator_, X, "
                f"{method!r})."
            )
        score = graph_of(self.estimator_, "score_samples", " (the detector's estimator_)")
        if method == "score_samples":
            return score
        offset = _export.constant(self.offset_)

        def decision(m, x):
            return score.fn(m, x) - offset

        def sign(d):  # as predict: int64 -1 where negative, else +1
            return 1 - 2 * (d < 0).to(torch.int64)

        def label_and_scores(m, x):
            d = decision(m, x).unsqueeze(1)
            return sign(d), d

        fn = {"decision_function": decision, "predict": lambda m, x: sign(decision(m, x)),
              self._onnx_in_pipeline: label_and_scores}[method]
        outputs = (("label", "int64", 1), ("scores", "float", 1))
        return _export.Graph("decision_function" if method == self._onnx_in_pipeline
                             else method, score.module, fn, score.n_inputs, outputs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


# ---------------------------------------------------------------- helpers


def _offset(scores, contamination):
    """The threshold on ``scores`` (see ``contamination``)."""
    if contamination != "auto":
        return float(np.percentile(scores, 100.0 * contamination))
    median = np.median(scores)
    mad = np.median(np.abs(scores - median))
    return float(median - AUTO_Z / MAD_TO_STD * mad)


def _subsample(n_rows, n_keep, random_state):
    """Sorted indices of ``n_keep`` of ``n_rows`` rows, or None for all."""
    if n_keep >= n_rows:
        return None
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n_rows, n_keep, replace=False))


def _take(X, rows):
    if rows is None:
        return X
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else X[rows]


def _without_column(X, j):
    """A copy of ``X`` with column ``j`` missing (NaN, or None in a non-numeric column)."""
    if isinstance(X, pd.DataFrame):
        X = X.copy()
        column = X.iloc[:, j]
        if isinstance(column.dtype, pd.CategoricalDtype) or column.dtype == object:
            X.iloc[:, j] = None
        elif pd.api.types.is_bool_dtype(column.dtype):
            X.isetitem(j, pd.array([pd.NA] * len(X), dtype="boolean"))
        else:
            X.isetitem(j, np.full(len(X), np.nan))
        return X
    if sp.issparse(X):
        X = X.tolil(copy=True)
        X[:, j] = np.nan
        return X.tocsr()
    X = np.array(X, copy=True)
    X[:, j] = np.nan
    return X
