"""Fuzzed inputs: every input either works or is refused with a clear error.

Hypothesis draws shapes (1-30 rows, 1-12 columns), dtypes, scales from 1e-3
to 1e6, NaN and infinities, constant columns, and DataFrames mixing numeric,
bool, categorical, string, datetime and nullable columns. For both
estimators (tiny: hidden (4,), two epochs) each example must either give
finite outputs of the right shape and dtype, or raise ValueError/TypeError
whose message names the problem (each test matches the message it
expects). The caller's data is never modified.

Inputs that broke that rule are kept at the end as explicit regression
tests.
"""

import copy
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skae import AutoencoderTransformer, VAETransformer

TINY = dict(hidden_layer_sizes=(4,), max_iter=2, batch_size=8, random_state=0)
ESTIMATORS = [AutoencoderTransformer, VAETransformer]

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# ----------------------------------------------------------------- strategies

NUMERIC_DTYPES = ["float32", "float64", "int64", "int32", "uint8", "bool"]


@st.composite
def numeric_arrays(draw, n_features=None):
    """A 2-D numpy array, and the NaN or infinity put into it (or None)."""
    n = draw(st.integers(1, 30))
    d = draw(st.integers(1, 12) if n_features is None else n_features)
    dtype = np.dtype(draw(st.sampled_from(NUMERIC_DTYPES)))
    scale = 10.0 ** draw(st.floats(-3, 6))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    if dtype.kind == "f":
        X = (rng.standard_normal((n, d)) * scale).astype(dtype)
    elif dtype.kind == "b":
        X = rng.rand(n, d) < 0.5
    else:
        info = np.iinfo(dtype)
        high = int(min(scale, info.max))
        X = rng.randint(max(-high, info.min), high + 1, size=(n, d)).astype(dtype)
    for j in draw(st.sets(st.integers(0, d - 1), max_size=d)):  # constant columns
        X[:, j] = X[0, j]
    bad = None
    if dtype.kind == "f":
        bad = draw(st.sampled_from([None, None, np.nan, np.inf, -np.inf]))
        if bad is not None:
            i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))
            X[i, j] = bad
    return X, bad


# Column makers for DataFrames: (make(n, rng), the column's kind, error it causes
# or None). Kinds follow categorical_features='from_dtype': category, object and
# string columns are categorical, booleans binary.
COLUMNS = {
    "float": (lambda n, rng: rng.standard_normal(n), "numeric", None),
    "float32": (lambda n, rng: rng.rand(n).astype(np.float32), "numeric", None),
    "int": (lambda n, rng: rng.randint(-5, 5, n), "numeric", None),
    "bool": (lambda n, rng: rng.rand(n) < 0.5, "binary", None),
    "category_num": (lambda n, rng: pd.Categorical(rng.randint(0, 3, n)), "categorical", None),
    "object_num": (lambda n, rng: pd.Series(rng.rand(n), dtype=object), "categorical", None),
    "str_num": (lambda n, rng: [f"{v:.3f}" for v in rng.rand(n)], "categorical", None),
    "Int64": (lambda n, rng: pd.array(rng.randint(0, 9, n), dtype="Int64"), "numeric", None),
    "Float64": (lambda n, rng: pd.array(rng.rand(n), dtype="Float64"), "numeric", None),
    "Int64_NA": (lambda n, rng: pd.array([None] + list(rng.randint(0, 9, n - 1)),
                                         dtype="Int64"), "numeric", None),
    "object_None": (lambda n, rng: pd.Series([None] + list(rng.rand(n - 1)), dtype=object),
                    "categorical", None),
    "str": (lambda n, rng: rng.choice(list(string.ascii_letters), n), "categorical", None),
    "string": (lambda n, rng: pd.array(rng.choice(["a", "b"], n), dtype="string"),
               "categorical", None),
    "category_str": (lambda n, rng: pd.Categorical(rng.choice(["x", "y"], n)), "categorical",
                     None),
    "datetime": (lambda n, rng: pd.Timestamp("2020-01-01") + pd.to_timedelta(
        rng.randint(0, 1000, n), "D"), None, "datetime"),
    "timedelta": (lambda n, rng: pd.to_timedelta(rng.randint(0, 1000, n), "s"), None,
                  "datetime"),
}

# What each kind of bad column must make the error say.
MESSAGES = {
    "datetime": r"Column '\w+' has dtype (datetime|timedelta)64.*neither numeric, boolean "
                "nor categorical",
}


@st.composite
def dataframes(draw):
    n = draw(st.integers(1, 30))
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6))
    rng = np.random.RandomState(draw(st.integers(0, 2**31 - 1)))
    df = pd.DataFrame({f"{kind}_{i}": COLUMNS[kind][0](n, rng) for i, kind in enumerate(kinds)})
    problems = {COLUMNS[kind][2] for kind in kinds} - {None}
    return df, {COLUMNS[kind][1] for kind in kinds}, problems


