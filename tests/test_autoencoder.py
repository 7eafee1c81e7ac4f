"""Spec for skae.AutoencoderTransformer.

Read top to bottom, this file is the contract of what the estimator has
of its own: its own parameters (tied weights, sparsity, input noise, the
losses, PCA initialisation, the optimizers), its fitted attributes, its
place in scikit-learn (Pipeline, GridSearchCV, set_output), and the errors
it raises for bad input. What it shares with VAETransformer is specified
once for both in test_estimators.py; Ctrl-C, divergence and clipping in
test_reliability.py; pickle and joblib round trips in test_persistence.py.

Everything runs on small synthetic data and a few epochs; the tests that
need full training on sklearn's digits are marked ``slow`` (run them with
``pytest -m slow``).
"""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from _helpers import (
    FAST,
    N_FEATURES,
    RecordInitialWeights,
    assert_close_ulps,
    assert_raises_and_unchanged,
    count,
    make_data,
    set_skae_setting,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from skorch import NeuralNet
from skorch.callbacks import Callback
from torch import nn

from skae import AutoencoderTransformer, VAETransformer
from skae.modules import Corruption, TiedLinear

# The linear autoencoder: one Linear layer each way.
LINEAR = {"hidden_layer_sizes": (), "activation": "identity", "output_activation": "identity"}


# 0.2's default rate: the tests of the tol rule and of the optimizers' settings
# pin a constant rate (a one-cycle schedule has its own tests in test_estimators).
CONSTANT_RATE = dict(learning_rate="constant", learning_rate_init=3e-3)


def fast(**params):
    """A small, quick, seeded estimator; ``params`` override ``FAST``."""
    return AutoencoderTransformer(**{**FAST, **params})


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def dense_layers(sequential):
    """The (possibly tied) linear layers of an encoder or decoder, in order."""
    return [m for m in sequential if isinstance(m, (nn.Linear, TiedLinear))]


class EpochCounter(Callback):
    """A user callback: counts the epochs it sees."""

    def initialize(self):
        self.epochs_ = 0
        return self

    def on_epoch_end(self, net, **kwargs):
        self.epochs_ += 1


@pytest.fixture(scope="module")
def fitted(X):
    """A small fitted model shared by the tests that only read it."""
    return fast().fit(X)


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    return data.data[:400] / 16.0, data.target[:400]


# --------------------------------------------------------------------------
# Each parameter has an effect
# --------------------------------------------------------------------------


def test_sigmoid_output_reconstructions_lie_in_open_unit_interval(X):
    est = fast(output_activation="sigmoid").fit(X)
    X_hat = est.inverse_transform(est.transform(X))
    assert X_hat.min() > 0 and X_hat.max() < 1


def _reference_loss(loss, X, X_hat):
    r = X_hat - X
    if loss == "mse":
        return (r**2).mean(axis=1)
    if loss == "mae":
        return np.abs(r).mean(axis=1)
    if loss == "huber":  # delta = 1
        return np.where(np.abs(r) <= 1, 0.5 * r**2, np.abs(r) - 0.5).mean(axis=1)
    if loss == "bce":
        return -(X * np.log(X_hat) + (1 - X) * np.log1p(-X_hat)).mean(axis=1)
    raise AssertionError(loss)


@pytest.mark.parametrize("loss", ["mse", "bce", "mae", "huber"])
def test_score_samples_is_minus_per_row_reconstruction_loss(X, loss):
    est = fast(loss=loss).fit(X)
    assert est.net_.criterion_.loss == loss
    X_hat = est.inverse_transform(est.transform(X))
    scores = est.score_samples(X)
    assert scores.shape == (len(X),)
    assert_allclose(scores, -_reference_loss(loss, X, X_hat), rtol=1e-9, atol=1e-12)


def test_huber_score_grows_linearly_on_large_residuals(X):
    # Residuals beyond delta=1 cost |r| - 0.5, not r**2 / 2: robust to outliers.
    est = fast(loss="huber").fit(X)
    outlier = X[:3] + 10.0
    X_hat = est.inverse_transform(est.transform(outlier))
    r = np.abs(X_hat - outlier)
    assert (r > 1).all()
    assert_allclose(-est.score_samples(outlier), (r - 0.5).mean(axis=1), rtol=1e-9)


def test_tied_weights_share_encoder_weights(X):
    untied = fast(hidden_layer_sizes=(8, 4)).fit(X)
    tied = fast(hidden_layer_sizes=(8, 4), tied_weights=True).fit(X)
    enc = dense_layers(tied.net_.module_.encoder)
    dec = dense_layers(tied.net_.module_.decoder)
    assert all(isinstance(layer, TiedLinear) for layer in dec)
    # Fewer parameters: the decoder keeps only its biases.
    saved = sum(layer.weight.numel() for layer in enc)
    assert n_params(tied.net_.module_) == n_params(untied.net_.module_) - saved
    # After training, each decoder weight IS the transpose of its encoder weight.
    for d, e in zip(dec, enc[::-1]):
        assert d.source is e
        assert torch.equal(d.source.weight, e.weight)
        assert d.source.weight.data_ptr() == e.weight.data_ptr()  # one tensor, not a copy
        z = torch.randn(3, e.out_features)
        with torch.no_grad():
            torch.testing.assert_close(d(z), z @ e.weight + d.bias)


def test_tied_weights_survive_float64_inference(X):
    # (That they survive pickle is in test_persistence.py.)
    est = fast(tied_weights=True).fit(X)
    Z = est.transform(X)
    # The float64 path (a float64 copy of the module) keeps the weights tied.
    assert_allclose(
        est.inverse_transform(Z.astype(np.float32)), est.inverse_transform(Z), rtol=1e-5, atol=1e-6
    )


def test_sparsity_shrinks_codes(X):
    mean_abs = {}
    for sparsity in (0.0, 1.0):
        est = fast(sparsity=sparsity, max_iter=10, tol=0).fit(X)
        assert est.net_.criterion_.sparsity == sparsity
        mean_abs[sparsity] = np.abs(est.transform(X)).mean()
    assert mean_abs[1.0] < 0.5 * mean_abs[0.0]


@pytest.mark.parametrize("noise", ["gaussian", "masking", "salt_and_pepper"])
def test_noise_corrupts_training_only(X, noise):
    est = fast(noise=noise, noise_level=0.2, max_iter=10, tol=0).fit(X)
    module = est.net_.module_
    assert isinstance(module.corruption, Corruption)
    assert module.corruption.kind == noise
    assert module.corruption.level == 0.2
    assert est.loss_curve_[-1] < est.loss_curve_[0]  # still learns
    # Inference never corrupts: deterministic, and the plain encoder's output.
    Z = est.transform(X)
    assert_array_equal(Z, est.transform(X))
    with torch.no_grad():
        plain = module.encode(torch.from_numpy(X.astype(np.float32))).numpy()
    assert_allclose(Z, plain, rtol=1e-5, atol=1e-6)
    assert_array_equal(est.score_samples(X), est.score_samples(X))


def test_salt_and_pepper_uses_training_min_and_max(X):
    Xs = X * 3 - 1
    est = fast(noise="salt_and_pepper").fit(Xs)
    corruption = est.net_.module_.corruption
    assert_allclose(corruption.low.numpy(), Xs.min(axis=0), rtol=1e-6)
    assert_allclose(corruption.high.numpy(), Xs.max(axis=0), rtol=1e-6)


def test_no_noise_means_no_corruption(fitted):
    assert fitted.net_.module_.corruption is None


@pytest.mark.parametrize(
    "optimizer, cls",
    [
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("sgd", torch.optim.SGD),
        ("lbfgs", torch.optim.LBFGS),  # with a safeguard: see the tests below
        (torch.optim.RMSprop, torch.optim.RMSprop),
    ],
    ids=["adam", "adamw", "sgd", "lbfgs", "RMSprop-class"],
)
def test_optimizer_builds_and_trains(X, optimizer, cls):
    max_iter = 2 if optimizer == "lbfgs" else 5
    est = fast(optimizer=optimizer, max_iter=max_iter, tol=0).fit(X)
    # the class itself (a subclass of torch's for 'lbfgs')
    assert type(est.net_.optimizer_) is cls or optimizer == "lbfgs"
    assert isinstance(est.net_.optimizer_, cls)
    assert est.n_iter_ == max_iter
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_sgd_uses_nesterov_momentum(X):
    group = fast(optimizer="sgd", **CONSTANT_RATE, max_iter=1).fit(X)\
        .net_.optimizer_.param_groups[0]
    assert group["momentum"] == 0.9
    assert group["nesterov"] is True


def test_lbfgs_is_full_batch_with_line_search(X):
    est = fast(optimizer="lbfgs", max_iter=1, batch_size=8, learning_rate_init=0.5).fit(X)
    group = est.net_.optimizer_.param_groups[0]
    assert group["line_search_fn"] == "strong_wolfe"
    assert group["lr"] == 1.0  # learning_rate_init is not used
    assert [len(row["batches"]) for row in est.net_.history] == [1]


# Seed 1 is the one that blew up (issue #22); the others run with the slow tests.
@pytest.mark.parametrize("seed", [pytest.param(s, marks=() if s == 1 else pytest.mark.slow)
                                  for s in range(5)])
def test_lbfgs_survives_float32_noise_on_small_integer_data(seed):
    # Late L-BFGS iterations measure curvature in float32 rounding noise; a
    # step from such a memory once blew the weights up to NaN (seed 1). A
    # step that leaves non-finite weights is undone and retried from a
    # fresh memory (a steepest-descent step).
    X = 3 * np.random.RandomState(0).uniform(size=(20, 3))
    X = np.round(X - X.min())
    est = AutoencoderTransformer(optimizer="lbfgs", max_iter=20, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 20 epochs: not the point here
        est.fit(X)
    assert all(np.isfinite(p.detach().numpy()).all() for p in est.net_.module_.parameters())
    assert np.isfinite(est.loss_curve_).all()
    errors = est.reconstruction_error(X)
    assert np.isfinite(errors).all()
    assert errors.mean() < np.mean((X - X.mean(axis=0)) ** 2)  # better than the means


def test_lbfgs_undoes_a_step_that_ends_where_the_loss_is_not_finite(X):
    # Trial losses are NaN below 0: torch's line search extrapolates into
    # them and ends at absurd weights; the LBFGS that optimizer='lbfgs'
    # builds undoes such a step (and the retry from a fresh memory, which
    # fails alike) and forgets its memory.
    LBFGS = type(fast(optimizer="lbfgs", max_iter=1).fit(X).net_.optimizer_)
    assert LBFGS is not torch.optim.LBFGS
    x = nn.Parameter(torch.tensor([1.0]))

    def closure():
        x.grad = None
        loss = ((torch.sqrt(x) + 3) ** 2 + (x + 5) ** 2).sum()
        loss.backward()
        return loss

    plain = torch.optim.LBFGS([x], line_search_fn="strong_wolfe")
    plain.step(closure)
    assert not torch.isfinite(closure())
    with torch.no_grad():
        x.fill_(1.0)
    optimizer = LBFGS([x], line_search_fn="strong_wolfe")
    assert optimizer.step(closure).item() == 16.0 + 36.0
    assert x.item() == 1.0
    assert not optimizer.state

@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", torch.optim.RMSprop])
def test_weight_decay_is_passed_to_optimizer(X, optimizer):
    est = fast(optimizer=optimizer, weight_decay=0.25, max_iter=1).fit(X)
    assert est.net_.optimizer_.param_groups[0]["weight_decay"] == 0.25


def test_weight_decay_shrinks_weights(X):
    def weight_norm(est):
        return sum(
            float(p.detach().square().sum())
            for name, p in est.net_.module_.named_parameters()
            if name.endswith("weight")
        )

    plain = fast(optimizer="adamw", max_iter=10, tol=0).fit(X)
    decayed = fast(optimizer="adamw", weight_decay=10.0, max_iter=10, tol=0).fit(X)
    assert weight_norm(decayed) < 0.5 * weight_norm(plain)


@pytest.mark.parametrize("n_iter_no_change", [1, 2, 3])
def test_tol_and_n_iter_no_change_stop_on_training_loss(X, n_iter_no_change):
    # No epoch improves the training loss by 50%: after the first epoch,
    # training stops once n_iter_no_change epochs in a row have missed.
    est = fast(**CONSTANT_RATE, max_iter=20, tol=0.5,
               n_iter_no_change=n_iter_no_change).fit(X)
    assert est.n_iter_ == n_iter_no_change + 1
    assert len(est.loss_curve_) == est.n_iter_
    assert est.validation_loss_curve_ is None


def test_early_stopping_stops_before_max_iter(X):
    est = fast(max_iter=200, early_stopping=True, n_iter_no_change=3).fit(X)
    assert 3 < est.n_iter_ < 200
    assert len(est.validation_loss_curve_) == est.n_iter_ == len(est.loss_curve_)
    assert np.isfinite(est.validation_loss_curve_).all()
    # The last n_iter_no_change epochs did not beat the best before them.
    curve = est.validation_loss_curve_
    assert min(curve[-3:]) >= min(curve[:-3]) * (1 - est.tol)


@pytest.mark.parametrize("fraction, n_valid", [(0.1, 6), (0.25, 15), (0.5, 30)])
def test_validation_fraction_sets_hold_out_size(X, fraction, n_valid):
    est = fast(early_stopping=True, validation_fraction=fraction, max_iter=2, tol=0).fit(X)
    for row in est.net_.history:
        assert sum(b["valid_batch_size"] for b in row["batches"] if "valid_batch_size" in b) \
            == n_valid
        train_rows = sum(b["train_batch_size"] for b in row["batches"] if "train_batch_size" in b)
        assert train_rows <= len(X) - n_valid


def test_validation_loss_curve_is_none_without_early_stopping(fitted):
    assert fitted.validation_loss_curve_ is None
    assert "valid_loss" not in fitted.net_.history[-1]


def test_user_callbacks_are_called_every_epoch(X):
    counter, named = EpochCounter(), EpochCounter()
    est = fast(max_iter=4, tol=0, callbacks=[counter, ("mine", named)]).fit(X)
    assert counter.epochs_ == 4
    assert named.epochs_ == 4
    assert dict(est.net_.callbacks_)["mine"] is named


@pytest.mark.parametrize("early_stopping", [False, True])
def test_user_callbacks_see_the_epoch_that_stops_training(X, early_stopping):
    counter = EpochCounter()
    est = fast(
        **CONSTANT_RATE, max_iter=20, tol=0.5, n_iter_no_change=2,
        early_stopping=early_stopping, callbacks=[counter],
    ).fit(X)
    assert est.n_iter_ < 20
    assert counter.epochs_ == est.n_iter_


def test_device_cpu(X):
    for device in ("cpu", torch.device("cpu")):
        est = fast(device=device, max_iter=1).fit(X)
        assert torch.device(est.net_.device).type == "cpu"
        assert all(p.device.type == "cpu" for p in est.net_.module_.parameters())


@pytest.mark.skipif(torch.cuda.is_available(), reason="'auto' picks CUDA when it is available")
def test_device_auto_resolves_to_cpu_without_cuda(X):
    est = fast(device="auto", max_iter=1).fit(X)
    assert torch.device(est.net_.device).type == "cpu"
    assert est.get_params()["device"] == "auto"  # the parameter itself is kept


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_cuda_raises(X, device):
    with pytest.raises(ValueError, match="CUDA"):
        fast(device=device).fit(X)


@pytest.mark.parametrize("device", ["gpu", "cpu:x", "tpu0", ""])
def test_bad_device_string_raises(X, device):
    with pytest.raises(ValueError, match="device"):
        fast(device=device).fit(X)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
@pytest.mark.parametrize("device", ["mps", "meta", torch.device("meta"), "xpu"])
def test_a_device_that_cannot_train_here_raises_naming_it_and_what_is_available(X, device):
    name = str(torch.device(device))
    available = "'cpu'" + "".join(f", 'cuda:{i}'" for i in range(torch.cuda.device_count()))
    with pytest.raises(ValueError, match=rf"device='{name}' .*; available here: {available}\."):
        fast(device=device).fit(X)


def test_verbose_0_prints_nothing(X, capsys):
    # Not even when early stopping ends training.
    fast(verbose=0, max_iter=20, tol=0.5, n_iter_no_change=1).fit(X)
    fast(verbose=0, early_stopping=True, max_iter=20, tol=0.5, n_iter_no_change=1).fit(X)
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ""


def test_verbose_1_shows_a_progress_bar(X, capsys):
    fast(verbose=1, max_iter=3, tol=0).fit(X)
    out, err = capsys.readouterr()
    assert "3/3" in err  # tqdm writes to stderr
    assert "epoch" in err
    assert "train_loss" not in out  # no per-epoch table


def test_verbose_2_prints_a_row_per_epoch(X, capsys):
    fast(verbose=2, max_iter=3, tol=0).fit(X)
    out, _ = capsys.readouterr()
    assert "train_loss" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)  # drop colour codes
    rows = [line for line in plain.splitlines() if re.match(r"^\s*\d+\s+\d", line)]
    assert len(rows) == 3


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_2_prints_the_epoch_that_stops_training_before_saying_so(X, capsys,
                                                                         early_stopping):
    est = fast(verbose=2, **CONSTANT_RATE, max_iter=50, tol=0.5, n_iter_no_change=2,
               early_stopping=early_stopping).fit(X)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)
    lines = plain.splitlines()
    rows = [i for i, line in enumerate(lines) if re.match(r"^\s*\d+\s+\d", line)]
    assert len(rows) == est.n_iter_ < 50
    stop = next(i for i, line in enumerate(lines) if line.startswith("Stopping since"))
    assert rows[-1] < stop
    # The rows mark any new best; the rule asks for an improvement by more than tol.
    monitor = "valid_loss" if early_stopping else "train_loss"
    assert lines[stop] == (f"Stopping since {monitor} has not improved by more than tol=0.5 "
                           "(relative) in the last 2 epochs.")


