"""Data-parallel ``fit`` over a ``torch.distributed`` process group (gloo, CPU).

The spec: when a process group of world size > 1 is initialised, ``fit`` and
``partial_fit`` train data-parallel, and

- every rank ends with the same model and the same loss curve;
- each rank takes every ``world_size``-th row of the epoch's shared
  permutation, so it runs ``n // (world_size * batch_size)`` steps an epoch
  and the ranks' rows of an epoch are disjoint and cover it, also with
  ``random_state=None`` (rank 0's seed is broadcast; without that the models
  would still agree, since gradients are averaged, but the shards would
  overlap);
- with full batches, ``world_size`` processes at ``batch_size=B`` train the
  same model as one process at ``batch_size=world_size * B`` (the union of
  the ranks' batches is the single process's batch, and the averaged
  gradient is its gradient), up to float rounding;
- a model saved on rank 0 transforms and trains on in an ordinary process,
  and a model trained alone trains on data-parallel inside a group.

This file is also the worker script: the module fixture launches it under
``torchrun`` with two processes on the loopback interface; each rank writes
what it trained to ``rank<r>.npz`` and the tests compare the files.
"""

import os
import pickle
import socket
import subprocess
import sys

import numpy as np
import pytest
from _helpers import flat_parameters
from numpy.testing import assert_allclose, assert_array_equal
from skorch.callbacks import Callback

from skae import AutoencoderTransformer, VAETransformer

WORLD_SIZE = 2
N_ROWS, N_FEATURES = 256, 10
BATCH = 32  # per process; N_ROWS is a multiple of WORLD_SIZE * BATCH
LAUNCH_TIMEOUT_S = 180  # two interpreters importing torch on a busy 2-core machine


def _data():
    return np.random.RandomState(0).rand(N_ROWS, N_FEATURES).astype(np.float32)


class RecordRows(Callback):
    """Remember the rows of each training batch (by their first feature), per epoch."""

    def initialize(self):
        self.epochs_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.epochs_.append([])

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.epochs_[-1].append(batch[0][:, 0].detach().cpu().numpy().copy())

    def rows(self):
        return np.array([np.concatenate(epoch) for epoch in self.epochs_])


def _autoencoder(batch_size, callbacks=None):
    # Deterministic: no dropout or noise, so only the permutation is random.
    return AutoencoderTransformer(3, hidden_layer_sizes=(8,), max_iter=4, batch_size=batch_size,
                                  tol=0, random_state=0, callbacks=callbacks)


def _models():
    """What every rank trains, by name: ``name -> fitted estimator``."""
    X = _data()
    models = {
        "autoencoder": _autoencoder(BATCH, callbacks=[RecordRows()]).fit(X),
        # random_state=None on purpose: each rank draws its own seed and
        # must use rank 0's.
        "vae": VAETransformer(2, hidden_layer_sizes=(8,), max_iter=3, batch_size=BATCH, tol=0,
                              random_state=None, callbacks=[RecordRows()]).fit(X),
    }
    streamed = AutoencoderTransformer(2, hidden_layer_sizes=(8,), batch_size=BATCH, tol=0,
                                      max_grad_norm=1.0, random_state=None,
                                      callbacks=[RecordRows()])
    for chunk in np.split(X, 2):
        streamed.partial_fit(chunk)
    models["partial_fit"] = streamed
    return models


def _steps(est):
    return np.array([row["train_batch_count"] for row in est.net_.history])


