"""Spec for missing values: both estimators train and encode with NaN.

Data with missing values at fit (NaN in numbers; NaN, None or ``pd.NA`` in
categorical columns) is read as a table whose columns with gaps get a
missing-value indicator; the loss counts the observed entries only. A model
fitted without gaps takes them at inference: numbers enter as their training
means, levels as no level. Plain numbers without NaN keep their exact
previous results (the other spec files pin those).
"""

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import low_rank, mixed_with_gaps, network_input, with_gaps
from numpy.testing import assert_allclose, assert_array_equal

from skae import AutoencoderTransformer, VAETransformer, load, save

ESTIMATORS = [AutoencoderTransformer, VAETransformer]
FAST = dict(hidden_layer_sizes=(16,), max_iter=20, batch_size=32, tol=0, random_state=0)
N = 300  # the rows of low_rank() and mixed_with_gaps()


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_nan_is_a_missing_value_not_an_error(Est):
    X = with_gaps(low_rank())
    est = Est(2, **FAST).fit(X)
    Z = est.transform(X)
    assert Z.shape == (N, 2) and np.isfinite(Z).all()
    assert np.isfinite(est.score_samples(X)).all()
    assert np.isfinite(est.loss_curve_).all()
    assert est.__sklearn_tags__().input_tags.allow_nan
    # Columns with gaps get an indicator in the network's input.
    assert all(est.net_.module_.input.missing)
    assert est.inverse_transform(Z).shape == X.shape  # an array in, an array out


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_missing_entries_add_no_error(Est):
    X = with_gaps(low_rank())
    est = Est(2, **FAST).fit(X)
    errors = est.reconstruction_error(X, per_feature=True)
    missing = np.isnan(X)
    assert_array_equal(errors[missing], 0.0)
    assert (errors[~missing] >= 0).all()
    # A row's error is the mean over its observed entries.
    expected = errors.sum(axis=1) / np.maximum((~missing).sum(axis=1), 1)
    assert_allclose(est.reconstruction_error(X), expected, rtol=1e-6)


def test_training_loss_counts_observed_entries_only():
    # Changing what the model predicts for a missing entry changes nothing.
    X = with_gaps(low_rank())
    est = AutoencoderTransformer(2, **FAST).fit(X)
    module = est.net_.module_
    x = torch.as_tensor(network_input(est, X), dtype=torch.float32)
    with torch.no_grad():
        x_pre = module.decoder(module.encode(x))
        moved = x_pre.clone()
        moved[torch.isnan(x)] += 100.0  # numeric heads sit at the columns' positions here
        criterion = est.net_.criterion_
        assert torch.equal(criterion((x_pre, None), x, module),
                           criterion((moved, None), x, module))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_fully_missing_row_gets_finite_codes(Est):
    X = with_gaps(low_rank())
    X[:3] = np.nan
    est = Est(2, **FAST).fit(X)
    assert np.isfinite(est.transform(X[:3])).all()
    assert_array_equal(est.reconstruction_error(X[:3]), 0.0)  # nothing to reconstruct
    assert np.isfinite(est.score_samples(X[:3])).all()


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_nan_at_transform_only_enters_as_the_training_mean(Est):
    X = low_rank()
    est = Est(2, **FAST).fit(X)  # plain numbers: no table
    assert not hasattr(est, "feature_kinds_")
    gappy = with_gaps(X[:50])
    filled = np.where(np.isnan(gappy), X.mean(axis=0), gappy)
    assert_allclose(est.transform(gappy), est.transform(filled), rtol=1e-12, atol=1e-12)
    errors = est.reconstruction_error(gappy, per_feature=True)
    assert_array_equal(errors[np.isnan(gappy)], 0.0)
    assert np.isfinite(est.score_samples(gappy)).all()
    assert np.isfinite(est.transform(np.full((2, X.shape[1]), np.nan))).all()


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_a_model_fitted_on_complete_numbers_refuses_to_train_on_gaps(Est, how):
    X = low_rank()
    est = Est(2, **FAST).fit(X)
    before = [p.detach().clone() for p in est.net_.module_.parameters()]
    train = est.partial_fit if how == "partial_fit" else est.set_params(warm_start=True).fit
    with pytest.raises(ValueError, match="fitted on complete numbers.*Refit"):
        train(with_gaps(X))
    assert all(torch.equal(a, b) for a, b in zip(before, est.net_.module_.parameters()))
    assert est.partial_fit(X).n_iter_ == FAST["max_iter"] + 1  # complete rows still train


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_categorical_gaps_and_nullable_flags(Est):
    frame = mixed_with_gaps()
    est = Est(2, **FAST).fit(frame)
    assert_array_equal(est.feature_kinds_,
                       ["numeric", "numeric", "binary", "categorical", "categorical"])
    assert_array_equal(est.categories_[0], ["hi", "lo", "mid"])  # no NaN level
    Z = est.transform(frame)
    assert np.isfinite(Z).all()
    back = est.inverse_transform(Z)
    assert list(back.dtypes) == list(frame.dtypes)
    assert back["level"].isin(["hi", "lo", "mid"]).all()  # every gap gets a valid level
    assert back["color"].notna().all() and back["flag"].notna().all()
    errors = est.reconstruction_error(frame, per_feature=True)
    assert_array_equal(errors[frame.isna().to_numpy()], 0.0)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_model_with_missing_values_round_trips_through_save(Est, tmp_path):
    frame = mixed_with_gaps()
    est = Est(2, **FAST).fit(frame)
    save(est, tmp_path / "m.safetensors")
    twin = load(tmp_path / "m.safetensors")
    assert_array_equal(twin.transform(frame), est.transform(frame))
    pd.testing.assert_frame_equal(twin.inverse_transform(twin.transform(frame)),
                                  est.inverse_transform(est.transform(frame)))