@pytest.mark.parametrize("early_stopping", [False, True])
def test_verbose_1_says_why_training_stopped_early(X, capsys, early_stopping):
    est = fast(verbose=1, **CONSTANT_RATE, max_iter=50, tol=0.5, n_iter_no_change=2,
               early_stopping=early_stopping).fit(X)
    out, err = capsys.readouterr()
    assert f"{est.n_iter_}/50" in err  # the bar, on stderr, ends where training did
    monitor = "valid_loss" if early_stopping else "train_loss"
    assert out == (f"Stopped early after {est.n_iter_} of 50 epochs: {monitor} has not "
                   "improved by more than tol=0.5 (relative) in the last 2 epochs.\n")


def test_verbose_1_says_nothing_more_when_max_iter_ends_training(X, capsys):
    fast(verbose=1, max_iter=3, tol=0).fit(X)
    assert capsys.readouterr().out == ""


def test_without_warm_start_fit_starts_over(X):
    est = fast(max_iter=3, tol=0).fit(X)
    est.fit(X)
    assert est.n_iter_ == 3
    assert_array_equal(est.transform(X), fast(max_iter=3, tol=0).fit(X).transform(X))


def test_partial_fit_after_fit_continues(X):
    est = fast(max_iter=3, tol=0).fit(X)
    est.partial_fit(X)
    assert est.n_iter_ == 4


