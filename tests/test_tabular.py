"""Spec for tables and sparse input: DataFrames with numeric, boolean and categorical columns.

Read top to bottom: which columns are numeric, binary or categorical (by
dtype or by ``categorical_features``); ``inverse_transform`` gives back the
original columns, and a model that reconstructs well gets the levels and
values right; a level unseen in fit is encoded as no level and adds no error;
each column's loss is measured against predicting its marginal, so columns of
any kind and scale count alike; ``reconstruction_error``; sparse input of
every scipy format gives the dense results without ever densifying more than a
batch; persistence, polars, set_output, search, clone and pickle; every bad
table is refused with an error naming the column; and numeric data keeps
exactly its previous results.
"""

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from _helpers import network_input, set_skae_setting
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from skorch.callbacks import EpochScoring

import skae
from skae import AutoencoderTransformer, VAETransformer
from skae.modules import MAX_ONE_HOT_LEVELS
from skae.modules._columns import WIDE_LEVELS

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
N = 200
FLOAT32_RTOL = 1e-5


def small(Est, **params):
    """A small, fast, seeded model: a few epochs of a (16,) network."""
    return Est(**{"n_components": 2, "hidden_layer_sizes": (16,), "max_iter": 3, "tol": 0,
                  "random_state": 0, **params})


def cities(n):
    """More levels than MAX_ONE_HOT_LEVELS (an embedded column), each one present."""
    n_levels = MAX_ONE_HOT_LEVELS + 4
    return np.array([f"c{i:02d}" for i in range(n_levels)])[np.arange(n) % n_levels]


def mixed_table(n=N, seed=0):
    """One column of every kind and dtype a table takes."""
    rng = np.random.RandomState(seed)
    return pd.DataFrame({
        "height": 10 * rng.randn(n) + 170,
        "count": rng.randint(0, 50, n),
        "flag": rng.rand(n) > 0.5,
        "maybe": pd.array(rng.rand(n) > 0.3, dtype="boolean"),
        "size": pd.Categorical(rng.choice(["S", "M", "L"], n), categories=["S", "M", "L"],
                               ordered=True),
        "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
        "pet": pd.Series(rng.choice(["dog", "cat"], n), dtype=object),
        "city": pd.Series(rng.permutation(cities(n)), dtype="string"),
        "word": pd.Series(rng.choice(["x", "y", "z"], n), dtype="str"),  # object before pandas 3
        "nint": pd.array(rng.randint(0, 9, n), dtype="Int64"),
        "nfloat": pd.array(rng.randn(n), dtype="Float64"),
    })


MIXED_KINDS = ["numeric", "numeric", "binary", "binary", "categorical", "categorical",
               "categorical", "categorical", "categorical", "numeric", "numeric"]
MIXED_LEVELS = [["S", "M", "L"], ["blue", "green", "red"], ["cat", "dog"],
                [f"c{i:02d}" for i in range(MAX_ONE_HOT_LEVELS + 4)], ["x", "y", "z"]]


# --------------------------------------------------------- column kinds

# name: (column of n rows from rng, its kind)
COLUMNS = {
    "float64": (lambda rng, n: rng.randn(n), "numeric"),
    "float32": (lambda rng, n: rng.randn(n).astype(np.float32), "numeric"),
    "int64": (lambda rng, n: rng.randint(-20, 20, n), "numeric"),
    "int32": (lambda rng, n: rng.randint(-20, 20, n).astype(np.int32), "numeric"),
    "uint8": (lambda rng, n: rng.randint(0, 255, n).astype(np.uint8), "numeric"),
    "Int64": (lambda rng, n: pd.array(rng.randint(0, 9, n), dtype="Int64"), "numeric"),
    "Float64": (lambda rng, n: pd.array(rng.randn(n), dtype="Float64"), "numeric"),
    "bool": (lambda rng, n: rng.rand(n) > 0.5, "binary"),
    "boolean": (lambda rng, n: pd.array(rng.rand(n) > 0.5, dtype="boolean"), "binary"),
    "category": (lambda rng, n: pd.Categorical(rng.choice(["b", "a", "c"], n)), "categorical"),
    "ordered category": (lambda rng, n: pd.Categorical(
        rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"], ordered=True),
        "categorical"),
    "int category": (lambda rng, n: pd.Categorical(rng.choice([3, 1, 2], n)), "categorical"),
    "embedded category": (lambda rng, n: pd.Categorical(cities(n)), "categorical"),
    "object": (lambda rng, n: pd.Series(rng.choice(["u", "v"], n), dtype=object),
               "categorical"),
    "string": (lambda rng, n: pd.Series(rng.choice(["u", "v", "w"], n), dtype="string"),
               "categorical"),
    "str": (lambda rng, n: pd.Series(rng.choice(["u", "v"], n), dtype="str"), "categorical"),
}


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", list(COLUMNS))
def test_each_column_kind_alone(Est, dtype):
    # A numeric column alone is no table (numbers in, numbers out): it goes
    # with a flag. Every other kind is a table by itself.
    build, kind = COLUMNS[dtype]
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"col": build(rng, N)})
    if kind == "numeric":
        X["flag"] = rng.rand(N) > 0.5
    est = small(Est).fit(X)
    assert est.feature_kinds_[0] == kind
    out = est.inverse_transform(est.transform(X))
    assert list(out.columns) == list(X.columns)
    assert out["col"].dtype == X["col"].dtype, (out["col"].dtype, X["col"].dtype)
    if kind == "categorical":
        levels = est.categories_[0]
        assert out["col"].isin(levels).all()
        if isinstance(X["col"].dtype, pd.CategoricalDtype):  # a category keeps its categories
            assert_array_equal(levels, np.asarray(X["col"].cat.categories, dtype=object))
        else:  # others: the sorted observed values
            assert_array_equal(levels, np.sort(X["col"].unique().astype(object)))
    else:
        assert est.categories_ == []


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_mixed_table_kinds_and_categories(Est):
    X = mixed_table()
    est = small(Est).fit(X)
    assert est.feature_kinds_.dtype == object
    assert_array_equal(est.feature_kinds_, MIXED_KINDS)
    assert_array_equal(est.feature_names_in_, X.columns)
    assert est.n_features_in_ == X.shape[1]
    # One array of levels per categorical column, in column order: a
    # category's own categories (in their order), others sorted.
    assert len(est.categories_) == len(MIXED_LEVELS)
    for levels, expected in zip(est.categories_, MIXED_LEVELS):
        assert levels.dtype == object
        assert_array_equal(levels, expected)
    assert est.transform(X).shape == (N, 2)


