"""Tables in, tables out: a table's column kinds, decided in fit and kept as data.

A DataFrame with boolean or categorical columns reaches the network as one
float per column (see :class:`~skae.modules.TabularInput`): a numeric
column standardised with its training mean and standard deviation, a
boolean column as 0/1, a categorical column as its level's code (-1 for a
level unseen in fit). The description of the columns (:func:`describe`) is a
list of plain dicts, so :func:`skae.save` stores it as JSON; :func:`encode`
and :func:`decode` turn DataFrames into model input and decoder output back
into a DataFrame with the original names, order and dtypes.
"""

from numbers import Integral

import numpy as np
import pandas as pd
from pandas.api import types

from .modules import head_slices

# A numeric column whose standard deviation is below this is only centred.
_MIN_SCALE = 1e-12


def as_pandas(X):
    """``X`` itself, or a polars DataFrame converted to pandas."""
    if type(X).__module__.split(".")[0] == "polars":
        return X.to_pandas()
    return X


def has_non_numeric_columns(X):
    """Whether ``X`` is a DataFrame with a boolean or non-numeric column.

    Such a frame goes to a skae estimator as it is (it reads its columns'
    kinds); anything else can be checked as a float array first.
    """
    return isinstance(X, pd.DataFrame) and not all(
        types.is_numeric_dtype(t) and not types.is_bool_dtype(t) for t in X.dtypes)


def categorical_mask(X, categorical_features):
    """Which columns of ``X`` are categorical, as ``HistGradientBoosting*`` decides it.

    Parameters
    ----------
    X : DataFrame or ndarray
        The training data.
    categorical_features : 'from_dtype', array-like of str, int or bool, or None
        ``'from_dtype'``: columns of dtype ``category``, ``object`` or
        ``string``; names, indices or a boolean mask; None: none.

    Returns
    -------
    mask : ndarray of bool of shape (n_features,)
    """
    n_features = X.shape[1]
    columns = list(X.columns) if isinstance(X, pd.DataFrame) else None
    if categorical_features is None:
        return np.zeros(n_features, dtype=bool)
    if isinstance(categorical_features, str) and categorical_features == "from_dtype":
        if columns is None:
            return np.zeros(n_features, dtype=bool)
        return np.array([_is_categorical_dtype(dtype) for dtype in X.dtypes], dtype=bool)
    values = np.asarray(categorical_features)
    if values.dtype.kind == "b":
        if values.shape != (n_features,):
            raise ValueError(
                f"categorical_features as a boolean mask needs one entry per feature "
                f"({n_features}), got shape {values.shape}."
            )
        return values.astype(bool)
    mask = np.zeros(n_features, dtype=bool)
    for value in values.ravel().tolist():  # Python scalars: plain reprs in errors
        if isinstance(value, str):
            if columns is None or value not in columns:
                raise ValueError(
                    f"categorical_features names column {value!r}, which X does not have"
                    + (" (X has no column names: give indices or a boolean mask)"
                       if columns is None else f" (its columns: {columns})") + "."
                )
            mask[columns.index(value)] = True
        elif isinstance(value, Integral) and -n_features <= value < n_features:
            mask[value] = True
        else:
            raise ValueError(
                f"categorical_features must hold column names, indices in [0, {n_features}) "
                f"or a boolean mask; got {value!r}."
            )
    return mask


def _is_categorical_dtype(dtype):
    return isinstance(dtype, pd.CategoricalDtype) or types.is_object_dtype(dtype) \
        or types.is_string_dtype(dtype)


def _plain(value):
    """A level as a JSON-able Python scalar, or raise TypeError."""
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(type(value).__name__)


def _kind(series, categorical):
    name = series.name
    if categorical:
        return "categorical"
    if types.is_bool_dtype(series.dtype):
        return "binary"
    if types.is_numeric_dtype(series.dtype) and not types.is_complex_dtype(series.dtype):
        return "numeric"
    raise ValueError(
        f"Column {name!r} has dtype {series.dtype}, which is neither numeric, boolean nor "
        "categorical. Convert it (e.g. a datetime to numbers), drop it, or name it in "
        "categorical_features if its values are categories."
    )