# --------------------------------------------------------------------------
# The linear contract
# --------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3])
def test_linear_configuration_is_one_linear_layer_each_way(X, k):
    est = fast(n_components=k, **LINEAR).fit(X)
    module = est.net_.module_
    assert [type(m) for m in module.encoder] == [nn.Linear]
    assert [type(m) for m in module.decoder] == [nn.Linear]
    enc, dec = module.encoder[0], module.decoder[0]
    assert (enc.in_features, enc.out_features) == (N_FEATURES, k)
    assert (dec.in_features, dec.out_features) == (k, N_FEATURES)
    assert enc.bias is not None and dec.bias is not None
    assert type(module.output) is nn.Identity
    # transform and inverse_transform are these affine maps.
    W, b = enc.weight.detach().double().numpy(), enc.bias.detach().double().numpy()
    V, c = dec.weight.detach().double().numpy(), dec.bias.detach().double().numpy()
    Z = est.transform(X)
    assert_allclose(Z, X @ W.T + b, rtol=1e-10, atol=1e-12)
    assert_allclose(est.inverse_transform(Z), Z @ V.T + c, rtol=1e-10, atol=1e-12)


def test_linear_configuration_with_tied_weights(X):
    est = fast(n_components=3, tied_weights=True, **LINEAR).fit(X)
    module = est.net_.module_
    assert [type(m) for m in module.decoder] == [TiedLinear]
    enc, dec = module.encoder[0], module.decoder[0]
    assert dec.source is enc
    assert dec.bias.shape == (N_FEATURES,)
    assert n_params(module) == N_FEATURES * 3 + 3 + N_FEATURES
    W, c = enc.weight.detach().double().numpy(), dec.bias.detach().double().numpy()
    Z = est.transform(X)
    assert_allclose(est.inverse_transform(Z), Z @ W + c, rtol=1e-10, atol=1e-12)


