"""Spec for skae.losses: per-sample losses against numpy and torch.distributions."""

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch.distributions import Bernoulli, Laplace, Normal, kl_divergence

from skae.losses import (
    RECONSTRUCTION_LOSSES,
    kl_normal,
    negative_log_likelihood,
    reconstruction_error,
    sparsity_penalty,
)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    x_pre = 3 * torch.randn(6, 5, generator=gen, dtype=torch.float64)
    x = torch.rand(6, 5, generator=gen, dtype=torch.float64)
    return x_pre, x


def _numpy_reference(loss, x_pre, x):
    if loss == "mse":
        return ((x_pre - x) ** 2).mean(axis=1)
    if loss == "mae":
        return np.abs(x_pre - x).mean(axis=1)
    if loss == "huber":  # delta = 1
        r = np.abs(x_pre - x)
        return np.where(r <= 1, 0.5 * r**2, r - 0.5).mean(axis=1)
    if loss == "bce":  # on logits
        p = 1 / (1 + np.exp(-x_pre))
        return -(x * np.log(p) + (1 - x) * np.log(1 - p)).mean(axis=1)
    raise AssertionError(loss)


def test_the_four_reconstruction_losses():
    assert RECONSTRUCTION_LOSSES == ("mse", "bce", "mae", "huber")


@pytest.mark.parametrize("loss", RECONSTRUCTION_LOSSES)
def test_reconstruction_error_matches_numpy(batch, loss):
    x_pre, x = batch
    err = reconstruction_error(x_pre, x, loss)
    assert err.shape == (6,)
    assert_allclose(err.numpy(), _numpy_reference(loss, x_pre.numpy(), x.numpy()), rtol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_reconstruction_error_applies_the_output_activation(batch, loss):
    x_pre, x = batch
    err = reconstruction_error(x_pre, x, loss, output=torch.sigmoid)
    ref = _numpy_reference(loss, torch.sigmoid(x_pre).numpy(), x.numpy())
    assert_allclose(err.numpy(), ref, rtol=1e-12)


def test_bce_uses_logits_and_ignores_the_output_activation(batch):
    x_pre, x = batch
    torch.testing.assert_close(
        reconstruction_error(x_pre, x, "bce", output=torch.sigmoid),
        reconstruction_error(x_pre, x, "bce"),
    )
    # Stable on large logits, where sigmoid then log would give inf.
    err = reconstruction_error(torch.tensor([[100.0, -100.0]]), torch.tensor([[0.0, 1.0]]), "bce")
    torch.testing.assert_close(err, torch.tensor([100.0]))


def test_huber_is_quadratic_then_linear():
    x = torch.zeros(1, 4)
    x_pre = torch.tensor([[0.5, -0.5, 3.0, -3.0]])
    torch.testing.assert_close(
        reconstruction_error(x_pre, x, "huber"), torch.tensor([(0.125 * 2 + 2.5 * 2) / 4])
    )


def test_reconstruction_error_averages_over_all_trailing_dimensions():
    x_pre = torch.randn(3, 2, 4, 4)
    x = torch.randn(3, 2, 4, 4)
    torch.testing.assert_close(
        reconstruction_error(x_pre, x, "mse"), ((x_pre - x) ** 2).flatten(1).mean(1)
    )


@pytest.mark.parametrize("loss", RECONSTRUCTION_LOSSES)
def test_reconstruction_error_is_zero_only_for_perfect_reconstructions(loss):
    x = torch.tensor([[0.0, 1.0, 1.0]])
    x_pre = torch.tensor([[-50.0, 50.0, 50.0]]) if loss == "bce" else x
    assert float(reconstruction_error(x_pre, x, loss)) == pytest.approx(0.0, abs=1e-12)
    assert float(reconstruction_error(x_pre + 0.5, x, loss)) > 0


def test_sparsity_penalty_is_mean_absolute_code():
    z = torch.tensor([[1.0, -3.0], [0.0, 0.5]])
    torch.testing.assert_close(sparsity_penalty(z), torch.tensor([2.0, 0.25]))


def test_kl_normal_is_zero_at_the_standard_normal():
    torch.testing.assert_close(kl_normal(torch.zeros(4, 3), torch.zeros(4, 3)), torch.zeros(4))


@pytest.mark.parametrize(
    "mu, logvar",
    [(0.5, 0.0), (0.0, 1.0), (0.0, -2.0), (-1.0, 0.3)],
)
def test_kl_normal_is_positive_away_from_the_standard_normal(mu, logvar):
    kl = kl_normal(torch.full((2, 3), mu), torch.full((2, 3), logvar))
    assert (kl > 0).all()


def test_kl_normal_matches_torch_distributions():
    gen = torch.Generator().manual_seed(1)
    mu = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    logvar = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    ref = kl_divergence(
        Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros_like(mu), torch.ones_like(mu))
    ).sum(-1)
    torch.testing.assert_close(kl_normal(mu, logvar), ref)