def _levels(series):
    name = series.name
    if isinstance(series.dtype, pd.CategoricalDtype):
        levels = list(series.dtype.categories)
    else:
        observed = series.dropna()
        try:
            levels = sorted(pd.unique(observed))
        except TypeError:  # mixed types: order by their text
            levels = sorted(pd.unique(observed), key=str)
    try:
        levels = [_plain(v) for v in levels]
    except TypeError as exc:
        raise ValueError(
            f"Categorical column {name!r} has a level of type {exc}; levels must be "
            "strings, numbers or booleans."
        ) from None
    if len(levels) < 2:
        raise ValueError(
            f"Categorical column {name!r} has {len(levels)} level(s) "
            f"({levels!r}): it carries no information to encode. Drop it."
        )
    return levels


def _dtype_name(series):
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    return str(dtype)


def describe(X, mask):
    """Describe each column of the DataFrame ``X``: its kind and what decodes it.

    Parameters
    ----------
    X : DataFrame
        The training data.
    mask : ndarray of bool
        Which columns are categorical (:func:`categorical_mask`).

    Returns
    -------
    table : list of dict
        Per column: ``name``, ``kind``, ``dtype`` (the original dtype's
        name), ``missing`` (whether it had missing values), and ``mean``
        and ``scale`` of its observed values (numeric), ``levels``
        (categorical; with ``ordered`` for a ``category`` column).
    """
    table = []
    for j, (name, categorical) in enumerate(zip(X.columns, mask)):
        series = X.iloc[:, j]  # by position: names may repeat
        column = {"name": _plain(name) if not isinstance(name, str) else name,
                  "kind": _kind(series, categorical), "dtype": _dtype_name(series),
                  "missing": bool(series.isna().any())}
        if column["kind"] == "numeric":
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            observed = values[~np.isnan(values)]
            column["mean"] = float(np.mean(observed)) if len(observed) else 0.0
            column["scale"] = float(max(np.std(observed), _MIN_SCALE)) if len(observed) else 1.0
        elif column["kind"] == "categorical":
            column["levels"] = _levels(series)
            if isinstance(series.dtype, pd.CategoricalDtype):
                column["ordered"] = bool(series.dtype.ordered)
        table.append(column)
    return table


def model_columns(table):
    """The ``(kind, n_levels, missing)`` of each column, for :class:`~skae.modules.Architecture`."""
    return tuple((c["kind"], len(c.get("levels", (0,))), bool(c.get("missing", False)))
                 for c in table)


def encode(X, table):
    """The columns of DataFrame ``X`` as the network reads them.

    Numeric columns are standardised, booleans are 0/1 and categorical
    columns hold their level's code, -1 for a level not seen in fit. A
    missing value (NaN, None, ``pd.NA``) is NaN, or -1 in a categorical
    column.

    Parameters
    ----------
    X : DataFrame
        Data with the columns described by ``table``.
    table : list of dict
        From :func:`describe`.

    Returns
    -------
    encoded : ndarray of shape (n_samples, n_columns)
        float32 if every column is float32, else float64.
    """
    # float32 for all-float32 numbers (their dtype carries through to the codes).
    dtype = np.float32 if all(c["dtype"] == "float32" for c in table) else np.float64
    out = np.empty((len(X), len(table)), dtype=dtype)
    for j, column in enumerate(table):
        series = X.iloc[:, j]
        name = column["name"]
        if column["kind"] == "categorical":
            # -1 for a level not seen in fit and for a missing value
            # (pd.Categorical with fixed categories would too, but pandas
            # deprecates values outside the categories).
            codes = pd.Index(column["levels"]).get_indexer(series)
            out[:, j] = np.where(series.isna().to_numpy(), -1, codes)
            continue
        try:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise ValueError(
                f"Column {name!r} was {column['kind']} in fit but holds values of dtype "
                f"{series.dtype} now."
            ) from None
        if np.isinf(values).any():
            raise ValueError(f"Column {name!r} has infinite values.")
        if column["kind"] == "numeric":
            values = (values - column["mean"]) / column["scale"]
        elif not np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
            raise ValueError(f"Boolean column {name!r} holds values other than True/False.")
        out[:, j] = values
    return out


