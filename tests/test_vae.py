"""Spec for skae.VAETransformer and skae.interpolate.

Read top to bottom, this file is the contract of the variational
autoencoder: its likelihoods and the decoder scale, its own parameters
(``beta``, ``kl_warmup``), the loss terms it records, what ``transform``,
``inverse_transform`` and ``sample`` return, what ``score_samples`` (the
ELBO) and ``log_likelihood`` (the IWAE bound) estimate, and
``interpolate``. What it shares with AutoencoderTransformer (the shared
parameters, clone, dtypes, feature names) is specified once for both in
test_estimators.py; pickle round trips are in test_persistence.py, the
MNIST benchmark's smoke test in test_benchmarks_smoke.py.

Everything runs on small data and a few epochs. The likelihood estimates
are checked against a case with a closed form: a linear decoder with a
Gaussian likelihood has ``p(x) = N(b, W W^T + sigma^2 I)`` exactly. Tests
that need long training on sklearn's digits or MNIST are marked ``slow``
(run them with ``pytest -m slow``).
"""

import copy
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import FAST, N_FEATURES, N_SAMPLES, RecordInitialWeights, count
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from skae import AutoencoderTransformer, VAETransformer, interpolate
from skae.modules import LOGVAR_MAX, LOGVAR_MIN

# Long enough on the 60 rows for the posterior to carry information.
TRAINED = dict(FAST, max_iter=30, tol=0, learning_rate_init=1e-2)


def fast(**params):
    """A small, quick, seeded VAE; ``params`` override ``FAST``."""
    return VAETransformer(**{**FAST, **params})


def history(est, key):
    return np.array(est.net_.history[:, key], dtype=float)


def mc_elbo(est, X, n_seeds=50):
    """Per-row Monte-Carlo ELBO: the mean of ``n_seeds`` one-draw IWAE estimates.

    ``log_likelihood`` with one importance sample is log p(x, z) - log q(z|x)
    at one posterior draw, whose expectation is the ELBO.
    """
    return np.mean([est.log_likelihood(X, 1, random_state=s) for s in range(n_seeds)], axis=0)


def mean_and_se(estimates):
    """The mean of independent estimates and its standard error."""
    estimates = np.asarray(estimates)
    return estimates.mean(), estimates.std(ddof=1) / math.sqrt(len(estimates))


def exact_log_px(est, X):
    """log p(x) of a VAE with a single linear decoder layer and a Gaussian likelihood."""
    module = est.net_.module_
    (layer,) = [m for m in module.decoder if isinstance(m, nn.Linear)]
    W = layer.weight.detach().double().numpy()
    b = layer.bias.detach().double().numpy()
    var = math.exp(2 * module.log_scale.item())
    return multivariate_normal(b, W @ W.T + var * np.eye(len(b))).logpdf(X)


def exact_elbo(est, X):
    """The ELBO of that model in closed form, with its own posterior q(z|x).

    E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + sum_j var_j ||W_j||^2.
    """
    module = copy.deepcopy(est.net_.module_).double()
    (layer,) = [m for m in module.decoder if isinstance(m, nn.Linear)]
    W = layer.weight.detach().numpy()
    b = layer.bias.detach().numpy()
    var_x = math.exp(2 * module.log_scale.item())
    with torch.no_grad():
        mu, logvar = (t.numpy() for t in module.posterior(torch.tensor(X, dtype=torch.float64)))
    var = np.exp(logvar)
    sq = ((X - mu @ W.T - b) ** 2).sum(axis=1) + (var * (W**2).sum(axis=0)).sum(axis=1)
    expected_log_px_z = -0.5 * sq / var_x - 0.5 * X.shape[1] * math.log(2 * math.pi * var_x)
    kl = 0.5 * (mu**2 + var - 1 - logvar).sum(axis=1)
    return expected_log_px_z - kl


