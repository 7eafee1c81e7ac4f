"""Tables in, tables out: a table's column kinds, decided in fit and kept as data.

A DataFrame with boolean or categorical columns reaches the network as one
float per column (see :class:`~skae.modules.TabularInput`): a numeric
column standardised with its training mean and standard deviation, a
boolean column as 0/1, a categorical column as its level's code (-1 for a
level unseen in fit). The description of the columns (:func:`describe`) is a
tuple of frozen :class:`Column` records, which :func:`skae.save` stores as
JSON (:meth:`Column.to_dict`); :func:`to_model_input` turns a DataFrame into
the network's input and :func:`from_model_output` the decoder's output back
into a DataFrame with the original names, order and dtypes.
"""

import warnings
from dataclasses import dataclass, field
from numbers import Integral, Number

import numpy as np
import pandas as pd
from pandas.api import types

from .modules import (
    BINARY,
    CATEGORICAL,
    MAX_ONE_HOT_LEVELS,
    NUMERIC,
    UNSEEN_LEVEL,
    head_slices,
    unseen_level_probability,
)

# A numeric column whose standard deviation is below this is only centred.
_MIN_SCALE = 1e-12
#: The dtypes of numeric columns that decode to floats; others (integers) are rounded.
FLOAT_DTYPE_NAMES = frozenset({"float32", "float64", "Float32", "Float64"})


@dataclass(frozen=True)
class Column:
    """One column of a table, as fit described it: its kind and what decodes it.

    Parameters
    ----------
    name : str, int, float or bool
        The column's name.
    kind : str
        Its kind, one of :data:`skae.modules.COLUMN_KINDS` (``NUMERIC``,
        ``BINARY``, ``CATEGORICAL``).
    dtype : str
        The name of its dtype in fit (``'category'`` for a categorical
        dtype), which decoding gives back.
    missing : bool, default=False
        Whether it had missing values in fit (it gets an indicator).
    mean, scale : float or None, default=None
        A numeric column's training mean and standard deviation.
    levels : tuple, default=()
        A categorical column's levels, in code order.
    ordered : bool or None, default=None
        Whether a ``category`` column's categories are ordered (None for
        other dtypes).
    empty : bool, default=False
        Whether it had no observed value in fit: nothing is learned about
        it, it enters the network as missing and decodes as missing.
    missing_rate : float or None, default=None
        The fraction of its values missing in fit (None: not recorded, by
        a skae before 0.3), the rate at which ``sample`` leaves it missing.
    low, high : float or None, default=None
        A numeric column's smallest and largest observed value in fit
        (None: not recorded), the range ``sample`` keeps it in.
    whole : bool or None, default=None
        Whether all of a numeric column's observed values in fit were
        whole numbers (None: not recorded), so ``sample`` rounds it.
    unseen : float or None, default=None
        A categorical column's probability of a level not seen in fit,
        estimated from its training values
        (:func:`~skae.modules.unseen_level_probability`), which an
        :class:`~skae.OutlierDetector` scores such a level by (None: not
        recorded, by a skae before 0.3; such a level is then no level
        everywhere).
    """

    name: object
    kind: str
    dtype: str
    missing: bool = False
    mean: float | None = None
    scale: float | None = None
    levels: tuple = field(default=())
    ordered: bool | None = None
    empty: bool = False
    missing_rate: float | None = None
    low: float | None = None
    high: float | None = None
    whole: bool | None = None
    unseen: float | None = None

    def to_dict(self):
        """The column as plain data (JSON-able): only the fields its kind has.

        Returns
        -------
        data : dict
            ``name``, ``kind``, ``dtype``, ``missing``; ``mean`` and
            ``scale`` (numeric), ``levels`` (categorical) and ``ordered``
            (``category`` dtype); ``empty`` when True. skae 0.2 stored
            tables in this form. Since 0.3 also ``missing_rate``, for a
            numeric column ``low``, ``high`` and ``whole``, and for a
            categorical one ``unseen``, where recorded.
        """
        data = {"name": self.name, "kind": self.kind, "dtype": self.dtype,
                "missing": self.missing}
        if self.missing_rate is not None:
            data["missing_rate"] = self.missing_rate
        if self.kind == NUMERIC:
            data["mean"], data["scale"] = self.mean, self.scale
            for key in ("low", "high", "whole"):
                if getattr(self, key) is not None:
                    data[key] = getattr(self, key)
        elif self.kind == CATEGORICAL:
            data["levels"] = list(self.levels)
            if self.ordered is not None:
                data["ordered"] = self.ordered
            if self.unseen is not None:
                data["unseen"] = self.unseen
        if self.empty:
            data["empty"] = True
        return data

    @classmethod
    def from_dict(cls, data):
        """The column that :meth:`to_dict` (or skae 0.2's saved table) describes.

        Parameters
        ----------
        data : dict
            A column's plain data.

        Returns
        -------
        column : Column
        """
        return cls(name=data["name"], kind=data["kind"], dtype=data["dtype"],
                   missing=bool(data.get("missing", False)), mean=data.get("mean"),
                   scale=data.get("scale"), levels=tuple(data.get("levels", ())),
                   ordered=data.get("ordered"), empty=bool(data.get("empty", False)),
                   missing_rate=data.get("missing_rate"), low=data.get("low"),
                   high=data.get("high"), whole=data.get("whole"),
                   unseen=data.get("unseen"))