def _worker(out_dir):
    """Run under torchrun: init the group, train, save this rank's results."""
    import torch.distributed as dist

    # Fitted before the group exists: a model trained alone.
    alone = _autoencoder(BATCH).fit(_data())
    dist.init_process_group("gloo")
    try:
        rank = dist.get_rank()
        results = {"world_size": dist.get_world_size()}
        for name, est in _models().items():
            results[f"{name}/weights"] = flat_parameters(est)
            results[f"{name}/loss_curve"] = np.array(est.loss_curve_)
            results[f"{name}/steps"] = _steps(est)
            results[f"{name}/rows"] = dict(est.net_.callbacks_)["RecordRows"].rows()
        alone.partial_fit(_data())  # now inside the group
        results["alone/weights"] = flat_parameters(alone)
        results["alone/steps"] = _steps(alone)
        np.savez(os.path.join(out_dir, f"rank{rank}.npz"), **results)
        saved = _autoencoder(BATCH).fit(_data())
        if rank == 0:  # the same model on every rank: save it once
            with open(os.path.join(out_dir, "autoencoder.pkl"), "wb") as f:
                pickle.dump(saved, f)
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(launcher, out_dir):
    """Run this file under ``launcher`` (a command line) and load each rank's results."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", HF_HUB_OFFLINE="1")
    if sys.platform.startswith("linux"):
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # loopback only
    try:
        proc = subprocess.run([*launcher, __file__, str(out_dir)], env=env, capture_output=True,
                              text=True, timeout=LAUNCH_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{launcher[:3]} did not finish in {LAUNCH_TIMEOUT_S} s:\n{exc.stderr}")
    assert proc.returncode == 0, f"{launcher} failed:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    return [dict(np.load(out_dir / f"rank{r}.npz")) for r in range(WORLD_SIZE)]


@pytest.fixture(scope="module")
def launch_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("torchrun")


@pytest.fixture(scope="module")
def ranks(launch_dir):
    """This file run under torchrun: 2 processes, gloo, one results dict per rank."""
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with the gloo backend is not available")
    torchrun = [sys.executable, "-m", "torch.distributed.run",
                "--nnodes", "1", "--nproc_per_node", str(WORLD_SIZE),
                "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    return _launch(torchrun, launch_dir)


@pytest.mark.parametrize("name", ["autoencoder", "vae", "partial_fit"])
def test_every_rank_holds_the_same_model(ranks, name):
    assert all(int(r["world_size"]) == WORLD_SIZE for r in ranks)
    first = ranks[0]
    for other in ranks[1:]:
        assert_array_equal(other[f"{name}/weights"], first[f"{name}/weights"])
        assert_array_equal(other[f"{name}/loss_curve"], first[f"{name}/loss_curve"])


@pytest.mark.parametrize("name", ["autoencoder", "vae", "partial_fit"])
def test_each_rank_trains_on_its_shard(ranks, name):
    X = _data()
    # Rows trained on in each epoch: all of X for fit, the chunk for partial_fit.
    epochs = ([X] * 4 if name == "autoencoder" else [X] * 3 if name == "vae"
              else np.split(X, 2))
    for rank in ranks:
        steps = rank[f"{name}/steps"]
        assert (steps == [len(e) // (WORLD_SIZE * BATCH) for e in epochs]).all(), steps
    # The ranks' shards of an epoch are disjoint and cover it: they split one
    # shared permutation (with random_state=None too, by rank 0's seed).
    for i, epoch in enumerate(epochs):
        seen = np.concatenate([rank[f"{name}/rows"][i] for rank in ranks])
        assert_array_equal(np.sort(seen), np.sort(epoch[:, 0]))


def test_ranks_at_batch_b_equal_one_process_at_world_size_times_b(ranks):
    one_process = _autoencoder(WORLD_SIZE * BATCH).fit(_data())
    rank0 = ranks[0]
    assert_allclose(rank0["autoencoder/loss_curve"], one_process.loss_curve_, rtol=1e-5)
    assert_allclose(rank0["autoencoder/weights"], flat_parameters(one_process),
                    rtol=1e-4, atol=1e-6)


def test_a_model_trained_data_parallel_trains_on_alone(ranks, launch_dir):
    # Saved on rank 0, loaded in an ordinary process (no process group).
    with open(launch_dir / "autoencoder.pkl", "rb") as f:
        est = pickle.load(f)
    assert_array_equal(flat_parameters(est), ranks[0]["autoencoder/weights"])
    X = _data()
    assert est.transform(X).shape == (N_ROWS, 3)  # inference needs no group
    est.partial_fit(X)
    assert est.n_iter_ == 5
    assert _steps(est)[-1] == N_ROWS // BATCH  # alone: all rows, one process


def test_a_model_trained_alone_trains_on_data_parallel(ranks):
    for rank in ranks:
        assert rank["alone/steps"][-1] == N_ROWS // (WORLD_SIZE * BATCH)
    assert_array_equal(ranks[1]["alone/weights"], ranks[0]["alone/weights"])


def test_torchrun_keeps_its_log_folder_in_the_session_tmp(ranks, scratch_dir):
    # conftest's scratch_dir: torchrun's torchelastic_*/ lands in pytest's folder, not in $TMPDIR.
    assert list(scratch_dir.glob("torchelastic_*"))


@pytest.mark.slow
def test_accelerate_launch_runs_the_same_script(ranks, tmp_path):
    # accelerate launch --multi_gpu starts the processes the way torchrun does
    # (it sets RANK, WORLD_SIZE, MASTER_ADDR, ...) also on a machine without a
    # GPU; the script inits its gloo group itself. (--cpu starts one process.)
    pytest.importorskip("accelerate")
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                  "--num_processes", str(WORLD_SIZE), "--num_machines", "1",
                  "--mixed_precision", "no", "--dynamo_backend", "no",
                  "--main_process_ip", "127.0.0.1", "--main_process_port", str(_free_port())]
    launched = _launch(accelerate, tmp_path)
    for key in (k for k in launched[0] if not k.endswith("/rows")):  # rows: each rank's shard
        for other in launched[1:]:
            assert_array_equal(other[key], launched[0][key], err_msg=key)
    # The seeded model is the one torchrun trains.
    assert_array_equal(launched[0]["autoencoder/weights"], ranks[0]["autoencoder/weights"])


if __name__ == "__main__":
    _worker(sys.argv[1])