def slerp(z_a, z_b, t):
    omega = np.arccos(np.dot(z_a, z_b) / (np.linalg.norm(z_a) * np.linalg.norm(z_b)))
    return (np.sin((1 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)


@pytest.fixture(scope="module")
def fitted(X):
    """A small fitted model shared by the tests that only read it."""
    return fast().fit(X)


@pytest.fixture(scope="module")
def trained(X):
    """A VAE trained until its codes carry information (beta=1)."""
    return fast(**TRAINED).fit(X)


@pytest.fixture(scope="module")
def X_std(X):
    """``X`` with each column standardised: mean 0, variance 1."""
    X_std = (X - X.mean(axis=0)) / X.std(axis=0)
    X_std.setflags(write=False)
    return X_std


@pytest.fixture(scope="module")
def informative(X_std):
    """A VAE (beta=1) whose codes carry information whatever the seed.

    On ``X`` (columns in [0, 1]) 30 epochs leave most seeds' codes unused
    (posterior collapse: at seeds 1-9, reconstruction error 0.93-1.04 times
    the column variance); on standardised columns and with 60 epochs every
    seed of 0-19 uses them (error 0.006-0.42 times the variance).
    """
    return fast(**{**TRAINED, "max_iter": 60}).fit(X_std)


@pytest.fixture(scope="module")
def linear_vae(X):
    """Linear encoder and decoder, Gaussian likelihood: log p(x) has a closed form."""
    return fast(**{**TRAINED, "hidden_layer_sizes": (), "activation": "identity"}).fit(X)


@pytest.fixture(scope="module")
def digits():
    """sklearn's digits in [0, 1]: 600 training and 200 held-out rows."""
    data = load_digits()
    X = data.data / 16.0
    return X[:600], X[600:800], data.target[:600], data.target[600:800]


@pytest.fixture(scope="module")
def digits_vae(digits):
    return VAETransformer(
        4, hidden_layer_sizes=(32,), max_iter=15, tol=0, learning_rate_init=3e-3,
        random_state=0,
    ).fit(digits[0])


# --------------------------------------------------------------------------
# The likelihood (loss) and the layers
# --------------------------------------------------------------------------


def _known_posterior(est, X):
    """Pin the posterior's variance at its floor: q(z|x) is (almost) the point mu(x).

    Returns the per-row KL term, computed here from the codes.
    """
    code = [m for m in est.net_.module_.encoder if isinstance(m, nn.Linear)][-1]
    k = est.n_components_
    with torch.no_grad():
        code.weight[k:] = 0.0
        code.bias[k:] = -100.0  # clamped to LOGVAR_MIN
    mu = est.transform(X)
    return 0.5 * (mu**2 + math.exp(LOGVAR_MIN) - 1 - LOGVAR_MIN).sum(axis=1)


@pytest.mark.parametrize("loss", ["mse", "bce", "mae"])
def test_loss_chooses_the_decoder_likelihood(X, loss):
    # With a near-deterministic posterior, the ELBO is the log-likelihood of
    # x under the decoder at z = mu(x), minus the KL term: its value names
    # the distribution. Gaussian and Laplace use the learned scale s.
    est = fast(loss=loss).fit(X)
    kl = _known_posterior(est, X)
    X_hat = est.inverse_transform(est.transform(X))
    s = math.exp(est.net_.module_.log_scale.item())
    if loss == "mse":
        log_px = (-0.5 * ((X - X_hat) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi))
    elif loss == "mae":
        log_px = -np.abs(X - X_hat) / s - math.log(2 * s)
    else:
        log_px = X * np.log(X_hat) + (1 - X) * np.log1p(-X_hat)
    assert est.net_.criterion_.loss == loss
    # The posterior's floor variance (std 0.0025) leaves a little noise in z.
    assert_allclose(est.score_samples(X), log_px.sum(axis=1) - kl, rtol=5e-3, atol=1e-3)


def test_bernoulli_elbo_is_never_positive(X):
    # Bernoulli probabilities are at most 1 and the KL term is at least 0.
    est = fast(loss="bce").fit(X)
    assert (est.score_samples(X) <= 0).all()


@pytest.mark.parametrize(
    "loss, spread",
    [
        ("mse", lambda X: np.sqrt(X.var(axis=0).mean())),
        ("mae", lambda X: np.abs(X - np.median(X, axis=0)).mean()),
    ],
)
def test_decoder_scale_starts_at_the_data_spread_and_is_learned(X, loss, spread):
    recorder = RecordInitialWeights()
    est = fast(loss=loss, callbacks=[recorder], max_iter=5, tol=0).fit(X)
    initial = recorder.initial_["log_scale"].item()
    assert initial == pytest.approx(math.log(spread(X)), rel=1e-5)
    assert est.net_.module_.log_scale.item() != initial
    assert "log_scale" in est.net_.module_.state_dict()


def test_inference_runs_in_eval_mode_even_if_the_module_was_left_training(X):
    # E.g. after a user's own training loop on est.net_.module_.
    est = fast(dropout=0.5, batch_norm=True, hidden_layer_sizes=(8, 4)).fit(X)
    expected = est.transform(X), est.score_samples(X)
    est.net_.module_.train()
    assert_array_equal(est.transform(X), expected[0])
    assert_array_equal(est.score_samples(X), expected[1])


def test_image_shape_builds_a_convolutional_vae(digits):
    X = digits[0][:100]
    est = fast(image_shape=(1, 8, 8), conv_channels=(4,), n_components=3).fit(X)
    assert count(est.net_.module_.encoder, nn.Conv2d) == 1
    assert count(est.net_.module_.decoder, nn.ConvTranspose2d) == 1
    assert est.transform(X).shape == (100, 3)
    assert est.sample(5, random_state=0).shape == (5, 64)
    assert np.isfinite(est.score_samples(X)).all()


def test_warm_start_continues_training_and_warm_up(X):
    est = fast(warm_start=True, max_iter=2, tol=0, kl_warmup=3, beta=2.0).fit(X)
    est.fit(X)
    assert est.n_iter_ == 4
    assert_allclose(history(est, "kl_weight"), [0, 2 / 3, 4 / 3, 2])


def test_a_continued_fit_warms_up_to_the_current_beta(X):
    est = fast(warm_start=True, max_iter=2, tol=0, kl_warmup=4, beta=2.0).fit(X)
    est.set_params(beta=1.0).fit(X)
    assert_allclose(history(est, "kl_weight"), [0, 0.5, 0.5, 0.75])
    assert dict(est.net_.callbacks_)["kl_warmup"].get_params() == {"beta": 1.0, "epochs": 4}


def test_partial_fit_trains_one_epoch_per_call_and_continues_warm_up(X):
    est = fast(kl_warmup=2)
    for n in range(1, 5):
        est.partial_fit(X)
        assert est.n_iter_ == n
    assert_allclose(history(est, "kl_weight"), [0, 0.5, 1, 1])
    assert est.net_.criterion_.beta == 1.0


# --------------------------------------------------------------------------
# beta and kl_warmup
# --------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0, 0.5, 4])
def test_beta_weights_the_kl_term(X, beta):
    est = fast(beta=beta, max_iter=3, tol=0).fit(X)
    assert est.net_.criterion_.beta == beta
    expected = history(est, "train_reconstruction") + beta * history(est, "train_kl")
    assert_allclose(est.loss_curve_, expected, rtol=1e-5, atol=1e-6)


def test_large_beta_shrinks_codes_and_costs_reconstruction(X_std, informative):
    # Same seed and settings as `informative` (beta=1, codes in use) but
    # beta=30: the KL term then outweighs all a code can save, and the
    # posterior collapses to the prior.
    heavy = fast(**{**TRAINED, "max_iter": 60}, beta=30).fit(X_std)

    def reconstruction_mse(est):
        return ((est.inverse_transform(est.transform(X_std)) - X_std) ** 2).mean()

    # Over training seeds 0-19 the ratios heavy / beta=1 were: mean |code|
    # 0.002-0.009 (limit 0.05), final KL 6e-6 to 8e-5 (limit 0.01),
    # reconstruction error 2.4-170 (limit 1.5).
    code_size = np.abs(heavy.transform(X_std)).mean()
    assert code_size < 0.05 * np.abs(informative.transform(X_std)).mean()
    assert history(heavy, "train_kl")[-1] < 0.01 * history(informative, "train_kl")[-1]
    assert reconstruction_mse(heavy) > 1.5 * reconstruction_mse(informative)


@pytest.mark.parametrize("beta, warmup", [(1.0, 4), (2.0, 3), (0.5, 1)])
def test_kl_weight_rises_linearly_to_beta_then_stays(X, beta, warmup):
    est = fast(beta=beta, kl_warmup=warmup, max_iter=6, tol=0).fit(X)
    epochs = np.arange(6)
    assert_allclose(history(est, "kl_weight"), beta * np.minimum(1, epochs / warmup))
    # Each epoch's loss uses that epoch's weight; the final weight is beta.
    expected = history(est, "train_reconstruction") + history(est, "kl_weight") * history(
        est, "train_kl")
    assert_allclose(est.loss_curve_, expected, rtol=1e-5, atol=1e-6)
    assert est.net_.criterion_.beta == beta


def test_no_kl_weight_in_history_without_warm_up(fitted):
    assert all("kl_weight" not in row for row in fitted.net_.history)


def test_kl_warmup_lets_the_kl_term_grow_early(X_std):
    # With the KL term switched off at first, the posterior moves further
    # from the prior during the warm-up than with the full weight. On
    # standardised columns the codes are worth using, so the contrast is
    # large (on ``X`` the last epoch's ratio was 1.05-2.7 over seeds 0-11,
    # against 1.2 required before).
    plain = fast(**{**TRAINED, "max_iter": 6}).fit(X_std)
    warm = fast(**{**TRAINED, "max_iter": 6}, kl_warmup=5).fit(X_std)
    kl_plain, kl_warm = history(plain, "train_kl"), history(warm, "train_kl")
    # Epochs 1-4, after the first steps and while the weight is below beta.
    # Over training seeds 0-19 the smallest of the four ratios warm / plain
    # was 1.48-4.1 (limit 1.2).
    assert (kl_warm[1:5] > 1.2 * kl_plain[1:5]).all()


# --------------------------------------------------------------------------
# Recorded loss terms
# --------------------------------------------------------------------------


def test_history_records_reconstruction_and_kl_every_epoch(X):
    est = fast(max_iter=4, tol=0, beta=1.5).fit(X)
    for row in est.net_.history:
        assert {"train_loss", "train_reconstruction", "train_kl"} <= set(row)
        assert not any(key.startswith("valid_") for key in row)
    assert (history(est, "train_kl") >= 0).all()
    # loss_curve_ is the epoch mean of the batch losses: reconstruction + beta * KL.
    expected = history(est, "train_reconstruction") + 1.5 * history(est, "train_kl")
    assert_allclose(est.loss_curve_, expected, rtol=1e-5, atol=1e-6)


def test_early_stopping_records_validation_terms(X):
    est = fast(early_stopping=True, max_iter=4, beta=0.5).fit(X)
    for row in est.net_.history:
        assert {"valid_loss", "valid_reconstruction", "valid_kl"} <= set(row)
    assert_array_equal(est.validation_loss_curve_, history(est, "valid_loss"))
    expected = history(est, "valid_reconstruction") + 0.5 * history(est, "valid_kl")
    assert_allclose(est.validation_loss_curve_, expected, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------
# Posterior, transform and inverse_transform
# --------------------------------------------------------------------------


def test_log_variances_are_clamped_and_outputs_stay_finite(fitted):
    X_huge = 1e6 * np.random.RandomState(0).randn(40, N_FEATURES).astype(np.float32)
    module = fitted.net_.module_
    with torch.no_grad():
        raw = module.encoder(torch.from_numpy(X_huge))[:, 2:]
        _, logvar = module.posterior(torch.from_numpy(X_huge))
    assert (raw > LOGVAR_MAX).any() and (raw < LOGVAR_MIN).any()  # the clamp is exercised
    assert LOGVAR_MIN <= logvar.min() and logvar.max() <= LOGVAR_MAX
    assert_array_equal(logvar, raw.clamp(LOGVAR_MIN, LOGVAR_MAX))
    for out in (fitted.transform(X_huge), fitted.score_samples(X_huge),
                fitted.log_likelihood(X_huge, 8)):
        assert np.isfinite(out).all()


def test_transform_is_the_posterior_mean_and_deterministic(trained, X):
    module = trained.net_.module_
    with torch.no_grad():
        mu, _ = module.posterior(torch.tensor(X, dtype=torch.float32))
    Z = trained.transform(X)
    assert_allclose(Z, mu.numpy(), rtol=1e-5, atol=1e-6)
    assert_array_equal(Z, trained.transform(X))


@pytest.mark.parametrize("loss", ["mse", "bce"])
def test_inverse_transform_is_the_decoder_mean(X, loss):
    est = fast(loss=loss).fit(X)
    Z = 2 * np.random.RandomState(0).randn(30, 2)
    X_hat = est.inverse_transform(Z)
    module = est.net_.module_
    with torch.no_grad():
        expected = module.output(module.decoder(torch.tensor(Z, dtype=torch.float32)))
    assert_allclose(X_hat, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert_array_equal(X_hat, est.inverse_transform(Z))
    if loss == "bce":  # Bernoulli means
        assert X_hat.min() > 0 and X_hat.max() < 1


# --------------------------------------------------------------------------
# sample
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n_samples", [1, 7])
def test_sample_shape_and_dtype(fitted, n_samples):
    S = fitted.sample(n_samples, random_state=0)
    assert S.shape == (n_samples, N_FEATURES)
    assert S.dtype == np.float64
    assert np.isfinite(S).all()


def test_sample_is_reproducible_with_an_int_seed(fitted):
    assert_array_equal(fitted.sample(5, random_state=3), fitted.sample(5, random_state=3))
    assert not np.allclose(fitted.sample(5, random_state=3), fitted.sample(5, random_state=4))
    rng = np.random.RandomState(0)
    assert not np.allclose(fitted.sample(5, random_state=rng), fitted.sample(5, random_state=rng))


def test_sample_decodes_prior_draws(trained):
    # The decoder mean at codes from N(0, I): inside the range the decoder
    # reaches on the prior, and spread like decoded Gaussian codes.
    S = trained.sample(2000, random_state=0)
    Z = np.random.RandomState(1).standard_normal((2000, 2))
    decoded = trained.inverse_transform(Z)
    assert_allclose(S.mean(axis=0), decoded.mean(axis=0), atol=0.03)
    assert_allclose(S.std(axis=0), decoded.std(axis=0), rtol=0.1, atol=0.01)


@pytest.mark.parametrize("n_samples", [0, -1, 1.5, "3", None])
def test_sample_rejects_bad_n_samples(fitted, n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        fitted.sample(n_samples)


def test_sample_means_track_the_data_means(digits_vae, digits):
    S = digits_vae.sample(2000, random_state=0)
    assert S.shape == (2000, 64)
    assert np.corrcoef(S.mean(axis=0), digits[0].mean(axis=0))[0, 1] > 0.8


# --------------------------------------------------------------------------
# score_samples (the ELBO) and log_likelihood (the IWAE bound)
# --------------------------------------------------------------------------


def test_score_samples_is_deterministic_and_row_wise(trained, X):
    scores = trained.score_samples(X)
    assert scores.shape == (N_SAMPLES,)
    assert_array_equal(scores, trained.score_samples(X))
    # A row's score does not depend on the other rows of its call.
    assert_allclose(trained.score_samples(X[7:12]), scores[7:12], rtol=1e-10)
    assert_allclose(trained.score_samples(X[::-1]), scores[::-1], rtol=1e-10)


def test_score_is_the_elbo_whatever_beta_was_trained_with(X):
    est = fast(beta=4.0).fit(X)
    scores = est.score_samples(X)
    est.set_params(beta=1.0)
    assert_array_equal(est.score_samples(X), scores)


def test_score_ranks_held_out_data_above_uniform_noise(digits_vae, digits):
    X_test = digits[1]
    noise = np.random.RandomState(0).uniform(size=X_test.shape)
    assert digits_vae.score(X_test) > digits_vae.score(noise) + 10
    # Nearly every held-out digit scores above every noise image.
    assert (digits_vae.score_samples(X_test) > digits_vae.score_samples(noise).max()).mean() > 0.95


def test_score_samples_is_the_elbo_of_a_linear_gaussian_vae(linear_vae, X):
    # The draws behind score_samples are shared by all rows, so their error
    # does not average out over rows. They are moment-matched (zero mean,
    # identity covariance), and with a linear Gaussian decoder the ELBO's
    # reconstruction term is quadratic in the draw: the estimate is exact,
    # row by row, to float64 rounding (raw Sobol draws were up to 0.095
    # nats low over training seeds 0-11).
    assert_allclose(linear_vae.score_samples(X), exact_elbo(linear_vae, X), rtol=1e-9,
                    atol=1e-9)


def test_score_samples_estimates_the_elbo_on_digits(digits_vae, digits):
    # Against 50 one-draw IWAE estimates (a single shared draw was 2 nats off).
    X_test = digits[1]
    assert digits_vae.score(X_test) == pytest.approx(mc_elbo(digits_vae, X_test).mean(), abs=0.5)


def test_closed_forms_are_ordered(linear_vae, X):
    # The reference values themselves: ELBO <= log p(x), row by row.
    assert (exact_elbo(linear_vae, X) <= exact_log_px(linear_vae, X) + 1e-9).all()


def test_one_sample_log_likelihood_has_the_elbo_as_expectation(linear_vae, X):
    assert_allclose(mc_elbo(linear_vae, X).mean(), exact_elbo(linear_vae, X).mean(), atol=0.15)


def test_log_likelihood_converges_to_the_exact_log_likelihood(linear_vae, X):
    exact = exact_log_px(linear_vae, X)
    estimate = linear_vae.log_likelihood(X, n_importance=2000)
    assert_allclose(estimate.mean(), exact.mean(), atol=0.05)
    assert_allclose(estimate, exact, atol=0.1)


def test_iwae_bound_lies_between_the_elbo_and_the_log_likelihood(linear_vae, X):
    # 40 independent K=64 estimates of the mean bound; the draws are shared
    # by the rows, so each seed gives one estimate of the row mean.
    iwae, se = mean_and_se(
        [linear_vae.log_likelihood(X, 64, random_state=s).mean() for s in range(40)])
    elbo, log_px = exact_elbo(linear_vae, X).mean(), exact_log_px(linear_vae, X).mean()
    # Over training seeds 0-19: the gap log p(x) - ELBO was 0.09-0.44 nats,
    # the SE 0.004-0.032; the bound closed 0.91-1.09 of the gap (limit 0.5)
    # and lay -3.6 to +1.7 SE from log p(x) (limit +4 SE).
    assert iwae > elbo + 0.5 * (log_px - elbo)
    assert iwae < log_px + 4 * se


def test_iwae_bound_is_above_the_elbo(informative, X_std):
    # The brief's check on a nonlinear model whose codes are in use (with
    # unused codes q(z|x) is the exact posterior and the bounds coincide).
    # The ELBO is the mean of 200 one-draw estimates (other seeds than the
    # bound's, so the two are independent); each seed's draws are
    # shared by the rows, so each seed gives one estimate of the row mean.
    iwae, se_iwae = mean_and_se(
        [informative.log_likelihood(X_std, 64, random_state=s).mean() for s in range(40)])
    elbo, se_elbo = mean_and_se(
        [informative.log_likelihood(X_std, 1, random_state=s).mean() for s in range(100, 300)])
    # Over training seeds 0-19: difference 0.19-1.17 nats, SE 0.022-0.083,
    # difference / SE 8.9-22 (limit 4).
    assert iwae - elbo > 4 * math.hypot(se_iwae, se_elbo)


def test_log_likelihood_shape_dtype_and_determinism(trained, X):
    ll = trained.log_likelihood(X, n_importance=16)
    assert ll.shape == (N_SAMPLES,) and ll.dtype == np.float64
    assert np.isfinite(ll).all()
    assert_array_equal(ll, trained.log_likelihood(X, n_importance=16, random_state=0))
    assert_array_equal(trained.log_likelihood(X, 16, random_state=5),
                       trained.log_likelihood(X, 16, random_state=5))
    assert not np.allclose(ll, trained.log_likelihood(X, 16, random_state=5))
    # A row's estimate does not depend on the other rows of its call.
    assert_allclose(trained.log_likelihood(X[3:9], 16), ll[3:9], rtol=1e-10)
    assert trained.log_likelihood(X.astype(np.float32), 16).dtype == np.float32


@pytest.mark.parametrize("n_importance", [0, -1, 2.5, "5", None])
def test_log_likelihood_rejects_bad_n_importance(fitted, X, n_importance):
    with pytest.raises(ValueError, match="n_importance must be a positive integer"):
        fitted.log_likelihood(X, n_importance=n_importance)


def test_log_likelihood_checks_the_features(fitted, X):
    with pytest.raises(ValueError, match="features"):
        fitted.log_likelihood(X[:, :4])


# --------------------------------------------------------------------------
# interpolate
# --------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["vae", "ae"])
def any_fitted(request, X, fitted):
    if request.param == "vae":
        return fitted
    return AutoencoderTransformer(**FAST).fit(X)


@pytest.mark.parametrize("method", ["linear", "spherical"])
@pytest.mark.parametrize("n_steps", [2, 5])
def test_interpolate_shape_and_end_points(any_fitted, X, method, n_steps):
    path = interpolate(any_fitted, X[0], X[1], n_steps=n_steps, method=method)
    assert path.shape == (n_steps, N_FEATURES)
    reconstruct = any_fitted.inverse_transform(any_fitted.transform(X[:2]))
    assert_allclose(path[0], reconstruct[0], rtol=1e-7, atol=1e-9)
    assert_allclose(path[-1], reconstruct[1], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolate_decodes_the_path_between_the_codes(any_fitted, X, method):
    z_a, z_b = any_fitted.transform(X[[4, 9]])
    t = np.linspace(0, 1, 7)[:, None]
    codes = (1 - t) * z_a + t * z_b if method == "linear" else slerp(z_a, z_b, t)
    path = interpolate(any_fitted, X[4], X[9], n_steps=7, method=method)
    assert_allclose(path, any_fitted.inverse_transform(codes), rtol=1e-7, atol=1e-9)


def test_interpolate_linear_and_spherical_differ(fitted, X):
    linear = interpolate(fitted, X[4], X[9], n_steps=5)
    spherical = interpolate(fitted, X[4], X[9], n_steps=5, method="spherical")
    assert_allclose(linear[[0, -1]], spherical[[0, -1]], rtol=1e-7)
    assert not np.allclose(linear[2], spherical[2])


def test_interpolate_between_a_point_and_itself_is_constant(fitted, X):
    for method in ("linear", "spherical"):
        path = interpolate(fitted, X[3], X[3], n_steps=4, method=method)
        assert np.isfinite(path).all()
        assert_allclose(path, np.repeat(path[:1], 4, axis=0), rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_accepts_rows_of_any_shape_and_keeps_dtype(fitted, X, dtype):
    a, b = X[0].astype(dtype), X[1].astype(dtype)
    path = interpolate(fitted, a, b, n_steps=3)
    assert path.dtype == dtype
    assert_array_equal(interpolate(fitted, a[None], b[None], n_steps=3), path)
    assert_array_equal(interpolate(fitted, list(a), list(b), n_steps=3), path)


def test_interpolate_accepts_rows_of_a_dataframe_without_warnings(X):
    df = pd.DataFrame(X, columns=[f"col{i}" for i in range(N_FEATURES)])
    est = fast().fit(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = interpolate(est, df.iloc[0], df.iloc[1], n_steps=3)
    assert path.shape == (3, N_FEATURES)


@pytest.mark.parametrize("k", [2, 3])
def test_interpolate_works_with_pandas_output(X, k):
    expected = interpolate(fast(n_components=k).fit(X), X[0], X[1], n_steps=3)
    est = fast(n_components=k).set_output(transform="pandas").fit(X)
    assert_allclose(interpolate(est, X[0], X[1], n_steps=3), expected, rtol=1e-7)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_steps": 1}, "n_steps"),
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": 2.5}, "n_steps"),
        ({"method": "cubic"}, "method"),
    ],
)
def test_interpolate_rejects_bad_arguments(fitted, X, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        interpolate(fitted, X[0], X[1], **params)


def test_interpolate_needs_a_fitted_skae_estimator(X):
    with pytest.raises(InvalidParameterError, match="estimator"):
        interpolate(LogisticRegression(), X[0], X[1])
    with pytest.raises(NotFittedError):
        interpolate(fast(), X[0], X[1])


# --------------------------------------------------------------------------
# scikit-learn integration: dtypes, grid search
# --------------------------------------------------------------------------


def test_float32_and_float64_agree(trained, X):
    X32 = X.astype(np.float32)
    assert_allclose(trained.transform(X32), trained.transform(X), rtol=1e-4, atol=1e-5)
    assert_allclose(trained.score_samples(X32), trained.score_samples(X), rtol=1e-4, atol=1e-4)
    assert_allclose(trained.log_likelihood(X32, 8), trained.log_likelihood(X, 8),
                    rtol=1e-4, atol=1e-4)


def test_grid_search_uses_the_elbo_as_default_score(X):
    search = GridSearchCV(fast(), {"beta": [0.5, 1.0]}, cv=2).fit(X)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.beta in (0.5, 1.0)


# --------------------------------------------------------------------------
# Quality on real data (slow)
# --------------------------------------------------------------------------


@pytest.mark.slow
def test_latent_codes_do_not_collapse_on_digits():
    # With the learned Gaussian scale the posterior keeps the digit identity:
    # a linear classifier on the 16 posterior means nearly matches one on pixels.
    data = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data / 16, data.target, test_size=0.25, stratify=data.target, random_state=0
    )
    model = make_pipeline(VAETransformer(16, random_state=0), LogisticRegression(max_iter=2000))
    accuracy = model.fit(X_train, y_train).score(X_test, y_test)
    print(f"digits/16, VAE(16) + LogisticRegression: held-out accuracy {accuracy:.4f}")
    assert accuracy >= 0.88