def expected_dtype(df):
    """float32 when the columns' numpy dtypes promote to it, else float64."""
    try:
        promoted = np.result_type(*df.dtypes)
    except TypeError:  # pandas extension dtypes
        return np.float64
    return np.float32 if promoted == np.float32 else np.float64


def snapshot(data):
    return copy.deepcopy(data)


def assert_unchanged(data, before):
    if isinstance(data, pd.DataFrame):
        pd.testing.assert_frame_equal(data, before)
    else:
        assert data.dtype == before.dtype
        np.testing.assert_array_equal(data, before)  # NaN == NaN here


def check_fitted_outputs(est, X, n, d, out_dtype, empty=None):
    """Finite outputs of the right shapes; ``empty`` columns (no value in fit) decode as NaN."""
    Z = est.transform(X)
    assert Z.shape == (n, est.n_components_) and Z.dtype == out_dtype and np.isfinite(Z).all()
    X_hat = est.inverse_transform(Z)
    assert X_hat.shape == (n, d) and X_hat.dtype == out_dtype
    empty = np.zeros(d, dtype=bool) if empty is None else empty
    assert np.isfinite(X_hat[:, ~empty]).all() and np.isnan(X_hat[:, empty]).all()
    scores = est.score_samples(X)
    assert scores.shape == (n,) and np.isfinite(scores).all()


# ---------------------------------------------------------------------- fit


@pytest.mark.parametrize("Est", ESTIMATORS)
# Fuzzed arrays may hold a column without any value; that warning is pinned in test_tabular.py.
@pytest.mark.filterwarnings("ignore:Column .* has no observed values:UserWarning")
@FUZZ
@given(case=numeric_arrays())
def test_fit_on_fuzzed_arrays(Est, case):
    X, bad = case
    before = snapshot(X)
    est = Est(**TINY)
    if bad is not None and np.isinf(bad):
        with pytest.raises(ValueError, match="Input X contains infinity"):
            est.fit(X)
    else:  # NaN is a missing value: the model learns from the observed entries
        est.fit(X)
        out_dtype = np.float32 if X.dtype == np.float32 else np.float64
        check_fitted_outputs(est, X, *X.shape, out_dtype, empty=np.isnan(X).all(axis=0))
        assert est.n_iter_ == 2 and np.isfinite(est.loss_curve_).all()
    assert_unchanged(X, before)


@pytest.mark.parametrize("Est", ESTIMATORS)
# The fuzzer makes text columns of numbers on purpose; the warning about them is
# pinned in test_tabular.py (test_text_columns_of_numbers_dates_or_identifiers_...).
@pytest.mark.filterwarnings("ignore:Column '.*' is text:UserWarning")
# ... and columns with no observed value (pinned in test_tabular.py too).
@pytest.mark.filterwarnings("ignore:Column '.*' has no observed values:UserWarning")
@FUZZ
@given(case=dataframes())
def test_fit_on_fuzzed_dataframes(Est, case):
    df, kinds, problems = case
    before = snapshot(df)
    est = Est(**TINY)
    if problems:
        pattern = "|".join(MESSAGES[p] for p in sorted(problems))
        with pytest.raises(ValueError, match=pattern):
            est.fit(df)
    elif kinds == {"numeric"} and not df.isna().any().any():  # plain numbers: used as they are
        est.fit(df)
        np.testing.assert_array_equal(est.feature_names_in_, df.columns)
        check_fitted_outputs(est, df, *df.shape, expected_dtype(df))
    else:  # a table: its columns come back with their names and dtypes
        est.fit(df)
        np.testing.assert_array_equal(est.feature_names_in_, df.columns)
        Z = est.transform(df)
        assert Z.shape == (len(df), est.n_components_) and np.isfinite(Z).all()
        back = est.inverse_transform(Z)
        assert list(back.columns) == list(df.columns)
        assert list(back.dtypes) == list(df.dtypes)
        assert np.isfinite(est.score_samples(df)).all()
    assert_unchanged(df, before)


# ---------------------------------------------------------------- inference

N_FEATURES = 5


@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).rand(40, N_FEATURES)
    return {Est: Est(**TINY).fit(X) for Est in ESTIMATORS}


@pytest.mark.parametrize("Est", ESTIMATORS)
@FUZZ
@given(case=numeric_arrays(st.one_of(st.just(N_FEATURES), st.integers(1, 12))),
       data=st.data())