def as_columns(table):
    """A table's description as a tuple of :class:`Column`, from Columns or 0.2's dicts.

    Parameters
    ----------
    table : sequence of Column or dict, or None

    Returns
    -------
    table : tuple of Column, or None
    """
    if table is None:
        return None
    return tuple(c if isinstance(c, Column) else Column.from_dict(c) for c in table)


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
        return CATEGORICAL
    if types.is_bool_dtype(series.dtype):
        return BINARY
    if types.is_numeric_dtype(series.dtype) and not types.is_complex_dtype(series.dtype):
        return NUMERIC
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
            unique = pd.unique(observed)
        except TypeError:  # unhashable values, such as lists
            raise ValueError(
                f"Categorical column {name!r} has a level of type "
                f"{_unhashable_type(observed)}; levels must be strings, numbers or booleans."
            ) from None
        try:
            levels = sorted(unique)
        except TypeError:  # mixed types: order by their text
            levels = sorted(unique, key=str)
    try:
        return [_plain(v) for v in levels]
    except TypeError as exc:
        raise ValueError(
            f"Categorical column {name!r} has a level of type {exc}; levels must be "
            "strings, numbers or booleans."
        ) from None


def _unhashable_type(values):
    """The type name of the first value in ``values`` that cannot be hashed."""
    for value in values:
        try:
            hash(value)
        except TypeError:
            return type(value).__name__
    return "unknown"


