"""How many torch threads a fit or an inference call uses: the ``n_jobs`` policy.

torch's default, one thread per core, fits big matrix products on a quiet
machine. It is a poor default for an estimator: the products of a
mini-batch are small (so a second thread gains little), and when other
processes share the cores, or a container's CPU quota is below the
visible core count, threads that wait for each other at every operation
make a fit several times slower than one thread (``benchmarks/bench_fit.py``
measures it). So skae decides, per call and per epoch, from

- the work of one step: floating-point operations of a training step
  (forward and backward, about three forward passes) or of one inference
  batch: two per weight and row for dense networks, counted by
  :class:`torch.utils.flop_counter.FlopCounterMode` for convolutional ones;
- the CPUs this process may use: its CPU affinity and cgroup CPU quota
  (:func:`joblib.cpu_count`), and torch's own setting (lowered by
  ``torch.set_num_threads``, ``OMP_NUM_THREADS`` or joblib's workers);
- the CPUs other processes keep busy right now (Linux: the runnable tasks
  of ``/proc/loadavg`` less this process's own).

torch's thread count is set for the calling thread only while skae runs,
and put back afterwards (see :func:`restoring_threads`).
"""

import os
from contextlib import contextmanager
from pathlib import Path

import joblib
import torch
from torch.utils.flop_counter import FlopCounterMode

#: Floating-point operations of one step per thread: two threads from twice
#: this. On the 2-core AMD EPYC (quiet), a second thread made training
#: steps of 1.4e7 and 5.4e7 operations 10% slower, and steps of 1.4e8-2e8
#: 1.07-1.33x, 3.6e8-1.5e9 1.5-2x faster.
FLOPS_PER_THREAD = 6e7


def usable_cpus():
    """CPUs this process may run on: its affinity mask and cgroup CPU quota."""
    return max(1, joblib.cpu_count())


def _own_running_threads():
    """Threads of this process that are running (Linux), else 0."""
    running = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # the thread ended meanwhile
            continue
        running += text[text.rfind(")") + 2:][:1] == "R"
    return running


def busy_cpus():
    """CPUs that other processes keep busy now: 0 where this cannot be read.

    The runnable tasks of the system (``/proc/loadavg``, Linux) less this
    process's own running threads.
    """
    try:
        runnable = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, runnable - _own_running_threads())


def step_flops(module, rows, training):
    """Floating-point operations of ``module`` on ``rows`` (a float32 batch).

    A training step (forward and backward) counts as three forward passes.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(rows)
    finally:
        module.train(was_training)
    return counter.get_total_flops() * (3 if training else 1) * 1.0


def auto_threads(flops, ceiling):
    """The threads skae's policy picks for steps of ``flops`` operations.

    At most ``ceiling`` (torch's setting when skae was called), the usable
    CPUs, and the CPUs no other process keeps busy; one thread per
    ``FLOPS_PER_THREAD`` operations of a step.
    """
    by_work = min(ceiling, max(1, int(flops // FLOPS_PER_THREAD)))
    if by_work == 1:
        return 1
    limit = min(usable_cpus(), by_work)
    if limit == 1:
        return 1
    idle = (os.cpu_count() or 1) - busy_cpus()
    return max(1, min(limit, idle))


def resolve_n_jobs(n_jobs, flops, ceiling):
    """Threads for ``n_jobs``: None is skae's policy, ints follow joblib's convention."""
    if n_jobs is None:
        return auto_threads(flops, ceiling)
    if n_jobs < 0:
        return max(1, usable_cpus() + 1 + n_jobs)
    return n_jobs


@contextmanager
def restoring_threads():
    """Restore the calling thread's torch thread count when the body ends.

    Yields that count (the ceiling of skae's policy). ``torch.set_num_threads``
    acts on the calling thread's OpenMP and MKL settings, so fits in
    concurrent threads each keep their own; it also sets the count that a
    thread inherits when it runs its first torch operation, so a thread
    that starts using torch while the body runs may keep skae's choice.
    """
    before = torch.get_num_threads()
    try:
        yield before
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def set_threads(n):
    """Set the calling thread's torch threads to ``n`` if it differs."""
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def forward_flops(net):
    """Floating-point operations of a skorch net's module forward pass on one row.

    Counted once per net (kept as ``net.flops_per_row_``), as an upper
    bound for dense networks (biases count as weights) and exactly for
    convolutional ones; the thread policy scales it to a training step or
    an inference batch.
    """
    flops = getattr(net, "flops_per_row_", None)
    if flops is None:
        module, architecture = net.module_, net.module__architecture
        if architecture.image_shape is None:  # dense: two operations per weight and row
            flops = 2.0 * sum(p.numel() for p in module.parameters())
        else:  # convolutions reuse their weights over the image: count them
            row = torch.zeros(1, architecture.n_features,
                              device=next(module.parameters()).device)
            flops = step_flops(module, row, training=False)
        net.flops_per_row_ = flops
    return flops
