"""Spec for training and inference that survive faults.

Ctrl-C mid-fit keeps the last completed epoch; a NaN/inf loss raises
TrainingDivergedError and keeps the last good weights; max_grad_norm clips;
long fits checkpoint and resume with skorch's Checkpoint; one fitted
estimator serves many threads at once; and transform streams a memory-mapped
array batch by batch without copying it.
"""

import os
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch
from _helpers import (
    RecordInitialWeights,
    assert_same_weights,
    set_skae_setting,
    skae_setting,
    weights,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    GradientNormClipping,
    LoadInitState,
)

import skae
from skae import AutoencoderTransformer, TrainingDivergedError, VAETransformer

N_SAMPLES, N_FEATURES = 60, 16
# 60 rows in batches of 16: 4 optimizer steps an epoch; tol=0 runs every epoch.
# A constant rate: these tests compare a fit cut short (interrupted, diverged)
# with a shorter fit, whose rates a one-cycle schedule (over max_iter) would change.
FAST = dict(hidden_layer_sizes=(8,), batch_size=16, random_state=0, tol=0,
            learning_rate="constant")
ESTIMATORS = [AutoencoderTransformer, VAETransformer]


@pytest.fixture
def X():
    """Uniform noise in 16 features (this module's data, not conftest's)."""
    return np.random.RandomState(0).rand(N_SAMPLES, N_FEATURES)


class InterruptAt(Callback):
    """Raise KeyboardInterrupt (what Ctrl-C does) in a batch of one epoch.

    ``epoch`` counts from 1 within this training call.
    """

    def __init__(self, epoch, batch=2):
        self.epoch = epoch
        self.batch = batch

    def on_train_begin(self, net, **kwargs):
        self.target_ = len(net.history) + self.epoch
        self.batches_ = 0

    def on_batch_end(self, net, training=False, **kwargs):
        if len(net.history) == self.target_:
            self.batches_ += 1
            if self.batches_ == self.batch:
                raise KeyboardInterrupt


class LearningRateAt(Callback):
    """Set the optimizer's learning rate at the start of one epoch (once)."""

    def __init__(self, epoch, lr):
        self.epoch = epoch
        self.lr = lr
        self.done = False

    def on_epoch_begin(self, net, **kwargs):
        if not self.done and len(net.history) == self.epoch:
            self.done = True
            for group in net.optimizer_.param_groups:
                group["lr"] = self.lr


# ------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_ctrl_c_keeps_the_last_completed_epoch(Est, X):
    est = Est(max_iter=5, callbacks=[InterruptAt(epoch=3)], **FAST)
    with pytest.warns(RuntimeWarning, match=r"interrupted; kept the weights .* epoch \(2\)"):
        est.fit(X)
    reference = Est(max_iter=2, **FAST).fit(X)
    assert est.n_iter_ == 2
    assert len(est.net_.history) == 2
    assert est.loss_curve_ == reference.loss_curve_
    assert_same_weights(est, reference)
    Z = est.transform(X)
    assert Z.shape == (N_SAMPLES, 2) and np.isfinite(Z).all()
    assert_array_equal(Z, reference.transform(X))
    assert not est.net_.module_.training


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_ctrl_c_in_the_first_epoch_keeps_the_initial_weights(Est, X):
    spy = RecordInitialWeights()
    est = Est(max_iter=3, callbacks=[spy, InterruptAt(epoch=1)], **FAST)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.fit(X)
    assert est.n_iter_ == 0 and est.loss_curve_ == []
    assert_same_weights(est, spy.initial_)
    assert np.isfinite(est.transform(X)).all()


def test_ctrl_c_during_partial_fit_leaves_the_model_unchanged(X):
    interrupt = InterruptAt(epoch=1)
    interrupt.batch = 10**9  # armed below
    est = AutoencoderTransformer(max_iter=2, callbacks=[interrupt], **FAST).fit(X)
    before = weights(est)
    interrupt.batch = 2
    with pytest.warns(RuntimeWarning, match="interrupted"):
        est.partial_fit(X)
    assert est.n_iter_ == 2
    assert_same_weights(est, before)