def decode(outputs, table, index=None):
    """A DataFrame of the original columns from the heads' outputs.

    Parameters
    ----------
    outputs : ndarray of shape (n_samples, width)
        :class:`~skae.modules.TabularOutput`'s activations: standardised
        values, probabilities of True, and each categorical column's level
        probabilities.
    table : list of dict
        From :func:`describe`.
    index : pandas.Index, optional
        Index of the result.

    Returns
    -------
    X : DataFrame
        Numeric columns in their original units and dtype (integers
        rounded), booleans, and each categorical column's most probable
        level, with its original dtype (a ``category`` column keeps its
        categories).
    """
    data = {}
    for column, (start, stop) in zip(table, head_slices(model_columns(table))):
        data[column["name"]] = _decode_column(outputs[:, start:stop], column)
    frame = pd.DataFrame(data, index=index)
    for column in table:  # pandas >= 3 infers the 'str' dtype from an object array of text
        if column["dtype"] == "object" and frame[column["name"]].dtype != object:
            frame[column["name"]] = frame[column["name"]].astype(object)
    return frame


def _decode_column(block, column):
    dtype = column["dtype"]
    if column["kind"] == "numeric":
        return as_numeric_dtype(block[:, 0] * column["scale"] + column["mean"], dtype)
    if column["kind"] == "binary":
        return pd.array(block[:, 0] > 0.5, dtype=dtype)
    levels = column["levels"]
    picked = [levels[i] for i in block.argmax(axis=1)]
    if dtype == "category":
        return pd.Categorical(picked, categories=levels, ordered=column.get("ordered", False))
    if dtype == "object":
        return np.array(picked, dtype=object)
    return pd.array(picked, dtype=dtype)


def as_numeric_dtype(values, dtype):
    """Float ``values`` as a numeric column of ``dtype``.

    An integer dtype (numpy's or pandas' nullable one) gets the values
    rounded to the nearest integer and clipped to its range; a float dtype
    gets them as they are, in its precision.

    Parameters
    ----------
    values : ndarray of float of shape (n_samples,)
    dtype : dtype or str
        A numeric dtype, e.g. from a DataFrame's ``dtypes``.

    Returns
    -------
    values : ExtensionArray of shape (n_samples,)
    """
    target = types.pandas_dtype(dtype)
    if types.is_integer_dtype(target):
        info = np.iinfo(target.numpy_dtype if hasattr(target, "numpy_dtype") else target)
        values = np.clip(np.rint(values), info.min, info.max)
    return pd.Series(values).astype(target).array


def marginal_logits(encoded, table):
    """Decoder outputs (before activation) that predict each column's marginal.

    Parameters
    ----------
    encoded : ndarray of shape (n_samples, n_columns)
        Training columns as :func:`encode` gives them.
    table : list of dict
        From :func:`describe`.

    Returns
    -------
    logits : ndarray of shape (width,)
        0 for a standardised numeric column (its mean), the log-odds of a
        flag's frequency, and the log of each level's frequency.
    """
    slices = head_slices(model_columns(table))
    logits = np.zeros(max(stop for _, stop in slices))
    for j, (column, (start, stop)) in enumerate(zip(table, slices)):
        values = encoded[:, j]
        observed = values[~np.isnan(values)]
        if column["kind"] == "numeric":
            logits[start] = float(observed.mean()) if len(observed) else 0.0
        elif column["kind"] == "binary":
            p = np.clip(observed.mean() if len(observed) else 0.5, 1e-6, 1 - 1e-6)
            logits[start] = np.log(p / (1 - p))
        else:
            codes = values[values >= 0].astype(np.intp)
            counts = np.bincount(codes, minlength=len(column["levels"]))
            logits[start:stop] = np.log(np.maximum(counts / max(counts.sum(), 1), 1e-6))
    return logits