def test_init_pca_starts_at_the_pca_solution(X):
    recorder = RecordInitialWeights()
    est = fast(n_components=2, init="pca", callbacks=[recorder], max_iter=1, **LINEAR).fit(X)
    pca = PCA(n_components=2, svd_solver="full").fit(X)
    start = recorder.initial_
    assert_allclose(start["encoder.0.weight"].numpy(), pca.components_, rtol=1e-5, atol=1e-6)
    assert_allclose(start["decoder.0.weight"].numpy(), pca.components_.T, rtol=1e-5, atol=1e-6)
    assert_allclose(start["decoder.0.bias"].numpy(), pca.mean_, rtol=1e-5, atol=1e-6)
    assert_allclose(
        start["encoder.0.bias"].numpy(), -pca.components_ @ pca.mean_, rtol=1e-5, atol=1e-6
    )
    # PCA's solution is the optimum: the fit keeps it unless training improved
    # on it (to float32 rounding of the components: a relative 1e-5), on
    # every CPU (once 1.11x PCA's error on AVX-512 machines without this rule).
    pca_mse = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    ae_mse = np.mean((est.inverse_transform(est.transform(X)) - X) ** 2)
    assert ae_mse <= pca_mse * (1 + 1e-5)


def test_init_pca_with_tied_weights(X):
    recorder = RecordInitialWeights()
    fast(n_components=2, init="pca", tied_weights=True, callbacks=[recorder], max_iter=1,
         **LINEAR).fit(X)
    pca = PCA(n_components=2, svd_solver="full").fit(X)
    assert_allclose(recorder.initial_["encoder.0.weight"].numpy(), pca.components_, rtol=1e-5,
                    atol=1e-6)
    assert_allclose(recorder.initial_["decoder.0.bias"].numpy(), pca.mean_, rtol=1e-5,
                    atol=1e-6)