def test_inference_on_fuzzed_arrays(fitted, Est, case, data):
    X, bad = case
    est = fitted[Est]
    before = snapshot(X)
    for method in ("transform", "score_samples"):
        if bad is not None and np.isinf(bad):
            with pytest.raises(ValueError, match="Input X contains infinity"):
                getattr(est, method)(X)
        elif X.shape[1] != N_FEATURES:
            with pytest.raises(ValueError, match=f"{X.shape[1]} features.*expecting "
                                                 f"{N_FEATURES} features"):
                getattr(est, method)(X)
        else:
            out = getattr(est, method)(X)
            assert len(out) == len(X) and np.isfinite(out).all()
            assert out.dtype == (np.float32 if X.dtype == np.float32 else np.float64)
    assert_unchanged(X, before)
    # Codes of any width: only n_components columns are accepted.
    codes = X[:, :data.draw(st.integers(1, X.shape[1]), label="code width")]
    if bad is not None and not np.isfinite(codes).all():
        what = "NaN" if np.isnan(codes).any() else "infinity"
        with pytest.raises(ValueError, match=f"Input X contains {what}"):
            est.inverse_transform(codes)
    elif codes.shape[1] != est.n_components_:
        with pytest.raises(ValueError, match="codes of width n_components=2"):
            est.inverse_transform(codes)
    elif np.isfinite(codes).all():
        out = est.inverse_transform(codes)
        assert out.shape == (len(X), N_FEATURES) and np.isfinite(out).all()
    assert_unchanged(X, before)


# ------------------------------------------------------- explicit edge cases


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("make_bad, exc, match", [
    (lambda X: X[:0], ValueError, "0 sample"),
    (lambda X: X[:, :0], ValueError, "0 feature"),
    (lambda X: X[:, 0], ValueError, "Expected 2D array"),
    (lambda X: X[:, :, None], ValueError, "dim 3"),
    (lambda X: X.astype(complex), ValueError, "Complex data not supported"),
    (lambda X: [[1.0, 2.0], [3.0]], ValueError, "inhomogeneous"),
    (lambda X: pd.DataFrame(X, columns=["a", 1, "c"]), TypeError, "string names"),
])
def test_refused_inputs(Est, make_bad, exc, match):
    X = np.random.RandomState(0).rand(10, 3)
    with pytest.raises(exc, match=match):
        Est(**TINY).fit(make_bad(X))


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("params, n_rows", [
    ({}, 1),  # a single row
    (dict(optimizer="lbfgs"), 1),
    (dict(image_shape=(1, 1, 3), conv_channels=(2,)), 1),  # conv batch norm in eval
    (dict(batch_norm=True, batch_size=16), 17),  # a last batch of one row is dropped
    (dict(early_stopping=True), 2),
    (dict(n_components=12), 5),  # overcomplete
])
def test_small_data_edge_cases_work(Est, params, n_rows):
    X = np.random.RandomState(0).rand(n_rows, 3)
    est = Est(**{**TINY, **params}).fit(X)
    check_fitted_outputs(est, X, n_rows, 3, np.float64)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("n_rows, validation_fraction", [(1, 0.1), (3, 0.9)])
def test_no_training_row_left_for_early_stopping_is_refused(Est, n_rows, validation_fraction):
    X = np.random.RandomState(0).rand(n_rows, 3)
    with pytest.raises(ValueError, match="early_stopping needs at least one training row"):
        Est(**TINY, early_stopping=True, validation_fraction=validation_fraction).fit(X)


# ------------------------------------------------- regressions found by fuzzing


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("scale", [1e39, 1e300])
def test_fit_on_values_beyond_float32_range_raises_value_error(Est, scale):
    X = np.random.RandomState(0).rand(10, 3) * scale
    with pytest.raises(ValueError, match=r"X has values up to .* beyond the float32 range "
                                         r"\(3\.4e\+38\) that training uses"):
        Est(**TINY).fit(X)


@pytest.mark.filterwarnings("ignore:score_samples.*scored -inf:RuntimeWarning")
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("scale, dtype", [(1e20, np.float32), (1e300, np.float64)])
def test_score_samples_of_huge_finite_input_is_finite_or_minus_inf(fitted, Est, scale, dtype):
    # Never NaN, never an error: a row whose error overflows scores -inf
    # (and warns; see test_estimators.py).
    X = (np.random.RandomState(1).rand(4, N_FEATURES) * scale).astype(dtype)
    assert np.isfinite(X).all()
    scores = fitted[Est].score_samples(X)
    assert (np.isfinite(scores) | (scores == -np.inf)).all(), scores


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("params, n_rows", [
    (dict(batch_norm=True), 1),
    (dict(batch_norm=True, batch_size=1), 10),
    (dict(batch_norm=True, early_stopping=True, validation_fraction=0.5), 3),
])
def test_batch_norm_on_one_row_batches_is_explained(Est, params, n_rows):
    X = np.random.RandomState(0).rand(n_rows, 3)
    with pytest.raises(ValueError, match="batch_norm"):
        Est(**{**TINY, **params}).fit(X)
