"""Synthetic rows as a table: the DataFrame side of :meth:`VAETransformer.sample`.

The model draws each column's value (:meth:`skae.modules.TabularOutput.draw`);
this module checks the ``conditions`` a user gives against the fitted columns,
builds the partially observed row the encoder reads for them, and turns the
draws into a DataFrame with the training columns, order and dtypes (numbers
kept in their training range and rounded where they were whole, gaps at each
column's training rate). Decoding itself is :func:`skae._tabular.from_model_output`.
"""

from numbers import Number

import numpy as np
import pandas as pd

from ._tabular import (
    FLOAT_DTYPE_NAMES,
    _family,
    _plain,
    as_numeric_dtype,
    from_model_output,
    to_model_input,
)
from .modules import BINARY, CATEGORICAL, NUMERIC


def checked_conditions(conditions, table):
    """``conditions`` (column -> value) checked against the fitted columns.

    Parameters
    ----------
    conditions : dict
        The values the sampled rows must take.
    table : tuple of Column
        From :func:`describe`.

    Returns
    -------
    given : dict
        Column position -> the value, as a plain Python scalar.

    Raises
    ------
    ValueError
        Naming the column: one the model does not have, a level the column
        never had in fit, a non-boolean for a boolean column, a number
        that is not finite, outside the training range or not whole for an
        integer column, or a column without observed values in fit.
    """
    if not isinstance(conditions, dict):
        raise ValueError(f"conditions must be a dict of column -> value, got "
                         f"{type(conditions).__name__}.")
    names = [c.name for c in table]
    given = {}
    for name, value in conditions.items():
        if name not in names:
            raise ValueError(f"conditions names column {name!r}, which the model does not have "
                             f"(its columns: {names}).")
        j = names.index(name)
        column = table[j]
        value = _plain(value) if isinstance(value, np.generic) else value
        if column.empty:
            raise ValueError(f"conditions gives column {name!r} a value, but it had no observed "
                             "values in fit: the model knows nothing of it. Drop the condition.")
        if column.kind == CATEGORICAL:
            if value not in column.levels or _family(value) not in {_family(v) for v in
                                                                   column.levels}:
                raise ValueError(
                    f"conditions gives column {name!r} the value {value!r}, which it never had "
                    f"in fit (its levels: {list(column.levels)}).")
        elif column.kind == BINARY:
            if not isinstance(value, bool):
                raise ValueError(f"conditions gives boolean column {name!r} the value {value!r};"
                                 " give True or False.")
        else:
            if isinstance(value, bool) or not isinstance(value, Number) \
                    or not np.isfinite(value):
                raise ValueError(f"conditions gives numeric column {name!r} the value {value!r};"
                                 " give a finite number.")
            if column.low is not None and not column.low <= value <= column.high:
                raise ValueError(
                    f"conditions gives numeric column {name!r} the value {value!r}, outside "
                    f"its training range [{column.low:g}, {column.high:g}].")
            if column.dtype not in FLOAT_DTYPE_NAMES and value != round(value):
                raise ValueError(
                    f"conditions gives integer column {name!r} the value {value!r}; give a "
                    "whole number.")
        given[j] = value
    return given


def given_row(given, table):
    """One row as the network reads it: the given values, missing elsewhere.

    Encoded by :func:`skae._tabular.to_model_input`, as ``transform``
    encodes a row with gaps.

    Parameters
    ----------
    given : dict
        Column position -> value, from :func:`checked_conditions`.
    table : tuple of Column

    Returns
    -------
    row : ndarray of shape (1, n_columns)
    """
    row = pd.DataFrame([[given.get(j) for j in range(len(table))]],
                       columns=[c.name for c in table], dtype=object)
    return to_model_input(row, table)


def sampled_frame(drawn, table, random_state, given=None):
    """The DataFrame of rows drawn from a model of the table.

    Decodes the draws as :func:`from_model_output` does (each categorical
    column's drawn level, a flag's drawn value), then keeps each numeric
    column in its training range ``[low, high]`` and rounds it where its
    training values were whole numbers, sets the given columns to their
    values, and leaves each other column missing, row by row
    independently, at its training ``missing_rate``. A column described
    before 0.3 (no range, whole-number flag or rate recorded) is neither
    clipped nor rounded beyond its dtype and gets no missing values.

    Parameters
    ----------
    drawn : ndarray of shape (n_samples, width)
        :meth:`~skae.modules.TabularOutput.draw`'s output: standardised
        numbers, 0/1 flags and one-hot level vectors.
    table : tuple of Column
    random_state : RandomState
        Draws the missing values.
    given : dict, optional
        Column position -> value, from :func:`checked_conditions`: never
        missing.

    Returns
    -------
    X : DataFrame of shape (n_samples, n_columns)
        The training columns, order and dtypes.
    """
    given = given or {}
    frame = from_model_output(drawn, table)
    n = len(frame)
    for j, column in enumerate(table):
        name = column.name
        if column.kind == NUMERIC and not column.empty:
            values = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
            if column.low is not None:
                values = np.clip(values, column.low, column.high)
            if column.whole:
                values = np.round(values)
            frame[name] = as_numeric_dtype(values, column.dtype)
        if j in given:
            frame[name] = pd.Series([given[j]] * n, dtype=frame[name].dtype)
        elif column.missing_rate and not column.empty:
            gaps = random_state.random_sample(n) < column.missing_rate
            frame[name] = frame[name].mask(gaps)
    return frame
