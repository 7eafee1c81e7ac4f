"""Spec for skae.AutoencoderImputer (sklearn's contract: tests/test_common.py)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from _helpers import low_rank, mixed_with_gaps, with_gaps
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.impute import SimpleImputer

from skae import AutoencoderImputer, AutoencoderTransformer, VAETransformer

FAST = AutoencoderTransformer(3, hidden_layer_sizes=(16,), max_iter=20, tol=0)


def test_fills_every_gap_and_leaves_observed_entries_bit_for_bit():
    X = with_gaps(low_rank())
    X_filled = AutoencoderImputer(FAST, random_state=0).fit_transform(X)
    observed = ~np.isnan(X)
    assert not np.isnan(X_filled).any()
    assert_array_equal(X_filled[observed], X[observed])
    assert X_filled.dtype == X.dtype


def test_the_default_imputes_low_rank_data_better_than_the_column_means():
    # Seeds 0-1 here: RMSE on the masked entries about a quarter of the mean
    # imputer's (0.24 at seed 0); the limit leaves room for other CPUs.
    X = low_rank(n=600)
    gappy = with_gaps(X, 0.2)
    missing = np.isnan(gappy)
    ours = AutoencoderImputer(random_state=0).fit_transform(gappy)
    means = SimpleImputer().fit_transform(gappy)
    rmse = lambda F: np.sqrt(np.mean((F[missing] - X[missing]) ** 2))  # noqa: E731
    assert rmse(ours) < 0.5 * rmse(means)
    assert isinstance(AutoencoderImputer(random_state=0).fit(gappy).estimator_,
                      AutoencoderTransformer)


def test_mixed_tables_get_valid_levels_and_keep_their_dtypes():
    frame = mixed_with_gaps()
    out = AutoencoderImputer(FAST, random_state=0).fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.dtypes) == list(frame.dtypes)
    assert not out.isna().any().any()
    assert out["level"].isin(["hi", "lo", "mid"]).all()
    observed = frame.notna()
    for name in frame.columns:
        assert (out.loc[observed[name], name] == frame.loc[observed[name], name]).all()


def test_a_level_unseen_in_fit_is_kept_and_read_as_no_level():
    # As the transformers read it: the gaps of its row are filled as if the
    # level were missing (only an OutlierDetector scores a new level).
    frame = mixed_with_gaps()
    imputer = AutoencoderImputer(FAST, random_state=0).fit(frame)
    rows = frame.iloc[:20]
    new, gap = rows.assign(level="unheard of"), rows.assign(level=None)
    out = imputer.transform(new)
    assert (out["level"] == "unheard of").all()
    others = [c for c in frame.columns if c != "level"]
    pd.testing.assert_frame_equal(out[others], imputer.transform(gap)[others])


def test_add_indicator_appends_the_missing_mask():
    X = with_gaps(low_rank())
    X[:, 0] = low_rank()[:, 0]  # a column without gaps gets no indicator
    imputer = AutoencoderImputer(FAST, add_indicator=True, random_state=0).fit(X)
    out = imputer.transform(X)
    assert out.shape == (len(X), 2 * X.shape[1] - 1)
    assert_array_equal(out[:, X.shape[1]:], np.isnan(X)[:, 1:])
    assert list(imputer.get_feature_names_out()[-2:]) == [
        "missingindicator_x4", "missingindicator_x5"]


@pytest.mark.parametrize("keep", [False, True])
def test_empty_features_are_dropped_or_kept_as_zeros(keep):
    # As SimpleImputer: transform warns about the columns it drops.
    X = with_gaps(low_rank())
    X[:, 2] = np.nan
    imputer = AutoencoderImputer(FAST, keep_empty_features=keep, random_state=0).fit(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = imputer.transform(X)
    skipped = [str(w.message) for w in caught if "Skipping features" in str(w.message)]
    if keep:
        assert out.shape == X.shape and (out[:, 2] == 0).all()
        assert not skipped
    else:
        assert out.shape == (len(X), X.shape[1] - 1)
        assert skipped == ["Skipping features without any observed values: [2]. At least one "
                           "non-missing value is needed to impute a column; "
                           "keep_empty_features=True keeps them (filled with 0)."]


def test_empty_features_of_a_table_are_named_in_the_warning():
    frame = mixed_with_gaps().assign(nothing=np.nan)
    imputer = AutoencoderImputer(FAST, random_state=0).fit(frame)
    with pytest.warns(UserWarning, match=r"Skipping features without any observed values: "
                                         r"\['nothing'\]"):
        out = imputer.transform(frame)
    assert list(out.columns) == list(frame.columns[:-1])


def test_missing_values_placeholder():
    X = low_rank()
    coded = np.where(np.isnan(with_gaps(X)), -999.0, X)
    out = AutoencoderImputer(FAST, missing_values=-999.0, random_state=0).fit_transform(coded)
    assert not (out == -999.0).any()
    kept = coded != -999.0
    assert_array_equal(out[kept], coded[kept])


def test_sample_posterior_draws_multiple_imputations_from_a_vae():
    X = with_gaps(low_rank())
    vae = VAETransformer(3, hidden_layer_sizes=(16,), max_iter=20, tol=0)
    draws = [AutoencoderImputer(vae, sample_posterior=True, random_state=s).fit(X).transform(X)
             for s in (0, 0, 1)]
    assert_array_equal(draws[0], draws[1])  # a seed gives the same draw
    missing = np.isnan(X)
    assert not np.array_equal(draws[0][missing], draws[2][missing])
    assert_array_equal(draws[2][~missing], X[~missing])
    with pytest.raises(ValueError, match="sample_posterior=True.*VAETransformer"):
        AutoencoderImputer(FAST, sample_posterior=True).fit(X)


def test_the_estimator_passed_in_is_cloned_not_fitted():
    X = with_gaps(low_rank())
    estimator = clone(FAST)
    imputer = AutoencoderImputer(estimator, random_state=3).fit(X)
    assert not hasattr(estimator, "net_") and estimator.random_state is None
    assert imputer.estimator_ is not estimator and imputer.estimator_.random_state == 3


def test_set_output_pandas_returns_a_dataframe():
    X = pd.DataFrame(with_gaps(low_rank()), columns=[f"c{i}" for i in range(6)])
    out = AutoencoderImputer(FAST, random_state=0).set_output(transform="pandas").fit_transform(X)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(X.columns)


def test_dataframe_output_keeps_numeric_dtypes_and_rounds_integer_imputations():
    # As a mixed table does: each column keeps its dtype, an integer column's
    # imputations are the float ones rounded to the nearest integer.
    X = low_rank()
    frame = pd.DataFrame({
        "whole": np.round(10 * X[:, 0]).astype(np.int64),  # no gaps: int64 can hold none
        "nullable": pd.array(np.round(10 * X[:, 1]).astype(np.int64), dtype="Int64"),
        "small": X[:, 2].astype(np.float32),
        "x3": X[:, 3], "x4": X[:, 4], "x5": X[:, 5],
    }, index=np.arange(len(X)) + 100)
    gaps = np.isnan(with_gaps(X))
    gaps[:, 0] = False
    for j in range(1, 6):
        frame.iloc[gaps[:, j], j] = None
    imputer = AutoencoderImputer(FAST, random_state=0)
    floats = clone(imputer).fit_transform(frame)
    out = imputer.set_output(transform="pandas").fit_transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert dict(out.dtypes) == dict(frame.dtypes)
    assert out.index.equals(frame.index) and not out.isna().any().any()
    assert_array_equal(out["whole"], frame["whole"])
    imputed = gaps[:, 1]
    assert_array_equal(out["nullable"].to_numpy()[imputed], np.rint(floats[imputed, 1]))
    assert_array_equal(out["small"].to_numpy()[gaps[:, 2]],
                       floats[gaps[:, 2], 2].astype(np.float32))