def test_init_pca_on_numbers_with_gaps_starts_at_the_pca_of_what_the_model_reads(X):
    # Numbers with gaps make a table: the encoder reads the standardised
    # columns (gaps at the mean, 0) and a missing-value indicator per column
    # with gaps. init='pca' starts at the PCA of the standardised, filled
    # columns; the indicators start with no weight.
    X = X.copy()
    X[[0, 5], 0] = X[3, 2] = np.nan
    recorder = RecordInitialWeights()
    est = fast(n_components=2, init="pca", callbacks=[recorder], tol=0, **LINEAR).fit(X)
    filled = np.nan_to_num((X - np.nanmean(X, axis=0)) / np.nanstd(X, axis=0))
    pca = PCA(n_components=2, svd_solver="full").fit(filled)
    start = recorder.initial_
    n_features = X.shape[1]
    assert start["encoder.0.weight"].shape == (2, n_features + 2)  # two indicators
    assert_allclose(start["encoder.0.weight"][:, :n_features].numpy(), pca.components_,
                    rtol=1e-5, atol=1e-6)
    assert_array_equal(start["encoder.0.weight"][:, n_features:].numpy(), 0)
    assert_allclose(start["encoder.0.bias"].numpy(), -pca.components_ @ pca.mean_, atol=1e-6)
    assert_allclose(start["decoder.0.weight"].numpy(), pca.components_.T, rtol=1e-5, atol=1e-6)
    assert_allclose(start["decoder.0.bias"].numpy(), pca.mean_, atol=1e-6)
    assert est.n_iter_ == FAST["max_iter"]
    assert np.isfinite(est.transform(X)).all()


@pytest.mark.parametrize("n_components", [2, N_FEATURES])
def test_init_pca_on_sparse_input(X, n_components):
    # ARPACK (sparse PCA's solver) finds fewer components than min(X.shape);
    # n_components == n_features still starts at the full PCA.
    X_sparse = sp.csr_matrix(np.where(X > 0.5, X, 0.0))
    recorder = RecordInitialWeights()
    est = fast(n_components=n_components, init="pca", callbacks=[recorder], tol=0, **LINEAR)
    est.fit(X_sparse)
    pca = PCA(n_components=n_components, svd_solver="full").fit(X_sparse.toarray())
    start = recorder.initial_
    assert_allclose(start["encoder.0.weight"].numpy(), pca.components_, rtol=1e-4, atol=1e-5)
    assert_allclose(start["decoder.0.bias"].numpy(), pca.mean_, rtol=1e-5, atol=1e-6)
    assert est.n_iter_ == FAST["max_iter"]


def test_init_random_differs_from_pca(X):
    recorder = RecordInitialWeights()
    fast(n_components=2, callbacks=[recorder], max_iter=1, **LINEAR).fit(X)
    pca = PCA(n_components=2, svd_solver="full").fit(X)
    assert not np.allclose(np.abs(recorder.initial_["encoder.0.weight"].numpy()),
                           np.abs(pca.components_), atol=1e-2)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden_layer_sizes": (8,)}, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (), "image_shape": (1, 2, 3)}, "image_shape"),
        ({"hidden_layer_sizes": (), "n_components": 7}, "n_components"),
    ],
)
def test_init_pca_needs_a_linear_autoencoder(X, params, match):
    with pytest.raises(ValueError, match=match):
        fast(init="pca", **params).fit(X)


# --------------------------------------------------------------------------
# Convolutional autoencoder (image_shape, conv_channels, kernel_size)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("channels, kernel_size", [((4,), 3), ((4, 8), 3), ((4,), 5)])
def test_image_shape_builds_a_convolutional_autoencoder(digits, channels, kernel_size):
    X = digits[0][:100]
    est = fast(
        image_shape=(1, 8, 8), conv_channels=channels, kernel_size=kernel_size, n_components=4
    ).fit(X)
    convs = [m for m in est.net_.module_.encoder if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == list(channels)
    assert all(c.kernel_size == (kernel_size, kernel_size) for c in convs)
    assert count(est.net_.module_.decoder, nn.ConvTranspose2d) == len(channels)
    Z = est.transform(X)
    assert Z.shape == (100, 4)
    assert est.inverse_transform(Z).shape == X.shape
    assert np.isfinite(est.score_samples(X)).all()


def test_dense_by_default(fitted):
    assert count(fitted.net_.module_, nn.Conv2d) == 0


@pytest.mark.parametrize(
    "params, match",
    [
        ({"image_shape": (1, 8)}, "image_shape"),
        ({"image_shape": (1, 8, 0)}, "image_shape"),
        ({"image_shape": (2, 8, 8)}, "features"),
        ({"image_shape": (1, 8, 8), "conv_channels": ()}, "conv_channels"),
        ({"image_shape": (1, 8, 8), "conv_channels": (4, 0)}, "conv_channels"),
    ],
)
def test_bad_image_parameters_raise(digits, params, match):
    X = digits[0][:20]
    X_before = X.copy()
    with pytest.raises(ValueError, match=match):
        fast(**params).fit(X)
    assert_array_equal(X, X_before)


# --------------------------------------------------------------------------
# Fitted attributes and the transformer API
# --------------------------------------------------------------------------


def test_fitted_attributes(X):
    est = fast(n_components=3, max_iter=4, tol=0)
    assert est.fit(X) is est
    assert isinstance(est.net_, NeuralNet)
    assert isinstance(est.net_.module_, nn.Module)
    assert est.n_features_in_ == N_FEATURES
    assert est.n_components_ == 3
    assert est.n_iter_ == 4
    assert len(est.loss_curve_) == est.n_iter_
    assert all(isinstance(v, float) and np.isfinite(v) for v in est.loss_curve_)
    assert est.validation_loss_curve_ is None
    assert not hasattr(est, "feature_names_in_")  # ndarray input has no names


def test_feature_names_in_from_dataframe(X):
    df = pd.DataFrame(X, columns=[f"col{i}" for i in range(N_FEATURES)])
    est = fast().fit(df)
    assert_array_equal(est.feature_names_in_, df.columns)
    with pytest.warns(UserWarning, match="fitted with feature names"):
        Z = est.transform(X)
    assert_array_equal(est.transform(df), Z)
    with pytest.raises(ValueError, match="feature names"):
        est.transform(df[df.columns[::-1]])


def test_fit_ignores_y(X):
    y = np.arange(len(X))
    assert_array_equal(fast().fit(X, y).transform(X), fast().fit(X).transform(X))


def test_float32_and_float64_agree(fitted, X):
    assert_allclose(fitted.transform(X.astype(np.float32)), fitted.transform(X), rtol=1e-5,
                    atol=1e-6)
    assert_allclose(fitted.score_samples(X.astype(np.float32)), fitted.score_samples(X),
                    rtol=1e-4, atol=1e-6)


def test_fit_on_float32_matches_fit_on_float64(X):
    # Training is float32 whatever the input dtype.
    a = fast().fit(X.astype(np.float32))
    b = fast().fit(X)
    assert_array_equal(a.loss_curve_, b.loss_curve_)


def test_integer_input_gives_float64(X):
    Xi = np.round(X * 10).astype(np.int64)
    est = fast().fit(Xi)
    Z = est.transform(Xi)
    assert Z.dtype == np.float64
    assert est.score_samples(Xi).dtype == np.float64
    assert_allclose(Z, est.transform(Xi.astype(np.float64)), rtol=1e-12)
    assert est.inverse_transform(np.round(Z).astype(int)).dtype == np.float64


def test_score_samples_ranks_outliers_lower(X):
    est = fast(max_iter=20, tol=0).fit(X)
    outliers = X[:5] + 5.0
    assert est.score_samples(outliers).max() < est.score_samples(X).min()


def test_grid_search_without_y_or_scorer(X):
    search = GridSearchCV(fast(), {"n_components": [2, 4]}, cv=2).fit(X)
    assert search.best_params_["n_components"] in (2, 4)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores < 0).all()  # minus a reconstruction error
    assert search.best_estimator_.n_components_ == search.best_params_["n_components"]
    assert search.transform(X).shape == (len(X), search.best_params_["n_components"])


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_pipeline_scaler_autoencoder_classifier(digits, scaler):
    X, y = digits
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    pipe = make_pipeline(
        scaler(),
        fast(n_components=8, hidden_layer_sizes=(32,), max_iter=5, batch_size=32),
        LogisticRegression(max_iter=500),
    ).fit(X_train, y_train)
    assert pipe.predict(X_test).shape == y_test.shape
    assert pipe.score(X_test, y_test) > 0.3  # 3x chance after 5 epochs
    assert pipe[1].n_features_in_ == 64