def test_category_keeps_its_unused_categories():
    X = pd.DataFrame({"c": pd.Categorical(["a", "b"] * 50, categories=["a", "b", "never"])})
    est = small(AutoencoderTransformer).fit(X)
    assert_array_equal(est.categories_[0], ["a", "b", "never"])
    assert est.inverse_transform(est.transform(X))["c"].dtype == X["c"].dtype


# ------------------------------------------------- categorical_features

def int_table():
    rng = np.random.RandomState(0)
    return pd.DataFrame({"x": rng.randn(N), "code": rng.randint(0, 3, N),
                         "flag": rng.rand(N) > 0.5})


@pytest.mark.parametrize("categorical_features", [
    ["code"], [1], [-2], np.array([False, True, False]), (1,), np.array(["code"]),
])
def test_categorical_features_names_indices_and_mask_agree(categorical_features):
    # As HistGradientBoostingRegressor: the columns named, indexed or masked
    # are categorical, whatever their dtype; here an integer column.
    X = int_table()
    est = small(AutoencoderTransformer, categorical_features=categorical_features).fit(X)
    assert_array_equal(est.feature_kinds_, ["numeric", "categorical", "binary"])
    assert_array_equal(est.categories_[0], [0, 1, 2])
    out = est.inverse_transform(est.transform(X))
    assert out["code"].dtype == np.int64 and out["code"].isin([0, 1, 2]).all()


def test_categorical_features_from_dtype_is_the_default():
    X = mixed_table()
    assert AutoencoderTransformer().categorical_features == "from_dtype"
    explicit = small(AutoencoderTransformer, categorical_features="from_dtype").fit(X)
    default = small(AutoencoderTransformer).fit(X)
    assert_array_equal(explicit.feature_kinds_, default.feature_kinds_)
    # An integer column stays numeric unless named.
    assert_array_equal(small(AutoencoderTransformer).fit(int_table()).feature_kinds_,
                       ["numeric", "numeric", "binary"])