def test_masking_noise_hides_entries_of_a_table():
    # A table's masking noise marks observed entries missing in training, so
    # the model learns to fill them; every column then has an indicator.
    frame = mixed_with_gaps().dropna()
    est = AutoencoderTransformer(2, noise="masking", noise_level=0.3, **FAST).fit(frame)
    layer = est.net_.module_.input
    assert layer.hide == 0.3 and all(layer.missing) and est.net_.module_.corruption is None
    x = torch.as_tensor(network_input(est, frame))
    with torch.no_grad():
        assert torch.equal(layer.eval()(x), layer(x))  # no hiding at inference
        layer.train()
        layer.generator = torch.Generator().manual_seed(0)
        hidden = layer(x)[:, -len(layer.columns):]  # the indicators
        layer.eval()
    assert 0.2 < float(hidden.mean()) < 0.4


def test_gaps_are_filled_from_the_other_columns():
    # On low-rank data, reconstructing a row fills its gaps far better than
    # the column means (0 after standardising). With data, mask and model
    # seeds 1-4: RMSE on the masked entries 0.25-0.32 of the column means';
    # limit 0.6.
    X = low_rank(n=600)
    gappy = with_gaps(X, 0.2)
    est = AutoencoderTransformer(2, hidden_layer_sizes=(32,), max_iter=60, tol=0,
                                 random_state=0).fit(gappy)
    filled = est.inverse_transform(est.transform(gappy))
    missing = np.isnan(gappy)
    rmse = np.sqrt(np.mean((filled[missing] - X[missing]) ** 2))
    baseline = np.sqrt(np.mean((np.nanmean(gappy, axis=0)[np.nonzero(missing)[1]]
                                - X[missing]) ** 2))
    assert rmse < 0.6 * baseline


def test_lists_with_gaps_are_read_like_arrays():
    X = with_gaps(low_rank()).tolist()
    est = AutoencoderTransformer(2, **FAST).fit(X)
    # Read as a table of numbers, whose columns with gaps get indicators.
    assert_array_equal(est.feature_kinds_, ["numeric"] * len(X[0]))
    assert any(est.net_.module_.input.missing) and np.isfinite(est.transform(X)).all()



def test_the_range_check_is_quiet_on_all_missing_values(recwarn):
    # Found by test_fuzz: fit's float32-range check leaked numpy's "All-NaN
    # slice" RuntimeWarning on an all-missing block.
    AutoencoderTransformer(1, hidden_layer_sizes=(4,), max_iter=1).fit(np.full((3, 2), np.nan))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