@pytest.mark.parametrize("loss, distribution, log_scale", [
    *[("mse", Normal, v) for v in (-1.5, 0.0, 0.7)],  # Gaussian
    *[("mae", Laplace, v) for v in (-1.0, 0.0, 0.5)],
], ids=lambda v: getattr(v, "__name__", None))
def test_nll_matches_the_distribution_log_prob(batch, loss, distribution, log_scale):
    x_pre, x = batch
    s = torch.tensor(log_scale, dtype=torch.float64)
    nll = negative_log_likelihood(x_pre, x, loss, log_scale=s)
    ref = -distribution(x_pre, torch.exp(s)).log_prob(x).sum(-1)
    torch.testing.assert_close(nll, ref)


def test_gaussian_nll_defaults_to_unit_variance_and_applies_the_output(batch):
    x_pre, x = batch
    nll = negative_log_likelihood(x_pre, x, "mse", output=torch.sigmoid)
    ref = -Normal(torch.sigmoid(x_pre), 1.0).log_prob(x).sum(-1)
    torch.testing.assert_close(nll, ref)


def test_bernoulli_nll_matches_bernoulli_log_prob(batch):
    x_pre, _ = batch
    x = (torch.rand(6, 5, generator=torch.Generator().manual_seed(2)) < 0.5).double()
    nll = negative_log_likelihood(x_pre, x, "bce")
    ref = -Bernoulli(logits=x_pre).log_prob(x).sum(-1)
    torch.testing.assert_close(nll, ref)


def test_bernoulli_nll_extends_to_fractional_data(batch):
    # For x in [0, 1] it is the cross-entropy, summed over features.
    x_pre, x = batch
    nll = negative_log_likelihood(x_pre, x, "bce")
    ref = Bernoulli(logits=x_pre, validate_args=False).log_prob(x).sum(-1)
    torch.testing.assert_close(nll, -ref)
    torch.testing.assert_close(nll, reconstruction_error(x_pre, x, "bce") * x.shape[1])


@pytest.mark.parametrize("loss", ["mse", "bce", "mae"])
def test_nll_broadcasts_data_against_several_draws(batch, loss):
    # x_pre of shape (n_draws, n, d) against x of shape (n, d).
    x_pre, x = batch
    draws = torch.stack([x_pre, x_pre + 0.3, x_pre - 1.0])
    s = torch.tensor(0.2, dtype=torch.float64)
    nll = negative_log_likelihood(draws, x, loss, log_scale=s)
    assert nll.shape == (3, 6)
    for i in range(3):
        torch.testing.assert_close(nll[i], negative_log_likelihood(draws[i], x, loss, log_scale=s))


def test_nll_log_scale_gets_a_gradient(batch):
    x_pre, x = batch
    s = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    negative_log_likelihood(x_pre, x, "mse", log_scale=s).sum().backward()
    assert s.grad is not None and s.grad != 0


def test_nll_of_the_doc_example():
    nll = negative_log_likelihood(torch.zeros(1, 2), torch.zeros(1, 2), log_scale=torch.tensor(0.0))
    assert float(nll) == pytest.approx(math.log(2 * math.pi))


def test_nll_has_no_huber_likelihood(batch):
    x_pre, x = batch
    with pytest.raises(ValueError, match="huber"):
        negative_log_likelihood(x_pre, x, "huber")