# --------------------------------------------------------------- divergence


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_divergence_names_epoch_and_learning_rate_and_keeps_last_good_epoch(Est, X):
    est = Est(max_iter=5, callbacks=[LearningRateAt(epoch=3, lr=1e30)], **FAST)
    lr = est.get_params()["learning_rate_init"]
    pattern = (rf"became (nan|inf) in epoch 3\..*learning_rate_init \(it is {lr:g}; "
               rf"it was 1e\+30 when training diverged\)")
    with pytest.raises(TrainingDivergedError, match=pattern):
        est.fit(X)
    reference = Est(max_iter=2, **FAST).fit(X)
    assert est.n_iter_ == 2 and est.loss_curve_ == reference.loss_curve_
    assert_same_weights(est, reference)
    Z = est.transform(X)
    assert np.isfinite(Z).all()
    assert_array_equal(Z, reference.transform(X))
    assert np.isfinite(est.score_samples(X)).all()


class NaNBatch(Callback):
    """Fill the rows of one training batch with NaN (``epoch`` and ``batch`` count from 1)."""

    def __init__(self, epoch, batch):
        self.epoch = epoch
        self.batch = batch

    def on_epoch_begin(self, net, **kwargs):
        self.batches_ = 0

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            self.batches_ += 1
            if self.batches_ == self.batch:
                batch[0].fill_(float("nan"))


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_one_non_finite_batch_makes_its_epoch_diverge(Est, X):
    # The last of epoch 2's 4 batches: the batches before it were finite.
    est = Est(max_iter=3, callbacks=[NaNBatch(epoch=2, batch=4)], **FAST)
    with pytest.raises(TrainingDivergedError, match=r"the train loss became nan in epoch 2\."):
        est.fit(X)
    reference = Est(max_iter=1, **FAST).fit(X)
    assert est.n_iter_ == 1 and est.loss_curve_ == reference.loss_curve_
    assert_same_weights(est, reference)


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("params, scale, lr_text", [
    (dict(learning_rate_init=1e8), 1.0, "1e\\+08"),
    (dict(optimizer="sgd", learning_rate_init=1e6), 1.0, "1e\\+06"),
    ({}, 1e30, None),
], ids=["huge-learning-rate", "huge-sgd-learning-rate", "huge-data"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_divergence_in_the_first_epoch_leaves_the_estimator_unfitted(Est, X, params, scale,
                                                                      lr_text, method):
    # No epoch completed, so there are no trained weights to keep.
    est = Est(max_iter=3, **FAST, **params)
    lr_text = lr_text or f"{est.learning_rate_init:g}"
    pattern = rf"epoch 1\. No epoch completed, so the estimator is left unfitted\..*it is {lr_text}"
    with pytest.raises(TrainingDivergedError, match=pattern):
        getattr(est, method)(X * scale)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert not hasattr(est, "n_iter_") and not hasattr(est, "loss_curve_")
    with pytest.raises(NotFittedError):
        est.transform(X)
    est.set_params(**{k: v for k, v in Est().get_params().items() if k in params})
    est.fit(X)  # a sound refit works
    check_is_fitted(est)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_failed_refit_forgets_the_previous_fit(Est, X):
    est = Est(max_iter=2, **FAST).fit(X)
    with pytest.raises(TrainingDivergedError, match="left unfitted"):
        est.set_params(learning_rate_init=1e8).fit(X)
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert not hasattr(est, "n_iter_")


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_divergence_in_the_first_epoch_of_a_continued_fit_keeps_the_fitted_model(Est, X):
    est = Est(max_iter=2, **FAST).fit(X)
    before = weights(est)
    est.set_params(learning_rate_init=1e8)
    with pytest.raises(TrainingDivergedError, match=r"epoch 3\. The weights of the last "
                                                    r"completed epoch \(2\) were kept"):
        est.partial_fit(X)
    assert est.n_iter_ == 2
    assert_same_weights(est, before)
    assert not est.net_.module_.training
    assert np.isfinite(est.transform(X)).all()


def test_divergence_error_is_public_and_a_floating_point_error():
    assert "TrainingDivergedError" in skae.__all__
    assert issubclass(TrainingDivergedError, FloatingPointError)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_training_continues_after_a_divergence(Est, X):
    bump = LearningRateAt(epoch=3, lr=1e30)
    est = Est(max_iter=5, callbacks=[bump], **FAST)
    with pytest.raises(TrainingDivergedError):
        est.fit(X)
    for group in est.net_.optimizer_.param_groups:
        group["lr"] = est.learning_rate_init
    est.partial_fit(X)
    reference = Est(max_iter=2, **FAST).fit(X).partial_fit(X)
    assert est.n_iter_ == 3
    assert_same_weights(est, reference)


# ----------------------------------------------------------- gradient clipping


def test_max_grad_norm_adds_gradient_clipping(X):
    est = AutoencoderTransformer(max_iter=1, max_grad_norm=0.25, **FAST).fit(X)
    clipping = [cb for _, cb in est.net_.callbacks_ if isinstance(cb, GradientNormClipping)]
    assert len(clipping) == 1 and clipping[0].gradient_clip_value == 0.25
    unclipped = AutoencoderTransformer(max_iter=1, **FAST).fit(X)
    assert not any(isinstance(cb, GradientNormClipping) for _, cb in unclipped.net_.callbacks_)


def _distance_moved(est, X, diverges=False):
    """Euclidean norm of the change of all weights in one fit."""
    spy = RecordInitialWeights()
    est.set_params(callbacks=[spy])
    if diverges:
        with pytest.raises(TrainingDivergedError, match="reconstruction error went from"):
            est.fit(X)
    else:
        est.fit(X)
    return float(sum((v - spy.initial_[k]).square().sum() for k, v in weights(est).items())) ** 0.5


def test_a_tiny_max_grad_norm_moves_the_weights_less(X):
    # SGD, whose steps scale with the gradient (Adam's would not).
    lr, max_norm = 0.1, 1e-3
    kw = dict(FAST, optimizer="sgd", learning_rate_init=lr, max_iter=1)
    free = _distance_moved(AutoencoderTransformer(**kw), X * 10, diverges=True)
    clipped = _distance_moved(AutoencoderTransformer(max_grad_norm=max_norm, **kw), X * 10)
    assert 0 < clipped < free / 100
    # 4 steps, each of norm at most lr * max_norm * (1 + 0.9 + 0.9**2 + ...)
    # with Nesterov momentum 0.9.
    assert clipped <= 4 * lr * max_norm * 10 * (1 + 1e-6)


# -------------------------------------------------- checkpointing and resuming


def _checkpoint(dirname):
    # f_pickle=None: params, optimizer, criterion and history files only.
    return Checkpoint(dirname=dirname, monitor="train_loss_best", f_pickle=None)


def test_checkpoint_writes_the_best_epoch(X, tmp_path):
    est = AutoencoderTransformer(max_iter=3, callbacks=[_checkpoint(tmp_path)], **FAST).fit(X)
    assert sorted(os.listdir(tmp_path)) == [
        "criterion.pt", "history.json", "optimizer.pt", "params.pt"]
    assert [row["event_cp"] for row in est.net_.history] == [True, True, True]


def test_resume_by_loading_a_checkpoint_into_a_built_estimator(X, tmp_path):
    original = AutoencoderTransformer(max_iter=3, callbacks=[_checkpoint(tmp_path)], **FAST)
    original.fit(X)
    # A new session: build the net with one partial_fit on a few rows, then
    # load the checkpoint's weights, optimizer state and history into it.
    resumed = AutoencoderTransformer(max_iter=3, **FAST).partial_fit(X[:16])
    resumed.net_.load_params(checkpoint=_checkpoint(tmp_path))
    assert_same_weights(resumed, original)
    assert len(resumed.net_.history) == 3
    assert_array_equal(resumed.transform(X), original.transform(X))
    resumed.partial_fit(X)  # training goes on from epoch 3
    assert resumed.n_iter_ == 4
    assert resumed.loss_curve_[:3] == original.loss_curve_
    assert resumed.loss_curve_[3] < resumed.loss_curve_[0]


def test_resume_with_load_init_state(X, tmp_path):
    # skorch's documented pattern: the same fit call trains from scratch the
    # first time and resumes from the checkpoint when one exists.
    def session(max_iter):
        cp = _checkpoint(tmp_path)
        est = AutoencoderTransformer(max_iter=max_iter, callbacks=[cp, LoadInitState(cp)], **FAST)
        return est.fit(X)

    first = session(3)
    assert first.n_iter_ == 3
    with pytest.warns(UserWarning, match=r"resumed from a checkpoint of 3 epoch\(s\)"):
        second = session(2)
    assert second.n_iter_ == 5  # 3 epochs from the checkpoint, 2 more
    assert second.loss_curve_[:3] == first.loss_curve_
    assert second.loss_curve_[-1] < first.loss_curve_[0]


def test_ctrl_c_in_the_first_resumed_epoch_keeps_the_checkpoint(X, tmp_path):
    cp = _checkpoint(tmp_path)
    saved = AutoencoderTransformer(max_iter=3, callbacks=[cp], **FAST).fit(X)
    est = AutoencoderTransformer(
        max_iter=2, callbacks=[LoadInitState(_checkpoint(tmp_path)), InterruptAt(epoch=1)],
        **FAST,
    )
    with pytest.warns(RuntimeWarning, match="interrupted"), \
            pytest.warns(UserWarning, match="resumed from a checkpoint of 3 epoch"):
        est.fit(X)
    assert est.n_iter_ == 3
    assert_same_weights(est, saved)


def test_callbacks_in_a_cross_validation_warn_that_folds_resume_from_each_other(X, tmp_path):
    # Every clone shares the callback settings, so every fold but the first
    # resumes from the checkpoint the previous fold wrote: the fit says so.
    cp = _checkpoint(tmp_path)
    est = AutoencoderTransformer(max_iter=2, callbacks=[cp, LoadInitState(cp)], **FAST)
    with pytest.warns(UserWarning, match="Under cross-validation or a search") as record:
        result = cross_validate(est, X, cv=3, return_estimator=True, error_score="raise")
    assert [e.n_iter_ for e in result["estimator"]] == [2, 4, 6]  # the leak, made visible
    assert sum("resumed from a checkpoint" in str(w.message) for w in record) == 2


@pytest.mark.parametrize("callback, monitor", [
    (EarlyStopping(), "valid_loss"),
    (Checkpoint(f_pickle=None), "valid_loss_best"),
    (("my_checkpoint", Checkpoint(f_pickle=None)), "valid_loss_best"),
])
def test_callbacks_that_need_validation_data_say_how_to_get_it(X, callback, monitor, tmp_path):
    est = AutoencoderTransformer(max_iter=2, callbacks=[callback], **FAST)
    with pytest.raises(ValueError, match=rf"monitors '{monitor}'.*early_stopping=True.*"
                                         r"'train_loss'"):
        est.fit(X)
    assert not hasattr(est, "net_")


def test_callbacks_that_monitor_validation_work_with_early_stopping(X, tmp_path):
    stop = EarlyStopping(patience=1, threshold=10.0)  # stops after its second epoch
    est = AutoencoderTransformer(max_iter=5, early_stopping=True, callbacks=[stop], **FAST)
    est.fit(X)
    assert est.n_iter_ == 2


# ------------------------------------------------ silent failures and warnings


def test_an_exploding_fit_raises_and_says_what_to_change():
    X = load_digits().data[:300] / 16
    est = AutoencoderTransformer(4, learning_rate_init=10, max_iter=20, **FAST)
    with pytest.raises(TrainingDivergedError, match=r"reconstruction error went from .* to "
                                                    r".*learning_rate_init \(it is 10\)"):
        est.fit(X)


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_a_fit_worse_than_the_column_means_warns(Est):
    # Unscaled data (offset 1000, unit spread): the network cannot reach the
    # offset in a few epochs, so it predicts worse than the column means.
    X = 1000 + np.random.RandomState(0).randn(60, 4)
    with pytest.warns(ConvergenceWarning, match="worse than predicting each column's mean.*"
                                                "Scale the data"):
        Est(max_iter=3, **FAST).fit(X)


def test_a_fit_that_learned_something_gives_no_quality_warning(X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = AutoencoderTransformer(max_iter=30, **FAST).fit(X)  # tol=0: no max_iter warning
    assert [str(w.message) for w in caught] == []
    assert est.reconstruction_error(X).mean() < X.var(axis=0).mean()  # beats the column means

@pytest.mark.parametrize("Est", ESTIMATORS)
def test_max_iter_ending_an_unconverged_fit_warns_as_mlp_regressor_does(Est, X):
    est = Est(max_iter=2, **dict(FAST, tol=1e-4))
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2 epochs ended the fit"):
        est.fit(X)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="max_iter", category=ConvergenceWarning)
        est.partial_fit(X)  # one epoch by design: no warning
        est.set_params(tol=0).fit(X)  # tol=0 asks for exactly max_iter epochs
        stopped = Est(max_iter=50, **dict(FAST, tol=0.5, n_iter_no_change=1)).fit(X)
    assert stopped.n_iter_ < 50



@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("early_stopping", [False, True])
def test_tol_0_asks_for_max_iter_epochs_without_a_convergence_warning(Est, X, early_stopping):
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="max_iter", category=ConvergenceWarning)
        est = Est(max_iter=3, early_stopping=early_stopping, **FAST).fit(X)
    assert est.n_iter_ == 3


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("early_stopping, names", [
    (False, r"the training loss was still improving by more than tol=0\.0001 \(relative\) "
            r"within n_iter_no_change=10 epochs.*set tol=0 to train exactly max_iter epochs"),
    (True, r"the validation loss \(of the held-out validation_fraction=0\.1 of the rows\) was "
           r"still improving by more than tol=0\.0001 \(relative\) within n_iter_no_change=10 "
           r"epochs.*set tol=0 to stop early only when the validation loss stops improving"),
    ("auto", r"the validation loss \(of the held-out validation_fraction=0\.1 of the rows, "
             r"which early_stopping='auto' holds out above 50 rows\)"),
])
def test_the_max_iter_warning_names_the_stopping_rule_in_force(Est, X, monkeypatch,
                                                               early_stopping, names):
    set_skae_setting(monkeypatch, "AUTO_EARLY_STOPPING_ROWS", 50)  # X has 60 rows
    est = Est(max_iter=2, early_stopping=early_stopping, **dict(FAST, tol=1e-4))
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2 epochs ended the fit while " + names):
        est.fit(X)
    assert est.n_iter_ == 2

def test_init_pca_never_ends_worse_than_pca_on_wide_data():
    # 50 x 5000, rank 5: Adam's first steps move every one of the 50,000
    # weights away from PCA's optimum. The fit keeps the better of its start
    # and its end, so it is never worse than PCA on its training data.
    rng = np.random.RandomState(0)
    X = rng.randn(50, 5) @ rng.randn(5, 5000) + 0.1 * rng.randn(50, 5000)
    pca = PCA(5, svd_solver="full").fit(X)
    pca_mse = np.mean((pca.inverse_transform(pca.transform(X)) - X) ** 2)
    for max_iter in (1, 20):
        est = AutoencoderTransformer(5, init="pca", max_iter=max_iter, hidden_layer_sizes=(),
                                     activation="identity", random_state=0, tol=0).fit(X)
        mse = np.mean((est.inverse_transform(est.transform(X)) - X) ** 2)
        # The PCA start holds the components in float32: a relative 1e-5.
        assert mse <= pca_mse * (1 + 1e-5)


# ------------------------------------------------------------------- threads


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_concurrent_inference_equals_serial(Est, dtype, monkeypatch):
    # 1000 rows in batches of 256: each call runs several batches, so the
    # threads interleave inside the inference loop.
    set_skae_setting(monkeypatch, "INFERENCE_BATCH_SIZE", 256)
    X = np.random.RandomState(1).rand(1000, N_FEATURES).astype(dtype)
    est = Est(max_iter=1, **FAST).fit(X[:100])
    methods = {
        "transform": lambda: est.transform(X),
        "inverse_transform": lambda: est.inverse_transform(est.transform(X)),
        "score_samples": lambda: est.score_samples(X),
    }
    serial = {name: fn() for name, fn in methods.items()}
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [(name, pool.submit(fn)) for _ in range(4) for name, fn in methods.items()]
        results = [(name, f.result()) for name, f in futures]
    for name, result in results:
        assert result.dtype == dtype
        assert_array_equal(result, serial[name], err_msg=name)
    assert not est.net_.module_.training


# -------------------------------------------------------------------- memmap


N_BIG, D_BIG = 200_000, 50  # 40 MB of float32


@pytest.fixture(scope="module")
def big_memmap(tmp_path_factory):
    path = tmp_path_factory.mktemp("memmap") / "X.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(N_BIG, D_BIG))
    rng = np.random.RandomState(0)
    for start in range(0, N_BIG, 50_000):
        X[start:start + 50_000] = rng.rand(50_000, D_BIG)
    X.flush()
    del X
    return path


def test_transform_of_a_memmap_equals_transform_in_memory(big_memmap):
    X = np.load(big_memmap, mmap_mode="r")
    est = AutoencoderTransformer(max_iter=1, **FAST).fit(X[:500])
    Z = est.transform(X)
    assert Z.shape == (N_BIG, 2) and Z.dtype == np.float32 and np.isfinite(Z).all()
    batch = skae_setting("INFERENCE_BATCH_SIZE")  # transform's rows per batch
    # A slice on batch boundaries runs the very same batches.
    assert_array_equal(Z[batch:3 * batch], est.transform(np.array(X[batch:3 * batch])))
    # Any other slice: same rows, other batch neighbours.
    assert_allclose(Z[12_345:13_000], est.transform(np.array(X[12_345:13_000])),
                    rtol=1e-5, atol=1e-6)
    last = N_BIG // batch * batch  # the last, partial batch
    assert_array_equal(Z[last:], est.transform(np.array(X[last:])))


_PEAK_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np, torch
    from skae import AutoencoderTransformer
    torch.set_num_threads(1)

    def kib(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])

    X = np.load(sys.argv[1], mmap_mode="r")
    est = AutoencoderTransformer(hidden_layer_sizes=(8,), max_iter=1, random_state=0)
    est.fit(X[:500])
    # Fault the file's pages in first: they are page cache shared with the
    # file, not allocations, and would otherwise count towards the peak.
    float(X.sum(dtype=np.float64))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set size (VmHWM)
    base = kib("VmRSS")
    Z = est.transform(X)
    print(kib("VmHWM") - base, Z.nbytes // 1024)
""")


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                    reason="needs Linux /proc/self/clear_refs to reset the peak RSS")
def test_transform_of_a_memmap_does_not_copy_it(big_memmap):
    """Peak resident memory of transform, measured in a fresh process.

    tracemalloc would not see torch's allocations; the kernel's peak RSS
    does. The input is 39 000 KiB: a single copy of it would show.
    """
    result = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(big_memmap)],
                            check=False, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    extra_kib, output_kib = map(int, result.stdout.split())
    input_kib = N_BIG * D_BIG * 4 // 1024
    print(f"peak extra {extra_kib} KiB for {input_kib} KiB input, {output_kib} KiB output")
    assert extra_kib < input_kib / 4


# Every random draw of a fit (initialisation, shuffling, the early-stopping
# hold-out, input noise, dropout, the VAE's reparameterisation) comes from the
# fit's own seed, so fits in threads equal serial fits bit for bit on the CPU.
THREADED = [
    AutoencoderTransformer(4, dropout=0.2, noise="gaussian", max_iter=4, **FAST),
    AutoencoderTransformer(4, noise="masking", early_stopping=True, max_iter=4, **FAST),
    AutoencoderTransformer(4, noise="salt_and_pepper", max_iter=4, **FAST),
    VAETransformer(4, dropout=0.2, early_stopping=True, max_iter=4, **FAST),
]


@pytest.mark.parametrize("est", THREADED, ids=lambda e: repr(e)[:60])
def test_fits_in_threads_equal_serial_fits_bit_for_bit(est, X):
    def fit_and_encode(_):
        fitted = clone(est).fit(X)
        return fitted.transform(X), fitted.loss_curve_

    serial = fit_and_encode(None)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(fit_and_encode, range(8)))
    for Z, curve in results:
        assert_array_equal(Z, serial[0])
        assert curve == serial[1]


def test_a_search_in_threads_equals_a_serial_search(X):
    grid = {"n_components": [2, 4], "dropout": [0.0, 0.3]}
    est = AutoencoderTransformer(max_iter=3, **FAST)
    serial = GridSearchCV(est, grid, cv=2).fit(X)
    with joblib.parallel_backend("threading", n_jobs=4):
        threaded = GridSearchCV(est, grid, cv=2, n_jobs=4).fit(X)
    assert threaded.best_score_ == serial.best_score_
    assert_array_equal(threaded.cv_results_["mean_test_score"],
                       serial.cv_results_["mean_test_score"])


def test_a_fit_leaves_the_global_torch_generator_to_the_user(X):
    # Draws of other code in the process do not change a seeded fit.
    torch.manual_seed(0)
    a = AutoencoderTransformer(dropout=0.3, noise="gaussian", max_iter=2, **FAST).fit(X)
    torch.rand(1000)
    b = AutoencoderTransformer(dropout=0.3, noise="gaussian", max_iter=2, **FAST).fit(X)
    assert_same_weights(a, b)