def test_pipeline_passes_feature_names(digits):
    X = pd.DataFrame(digits[0][:100], columns=[f"px{i}" for i in range(64)])
    pipe = Pipeline([("scale", MinMaxScaler()), ("ae", fast(n_components=3))]).fit(X)
    assert_array_equal(
        pipe.get_feature_names_out(), ["autoencodertransformer0", "autoencodertransformer1",
                                       "autoencodertransformer2"]
    )


# --------------------------------------------------------------------------
# Bad input: clear errors, and the caller's data is never touched
# --------------------------------------------------------------------------


def _with(X, i, j, value):
    X = np.array(X, dtype=object if X.dtype == object else np.float64)
    X[i, j] = value
    return X


# Missing values (NaN) are data, not errors: see test_missing.py.
BAD_X = [
    pytest.param(lambda X: _with(X, 3, 1, np.inf), ValueError, "infinity", id="inf"),
    pytest.param(lambda X: _with(X, 0, 0, -np.inf), ValueError, "infinity", id="-inf"),
    pytest.param(lambda X: _with(X.astype(object), 2, 1, "abc"), ValueError, "string",
                 id="strings"),
    pytest.param(lambda X: np.array(X[:, 0]), ValueError, "Expected 2D array", id="1d"),
    pytest.param(lambda X: np.array(X[0, 0]), ValueError, "2D array", id="scalar"),
    pytest.param(lambda X: np.empty((0, X.shape[1])), ValueError, "0 sample", id="no-rows"),
]
# Codes are dense: a sparse matrix of codes is refused (data may be sparse).
# (Sparse codes are decoded: see test_tabular.py.)
BAD_CODES = [*BAD_X,
             pytest.param(lambda X: _with(X, 3, 1, np.nan), ValueError, "NaN", id="nan")]


@pytest.mark.parametrize("make_bad, exc, match", BAD_X)
def test_fit_rejects_bad_X(X, make_bad, exc, match):
    bad = make_bad(X)
    est = fast()
    assert_raises_and_unchanged(est.fit, bad, exc, match)
    assert_raises_and_unchanged(est.partial_fit, bad, exc, match)


@pytest.mark.parametrize("make_bad, exc, match", BAD_X)
@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
def test_inference_rejects_bad_X(fitted, X, method, make_bad, exc, match):
    assert_raises_and_unchanged(getattr(fitted, method), make_bad(X), exc, match)


@pytest.mark.parametrize("make_bad, exc, match", BAD_CODES)
def test_inverse_transform_rejects_bad_codes(fitted, X, make_bad, exc, match):
    Z = fitted.transform(X)
    assert_raises_and_unchanged(fitted.inverse_transform, make_bad(Z), exc, match)


@pytest.mark.parametrize("method", ["transform", "score_samples", "score"])
@pytest.mark.parametrize("n_features", [N_FEATURES - 1, N_FEATURES + 2])
def test_wrong_number_of_features_at_inference(fitted, X, method, n_features):
    bad = np.random.RandomState(0).rand(5, n_features)
    assert_raises_and_unchanged(
        getattr(fitted, method), bad, ValueError,
        f"X has {n_features} features, but AutoencoderTransformer is expecting {N_FEATURES}",
    )


@pytest.mark.parametrize("method", ["transform", "inverse_transform", "score_samples", "score",
                                    "get_feature_names_out"])
def test_not_fitted_error(X, method):
    est = fast()
    args = () if method == "get_feature_names_out" else (X[:, :2] if method ==
                                                          "inverse_transform" else X,)
    with pytest.raises(NotFittedError):
        getattr(est, method)(*args)


