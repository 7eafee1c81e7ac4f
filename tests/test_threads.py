"""The thread policy: ``n_jobs`` chooses torch's threads for skae's calls only.

torch's thread count is per calling thread while skae runs and restored
afterwards; ``n_jobs=None`` picks one thread for small steps and never more
than the usable CPUs, torch's own setting, or the CPUs other processes leave
idle (:mod:`skae._threads`). Speed itself is measured in
``benchmarks/bench_fit.py`` (busy-machine table), never asserted here.
"""

import threading

import numpy as np
import pytest
import torch
from _helpers import FAST
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback

# _threads: its functions are the units under test (the policy's rules).
from skae import AutoencoderTransformer, VAETransformer, _threads


class RecordThreads(Callback):
    """Record torch's thread count (in the fitting thread) at every epoch."""

    def on_train_begin(self, net, **kwargs):
        self.seen_ = []

    def on_epoch_end(self, net, **kwargs):
        self.seen_.append(torch.get_num_threads())


@pytest.fixture
def two_torch_threads():
    """torch set to 2 threads (the suite runs on 1), restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def fit_recording(X, **params):
    recorder = RecordThreads()
    est = AutoencoderTransformer(2, callbacks=[("threads", recorder)], **{**FAST, **params})
    return est.fit(X), recorder.seen_


@pytest.mark.parametrize("n_jobs", [1, 2, 3])
def test_an_int_n_jobs_is_the_thread_count_of_the_fit(X, n_jobs, two_torch_threads):
    _, seen = fit_recording(X, n_jobs=n_jobs)
    assert seen == [n_jobs] * FAST["max_iter"]


def test_negative_n_jobs_counts_back_from_the_usable_cpus(X, monkeypatch, two_torch_threads):
    monkeypatch.setattr(_threads, "usable_cpus", lambda: 4)
    assert fit_recording(X, n_jobs=-1)[1][0] == 4
    assert fit_recording(X, n_jobs=-3)[1][0] == 2
    assert fit_recording(X, n_jobs=-9)[1][0] == 1


def test_a_continued_fit_uses_the_current_n_jobs(X, two_torch_threads):
    est, seen = fit_recording(X, n_jobs=1)
    assert seen == [1] * FAST["max_iter"]
    est.set_params(n_jobs=2).partial_fit(X)
    assert dict(est.net_.callbacks_)["threads"].seen_ == [2]
    # the thread policy is a callback configured through its parameters
    assert dict(est.net_.callbacks_)["thread_policy"].get_params() == {"n_jobs": 2}


@pytest.mark.parametrize("n_jobs", [None, 1, 3])
def test_torch_threads_are_restored_after_fit_and_inference(X, n_jobs, two_torch_threads):
    est, _ = fit_recording(X, n_jobs=n_jobs)
    assert torch.get_num_threads() == 2
    est.transform(X), est.inverse_transform(est.transform(X)), est.score_samples(X)
    assert torch.get_num_threads() == 2
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start(), thread.join()
    assert seen == [2]  # a thread starting later inherits torch's setting, not skae's


def test_a_failed_fit_restores_torch_threads(X, two_torch_threads):
    class Boom(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        AutoencoderTransformer(2, n_jobs=1, callbacks=[Boom()], **FAST).fit(X)
    assert torch.get_num_threads() == 2


def test_the_default_uses_one_thread_for_small_steps(X, two_torch_threads):
    _, seen = fit_recording(X)  # a few thousand operations per step
    assert seen == [1] * FAST["max_iter"]


def test_fits_in_threads_keep_their_own_thread_counts(X, two_torch_threads):
    results = {}

    def fit(n_jobs):
        results[n_jobs] = fit_recording(X, n_jobs=n_jobs)[1]

    threads = [threading.Thread(target=fit, args=(n,)) for n in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: [n] * FAST["max_iter"] for n in (1, 2, 3)}
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("n_jobs", [0, 1.5, "auto"])
def test_bad_n_jobs_is_refused(X, n_jobs):
    with pytest.raises(InvalidParameterError, match="n_jobs"):
        AutoencoderTransformer(2, n_jobs=n_jobs, **FAST).fit(X)


# ------------------------------------------------------------ the policy

BIG = 100 * _threads.FLOPS_PER_THREAD  # work for up to 100 threads


@pytest.fixture
def machine(monkeypatch):
    """Set the usable CPUs, the machine's CPUs and other processes' load."""

    def set_machine(usable, cpus, busy):
        monkeypatch.setattr(_threads, "usable_cpus", lambda: usable)
        monkeypatch.setattr(_threads.os, "cpu_count", lambda: cpus)
        monkeypatch.setattr(_threads, "busy_cpus", lambda: busy)

    return set_machine


@pytest.mark.parametrize(("flops", "expected"), [
    (0, 1),
    (_threads.FLOPS_PER_THREAD - 1, 1),
    (2 * _threads.FLOPS_PER_THREAD, 2),
    (3.5 * _threads.FLOPS_PER_THREAD, 3),
    (BIG, 8),  # the ceiling
])
def test_policy_gives_one_thread_per_unit_of_work(machine, flops, expected):
    machine(usable=16, cpus=16, busy=0)
    assert _threads.auto_threads(flops, ceiling=8) == expected


@pytest.mark.parametrize(("usable", "cpus", "busy", "expected"), [
    (4, 16, 0, 4),  # affinity or cgroup quota: 4 usable CPUs of 16
    (16, 16, 12, 4),  # 12 CPUs kept busy by other processes
    (16, 16, 16, 1),  # all of them: one thread
    (2, 2, 30, 1),  # an overloaded machine
])
def test_policy_stays_within_the_usable_and_idle_cpus(machine, usable, cpus, busy, expected):
    machine(usable=usable, cpus=cpus, busy=busy)
    assert _threads.auto_threads(BIG, ceiling=16) == expected


def test_busy_cpus_reads_the_machine():
    assert _threads.busy_cpus() >= 0
    assert 1 <= _threads.usable_cpus() <= (torch.multiprocessing.cpu_count() or 1)


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_step_work_is_counted_from_the_module(cls, X):
    est = cls(2, hidden_layer_sizes=(8,), max_iter=1, n_jobs=1).fit(X)
    params = dict(est.net_.module_.named_parameters())
    n_weights = sum(p.numel() for name, p in params.items() if name.endswith("weight"))
    # a dense forward pass multiplies and adds with each weight once per row
    # (forward_flops: the count the thread policy reads, the unit under test)
    flops = _threads.forward_flops(est.net_)
    assert 2 * n_weights <= flops <= 2 * sum(p.numel() for p in params.values())


def test_convolutions_count_each_weight_once_per_position():
    X = np.random.default_rng(0).random((8, 64), dtype=np.float32)
    est = AutoencoderTransformer(2, image_shape=(1, 8, 8), conv_channels=(4,), max_iter=1,
                                 n_jobs=1, batch_size=4).fit(X)
    counted = _threads.step_flops(est.net_.module_, torch.zeros(1, 64), training=False)
    assert _threads.forward_flops(est.net_) == counted  # the thread policy's count, as above
    assert counted > 2 * sum(p.numel() for p in est.net_.module_.parameters())
