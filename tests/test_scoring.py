"""Spec for skae.make_reconstruction_scorer: one yardstick for every loss."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer, VAETransformer, make_reconstruction_scorer

FAST = dict(hidden_layer_sizes=(16,), max_iter=5, batch_size=32, random_state=0, tol=0)


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:400] / 16


@pytest.mark.parametrize("metric, fn", [("mse", np.square), ("mae", np.abs)])
@pytest.mark.parametrize("est", [AutoencoderTransformer(4, **FAST), VAETransformer(4, **FAST),
                                 PCA(4)], ids=["ae", "vae", "pca"])
def test_scorer_is_minus_the_mean_error_of_the_round_trip_in_data_units(X, est, metric, fn):
    est.fit(X)
    expected = -fn(X - est.inverse_transform(est.transform(X))).mean()
    assert_allclose(make_reconstruction_scorer(metric)(est, X), expected, rtol=1e-12)


def test_scorer_works_on_a_pipeline_in_the_units_of_its_input(X):
    pipe = make_pipeline(MinMaxScaler(), AutoencoderTransformer(4, **FAST)).fit(X * 16)
    expected = -np.square(X * 16 - pipe.inverse_transform(pipe.transform(X * 16))).mean()
    assert_allclose(make_reconstruction_scorer()(pipe, X * 16), expected, rtol=1e-12)


def test_a_search_over_losses_ranks_them_by_reconstruction_not_by_loss_units(X):
    # With its own score, each loss reports its own units and huber (half the
    # squared error near zero) looks best; the scorer compares like with like.
    grid = {"loss": ["mse", "mae", "huber", "bce"]}
    est = AutoencoderTransformer(4, **FAST)
    search = GridSearchCV(est, grid, cv=2, scoring=make_reconstruction_scorer()).fit(X)
    by_loss = dict(zip(grid["loss"], search.cv_results_["mean_test_score"]))
    own = dict(zip(grid["loss"], GridSearchCV(est, grid, cv=2).fit(X)
                   .cv_results_["mean_test_score"]))
    assert_allclose(own["huber"], own["mse"] / 2, rtol=0.2)  # the unit mismatch
    mses = {}
    for loss in grid["loss"]:
        fold_scores = []
        for train, test in [(slice(200, 400), slice(0, 200)), (slice(0, 200), slice(200, 400))]:
            fitted = AutoencoderTransformer(4, loss=loss, **FAST).fit(X[train])
            residual = X[test] - fitted.inverse_transform(fitted.transform(X[test]))
            fold_scores.append(-np.square(residual).mean())
        mses[loss] = np.mean(fold_scores)
    assert_allclose([by_loss[k] for k in grid["loss"]], [mses[k] for k in grid["loss"]],
                    rtol=1e-6)


def test_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="metric"):
        make_reconstruction_scorer("rmse")


def test_scorer_has_a_readable_repr():
    assert repr(make_reconstruction_scorer("mae")) == "make_reconstruction_scorer(metric='mae')"
