"""Spec for what AutoencoderTransformer and VAETransformer share.

Every test here runs for both estimators (the ``Est`` fixture): their
parameters and the signature they come from, what each shared parameter
does to the network and the training, continued fits, dtypes, feature
names, pandas output, and the errors shared parameters raise. What only one
estimator has is in test_autoencoder.py (tied weights, sparsity, input
noise, PCA initialisation, ...) or test_vae.py (beta, the KL warm-up, the
ELBO and IWAE bound, sampling). Ctrl-C, divergence, clipping and
checkpoints are in test_reliability.py; pickle, joblib and file round
trips in test_persistence.py.
"""

import copy
import inspect
import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from _helpers import (
    FAST,
    N_FEATURES,
    N_SAMPLES,
    assert_close_ulps,
    assert_raises_and_unchanged,
    count,
    dense_shapes,
    states_equal,
    weights,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import make_scorer, mean_squared_error
from sklearn.utils._param_validation import InvalidParameterError
from skorch import NeuralNet
from skorch.callbacks import Callback, EpochScoring, LRScheduler
from torch import nn

from skae import AutoencoderTransformer, VAETransformer
from skae._net import AutoencoderNet
from skae.modules import ACTIVATIONS

AE, VAE = AutoencoderTransformer, VAETransformer

# Outputs of the code layer per code dimension: the VAE's encoder gives a
# mean and a log-variance for each.
CODE_OUTPUTS = {AE: 1, VAE: 2}


@pytest.fixture(scope="module", params=[AE, VAE], ids=lambda c: c.__name__)
def Est(request):
    return request.param


def fast(Est, **params):
    """A small, quick, seeded estimator; ``params`` override ``FAST``."""
    return Est(**{**FAST, **params})


@pytest.fixture(scope="module")
def fitted(Est, X):
    """A small fitted model shared by the tests that only read it."""
    return fast(Est).fit(X)


def outputs(est, X):
    """Everything a fitted estimator computes from X (and, for a VAE, draws)."""
    Z = est.transform(X)
    out = [Z, est.inverse_transform(Z), est.score_samples(X)]
    if hasattr(est, "sample"):
        out += [est.sample(4, random_state=0), est.log_likelihood(X, 8)]
    return out


# --------------------------------------------------------------------------
# Construction and parameters
# --------------------------------------------------------------------------


def test_signature_is_the_parameter_constraints_and_defaults_satisfy_them(Est):
    signature = inspect.signature(Est.__init__).parameters
    names = [name for name in signature if name != "self"]
    assert sorted(names) == sorted(Est._parameter_constraints)
    assert sorted(Est().get_params()) == sorted(names)
    # sklearn's own check of _parameter_constraints (the contract under test):
    Est()._validate_params()  # raises InvalidParameterError on a bad default
    clone(Est())._validate_params()


def test_only_n_components_is_positional(Est):
    assert Est(5).n_components == 5
    with pytest.raises(TypeError):
        Est(5, (8,))


# Parameters only one of the estimators has, or values only one accepts.
OWN_PARAMS = {
    AE: {"noise": "masking", "noise_level": 0.3},
    VAE: {"beta": -2, "kl_warmup": "x", "loss": "huber"},  # invalid: rejected by fit
}


def test_init_stores_parameters_verbatim(Est):
    # No validation or conversion in __init__: objects are stored as given.
    params = {
        "n_components": 7,
        "hidden_layer_sizes": [16, 4],
        "activation": "tanh",
        "callbacks": [Callback()],
        "random_state": np.random.RandomState(3),
        "device": torch.device("cpu"),
        "optimizer": torch.optim.RMSprop,
        "conv_channels": [4],
        **OWN_PARAMS[Est],
    }
    got = Est(**params).get_params()
    for name, value in params.items():
        assert got[name] is value, name
    # Even invalid values are stored; they are rejected by fit.
    assert Est(n_components=-3).n_components == -3


def test_get_params_set_params_clone_round_trip(Est):
    est = Est()
    assert est.set_params(n_components=4, hidden_layer_sizes=(8,), loss="mae") is est
    params = est.get_params()
    assert params["n_components"] == 4
    assert params["hidden_layer_sizes"] == (8,)
    assert params["loss"] == "mae"

    twin = clone(est)
    assert twin is not est
    assert twin.get_params() == params
    assert Est(**params).get_params() == params


def test_clone_of_fitted_estimator_is_unfitted(Est, fitted, X):
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    assert not hasattr(twin, "net_")
    for name in ("transform", "score_samples", "log_likelihood"):
        if hasattr(twin, name):
            with pytest.raises(NotFittedError):
                getattr(twin, name)(X)
    if hasattr(twin, "sample"):
        with pytest.raises(NotFittedError):
            twin.sample(2)


# Invalid values of the parameters both estimators have.
INVALID_PARAMS = [
    ("n_components", 0),
    ("n_components", 2.5),
    ("hidden_layer_sizes", "8"),
    ("hidden_layer_sizes", 0),
    ("activation", "swish"),
    ("output_activation", "softmax"),
    ("loss", "l2"),
    ("batch_norm", "yes"),
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("kernel_size", 0),
    ("optimizer", "rmsprop"),
    ("learning_rate_init", 0.0),
    ("learning_rate_init", 0),
    ("weight_decay", -1.0),
    ("max_grad_norm", 0.0),
    ("batch_size", 0),
    ("max_iter", 0),
    ("early_stopping", "no"),
    ("validation_fraction", 0.0),
    ("validation_fraction", 1.0),
    ("n_iter_no_change", 0),
    ("tol", -1e-4),
    ("callbacks", "print"),
    ("device", 3),
    ("verbose", -1),
    ("warm_start", "no"),
]
# And of those only one has (or values only one rejects).
OWN_INVALID_PARAMS = {
    AE: [
        ("tied_weights", "yes"),
        ("sparsity", -0.1),
        ("noise", "pink"),
        ("noise_level", -0.1),
        ("init", "zeros"),
    ],
    VAE: [
        ("loss", "huber"),
        ("loss", "cross_entropy"),
        ("beta", -0.1),
        ("beta", "high"),
        ("kl_warmup", -1),
        ("kl_warmup", 1.5),
    ],
}
INVALID_CASES = [
    pytest.param(Est, name, value, id=f"{Est.__name__}-{name}={value!r}")
    for Est in (AE, VAE)
    for name, value in INVALID_PARAMS + OWN_INVALID_PARAMS[Est]
]


@pytest.mark.parametrize("Est_, name, value", INVALID_CASES)
def test_invalid_parameters_raise_at_fit(X, Est_, name, value):
    est = fast(Est_, **{name: value})  # construction never raises
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        est.fit(X)
    with pytest.raises(ValueError, match=name):  # InvalidParameterError is a ValueError
        est.partial_fit(X)
    assert not hasattr(est, "net_")


# --------------------------------------------------------------------------
# Each shared parameter has an effect
# --------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 3, 5])
def test_n_components_sets_code_width_and_feature_names(Est, X, k):
    est = fast(Est, n_components=k).fit(X)
    Z = est.transform(X)
    assert Z.shape == (N_SAMPLES, k)
    assert est.n_components_ == k
    assert dense_shapes(est.net_.module_.encoder)[-1][1] == CODE_OUTPUTS[Est] * k
    assert dense_shapes(est.net_.module_.decoder)[0][0] == k
    prefix = Est.__name__.lower()
    assert_array_equal(est.get_feature_names_out(), [f"{prefix}{i}" for i in range(k)])
    assert est.inverse_transform(Z).shape == X.shape


@pytest.mark.parametrize(
    "hidden", [(), (8,), (8, 4), [5, 3, 7]], ids=["none", "one", "two", "three-list"]
)
def test_hidden_layer_sizes_sets_layers(Est, X, hidden):
    est = fast(Est, hidden_layer_sizes=hidden, n_components=2).fit(X)
    module = est.net_.module_
    sizes = [N_FEATURES, *hidden]
    hidden_pairs = list(itertools.pairwise(sizes))
    assert dense_shapes(module.encoder) == [*hidden_pairs, (sizes[-1], 2 * CODE_OUTPUTS[Est])]
    # The decoder mirrors the encoder.
    assert dense_shapes(module.decoder) == [(2, sizes[-1]),
                                            *[(b, a) for a, b in hidden_pairs[::-1]]]


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activation_builds_and_trains(Est, X, activation):
    est = fast(Est, activation=activation, hidden_layer_sizes=(8, 4), max_iter=5, tol=0).fit(X)
    module = est.net_.module_
    kind = ACTIVATIONS[activation]
    # One activation after each hidden layer, in the encoder and the decoder.
    assert sum(type(m) is kind for m in module.encoder) == 2
    assert sum(type(m) is kind for m in module.decoder) == 2
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert np.isfinite(est.transform(X)).all()


@pytest.mark.parametrize(
    "output_activation, loss, kind",
    [
        ("auto", "mse", nn.Identity),
        ("auto", "mae", nn.Identity),
        ("auto", "bce", nn.Sigmoid),
        ("identity", "mse", nn.Identity),
        ("sigmoid", "mse", nn.Sigmoid),
        ("sigmoid", "bce", nn.Sigmoid),
        ("tanh", "mse", nn.Tanh),
    ],
)
def test_output_activation_is_applied_by_decoder(Est, X, output_activation, loss, kind):
    est = fast(Est, output_activation=output_activation, loss=loss).fit(X)
    assert type(est.net_.module_.output) is kind
    # Codes far outside the training range show the output's range.
    X_hat = est.inverse_transform(50 * np.random.RandomState(0).randn(20, est.n_components_))
    if kind is nn.Identity:  # unbounded
        assert np.abs(X_hat).max() > 1
    else:
        assert X_hat.min() >= (0 if kind is nn.Sigmoid else -1) and X_hat.max() <= 1


@pytest.mark.parametrize("output_activation", ["identity", "tanh"])
def test_bce_needs_a_sigmoid_output(Est, X, output_activation):
    with pytest.raises(ValueError, match="sigmoid"):
        fast(Est, loss="bce", output_activation=output_activation).fit(X)


@pytest.mark.parametrize("shift", [-0.5, 0.5])
def test_bce_needs_data_in_unit_interval(Est, X, shift):
    assert_raises_and_unchanged(fast(Est, loss="bce").fit, X + shift, ValueError,
                                r"loss='bce' needs data in \[0, 1\]")


@pytest.mark.parametrize("hidden", [(8,), (8, 4)])
def test_batch_norm_adds_batchnorm_after_each_hidden_layer(Est, X, hidden):
    est = fast(Est, batch_norm=True, hidden_layer_sizes=hidden).fit(X)
    module = est.net_.module_
    assert count(module.encoder, nn.BatchNorm1d) == len(hidden)
    assert count(module.decoder, nn.BatchNorm1d) == len(hidden)
    assert count(fast(Est, hidden_layer_sizes=hidden).fit(X).net_.module_, nn.BatchNorm1d) == 0
    # Inference uses the running statistics: a row's result does not depend on its
    # batch, up to float64 rounding, counted in ulps of the largest value (a code
    # can cancel to 5e-5 of the largest, where rtol=1e-12 is below one ulp of the
    # terms). Measured, seeds 0-5, 1-5 row slices: up to 2.75 ulps.
    Z, scores = est.transform(X), est.score_samples(X)
    assert_close_ulps(est.transform(X[:5]), Z[:5], n_ulps=16, scale=np.abs(Z).max())
    assert_close_ulps(est.score_samples(X[:5]), scores[:5], n_ulps=16,
                      scale=np.abs(scores).max())


@pytest.mark.parametrize("dropout", [0.2, 0.5])
def test_dropout_adds_dropout_and_inference_is_deterministic(Est, X, dropout):
    est = fast(Est, dropout=dropout, hidden_layer_sizes=(8, 4)).fit(X)
    module = est.net_.module_
    drops = [m for m in module.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 4
    assert all(m.p == dropout for m in drops)
    assert not module.training  # left in eval mode after fit
    assert_array_equal(est.transform(X), est.transform(X))
    assert_array_equal(est.score_samples(X), est.score_samples(X))
    if hasattr(est, "log_likelihood"):
        assert_array_equal(est.log_likelihood(X, 4), est.log_likelihood(X, 4))
    assert count(fast(Est, hidden_layer_sizes=(8, 4)).fit(X).net_.module_, nn.Dropout) == 0


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", torch.optim.RMSprop])
def test_learning_rate_init_sets_optimizer_lr(Est, X, optimizer):
    est = fast(Est, optimizer=optimizer, learning_rate="constant", max_iter=1).fit(X)
    assert est.net_.optimizer_.param_groups[0]["lr"] == Est().learning_rate_init
    est = fast(Est, optimizer=optimizer, learning_rate="constant", learning_rate_init=0.0123,
               max_iter=1).fit(X)
    assert est.net_.optimizer_.param_groups[0]["lr"] == 0.0123


@pytest.mark.parametrize(
    "batch_size, n_batches",
    [
        (16, 4),  # 16 + 16 + 16 + 12
        (7, 9),  # 8 x 7 + 4
        (30, 2),
        (59, 1),  # 59 + a last batch of 1 row, dropped (batch norm cannot train on it)
        (60, 1),
        (500, 1),  # capped at n_samples
    ],
)
def test_batch_size_sets_steps_per_epoch(Est, X, batch_size, n_batches):
    est = fast(Est, batch_size=batch_size, max_iter=2, tol=0).fit(X)
    for row in est.net_.history:
        assert len(row["batches"]) == n_batches
        assert max(b["train_batch_size"] for b in row["batches"]) == min(batch_size, len(X))
    assert [row["train_batch_count"] for row in est.net_.history] == [n_batches] * 2


# The training loop reads the batches' losses off the device once per epoch
# (AutoencoderNet.run_single_epoch); what it records, and the callbacks it
# calls, are what skorch's own loop (NeuralNet.run_single_epoch) gives.
LOOP_CASES = {
    "plain": {},
    "early_stopping": {"early_stopping": True},
    "lbfgs": {"optimizer": "lbfgs"},  # its closure runs several times a step
    "targets": {"target_weight": 0.5},
}


def without_durations(history):
    return [{k: v for k, v in row.items() if k != "dur"} for row in history]


def fit_with_skorchs_loop(est, monkeypatch, *args):
    with monkeypatch.context() as m:
        m.setattr(AutoencoderNet, "run_single_epoch", NeuralNet.run_single_epoch)
        return est.fit(*args)


@pytest.mark.parametrize("case", LOOP_CASES)
def test_the_history_is_the_one_skorchs_loop_writes(Est, X, case, monkeypatch):
    args = (X, X[:, :1]) if "target_weight" in LOOP_CASES[case] else (X,)
    est = fast(Est, tol=0, **LOOP_CASES[case]).fit(*args)
    reference = fit_with_skorchs_loop(fast(Est, tol=0, **LOOP_CASES[case]), monkeypatch, *args)
    assert without_durations(est.net_.history) == without_durations(reference.net_.history)
    assert est.loss_curve_ == reference.loss_curve_
    batch = est.net_.history[-1, "batches", 0]
    assert {"train_loss", "train_batch_size"} <= set(batch)
    assert all(type(v) in (float, int) for row in est.net_.history for b in row["batches"]
               for v in b.values())


class RecordBatchCalls(Callback):
    """Record each per-batch call: its method, its arguments, the batch's loss read in it."""

    def on_train_begin(self, net, **kwargs):
        self.calls_ = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self.calls_.append(("begin", training, sorted(kwargs), len(batch[0])))

    def on_grad_computed(self, net, named_parameters, batch=None, training=False, **kwargs):
        self.calls_.append(("grad", training, sorted(kwargs), len(list(named_parameters))))

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        assert isinstance(kwargs["loss"], torch.Tensor) and kwargs["y_pred"] is not None
        # The batch's loss in the history (a tensor until the epoch ends) is the step's.
        key = "train_loss" if training else "valid_loss"
        same = float(net.history[-1, "batches", -1, key]) == float(kwargs["loss"].detach())
        self.calls_.append(("end", training, sorted(kwargs), same))


@pytest.mark.parametrize("early_stopping", [False, True])
def test_batch_callbacks_are_called_as_skorchs_loop_calls_them(Est, X, early_stopping,
                                                               monkeypatch):
    ours, skorchs = RecordBatchCalls(), RecordBatchCalls()
    fast(Est, max_iter=2, tol=0, early_stopping=early_stopping, callbacks=[ours]).fit(X)
    fit_with_skorchs_loop(fast(Est, max_iter=2, tol=0, early_stopping=early_stopping,
                               callbacks=[skorchs]), monkeypatch, X)
    assert ours.calls_ == skorchs.calls_
    kinds = [(kind, training) for kind, training, *_ in ours.calls_]
    # Each epoch: 4 training batches (60 rows, or 54 after the hold-out, in 16s).
    assert kinds == 2 * ([("begin", True), ("grad", True), ("end", True)] * 4
                         + [("begin", False), ("end", False)] * early_stopping)
    assert all(call[-1] for call in ours.calls_ if call[0] == "end")


@pytest.mark.parametrize("max_iter", [1, 4])
def test_max_iter_is_the_number_of_epochs_when_tol_is_zero(Est, X, max_iter):
    est = fast(Est, max_iter=max_iter, tol=0).fit(X)
    assert est.n_iter_ == max_iter
    assert len(est.loss_curve_) == max_iter
    assert len(est.net_.history) == max_iter


EXTRAS = {
    "plain": {},
    "noise": {"noise": "gaussian"},  # AutoencoderTransformer only
    "dropout": {"dropout": 0.3},
    "early_stopping": {"early_stopping": True},
    "batch_norm": {"batch_norm": True},
}
RANDOM_STATE_CASES = [
    pytest.param(Est_, extra, id=f"{Est_.__name__}-{name}")
    for Est_ in (AE, VAE)
    for name, extra in EXTRAS.items()
    if Est_ is AE or name != "noise"
]


@pytest.mark.parametrize("Est_, extra", RANDOM_STATE_CASES)
def test_random_state_makes_fits_reproducible(X, Est_, extra):
    # The seed fixes every draw of a fit: the weights, the shuffling, the noise,
    # dropout, the hold-out, and the VAE's codes.
    a, b, c = (fast(Est_, random_state=seed, **extra).fit(X) for seed in (0, 0, 1))
    assert_array_equal(a.loss_curve_, b.loss_curve_)
    assert_array_equal(a.transform(X), b.transform(X))
    assert not np.allclose(a.transform(X), c.transform(X))


def test_random_state_accepts_a_random_state_instance(Est, X):
    a = fast(Est, random_state=np.random.RandomState(5)).fit(X).transform(X)
    b = fast(Est, random_state=np.random.RandomState(5)).fit(X).transform(X)
    assert_array_equal(a, b)


# --------------------------------------------------------------------------
# Continued fits
# --------------------------------------------------------------------------


def test_warm_start_continues_training(Est, X):
    est = fast(Est, warm_start=True, max_iter=3, tol=0).fit(X)
    first_curve = list(est.loss_curve_)
    before = weights(est)
    net = est.net_
    est.fit(X)
    assert est.net_ is net
    assert est.n_iter_ == 6
    assert est.loss_curve_[:3] == first_curve  # history kept
    assert not states_equal(weights(est), before)  # weights moved on from where they were
    # It continued: the new epochs start below where the first fit began.
    assert est.loss_curve_[3] < first_curve[0]
    assert est.loss_curve_[-1] < first_curve[-1]


def test_partial_fit_trains_one_epoch_per_call(Est, X):
    est = fast(Est)
    assert est.partial_fit(X) is est
    assert est.n_iter_ == 1
    assert est.n_features_in_ == N_FEATURES
    net, first = est.net_, list(est.loss_curve_)
    before = weights(est)
    est.partial_fit(X)
    est.partial_fit(X[:30])  # any chunk of rows
    assert est.net_ is net  # not re-initialised
    assert est.n_iter_ == 3
    assert est.loss_curve_[:1] == first
    assert not states_equal(weights(est), before)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :4])