# Fits that fail after the data were validated: each leaves no model behind.
FAILING_FITS = [
    pytest.param({"loss": "bce"}, 2.0, r"\[0, 1\]", id="bce-range"),
    pytest.param({"device": "gpu"}, 1.0, "device", id="bad-device"),
    pytest.param({"hidden_layer_sizes": (0,)}, 1.0, "hidden_layer_sizes", id="hidden-0"),
    pytest.param({"noise": "masking", "noise_level": 2.0}, 1.0, "noise_level", id="noise-level"),
]


@pytest.mark.parametrize("params, scale, match", FAILING_FITS)
def test_failed_fit_leaves_estimator_unfitted(X, params, scale, match):
    est = fast(**params)
    with pytest.raises(ValueError, match=match):
        est.fit(X * scale)
    for method in ("transform", "score_samples"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(X)


@pytest.mark.parametrize("params, scale, match", FAILING_FITS)
def test_failed_refit_leaves_no_stale_model(X, params, scale, match):
    est = fast().fit(X)
    est.set_params(**params)
    X4 = X[:, :4] * scale
    with pytest.raises(ValueError, match=match):
        est.fit(X4)
    # Neither the old model (6 features) nor a half-made new one (4 features).
    for data in (X, X4):
        with pytest.raises(NotFittedError):
            est.transform(data)


def test_hidden_layer_sizes_takes_an_int_as_mlp_regressor_does(X):
    est = fast(hidden_layer_sizes=8).fit(X)
    assert est.net_.module_.encoder[0].out_features == 8
    assert est.hidden_layer_sizes == 8  # stored verbatim


@pytest.mark.parametrize("hidden", [(8, 0), (0,), (8, -2), (2.5,), (True, 4)])
def test_hidden_layer_sizes_must_be_positive_integers(X, hidden):
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        fast(hidden_layer_sizes=hidden).fit(X)


@pytest.mark.parametrize("noise", ["masking", "salt_and_pepper"])
def test_fraction_noise_needs_level_at_most_one(X, noise):
    with pytest.raises(ValueError, match="noise_level"):
        fast(noise=noise, noise_level=1.5).fit(X)
    fast(noise=noise, noise_level=1.0, max_iter=1).fit(X)  # the bound itself is allowed


def test_gaussian_noise_level_is_in_data_units(X):
    est = fast(noise="gaussian", noise_level=5.0, max_iter=1).fit(X)
    assert est.net_.module_.corruption.level == 5.0


def test_lbfgs_refuses_weight_decay(X):
    with pytest.raises(ValueError, match="weight_decay"):
        fast(optimizer="lbfgs", weight_decay=0.1).fit(X)


def test_successful_calls_never_modify_the_input(X):
    for dtype in (np.float32, np.float64):
        Xd = np.array(X, dtype=dtype)
        before = Xd.copy()
        est = fast(noise="masking", noise_level=0.5).fit(Xd)
        est.partial_fit(Xd)
        Z = est.transform(Xd)
        Z_before = Z.copy()
        est.inverse_transform(Z)
        est.score_samples(Xd)
        assert_array_equal(Xd, before)
        assert_array_equal(Z, Z_before)


# --------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inference_in_batches_matches_one_batch(fitted, X, monkeypatch, dtype):
    Xd = X.astype(dtype)
    Z = fitted.transform(Xd)
    X_hat = fitted.inverse_transform(Z)
    scores = fitted.score_samples(Xd)
    set_skae_setting(monkeypatch, "INFERENCE_BATCH_SIZE", 7)  # 60 rows: 8 full batches + 4
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert_allclose(fitted.transform(Xd), Z, rtol=rtol, atol=rtol)
    assert_allclose(fitted.inverse_transform(Z), X_hat, rtol=rtol, atol=rtol)
    assert_allclose(fitted.score_samples(Xd), scores, rtol=rtol, atol=rtol)
    assert fitted.transform(Xd).dtype == dtype


def test_float64_result_of_a_row_does_not_depend_on_its_batch(fitted, X):
    # The same float64 computation for a row in any batch, up to rounding.
    # Not bit for bit on every CPU: MKL picks other GEMM kernels (another
    # summation order) for 1-3 row float64 products on some CPUs, e.g. 1 ulp
    # off on Sapphire Rapids (AVX-512 FP16) unless MKL_CBWR=COMPATIBLE. The
    # errors are on the scale of the layers' values, so they are counted in
    # ulps of the largest code: measured up to 4 ulps over all 1-8 row slices
    # and seeds 0-4 (AMD EPYC, AVX-512, under any MKL_CBWR or
    # ATEN_CPU_CAPABILITY), against 16 allowed; any real dependence on the
    # batch is far larger (one float32 rounding alone is some 1e8 ulps).
    Z = fitted.transform(X)
    assert_close_ulps(fitted.transform(X[7:9]), Z[7:9], n_ulps=16, scale=np.abs(Z).max())
    assert_close_ulps(fitted.transform(X[7:8]), Z[7:8], n_ulps=16, scale=np.abs(Z).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_only_input_works_without_warnings(X, dtype):
    Xr = np.array(X, dtype=dtype)
    Xr.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # A 3-epoch fit has not converged and says so; nothing else may warn.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        est = fast().fit(Xr)
        est.partial_fit(Xr)
        Z = est.transform(Xr)
        Z.setflags(write=False)
        X_hat = est.inverse_transform(Z)
        scores = est.score_samples(Xr)
    assert Z.dtype == X_hat.dtype == scores.dtype == dtype
    assert_array_equal(Z, est.transform(Xr.copy()))


def test_transform_of_fortran_ordered_and_strided_input(fitted, X):
    Z = fitted.transform(X)
    assert_array_equal(fitted.transform(np.asfortranarray(X)), Z)
    wide = np.repeat(X, 2, axis=1)[:, ::2]  # a non-contiguous view
    assert_array_equal(fitted.transform(wide), Z)


# --------------------------------------------------------------------------
# Quality on sklearn's digits (slow: full training)
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_split():
    X = load_digits().data / 16.0
    return train_test_split(X, test_size=0.25, random_state=0)


def _mse(est, X):
    return float(np.mean((est.inverse_transform(est.transform(X)) - X) ** 2))


def _pca_mse(X_train, X_test, k):
    return _mse(PCA(n_components=k).fit(X_train), X_test)


@pytest.mark.slow
@pytest.mark.parametrize("k, max_ratio", [(2, 0.8), (8, 1.0)])
def test_default_autoencoder_beats_pca_on_digits(digits_split, k, max_ratio):
    X_train, X_test = digits_split
    ae = AutoencoderTransformer(n_components=k, random_state=0).fit(X_train)
    ratio = _mse(ae, X_test) / _pca_mse(X_train, X_test, k)
    print(f"default AE k={k}: held-out MSE / PCA = {ratio:.3f} after {ae.n_iter_} epochs")
    assert ratio < max_ratio


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 8, 16])
@pytest.mark.parametrize("optimizer, tolerance", [("adam", 0.05), ("lbfgs", 0.01)])
def test_linear_autoencoder_matches_pca_on_digits(digits_split, k, optimizer, tolerance):
    X_train, X_test = digits_split
    ae = AutoencoderTransformer(
        n_components=k, optimizer=optimizer, random_state=0, **LINEAR
    ).fit(X_train)
    ratio = _mse(ae, X_test) / _pca_mse(X_train, X_test, k)
    print(f"linear AE ({optimizer}) k={k}: held-out MSE / PCA = {ratio:.4f} "
          f"after {ae.n_iter_} epochs")
    assert ratio < 1 + tolerance