def test_explicit_categorical_features_replace_the_dtypes():
    # Naming columns replaces 'from_dtype': a string column not named is an
    # error, as a string column is with None.
    X = int_table().assign(word=pd.Series(["a", "b"] * (N // 2), dtype=object))
    with pytest.raises(ValueError, match="Column 'word' has dtype object"):
        small(AutoencoderTransformer, categorical_features=["code"]).fit(X)
    est = small(AutoencoderTransformer, categorical_features=["code", "word"]).fit(X)
    assert_array_equal(est.feature_kinds_, ["numeric", "categorical", "binary", "categorical"])


@pytest.mark.parametrize("column", [
    pd.Series(["a", "b"] * (N // 2), dtype=object),
    pd.Series(["a", "b"] * (N // 2), dtype="string"),
    pd.Categorical(["a", "b"] * (N // 2)),
])
def test_categorical_features_none_refuses_text_columns(column):
    X = int_table().assign(word=column)
    with pytest.raises(ValueError, match="Column 'word' has dtype .*name it in categorical"):
        small(AutoencoderTransformer, categorical_features=None).fit(X)


def test_categorical_features_none_keeps_booleans_binary():
    est = small(AutoencoderTransformer, categorical_features=None).fit(int_table())
    assert_array_equal(est.feature_kinds_, ["numeric", "numeric", "binary"])


def test_categorical_features_on_a_numpy_array():
    # Indices or a mask make integer-valued columns of an ndarray categorical;
    # 'from_dtype' and None leave an ndarray numeric (no table).
    rng = np.random.RandomState(0)
    X = np.c_[rng.randn(N), rng.randint(0, 3, N)]
    for mask in ([1], [-1], [False, True]):
        est = small(AutoencoderTransformer, categorical_features=mask).fit(X)
        assert_array_equal(est.feature_kinds_, ["numeric", "categorical"])
        assert_array_equal(est.categories_[0], [0.0, 1.0, 2.0])
        assert est.transform(X).shape == (N, 2)
        # The reconstruction (a DataFrame of columns 0 and 1) holds valid levels.
        out = np.asarray(est.inverse_transform(est.transform(X)), dtype=float)
        assert np.isin(out[:, 1], [0.0, 1.0, 2.0]).all()
    for setting in ("from_dtype", None):
        est = small(AutoencoderTransformer, categorical_features=setting).fit(X)
        assert not hasattr(est, "feature_kinds_")
        assert isinstance(est.inverse_transform(est.transform(X)), np.ndarray)


def test_categorical_features_on_an_object_array_of_numbers_and_text():
    # Each column of an object ndarray is read with its own inferred dtype.
    rng = np.random.RandomState(0)
    X = np.empty((N, 2), dtype=object)
    X[:, 0], X[:, 1] = rng.randn(N), rng.choice(["a", "b"], N)
    est = small(AutoencoderTransformer, categorical_features=[1]).fit(X)
    assert_array_equal(est.feature_kinds_, ["numeric", "categorical"])
    assert_array_equal(est.categories_[0], ["a", "b"])
    out = est.inverse_transform(est.transform(X))  # an array in, an array out
    assert isinstance(out, np.ndarray) and out.dtype == object
    assert set(out[:, 1]) <= {"a", "b"}


@pytest.mark.parametrize("X, categorical_features, match", [
    (int_table(), ["nope"], r"names column 'nope', which X does not have \(its columns: "
                            r"\['x', 'code', 'flag'\]\)"),
    (int_table(), [3], r"indices in \[0, 3\) or a boolean mask; got 3\."),
    (int_table(), [-4], r"got -4\."),
    (int_table(), [1.5], r"got 1\.5\."),
    (int_table(), [True, False], r"boolean mask needs one entry per feature \(3\), "
                                 r"got shape \(2,\)"),
    (int_table().to_numpy(dtype=float), ["code"], r"names column 'code', which X does not "
                                                  r"have \(X has no column names: give "
                                                  r"indices or a boolean mask\)\."),
])
def test_bad_categorical_features(X, categorical_features, match):
    with pytest.raises(ValueError, match=match):
        small(AutoencoderTransformer, categorical_features=categorical_features).fit(X)


def test_categorical_features_other_strings_are_invalid_parameters():
    with pytest.raises(ValueError, match="categorical_features.*'from_dtype'"):
        small(AutoencoderTransformer, categorical_features="auto").fit(int_table())


# ---------------------------------------------------- inverse_transform

@pytest.mark.parametrize("Est", ESTIMATORS)
def test_inverse_transform_restores_names_order_and_dtypes(Est):
    X = mixed_table()
    est = small(Est).fit(X)
    out = est.inverse_transform(est.transform(X))
    assert isinstance(out, pd.DataFrame)
    pd.testing.assert_index_equal(out.columns, X.columns)
    pd.testing.assert_series_equal(out.dtypes, X.dtypes)
    for name in ("size", "color"):  # same categories, same order, same `ordered`
        assert out[name].cat.categories.equals(X[name].cat.categories)
        assert out[name].cat.ordered == X[name].cat.ordered
    for name, levels in zip(X.columns[est.feature_kinds_ == "categorical"], est.categories_):
        assert out[name].isin(levels).all(), name
    assert out["count"].dtype == np.int64  # integers are rounded, not truncated to float
    assert out.notna().all().all()


def easy_table(n=400, seed=0):
    """Five columns driven by two latent factors: a 2-code model can rebuild them all."""
    rng = np.random.RandomState(seed)
    t = rng.randn(n, 2)
    return pd.DataFrame({
        "x": 3 * t[:, 0] + 10 + 0.1 * rng.randn(n),
        "y": np.rint(100 * t[:, 1] + 500).astype(np.int64),
        "flag": t[:, 1] > 0,
        "level": pd.Categorical(np.array(["low", "mid", "high"])[np.digitize(t[:, 0], [-.5, .5])],
                                categories=["low", "mid", "high"], ordered=True),
        "color": pd.Series(np.array(["red", "green", "blue", "cyan"])[
            2 * (t[:, 0] > 0) + (t[:, 1] > 0)], dtype=object),
    })


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_good_model_reconstructs_levels_and_values_in_original_units(Est):
    # Measured over data and training seeds 0-4 (30 epochs), both
    # estimators: accuracy above the majority class's by 0.45-0.50 (flag),
    # 0.58-0.63 (level) and 0.70-0.73 (color), i.e. nearly every level right;
    # R^2 of 0.96-0.98 (AE) and 0.94-0.96 (VAE) for x, 0.97-0.99 (AE) and
    # 0.86-0.93 (VAE) for y. The bounds below leave a wide margin.
    X = easy_table()
    est = small(Est, max_iter=30, learning_rate_init=0.01).fit(X)
    out = est.inverse_transform(est.transform(X))
    for name in ("flag", "level", "color"):
        majority = X[name].value_counts(normalize=True).max()
        assert (out[name] == X[name]).mean() > majority + 0.3, name
    for name in ("x", "y"):  # in the data's own units: no standardisation left
        assert r2_score(X[name], out[name]) > 0.7, name
    assert abs(out["y"].mean() - 500) < 50 and abs(out["x"].mean() - 10) < 1


# -------------------------------------------------------- unknown levels

@pytest.mark.filterwarnings("error::DeprecationWarning:skae", "error::FutureWarning:skae")
@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("name", ["pet", "color", "city"])
def test_an_unknown_level_is_encoded_as_no_level(Est, name):
    # 'pet' (object) and 'color' (category) are one-hot, 'city' (20 levels)
    # is embedded: an unseen level is a zero vector either way, as
    # OneHotEncoder(handle_unknown='ignore') encodes it, and adds no error
    # (nor a pandas deprecation warning).
    X = mixed_table()
    est = small(Est).fit(X)
    j = list(X.columns).index(name)
    rows = X.iloc[:5].copy()
    unknown = rows.copy()
    if isinstance(X[name].dtype, pd.CategoricalDtype):
        unknown[name] = pd.Categorical(["purple"] * 5)
    else:
        unknown[name] = pd.Series(["purple"] * 5, dtype=X[name].dtype, index=rows.index)
    Z = est.transform(unknown)
    assert np.isfinite(Z).all()
    assert (network_input(est, unknown)[:, j] == -1).all()

    # The code is that of the known rows with the column's block zeroed.
    module = copy.deepcopy(est.net_.module_).double()  # float64 input runs in float64
    inputs = module.input
    with torch.no_grad():
        known = inputs(torch.as_tensor(network_input(est, rows)))
        start, stop = inputs.block(j)
        expected = known.clone()
        expected[:, start:stop] = 0
        got = inputs(torch.as_tensor(network_input(est, unknown)))
        assert_array_equal(got.numpy(), expected.numpy())
        module.input = torch.nn.Identity()
        assert_allclose(Z, module.encode(expected).numpy(), rtol=1e-12, atol=1e-12)

    errors = est.reconstruction_error(unknown, per_feature=True)
    assert_array_equal(errors[:, j], 0.0)
    assert (np.delete(errors, j, axis=1) > 0).all()
    assert np.isfinite(est.score_samples(unknown)).all()
    # As the value missing, in every output (an OutlierDetector scores it instead).
    gap = rows.assign(**{name: None})
    assert_array_equal(Z, est.transform(gap))
    assert_array_equal(est.score_samples(unknown), est.score_samples(gap))


def test_levels_come_from_the_first_partial_fit():
    # partial_fit describes the table on its first call: a level first seen
    # in a later chunk is unknown (no error, no loss), not a new level.
    X = mixed_table()
    est = small(AutoencoderTransformer)
    est.partial_fit(X.iloc[:100])
    later = X.iloc[100:].assign(pet=pd.Series(["dog", "emu"] * 50, dtype=object,
                                              index=X.index[100:]))
    est.partial_fit(later)
    assert est.n_iter_ == 2
    assert_array_equal(est.categories_[2], ["cat", "dog"])


# ------------------------------------------------- per-column weighting

def marginal_decoder(est, X):
    """Make ``est``'s decoder predict every row of ``X`` by its marginals.

    Each numeric column by its mean (standardised), each flag by the
    log-odds of its frequency, each categorical column by the logs of its
    levels' frequencies (at least 1e-6).
    """
    encoded = network_input(est, X)
    heads = est.net_.module_.output  # each column's slice of the decoder output
    marginals = np.zeros(heads.width)
    for j, (kind, (start, stop)) in enumerate(zip(est.feature_kinds_, heads.slices)):
        values = encoded[:, j]
        if kind == "numeric":
            marginals[start] = np.nanmean(values)
        elif kind == "binary":
            p = np.nanmean(values)
            marginals[start] = np.log(p / (1 - p))
        else:
            counts = np.bincount(values[values >= 0].astype(np.intp), minlength=stop - start)
            marginals[start:stop] = np.log(np.maximum(counts / counts.sum(), 1e-6))
    last = est.net_.module_.decoder[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.as_tensor(marginals))
    return est


def with_a_wide_column(X, seed=0):
    """``X`` and a categorical column of more than WIDE_LEVELS levels (scored on its own)."""
    levels = [f"z{i:03d}" for i in range(WIDE_LEVELS + 44)]
    values = np.random.RandomState(seed).choice(levels, len(X))
    return X.assign(zone=pd.Categorical(values, categories=levels))


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("table", [mixed_table, lambda: with_a_wide_column(mixed_table())],
                         ids=["mixed", "wide"])
def test_predicting_the_marginals_scores_one_in_every_column(Est, table):
    # Each column's loss is divided by the loss of predicting its marginal
    # (mean, flag frequency, level frequencies) on the training rows: that
    # prediction then scores exactly 1 per column, whatever its kind (and
    # the marginals fit measures against are the ones marginal_decoder sets:
    # any other constant prediction scores more).
    X = table()
    est = marginal_decoder(small(Est).fit(X), X)
    errors = est.reconstruction_error(X, per_feature=True)
    assert errors.shape == X.shape
    assert_allclose(errors.mean(axis=0), 1.0, rtol=FLOAT32_RTOL)  # weights are float32
    assert_allclose(est.reconstruction_error(X).mean(), 1.0, rtol=FLOAT32_RTOL)
    # The weights are one over those losses: larger for an easier column.
    weights = est.net_.module_.output.weights
    assert weights.shape == (X.shape[1],) and (weights > 0).all()


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_columns_on_any_scale_count_alike(Est):
    # Two numeric columns with the same signal to noise ratio, on scales 1
    # and 1e6: the table's per-column errors come out alike, where a plain
    # array's squared errors would differ by 1e12. Measured over data and
    # training seeds 0-4: errors 0.05-0.07 (AE) and 0.12-0.26 (VAE), the
    # ratio of the two 0.68-1.64.
    rng = np.random.RandomState(0)
    t = rng.randn(N)
    X = pd.DataFrame({"unit": t + 0.3 * rng.randn(N), "mega": 1e6 * (t + 0.3 * rng.randn(N)),
                      "flag": t > 0})
    est = small(Est, max_iter=20, learning_rate_init=0.01).fit(X)
    errors = est.reconstruction_error(X, per_feature=True).mean(axis=0)
    assert (errors[:2] < 0.5).all(), errors
    assert 1 / 3 < errors[0] / errors[1] < 3, errors
    baseline = marginal_decoder(est, X).reconstruction_error(X, per_feature=True).mean(axis=0)
    assert_allclose(baseline, 1.0, rtol=FLOAT32_RTOL)


# -------------------------------------------------- reconstruction_error

@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("data", ["table", "array"])
def test_reconstruction_error_shapes_and_mean(Est, data):
    X = mixed_table() if data == "table" else np.random.RandomState(0).randn(N, 5)
    est = small(Est).fit(X)
    per_row = est.reconstruction_error(X)
    per_feature = est.reconstruction_error(X, per_feature=True)
    assert per_row.shape == (N,) and per_feature.shape == (N, X.shape[1])
    assert per_row.dtype == per_feature.dtype == np.float64
    assert (per_feature >= 0).all()
    assert_allclose(per_row, per_feature.mean(axis=1), rtol=1e-12)
    if Est is AutoencoderTransformer:
        assert_allclose(est.score_samples(X), -per_row, rtol=1e-12)
        assert est.score(X) == pytest.approx(-per_row.mean(), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numeric_score_samples_is_the_mean_squared_error(dtype):
    # Numeric arrays keep their score: minus the mean squared error of
    # inverse_transform(transform(X)), in the data's units.
    X = (np.random.RandomState(0).randn(N, 5) * [1, 2, 3, 4, 5]).astype(dtype)
    est = small(AutoencoderTransformer).fit(X)
    X_hat = est.inverse_transform(est.transform(X))
    assert X_hat.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else FLOAT32_RTOL
    assert_allclose(est.reconstruction_error(X, per_feature=True), (X - X_hat) ** 2, rtol=rtol,
                    atol=1e-6 if dtype == np.float32 else 0)
    assert_allclose(est.score_samples(X), -np.mean((X - X_hat) ** 2, axis=1), rtol=rtol)


# ----------------------------------------------------------------- sparse

SPARSE_FORMATS = {
    "csr_matrix": sp.csr_matrix, "csc_matrix": sp.csc_matrix, "coo_matrix": sp.coo_matrix,
    "csr_array": sp.csr_array, "coo_array": sp.coo_array,
}


def sparse_data(n=N, n_features=30, dtype=np.float64):
    return sp.random(n, n_features, density=0.1, format="csr", random_state=0, dtype=dtype)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("fmt", list(SPARSE_FORMATS))
def test_sparse_input_gives_the_dense_results(Est, fmt):
    S = sparse_data()
    dense, sparse = S.toarray(), SPARSE_FORMATS[fmt](S)
    by_dense, by_sparse = small(Est).fit(dense), small(Est).fit(sparse)
    assert_allclose(by_sparse.loss_curve_, by_dense.loss_curve_, rtol=FLOAT32_RTOL)
    assert_allclose(by_sparse.transform(sparse), by_dense.transform(dense), rtol=FLOAT32_RTOL)
    assert_allclose(by_sparse.score_samples(sparse), by_dense.score_samples(dense),
                    rtol=FLOAT32_RTOL)
    assert by_sparse.score(sparse) == pytest.approx(by_dense.score(dense), rel=FLOAT32_RTOL)
    for per_feature in (False, True):
        assert_allclose(by_sparse.reconstruction_error(sparse, per_feature=per_feature),
                        by_dense.reconstruction_error(dense, per_feature=per_feature),
                        rtol=FLOAT32_RTOL)
    # A dense model takes sparse rows and the other way round.
    assert_allclose(by_dense.transform(sparse), by_dense.transform(dense), rtol=1e-12)
    # partial_fit, twice from scratch.
    partial_dense, partial_sparse = small(Est), small(Est)
    for _ in range(2):
        partial_dense.partial_fit(dense)
        partial_sparse.partial_fit(sparse)
    assert_allclose(partial_sparse.transform(sparse), partial_dense.transform(dense),
                    rtol=FLOAT32_RTOL)


def test_sparse_float32_stays_float32():
    S = sparse_data(dtype=np.float32)
    est = small(AutoencoderTransformer).fit(S)
    assert est.transform(S).dtype == np.float32
    assert est.score_samples(S).dtype == np.float32
    assert_allclose(est.transform(S), est.transform(S.toarray()), rtol=FLOAT32_RTOL)


@pytest.mark.parametrize("params", [
    {"early_stopping": True, "validation_fraction": 0.2, "n_iter_no_change": 2, "max_iter": 5},
    {"noise": "salt_and_pepper", "noise_level": 0.2},
], ids=["early_stopping", "salt_and_pepper"])
def test_sparse_training_options(params):
    S = sparse_data()
    by_dense = small(AutoencoderTransformer, **params).fit(S.toarray())
    by_sparse = small(AutoencoderTransformer, **params).fit(S)
    assert by_sparse.n_iter_ == by_dense.n_iter_
    if params.get("early_stopping"):
        assert_allclose(by_sparse.validation_loss_curve_, by_dense.validation_loss_curve_,
                        rtol=FLOAT32_RTOL)
    assert_allclose(by_sparse.transform(S), by_dense.transform(S.toarray()), rtol=FLOAT32_RTOL)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("fmt", list(SPARSE_FORMATS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inverse_transform_takes_sparse_codes(Est, fmt, dtype):
    S = sparse_data()
    est = small(Est).fit(S)
    Z = est.transform(S).astype(dtype)
    Z[Z < np.median(Z)] = 0  # codes with zeros, as sparse codes have
    X_hat = est.inverse_transform(SPARSE_FORMATS[fmt](Z))
    assert X_hat.dtype == dtype
    assert_array_equal(X_hat, est.inverse_transform(Z))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_sparse_input_is_densified_a_batch_at_a_time(Est, monkeypatch):
    # Every conversion to dense is recorded: training densifies at most
    # batch_size rows at once, inference at most INFERENCE_BATCH_SIZE (made
    # smaller than the data here), never the whole matrix.
    shapes = []

    def recording(toarray):
        def wrapper(self, *args, **kwargs):
            shapes.append(self.shape)
            return toarray(self, *args, **kwargs)
        return wrapper

    for cls in (sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array, sp.csc_array,
                sp.coo_array):
        monkeypatch.setattr(cls, "toarray", recording(cls.toarray))
    set_skae_setting(monkeypatch, "INFERENCE_BATCH_SIZE", 16)
    S = sparse_data(n=300)
    est = small(Est, batch_size=32).fit(S)
    assert shapes and max(rows for rows, _ in shapes) == 32  # training batches were densified
    for method in (est.transform, est.score_samples, est.reconstruction_error):
        shapes.clear()
        result = method(S)
        assert len(result) == 300
        assert max(rows for rows, _ in shapes) <= 16, method.__name__
        assert sum(rows for rows, _ in shapes) == 300, method.__name__
    shapes.clear()
    est.partial_fit(sp.csc_matrix(S))
    assert max(rows for rows, _ in shapes) <= 32


def test_sparse_column_transformer_before_an_autoencoder():
    # The usual preprocessing (one-hot categories, scaled numbers) hands
    # the autoencoder a sparse matrix; sparse_threshold=1.0 forces it.
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"city": cities(N), "pet": rng.choice(["cat", "dog"], N),
                      "x": rng.randn(N), "y": rng.rand(N) * 100})
    prep = ColumnTransformer([("cat", OneHotEncoder(), ["city", "pet"]),
                              ("num", StandardScaler(), ["x", "y"])], sparse_threshold=1.0)
    assert sp.issparse(clone(prep).fit_transform(X))
    pipe = make_pipeline(prep, small(AutoencoderTransformer)).fit(X)
    Z = pipe.transform(X)
    assert Z.shape == (N, 2) and np.isfinite(Z).all()
    assert np.isfinite(pipe.score_samples(X)).all()


# ------------------------------------------------------------ persistence

@pytest.mark.parametrize("Est", ESTIMATORS)
def test_save_and_load_a_mixed_table_model(Est, tmp_path):
    X = mixed_table()
    est = small(Est).fit(X)
    path = tmp_path / "model.safetensors"
    skae.save(est, path)
    loaded = skae.load(path)
    assert type(loaded) is Est
    # The column descriptions come back: names, kinds and levels, and (in
    # the outputs below) the standardisation, dtypes and level order.
    assert_array_equal(loaded.feature_names_in_, est.feature_names_in_)
    assert_array_equal(loaded.feature_kinds_, est.feature_kinds_)
    for a, b in zip(loaded.categories_, est.categories_):
        assert_array_equal(a, b)
    Z = est.transform(X)
    assert_array_equal(loaded.transform(X), Z)
    pd.testing.assert_frame_equal(loaded.inverse_transform(Z), est.inverse_transform(Z))
    assert_array_equal(loaded.reconstruction_error(X, per_feature=True),
                       est.reconstruction_error(X, per_feature=True))


# ------------------------------------------------------------------ polars

@pytest.mark.parametrize("Est", ESTIMATORS)
def test_polars_dataframes_are_tables(Est):
    pl = pytest.importorskip("polars", reason="polars is an optional input type")
    pytest.importorskip("pyarrow", reason="polars' to_pandas needs pyarrow")
    rng = np.random.RandomState(0)
    columns = {"x": rng.randn(N), "n": rng.randint(0, 9, N), "flag": rng.rand(N) > 0.5,
               "word": rng.choice(["u", "v", "w"], N).tolist()}
    X = pl.DataFrame(columns).with_columns(
        pl.Series("pet", rng.choice(["cat", "dog"], N).tolist(), dtype=pl.Categorical))
    est = small(Est).fit(X)
    assert_array_equal(est.feature_kinds_,
                       ["numeric", "numeric", "binary", "categorical", "categorical"])
    assert_array_equal(est.feature_names_in_, X.columns)
    same = small(Est).fit(X.to_pandas())  # a polars table is its pandas conversion
    assert_array_equal(est.transform(X), same.transform(X.to_pandas()))
    out = est.inverse_transform(est.transform(X))  # a pandas DataFrame
    assert list(out.columns) == X.columns
    assert out["word"].isin(["u", "v", "w"]).all()
    assert est.reconstruction_error(X).shape == (N,)


# ------------------------------------------------ scikit-learn machinery

@pytest.mark.parametrize("Est", ESTIMATORS)
def test_set_output_pandas_gives_named_codes(Est):
    X = mixed_table().set_index(pd.RangeIndex(1000, 1000 + N))
    est = small(Est).set_output(transform="pandas").fit(X)
    Z = est.transform(X)
    assert isinstance(Z, pd.DataFrame)
    assert_array_equal(Z.columns, est.get_feature_names_out())
    assert_array_equal(Z.columns, [f"{Est.__name__.lower()}{i}" for i in range(2)])
    pd.testing.assert_index_equal(Z.index, X.index)
    out = est.inverse_transform(Z)
    pd.testing.assert_series_equal(out.dtypes, X.dtypes)
    pd.testing.assert_index_equal(out.index, X.index)  # the codes' index, kept
    some = Z.iloc[10:15]
    pd.testing.assert_index_equal(est.inverse_transform(some).index, some.index)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_grid_search_over_n_components_on_a_table(Est):
    X = mixed_table()
    search = GridSearchCV(small(Est, max_iter=2), {"n_components": [1, 2]}, cv=2).fit(X)
    assert search.best_params_["n_components"] in (1, 2)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.transform(X).shape[1] == search.best_params_["n_components"]


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_clone_and_pickle_a_fitted_table_model(Est):
    X = mixed_table()
    est = small(Est).fit(X)
    Z = est.transform(X)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.transform(X), Z)
    pd.testing.assert_frame_equal(restored.inverse_transform(Z), est.inverse_transform(Z))
    assert_array_equal(restored.feature_kinds_, est.feature_kinds_)
    fresh = clone(est)
    assert not hasattr(fresh, "net_") and not hasattr(fresh, "feature_kinds_")
    assert_array_equal(fresh.fit(X).transform(X), Z)  # same seed, same model


# ------------------------------------------------ what real tables hold

@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("column", [pd.Series(["k"] * N, dtype=object),
                                    pd.Categorical(["k"] * N)])
def test_a_categorical_column_with_one_level_reconstructs_it(Est, column):
    # As a constant numeric column is taken: a cross-validation fold may
    # hold one level of a column.
    X = mixed_table().assign(const=column)
    est = small(Est).fit(X)
    assert est.feature_kinds_[-1] == "categorical"
    assert_array_equal(est.categories_[-1], ["k"])
    out = est.inverse_transform(est.transform(X))
    assert (out["const"] == "k").all() and out["const"].dtype == X["const"].dtype
    assert_array_equal(est.reconstruction_error(X, per_feature=True)[:, -1], 0.0)


# A column without observed values, of each dtype that can be one, and
# values it may hold at transform.
EMPTY_COLUMNS = {
    "float64": (np.full(N, np.nan), np.ones(N)),
    "Float64": (pd.array([pd.NA] * N, dtype="Float64"), pd.array(np.ones(N), dtype="Float64")),
    "boolean": (pd.array([pd.NA] * N, dtype="boolean"), pd.array([True] * N, dtype="boolean")),
    "object": (pd.Series([None] * N, dtype=object), pd.Series(["a"] * N, dtype=object)),
    "category": (pd.Categorical([np.nan] * N, categories=["a", "b"]),
                 pd.Categorical(["a"] * N, categories=["a", "b"])),
}


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", list(EMPTY_COLUMNS))
def test_a_column_without_observed_values_is_warned_about_and_decodes_as_missing(Est, dtype):
    # Nothing is learned about it: inverse_transform gives it back missing
    # (in its dtype) instead of inventing values, and values it holds later
    # are ignored (the model has no weights trained on them).
    empty, filled = EMPTY_COLUMNS[dtype]
    X = mixed_table().assign(empty=empty)
    with pytest.warns(UserWarning, match=r"Column 'empty' has no observed values: nothing is "
                                         r"learned about it.*missing values.*Drop it"):
        est = small(Est).fit(X)
    Z = est.transform(X)
    out = est.inverse_transform(Z)
    assert out["empty"].isna().all() and out["empty"].dtype == X["empty"].dtype
    assert list(out.columns) == list(X.columns)
    assert_array_equal(est.transform(X.assign(empty=filled)), Z)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_an_array_column_without_observed_values_decodes_as_nan(Est):
    X = np.random.RandomState(0).randn(N, 3)
    X[:, 1] = np.nan
    with pytest.warns(UserWarning, match="Column 1 has no observed values"):
        est = small(Est).fit(X)
    out = est.inverse_transform(est.transform(X))
    assert out.shape == X.shape and np.isnan(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_the_only_categorical_column_without_observed_values(Est):
    # A categorical column without a level still gets a (never trained) head.
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"x": rng.randn(N), "flag": rng.rand(N) > 0.5,
                      "empty": pd.Series([None] * N, dtype=object)})
    with pytest.warns(UserWarning, match="Column 'empty' has no observed values"):
        est = small(Est).fit(X)
    assert_array_equal(est.categories_[0], [])
    out = est.inverse_transform(est.transform(X))
    assert out["empty"].isna().all() and out["empty"].dtype == object
    assert np.isfinite(est.score_samples(X)).all()


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_huge_finite_value_is_standardised_without_overflow(Est):
    # 1e300 squared overflows: the column's mean and scale are computed
    # without it, and every reconstruction stays finite. A value beyond the
    # float32 range once standardised is refused at transform.
    X = mixed_table()
    X.loc[0, "height"] = 1e300
    est = small(Est).fit(X)
    assert np.isfinite(est.transform(X)).all()
    out = est.inverse_transform(est.transform(X))
    assert np.isfinite(out["height"]).all()
    with pytest.raises(ValueError, match=r"Column 'height' holds 1e\+300, .* beyond the float32 "
                                         r"range"):
        small(Est).fit(mixed_table()).transform(X)


TEXT_THAT_IS_NO_CATEGORY = {  # values of N rows, what the warning says
    "numbers": ([str(2700 + 25 * (i % 90)) for i in range(N)],
                r"whose 90 distinct values all read as numbers.*pd.to_numeric"),
    "decimals": ([f"{0.5 * (i % 40):.1f}" for i in range(N)], "whose 40 .* all read as numbers"),
    "dates": ([str(d.date()) for d in pd.date_range("2000-01-01", periods=N // 2)] * 2,
              "whose 100 .* all read as dates or times.*pd.to_datetime"),
    "identifiers": ([f"row{i}" for i in range(N)],
                    f"with a different value in each of its {N} rows.*drop the column"),
}


@pytest.mark.parametrize("case", list(TEXT_THAT_IS_NO_CATEGORY))
def test_text_columns_of_numbers_dates_or_identifiers_are_warned_about(case):
    # 'from_dtype' makes every text column categorical; one whose many
    # levels all read as numbers or dates, or that differs in every row, is
    # most likely not one. Naming it in categorical_features, or a category
    # dtype, says it is.
    values, what = TEXT_THAT_IS_NO_CATEGORY[case]
    X = mixed_table().assign(text=pd.Series(values, dtype=object))
    with pytest.warns(UserWarning, match=rf"Column 'text' is text {what}.*categorical_features"):
        est = small(AutoencoderTransformer).fit(X)
    assert est.feature_kinds_[-1] == "categorical"
    names = list(est.feature_names_in_[est.feature_kinds_ == "categorical"])
    for settings, data in [({"categorical_features": names}, X),
                           ({}, X.astype({"text": "category"}))]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            small(AutoencoderTransformer, **settings).fit(data)
        assert not [w for w in caught if "Column 'text'" in str(w.message)]


def test_a_few_text_levels_that_read_as_numbers_are_taken_as_categories():
    # Up to MAX_ONE_HOT_LEVELS levels: codes such as '1', '2', '3' are categories.
    X = mixed_table().assign(code=pd.Series(["1", "2", "3", "4"] * (N // 4), dtype=object))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small(AutoencoderTransformer).fit(X)
    assert not [w for w in caught if "Column 'code'" in str(w.message)]


# ------------------------------------------------------------- bad tables

def with_column(name, values):
    return lambda X: X.assign(**{name: values})


BAD_TABLES = {
    "datetime": (with_column("when", pd.date_range("2000-01-01", periods=N)),
                 r"Column 'when' has dtype datetime64.*neither numeric, boolean nor categorical"),
    "timedelta": (with_column("wait", pd.to_timedelta(np.arange(N), unit="s")),
                  r"Column 'wait' has dtype timedelta64"),
    "complex": (with_column("z", np.ones(N) + 1j), r"Column 'z' has dtype complex128"),
    "level of another type": (with_column("pair", pd.Series([(1, 2), (3, 4)] * (N // 2),
                                                            dtype=object)),
                              r"Categorical column 'pair' has a level of type tuple"),
    "lists": (with_column("pair", pd.Series([[1, 2], [3]] * (N // 2), dtype=object)),
              r"Categorical column 'pair' has a level of type list; levels must be strings"),
    "repeated name": (lambda X: pd.concat([X, X[["height"]]], axis=1),
                      r"A table's column names must be unique; \['height'\] repeat"),
}


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_tables_are_refused_naming_the_column(Est, case):
    change, match = BAD_TABLES[case]
    with pytest.raises(ValueError, match=match):
        small(Est).fit(change(mixed_table()))
    assert not hasattr(small(Est), "net_")


# A table fitted on mixed_table() refuses these at transform, naming the column.
BAD_AT_TRANSFORM = {
    "number in a boolean": (with_column("flag", 2.0),
                            "Boolean column 'flag' holds values other than True/False"),
    "text in a number": (with_column("height", "tall"),
                         "Column 'height' was numeric in fit but holds values of dtype"),
    "datetime in a number": (with_column("height", pd.date_range("2000-01-01", periods=N)),
                             r"Column 'height' was numeric in fit but holds values of dtype "
                             r"datetime64"),
    "timedelta in a boolean": (with_column("flag", pd.to_timedelta(np.arange(N), unit="s")),
                               r"Column 'flag' was binary in fit but holds values of dtype "
                               r"timedelta64"),
    "number in a text column": (with_column("pet", 1.0),
                                r"Categorical column 'pet' holds 1\.0 \(float\), but its "
                                r"levels in fit are str \('cat', 'dog'\)"),
    "number in a category": (with_column("color", 1.0),
                             r"Categorical column 'color' holds 1\.0 \(float\)"),
    "lists in a text column": (with_column("pet", pd.Series([[1, 2]] * N, dtype=object)),
                               r"Categorical column 'pet' holds a value of type list"),
}


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("case", list(BAD_AT_TRANSFORM))
def test_bad_tables_at_transform_are_refused_naming_the_column(Est, case):
    # An unseen level of the levels' own type is no level (see above); a
    # value of another type (a number where the levels are text) is a
    # mistake, and so is a dtype fit would have refused.
    X = mixed_table()
    est = small(Est).fit(X)
    change, match = BAD_AT_TRANSFORM[case]
    with pytest.raises(ValueError, match=match):
        est.transform(change(X))
    with pytest.raises(ValueError, match=match):
        est.reconstruction_error(change(X))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_renamed_or_reordered_columns_at_transform_are_refused(Est):
    X = mixed_table()
    est = small(Est).fit(X)
    with pytest.raises(ValueError, match="feature names should match"):
        est.transform(X.rename(columns={"pet": "animal"}))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        est.transform(X[X.columns[::-1]])


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("data", ["rows", "columns"])
def test_empty_tables_are_refused_as_sklearn_refuses_empty_arrays(Est, data):
    X = mixed_table()
    empty, what = (X.iloc[:0], "sample") if data == "rows" else (X.iloc[:, :0], "feature")
    match = (rf"Found array with 0 {what}\(s\) \(shape=\({empty.shape[0]}, "
             rf"{empty.shape[1]}\)\) while a minimum of 1 is required by {Est.__name__}")
    with pytest.raises(ValueError, match=match):
        small(Est).fit(empty)
    if data == "rows":
        with pytest.raises(ValueError, match=match):
            small(Est).fit(X).transform(empty)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("params, match", [
    ({"loss": "bce"}, r"loss='bce' is for numeric data in \[0, 1\]; a table"),
    ({"image_shape": (1, 1, len(MIXED_KINDS)), "hidden_layer_sizes": ()},
     r"convolutional architecture \(image_shape\).*no categorical or binary columns"),
])
def test_table_refuses_numeric_only_settings(Est, params, match):
    with pytest.raises(ValueError, match=match):
        small(Est, **params).fit(mixed_table())


def test_init_pca_refuses_boolean_and_categorical_columns():
    # Their heads are logits: a linear decoder has no PCA start for them.
    # (A table of numbers with gaps starts at their PCA: test_autoencoder.py.)
    match = (r"init='pca' starts from the PCA of numeric columns; columns \['flag', 'maybe', "
             r"'size', 'color', 'pet', 'city', 'word'\] are boolean or categorical")
    with pytest.raises(ValueError, match=match):
        small(AutoencoderTransformer, init="pca", hidden_layer_sizes=()).fit(mixed_table())


def test_tied_weights_refuse_embedded_columns():
    # One-hot columns tie (the decoder's output is as wide as the input);
    # an embedded column (> MAX_ONE_HOT_LEVELS levels) cannot.
    X = mixed_table()
    with pytest.raises(ValueError, match=r"tied_weights.*more than 16 levels"):
        small(AutoencoderTransformer, tied_weights=True).fit(X)
    est = small(AutoencoderTransformer, tied_weights=True).fit(X.drop(columns="city"))
    assert est.transform(X.drop(columns="city")).shape == (N, 2)


# --------------------------------------------------------- numeric data

@pytest.mark.parametrize("Est", ESTIMATORS)
def test_numeric_data_frames_are_no_tables(Est):
    # A DataFrame of numbers only (nullable numeric dtypes included) is read
    # as its array: identical codes, plain array reconstructions, and no
    # feature_kinds_ or categories_ (they describe tables only).
    rng = np.random.RandomState(0)
    X = rng.randn(N, 4)
    frame = pd.DataFrame(X, columns=list("abcd")).astype({"d": "Float64"})
    by_array, by_frame = small(Est).fit(X), small(Est).fit(frame)
    assert_array_equal(by_frame.transform(frame), by_array.transform(X))
    assert_array_equal(by_frame.score_samples(frame), by_array.score_samples(X))
    for est, data in ((by_array, X), (by_frame, frame)):
        assert not hasattr(est, "feature_kinds_") and not hasattr(est, "categories_")
        assert isinstance(est.inverse_transform(est.transform(data)), np.ndarray)
    assert_array_equal(by_frame.feature_names_in_, list("abcd"))


def test_default_model_on_numbers_is_unchanged_by_tables():
    # The full default model: the same codes from an ndarray and from its
    # numeric DataFrame (checked by hand against the commit before tables
    # existed: codes and score_samples bit for bit identical).
    X = np.random.RandomState(0).randn(100, 6)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    by_array = AutoencoderTransformer(max_iter=5, random_state=0).fit(X)
    by_frame = AutoencoderTransformer(max_iter=5, random_state=0).fit(frame)
    assert_array_equal(by_frame.transform(frame), by_array.transform(X))
    assert not hasattr(by_array, "feature_kinds_")


def test_refit_on_numbers_forgets_the_table():
    est = small(AutoencoderTransformer).fit(mixed_table())
    assert hasattr(est, "feature_kinds_")
    X = np.random.RandomState(0).randn(N, 3)
    est.fit(X)
    assert not hasattr(est, "feature_kinds_") and not hasattr(est, "categories_")
    assert isinstance(est.inverse_transform(est.transform(X)), np.ndarray)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_epoch_scoring_with_a_metric_name_is_refused_on_a_table(Est):
    # A table's reconstruction (levels as probabilities) has no entry-by-entry
    # counterpart in X: an sklearn metric cannot compare them.
    scoring = EpochScoring("neg_mean_squared_error", on_train=True)
    with pytest.raises(ValueError, match=r"EpochScoring.*'neg_mean_squared_error'.*table.*"
                                         r"train_loss"):
        small(Est, callbacks=[scoring]).fit(mixed_table())