# --------------------------------------------------------------------------
# The transformer API
# --------------------------------------------------------------------------


def test_fit_transform_equals_fit_then_transform(Est, X):
    assert_array_equal(fast(Est).fit_transform(X), fast(Est).fit(X).transform(X))


def test_score_is_mean_of_score_samples(fitted, X):
    assert fitted.score(X) == pytest.approx(fitted.score_samples(X).mean(), rel=1e-12)
    assert fitted.score(X, y=np.zeros(len(X))) == fitted.score(X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtype_follows_input(fitted, X, dtype):
    Xd = X.astype(dtype)
    Z = fitted.transform(Xd)
    assert Z.dtype == dtype
    assert fitted.inverse_transform(Z).dtype == dtype
    assert fitted.score_samples(Xd).dtype == dtype
    if hasattr(fitted, "log_likelihood"):
        assert fitted.log_likelihood(Xd, 4).dtype == dtype
    assert isinstance(fitted.score(Xd), float)


def float64_codes(est, X):
    """What float64 ``transform`` promises: the current weights, cast to float64."""
    module = copy.deepcopy(est.net_.module_).double().eval()
    with torch.no_grad():
        return module.encode(torch.from_numpy(np.array(X, dtype=np.float64))).numpy()


def shift_a_weight(est, X):
    with torch.no_grad():
        next(est.net_.module_.encoder.parameters()).add_(0.5)


def load_other_weights(est, X):
    other = fast(type(est), random_state=1).fit(X)
    est.net_.module_.load_state_dict(other.net_.module_.state_dict())


# How the weights of a fitted model can change after a float64 call.
WEIGHT_CHANGES = {
    "partial_fit": lambda est, X: est.partial_fit(X),
    "warm_start": lambda est, X: est.set_params(warm_start=True).fit(X),
    "refit": lambda est, X: est.set_params(hidden_layer_sizes=(5,)).fit(X),
    "in_place_edit": shift_a_weight,
    "load_state_dict": load_other_weights,
}


@pytest.mark.parametrize("change", list(WEIGHT_CHANGES))
def test_float64_inference_runs_the_current_weights_in_float64(Est, X, change):
    est = fast(Est).fit(X)
    before = est.transform(X)
    # Float64 rounding throughout, not float32 results cast (some 1e-7 off).
    assert_allclose(before, float64_codes(est, X), rtol=1e-12, atol=1e-14)
    WEIGHT_CHANGES[change](est, X)
    after = est.transform(X)
    assert not np.allclose(after, before)
    assert_allclose(after, float64_codes(est, X), rtol=1e-12, atol=1e-14)


def test_float64_inference_casts_the_module_once_per_weights(Est, X, monkeypatch):
    # The float64 copy of the module is kept while the weights stay as they
    # are: a float64 call costs about what a float32 call does
    # (benchmarks/bench_inference.py, '1 row' rows).
    est = fast(Est).fit(X)
    est.transform(X)
    casts, double = [], torch.nn.Module.double
    monkeypatch.setattr(torch.nn.Module, "double", lambda m: casts.append(m) or double(m))
    for _ in range(3):
        Z = est.transform(X)
        est.inverse_transform(Z)
        est.score_samples(X)
    est.transform(X.astype(np.float32))
    assert casts == []
    est.partial_fit(X)
    est.transform(X)
    est.transform(X)
    assert len(casts) == 1


@pytest.mark.parametrize("dtype, huge", [(np.float32, 1e20), (np.float64, 1e200)])
def test_a_row_whose_score_overflows_scores_minus_inf_alone(fitted, X, dtype, huge):
    Xd = X.astype(dtype)
    bad = Xd.copy()
    bad[0] = huge  # its error (a square of ~huge) exceeds the dtype's range
    with pytest.warns(RuntimeWarning, match=r"1 row\(s\) scored -inf: their "
                      rf"reconstruction error exceeds the {np.dtype(dtype).name} range"):
        scores = fitted.score_samples(bad)
    assert scores.dtype == dtype
    assert scores[0] == -np.inf
    assert_array_equal(scores[1:], fitted.score_samples(Xd)[1:])


def test_a_float32_row_whose_squares_overflow_gets_its_error_in_float64(fitted, X):
    # One entry at 3e19: its square overflows float32, but the row's error
    # (a mean over the columns), computed again in float64, fits in float32.
    X32 = X.astype(np.float32)
    bad = X32.copy()
    bad[0, 0] = 3e19
    errors = fitted.reconstruction_error(bad)
    assert np.isfinite(errors).all()
    assert_allclose(errors[0], fitted.reconstruction_error(bad.astype(np.float64))[0],
                    rtol=1e-6)
    assert_array_equal(errors[1:], fitted.reconstruction_error(X32)[1:])


@pytest.mark.parametrize("width", [1, 3, 5])
def test_wrong_code_width_at_inverse_transform(fitted, width):
    bad = np.zeros((5, width))
    assert_raises_and_unchanged(fitted.inverse_transform, bad, ValueError, "n_components=2")


def test_clone_and_refit_reproduces_every_output(fitted, X):
    twin = clone(fitted).fit(X)
    for got, expected in zip(outputs(twin, X), outputs(fitted, X)):
        assert_array_equal(got, expected)


def test_set_output_pandas(Est, X):
    index = pd.Index(np.arange(100, 100 + len(X)), name="row")
    df = pd.DataFrame(X, index=index, columns=list("abcdef"))
    est = fast(Est, n_components=3).set_output(transform="pandas")
    out = est.fit_transform(df)
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(index)
    assert list(out.columns) == [f"{Est.__name__.lower()}{i}" for i in range(3)]
    assert_allclose(out.to_numpy(), fast(Est, n_components=3).fit(X).transform(X))
    assert est.transform(df).index.equals(index)


# ------------------------------------------------ defaults that scale with the rows

@pytest.mark.parametrize(("n_train", "expected"), [
    (1, 64), (12_800, 64), (25_599, 64), (25_600, 128), (60_000, 256), (180_000, 512),
    (204_800, 1024), (10_000_000, 1024),
])
def test_auto_batch_size_grows_with_the_training_rows(n_train, expected):
    # The rule itself: fits of up to ten million rows would be too slow to pin it.
    from skae._wiring import auto_batch_size

    assert auto_batch_size(n_train) == expected


def test_auto_settings_are_resolved_in_fit(Est, X):
    est = Est(2, hidden_layer_sizes=(4,), max_iter=1).fit(X)
    assert (est.batch_size, est.early_stopping) == ("auto", "auto")  # parameters untouched
    assert (est.batch_size_, est.do_early_stopping_) == (64, False)
    assert est.validation_loss_curve_ is None
    explicit = Est(2, hidden_layer_sizes=(4,), max_iter=1, batch_size=8,
                   early_stopping=True).fit(X)
    assert (explicit.batch_size_, explicit.do_early_stopping_) == (8, True)


def test_auto_early_stopping_holds_out_rows_above_10000_rows_in_fit_only(Est):
    X = np.random.default_rng(0).normal(size=(10_001, 3)).astype(np.float32)
    constant = dict(max_iter=1, batch_size=2048, learning_rate="constant")
    est = fast(Est, **constant).fit(X)
    assert est.do_early_stopping_ and len(est.validation_loss_curve_) == 1
    assert not fast(Est, **constant).fit(X[:10_000]).do_early_stopping_
    assert not fast(Est, **constant).partial_fit(X).do_early_stopping_
    # A one-cycle schedule is its own budget: 'auto' holds no rows out.
    assert not fast(Est, **dict(constant, learning_rate="one_cycle")).fit(X).do_early_stopping_


def test_adaptive_learning_rate_divides_by_5_after_two_epochs_without_improvement(Est, X):
    # tol=0.99: no epoch improves on the first by 99%, so every epoch after
    # it is "no improvement"; the rate falls after epochs 3, 5, 7, ... down
    # to 1e-3 times its start.
    est = fast(Est, learning_rate="adaptive", learning_rate_init=1e-2, tol=0.99,
               n_iter_no_change=30, max_iter=16).fit(X)
    lrs = np.array(est.net_.history[:, "event_lr"]) / 1e-2
    assert_allclose(lrs, [1, 1, 1, .2, .2, .04, .04, .008, .008, .0016, .0016,
                          .001, .001, .001, .001, .001])
    # a continued fit starts again at learning_rate_init, with the floor it implies
    est.set_params(learning_rate_init=1e-3, warm_start=True, max_iter=13).fit(X)
    assert est.net_.history[-13, "event_lr"] == 1e-3
    assert_allclose(est.net_.history[-1, "event_lr"], 1e-6)


def test_constant_learning_rate_keeps_its_rate(Est, X):
    est = fast(Est, learning_rate="constant", learning_rate_init=1e-2, tol=0.99,
               n_iter_no_change=30, max_iter=6).fit(X)
    assert not any(isinstance(cb, LRScheduler) for _, cb in est.net_.callbacks_)
    assert all(group["lr"] == 1e-2 for group in est.net_.optimizer_.param_groups)


def test_one_cycle_climbs_to_learning_rate_init_then_anneals_over_max_iter(Est, X):
    # tol=0.99 would end a constant-rate fit after a few epochs; the cycle is
    # the budget: all max_iter epochs run.
    est = fast(Est, learning_rate="one_cycle", learning_rate_init=1e-2, tol=0.99,
               n_iter_no_change=2, max_iter=10).fit(X)
    assert est.n_iter_ == 10 and not est.do_early_stopping_
    lrs = np.array(est.net_.history[:, "event_lr"])
    peak = int(np.argmax(lrs))  # 30% of the 10 epochs' steps
    assert peak in (2, 3) and 0.9e-2 < lrs[peak] <= 1e-2
    assert (np.diff(lrs[:peak + 1]) > 0).all() and (np.diff(lrs[peak:]) < 0).all()
    assert lrs[-1] < 1e-2 / 1000


@pytest.mark.parametrize("optimizer", ["adam", "sgd", torch.optim.RMSprop])
def test_one_cycle_cycles_the_momentum_of_optimizers_that_have_one(Est, X, optimizer):
    est = fast(Est, optimizer=optimizer, learning_rate="one_cycle", max_iter=3).fit(X)
    group = est.net_.optimizer_.param_groups[0]
    assert group["lr"] < est.learning_rate_init / 1000
    if optimizer == "adam":
        assert group["betas"][0] == pytest.approx(0.95)  # back at the cycle's high
    if optimizer == "sgd":
        assert group["momentum"] == pytest.approx(0.95)


def test_one_cycle_spans_each_training_call(Est, X):
    est = fast(Est, learning_rate="one_cycle", max_iter=4, warm_start=True).fit(X)
    first = est.net_.history[:, "event_lr"]
    est.fit(X)  # a warm start runs a new cycle over max_iter epochs
    assert_allclose(est.net_.history[-4:, "event_lr"], first)
    est.partial_fit(X)  # one epoch, and a cycle of its own
    assert est.net_.history[-1, "event_lr"] == pytest.approx(first[-1])


def test_one_cycle_with_early_stopping_stops_on_the_validation_loss(Est, X):
    est = fast(Est, learning_rate="one_cycle", early_stopping=True, tol=0.5,
               n_iter_no_change=2, max_iter=30).fit(X)
    assert est.do_early_stopping_ and est.n_iter_ < 30


@pytest.mark.parametrize("learning_rate", ["one_cycle", "adaptive"])
def test_a_users_lr_scheduler_needs_a_constant_learning_rate(Est, X, learning_rate):
    steps = ("steps", LRScheduler("StepLR", step_size=1))
    with pytest.raises(ValueError, match=rf"Callback steps is an LRScheduler, and "
                                         rf"learning_rate='{learning_rate}'.*Set "
                                         r"learning_rate='constant'"):
        fast(Est, learning_rate=learning_rate, callbacks=[steps]).fit(X)
    est = fast(Est, learning_rate="constant", callbacks=[steps]).fit(X)
    assert est.net_.history[-1, "event_lr"] < est.learning_rate_init


def test_a_continued_fit_with_unchanged_settings_keeps_the_nets_callbacks(Est, X):
    # skorch makes its default callbacks anew (losing e.g. the best loss so far)
    # whenever a callback's setting is set: only changed settings are set.
    est = fast(Est, learning_rate="adaptive").partial_fit(X)
    callbacks = dict(est.net_.callbacks_)
    est.partial_fit(X)
    assert all(callback is callbacks[name] for name, callback in est.net_.callbacks_)


def test_a_continued_fit_refuses_a_changed_learning_rate_schedule(Est, X):
    est = fast(Est, warm_start=True).fit(X)
    with pytest.raises(ValueError, match="changed since the network was built: learning_rate"):
        est.set_params(learning_rate="adaptive").fit(X)


# ------------------------------------------------------- skorch's EpochScoring


class RecordingMSE:
    """Mean squared error that keeps the targets and predictions it was given."""

    def __call__(self, y_true, y_pred):
        self.y_true, self.y_pred = np.asarray(y_true), np.asarray(y_pred)
        return mean_squared_error(y_true, y_pred)


@pytest.mark.parametrize("on_train", [True, False], ids=["train", "valid"])
def test_epoch_scoring_with_an_sklearn_metric_scores_the_reconstructions(Est, X, on_train):
    # skorch's EpochScoring calls the metric on X's rows (as targets) and
    # net.predict, which gives the reconstructions in data space.
    metric = RecordingMSE()
    est = fast(Est, max_iter=1, tol=0, early_stopping=not on_train, callbacks=[
        EpochScoring("neg_mean_squared_error", on_train=on_train, name="neg_mse"),
        EpochScoring(make_scorer(metric), on_train=on_train, name="recorded"),
    ]).fit(X)
    score = est.net_.history[-1, "neg_mse"]
    assert metric.y_true.shape == metric.y_pred.shape
    assert_allclose(score, -mean_squared_error(metric.y_true, metric.y_pred), rtol=1e-6)
    if on_train:  # every training row, scored as its batch was reconstructed
        assert_allclose(np.sort(metric.y_true, axis=0), np.sort(X, axis=0), rtol=1e-6)
    else:  # the held-out rows, reconstructed by the fitted model
        assert len(metric.y_true) == 6  # validation_fraction=0.1 of 60
        assert_allclose(metric.y_pred, est.inverse_transform(est.transform(metric.y_true)),
                        rtol=1e-5, atol=1e-6)


def test_epoch_scoring_with_a_metric_name_needs_its_cache(Est, X):
    # Without the cache skorch gives the metric no targets (y=None).
    scoring = EpochScoring("neg_mean_squared_error", on_train=True, use_caching=False)
    with pytest.raises(ValueError, match=r"EpochScoring with scoring='neg_mean_squared_error' "
                                         r"and use_caching=False.*Leave use_caching=True"):
        fast(Est, callbacks=[scoring]).fit(X)