@pytest.mark.slow
def test_autoencoder_features_classify_digits():
    data = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data / 16.0, data.target, test_size=0.25, random_state=0
    )
    pipe = Pipeline([
        ("ae", AutoencoderTransformer(n_components=16, random_state=0)),
        ("clf", LogisticRegression(max_iter=2000)),
    ]).fit(X_train, y_train)
    accuracy = pipe.score(X_test, y_test)
    print(f"AE(16) + LogisticRegression: held-out accuracy {accuracy:.4f}")
    assert accuracy >= 0.90


@pytest.mark.slow
def test_denoising_autoencoder_reconstructs_clean_rows_from_masked_input():
    # Rank-3 data in 20 dimensions: masked entries can be recovered from the others.
    X = make_data(n_samples=600, n_features=20, rank=3, noise=0.01, seed=1)
    X_train, X_test = X[:500], X[500:]
    mask = np.random.RandomState(2).rand(*X_test.shape) < 0.3
    X_noisy = np.where(mask, 0.0, X_test)
    errors = {}
    for noise in (None, "masking"):
        ae = AutoencoderTransformer(
            n_components=3, hidden_layer_sizes=(32,), noise=noise, noise_level=0.3,
            max_iter=100, random_state=0,
        ).fit(X_train)
        errors[noise] = float(np.mean((ae.inverse_transform(ae.transform(X_noisy)) - X_test) ** 2))
    print(f"denoising: MSE from masked input, plain {errors[None]:.4f}, "
          f"denoising {errors['masking']:.4f}")
    assert errors["masking"] < 0.5 * errors[None]


# ------------------------------------------------ continued fits and changed settings


def test_warm_start_uses_the_current_learning_rate(X):
    est = fast(warm_start=True, **CONSTANT_RATE).fit(X)
    est.set_params(learning_rate_init=0.1).fit(X)
    assert all(g["lr"] == 0.1 for g in est.net_.optimizer_.param_groups)


def test_partial_fit_uses_the_current_loss_settings(X):
    est = fast(sparsity=0.0).fit(X)
    est.set_params(sparsity=0.5).partial_fit(X)
    assert est.net_.criterion_.sparsity == 0.5


@pytest.mark.parametrize("params", [{"n_components": 3}, {"hidden_layer_sizes": (5,)},
                                    {"activation": "tanh"}])
def test_continuing_with_a_changed_network_is_refused(X, params):
    est = fast(warm_start=True).fit(X)
    est.set_params(**params)
    name = next(iter(params))
    with pytest.raises(ValueError, match=rf"{name} .*refit with warm_start=False"):
        est.fit(X)
    with pytest.raises(ValueError, match=name):
        est.partial_fit(X)


def test_the_default_fit_is_one_cycle_peaking_at_1e_2_over_max_iter_epochs(X):
    # Chosen for time to quality (benchmarks/research_fit_defaults.py): every
    # epoch runs, with no rows held out. X's 60 rows make one step per epoch,
    # so 'auto' gives the cycle its most epochs, 200.
    est = AutoencoderTransformer(2, random_state=0).fit(X)
    assert est.n_iter_ == est.max_iter_ == 200 and not est.do_early_stopping_
    lrs = np.array(est.net_.history[:, "event_lr"])
    assert 58 <= int(np.argmax(lrs)) <= 60 and 0.99e-2 < lrs.max() <= 1e-2
    assert lrs[0] < 1e-3 and lrs[-1] < 1e-6  # from 1e-2 / 25, to nearly 0
    # The VAE keeps a constant rate (its defaults were not part of that study).
    assert VAETransformer().get_params()["learning_rate"] == "constant"


@pytest.mark.parametrize("batch_size, learning_rate, expected", [
    (1, "one_cycle", 60),  # 60 steps an epoch: 60 epochs make 3,600 steps
    (2, "one_cycle", 84),  # 30 steps an epoch: 84 epochs make the 2,500 steps
    (16, "one_cycle", 200),  # 4 steps an epoch: at most 200 epochs
    (2, "constant", 200),  # without a cycle, 200 (the tol rule ends fits earlier)
])
def test_max_iter_auto_gives_a_cycle_60_epochs_and_at_least_2500_steps(X, batch_size,
                                                                        learning_rate, expected):
    est = AutoencoderTransformer(2, batch_size=batch_size, learning_rate=learning_rate)
    assert est.partial_fit(X).max_iter_ == expected  # resolved for the data, as fit does
    assert est.set_params(max_iter=7).partial_fit(X).max_iter_ == 7