def _family(value):
    """A level's type as the user sees it: text, a number or a flag."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, Number):
        return "number"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def _mean_and_scale(observed):
    """The mean and standard deviation of finite numbers, without overflow.

    Values beyond about 1e154 overflow the squares of ``np.std``: they are
    divided by the largest magnitude first. Ordinary data gets exactly
    ``np.mean`` and ``np.std``.
    """
    if not len(observed):
        return 0.0, 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = np.mean(observed), np.std(observed)
    if not (np.isfinite(mean) and np.isfinite(std)) and np.isfinite(observed).all():
        largest = np.max(np.abs(observed))
        mean = largest * np.mean(observed / largest)
        std = largest * np.std(observed / largest)
    return float(mean), float(max(std, _MIN_SCALE))


def _warn_about_text(series, levels):
    """Warn when a text column taken as categorical looks like numbers, dates or an id.

    Only columns with more levels than a one-hot vector takes: a few
    levels, even ones that read as numbers ('1', '2', '3'), are categories.
    """
    if len(levels) <= MAX_ONE_HOT_LEVELS or not all(isinstance(v, str) for v in levels):
        return
    text = pd.Series(levels, dtype=object)
    if pd.to_numeric(text, errors="coerce").notna().all():
        what = (f"whose {len(levels)} distinct values all read as numbers",
                "If they are numbers, convert the column (pd.to_numeric)")
    elif pd.to_datetime(text, format="ISO8601", errors="coerce").notna().all():
        what = (f"whose {len(levels)} distinct values all read as dates or times",
                "If they are, convert the column (pd.to_datetime, then to numbers such as "
                "days since a date)")
    elif len(levels) == series.notna().sum():
        what = (f"with a different value in each of its {len(levels)} rows",
                "An identifier carries nothing to learn: drop the column")
    else:
        return
    warnings.warn(
        f"Column {series.name!r} is text {what[0]}; it is taken as a categorical column "
        f"with {len(levels)} levels. {what[1]}. If its values are categories, make it a "
        "'category' dtype or name it in categorical_features, which silences this warning.",
        UserWarning,
        stacklevel=8,  # fit's caller, past describe, _describe_table, _model_input, ...
    )


def _dtype_name(series):
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    return str(dtype)


def describe(X, mask, check_text=False):
    """Describe each column of the DataFrame ``X``: its kind and what decodes it.

    Warns about a column without observed values (nothing is learned about
    it: it is encoded as missing and decoded as missing) and, with
    ``check_text``, about a text column with many levels that all read as
    numbers or dates, or that differ in every row.

    Parameters
    ----------
    X : DataFrame
        The training data.
    mask : ndarray of bool
        Which columns are categorical (:func:`categorical_mask`).
    check_text : bool, default=False
        Whether the text columns are categorical by their dtype alone
        (``categorical_features='from_dtype'``), so worth the check.

    Returns
    -------
    table : tuple of Column
        One :class:`Column` per column, in order.
    """
    table = []
    for j, (name, categorical) in enumerate(zip(X.columns, mask)):
        series = X.iloc[:, j]  # by position: names may repeat
        kind = _kind(series, categorical)
        fields = {}
        if kind == NUMERIC:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            observed = values[~np.isnan(values)]
            fields["mean"], fields["scale"] = _mean_and_scale(observed)
            if len(observed):
                fields["low"], fields["high"] = float(observed.min()), float(observed.max())
                fields["whole"] = bool(np.all(observed == np.round(observed)))
        elif kind == CATEGORICAL:
            fields["levels"] = tuple(_levels(series))
            if series.notna().any():
                fields["unseen"] = unseen_level_probability(series.value_counts().to_numpy())
            if isinstance(series.dtype, pd.CategoricalDtype):
                fields["ordered"] = bool(series.dtype.ordered)
            elif check_text:
                _warn_about_text(series, list(fields["levels"]))
        if len(series) and series.isna().all():
            fields["empty"] = True
            warnings.warn(
                f"Column {name!r} has no observed values: nothing is learned about it, "
                "inverse_transform gives missing values in it, and values it holds at "
                "transform are ignored. Drop it (SimpleImputer skips such columns).",
                UserWarning,
                stacklevel=7,  # fit's caller, past _describe_table, _model_input, _train
            )
        table.append(Column(name=_plain(name) if not isinstance(name, str) else name,
                            kind=kind, dtype=_dtype_name(series),
                            missing=bool(series.isna().any()),
                            missing_rate=float(series.isna().mean()) if len(series) else 0.0,
                            **fields))
    return tuple(table)


def model_columns(table):
    """The ``(kind, n_levels, missing)`` of each column, for :class:`~skae.modules.Architecture`.

    A categorical column without levels (it had no observed value) gets
    one head all the same: it is never trained, and decodes as missing.
    """
    return tuple((c.kind, max(1, len(c.levels)), c.missing) for c in table)


def to_model_input(X, table, unseen_levels=False):
    """The columns of DataFrame ``X`` as the network reads them.

    Numeric columns are standardised, booleans are 0/1 and categorical
    columns hold their level's code, -1 for a level not seen in fit. A
    missing value (NaN, None, ``pd.NA``) is NaN, or -1 in a categorical
    column; so is every value of a column without observed values in fit.

    Parameters
    ----------
    X : DataFrame
        Data with the columns described by ``table``.
    table : tuple of Column
        From :func:`describe`.
    unseen_levels : bool, default=False
        Code a level not seen in fit :data:`~skae.modules.UNSEEN_LEVEL`
        instead of -1, where its column's ``unseen`` was recorded: the
        network reads it as -1 (no level), its heads score it by that
        probability (:meth:`~skae.modules.TabularOutput.column_losses`).

    Returns
    -------
    encoded : ndarray of shape (n_samples, n_columns)
        float32 if every column is float32, else float64.

    Raises
    ------
    ValueError
        Naming the column: a numeric or boolean column of a dtype that fit
        refuses (a datetime, say) or of values that are no numbers; a
        categorical column holding a value of another type than its levels
        (a number among text levels); infinite values, or values beyond
        the float32 range once standardised; a flag other than True/False.
    """
    # float32 for all-float32 numbers (their dtype carries through to the codes).
    dtype = np.float32 if all(c.dtype == "float32" for c in table) else np.float64
    out = np.empty((len(X), len(table)), dtype=dtype)
    for j, column in enumerate(table):
        series = X.iloc[:, j]
        if column.empty:  # nothing was learned about it: always missing
            out[:, j] = -1 if column.kind == CATEGORICAL else np.nan
        elif column.kind == CATEGORICAL:
            out[:, j] = _level_codes(series, column, unseen_levels)
        else:
            out[:, j] = _standardised_numbers(series, column)
    return out


def _level_codes(series, column, unseen_levels=False):
    """A categorical column's level codes: -1 for an unknown level or a missing value.

    With ``unseen_levels`` (and the column's ``unseen`` recorded), an
    unknown level is ``UNSEEN_LEVEL`` instead.
    """
    name, levels = column.name, column.levels
    # (pd.Categorical with fixed categories would do it too, but pandas
    # deprecates values outside the categories.)
    try:
        codes = pd.Index(levels).get_indexer(series)
    except TypeError:  # unhashable values, such as lists
        raise ValueError(
            f"Categorical column {name!r} holds a value of type "
            f"{_unhashable_type(series.dropna())}; its levels in fit are strings, numbers or "
            "booleans."
        ) from None
    missing = series.isna().to_numpy()
    unknown = (codes < 0) & ~missing
    if unknown.any():  # an unseen level of the levels' type is no level; another type is wrong
        families = {_family(v) for v in levels}
        for value in pd.unique(series[unknown]):
            if _family(value) not in families:
                value = _plain(value) if isinstance(value, np.generic) else value
                shown = ", ".join(repr(v) for v in levels[:3]) + (", ..." if len(levels) > 3
                                                                   else "")
                raise ValueError(
                    f"Categorical column {name!r} holds {value!r} ({type(value).__name__}), "
                    f"but its levels in fit are {' or '.join(sorted(families))} ({shown}). "
                    "Give the column its levels' type; an unseen level of that type is read "
                    "as no level, a missing value (NaN) as missing."
                )
        if unseen_levels and column.unseen is not None:
            codes = np.where(unknown, UNSEEN_LEVEL, codes)
    return np.where(missing, -1, codes)


def _reads_as_numbers(dtype):
    """Whether a numeric or boolean column may hold values of ``dtype`` at transform."""
    return (types.is_numeric_dtype(dtype) and not types.is_complex_dtype(dtype)) \
        or types.is_object_dtype(dtype) or types.is_string_dtype(dtype) \
        or isinstance(dtype, pd.CategoricalDtype)


def standardised(values, mean, scale):
    """Numbers as the network reads them: ``(values - mean) / scale``.

    The one definition of a numeric column's standardisation, for numpy
    arrays and torch tensors alike (:mod:`skae.onnx` builds its graphs with
    it); :func:`in_data_units` inverts it.
    """
    return (values - mean) / scale


def in_data_units(values, mean, scale):
    """Standardised numbers back in data units: ``values * scale + mean``."""
    return values * scale + mean


def standardisation(table):
    """Each column's ``(mean, scale)``, for a table of numeric columns only.

    A column without observed values in fit gets the mean NaN, so that
    :func:`standardised` and :func:`in_data_units` make it missing, as
    :func:`to_model_input` and :func:`from_model_output` do.

    Parameters
    ----------
    table : tuple of Column
        Numeric columns, from :func:`describe`.

    Returns
    -------
    mean, scale : ndarray of float64 of shape (n_columns,)
    """
    mean = np.array([np.nan if c.empty else c.mean for c in table], dtype=np.float64)
    return mean, np.array([c.scale for c in table], dtype=np.float64)


def _standardised_numbers(series, column):
    """A numeric column standardised, or a boolean column as 0/1; NaN where missing."""
    name, kind = column.name, column.kind
    refused = ValueError(
        f"Column {name!r} was {kind} in fit but holds values of dtype {series.dtype} now."
    )
    if not _reads_as_numbers(series.dtype):  # datetimes would read as nanoseconds
        raise refused
    try:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise refused from None
    if np.isinf(values).any():
        raise ValueError(f"Column {name!r} has infinite values.")
    if kind == BINARY:
        if not np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
            raise ValueError(f"Boolean column {name!r} holds values other than True/False.")
        return values
    with np.errstate(over="ignore"):
        standard = standardised(values, column.mean, column.scale)
    limit = np.finfo(np.float32).max
    too_large = ~(np.abs(standard) <= limit) & ~np.isnan(values)
    if too_large.any():
        i = np.flatnonzero(too_large)[0]
        raise ValueError(
            f"Column {name!r} holds {values[i]:.3g}, {abs(standard[i]):.3g} standard "
            f"deviations from its training mean ({column.mean:.3g}): beyond the float32 "
            f"range ({limit:.3g}) the network computes in. Clip or rescale the column."
        )
    return standard


def from_model_output(outputs, table, index=None):
    """A DataFrame of the original columns from the heads' outputs.

    Parameters
    ----------
    outputs : ndarray of shape (n_samples, width)
        :class:`~skae.modules.TabularOutput`'s activations: standardised
        values, probabilities of True, and each categorical column's level
        probabilities.
    table : tuple of Column
        From :func:`describe`.
    index : pandas.Index, optional
        Index of the result.

    Returns
    -------
    X : DataFrame
        Numeric columns in their original units and dtype (integers
        rounded), booleans, and each categorical column's most probable
        level, with its original dtype (a ``category`` column keeps its
        categories). A column without observed values in fit is all
        missing (NaN, or its dtype's missing value): nothing was learned
        about it.
    """
    data = {}
    for column, (start, stop) in zip(table, head_slices(model_columns(table))):
        data[column.name] = _column_from_output(outputs[:, start:stop], column)
    frame = pd.DataFrame(data, index=index)
    for column in table:  # pandas >= 3 infers the 'str' dtype from an object array of text
        if column.dtype == "object" and frame[column.name].dtype != object:
            frame[column.name] = frame[column.name].astype(object)
    return frame


def _column_from_output(block, column):
    dtype = column.dtype
    if column.empty:  # nothing was learned about it: missing, in its dtype
        missing = np.full(len(block), np.nan, dtype=object if dtype == "object" else float)
        if dtype == "category":
            return pd.Categorical(missing, categories=list(column.levels),
                                  ordered=bool(column.ordered))
        return missing if dtype == "object" else pd.array(missing, dtype=dtype)
    if column.kind == NUMERIC:
        return as_numeric_dtype(in_data_units(block[:, 0], column.mean, column.scale), dtype)
    if column.kind == BINARY:
        return pd.array(block[:, 0] > 0.5, dtype=dtype)
    levels = column.levels
    picked = [levels[i] for i in block.argmax(axis=1)]
    if dtype == "category":
        return pd.Categorical(picked, categories=list(levels), ordered=bool(column.ordered))
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


def unseen_probabilities(table):
    """Each column's probability of a level unseen in fit: NaN where not recorded.

    For :meth:`~skae.modules.TabularOutput.set_unseen`.

    Parameters
    ----------
    table : tuple of Column
        From :func:`describe`.

    Returns
    -------
    probabilities : tuple of float
        One per column; NaN for a column that is not categorical or has no
        ``unseen`` recorded.
    """
    return tuple(np.nan if c.unseen is None else c.unseen for c in table)


def marginal_logits(encoded, table):
    """Decoder outputs (before activation) that predict each column's marginal.

    Parameters
    ----------
    encoded : ndarray of shape (n_samples, n_columns)
        Training columns as :func:`to_model_input` gives them.
    table : tuple of Column
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
        if column.kind == NUMERIC:
            logits[start] = float(observed.mean()) if len(observed) else 0.0
        elif column.kind == BINARY:
            p = np.clip(observed.mean() if len(observed) else 0.5, 1e-6, 1 - 1e-6)
            logits[start] = np.log(p / (1 - p))
        else:
            codes = values[values >= 0].astype(np.intp)
            counts = np.bincount(codes, minlength=stop - start)
            logits[start:stop] = np.log(np.maximum(counts / max(counts.sum(), 1), 1e-6))
    return logits
