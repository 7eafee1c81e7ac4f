"""Out-of-core and distributed use with dask: partial_fit streaming, dask-ml, joblib.

The spec, in order:

- ``partial_fit`` is one pass over the chunk it is given, and the model,
  the optimizer and its state (Adam's step counts and moments) carry over
  from call to call; ``n_iter_`` and ``loss_curve_`` count calls.
- dask-ml's ``Incremental`` feeds a dask array to ``partial_fit`` one block
  at a time (one call per block, each call sees exactly that block's rows),
  and nothing keeps a block alive once its call returns; ``Incremental`` and
  ``ParallelPostFit`` transform a dask array block by block into a dask array
  equal to the in-memory transform.
- On a real ``dask.distributed`` cluster (two worker processes) the same
  ``Incremental`` fit gives the same model as in one process, and
  ``GridSearchCV`` under ``joblib.parallel_backend('dask')`` gives the same
  scores and choice as ``n_jobs=1``.
"""

import weakref
from pathlib import Path

import numpy as np
import pytest
from _helpers import flat_parameters
from numpy.testing import assert_allclose, assert_array_equal
from skorch.callbacks import Callback

from skae import AutoencoderTransformer, VAETransformer

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")
Incremental = dask_ml_wrappers.Incremental
ParallelPostFit = dask_ml_wrappers.ParallelPostFit

N_FEATURES = 10


def _data(n_rows=400, seed=0, dtype=np.float32):
    return np.random.RandomState(seed).rand(n_rows, N_FEATURES).astype(dtype)


def _small(cls=AutoencoderTransformer, **params):
    # tol=0: no early stopping, so each partial_fit is exactly one epoch.
    defaults = dict(n_components=2, hidden_layer_sizes=(8,), batch_size=32, tol=0,
                    random_state=0)
    return cls(**{**defaults, **params})


def _adam_steps(est):
    """Adam's step count of each parameter (one per optimizer step)."""
    state = est.net_.optimizer_.state_dict()["state"]
    return {int(s["step"]) for s in state.values()}


class RecordChunks(Callback):
    """Remember the number of rows each training call (``partial_fit``) saw."""

    def initialize(self):
        self.rows_ = []
        return self

    def on_train_begin(self, net, X=None, **kwargs):
        self.rows_.append(len(X))


def _recorded_rows(est):
    return dict(est.net_.callbacks_)["RecordChunks"].rows_


# ------------------------------------------------------------- partial_fit


@pytest.mark.parametrize("cls", [AutoencoderTransformer, VAETransformer])
def test_partial_fit_streams_chunks_keeping_optimizer_state(cls):
    X = _data(300)
    chunks = np.array_split(X, 3)  # 100 rows each: 4 batches of at most 32
    est = _small(cls)
    steps = []
    for i, chunk in enumerate(chunks, start=1):
        assert est.partial_fit(chunk) is est
        assert est.n_iter_ == i
        assert len(est.loss_curve_) == i
        steps.append(_adam_steps(est))
    # One optimizer step per batch of each chunk, counted on from the previous
    # calls: the optimizer (and its moment estimates) is kept, not rebuilt.
    assert steps == [{4}, {8}, {12}]
    assert est.transform(X).shape == (300, 2)


def test_partial_fit_continues_the_same_model_and_optimizer():
    X = _data(200)
    est = _small().partial_fit(X)
    net, optimizer = est.net_, est.net_.optimizer_
    before = flat_parameters(est)
    est.partial_fit(X)
    assert est.net_ is net and est.net_.optimizer_ is optimizer
    assert not np.array_equal(flat_parameters(est), before)
    # partial_fit after fit trains on from fit's model and optimizer.
    fitted = _small(max_iter=3).fit(X)
    assert _adam_steps(fitted) == {3 * 7}
    fitted.partial_fit(X[:64])
    assert _adam_steps(fitted) == {3 * 7 + 2}
    assert fitted.n_iter_ == 4


def test_partial_fit_learns_from_a_stream():
    X = _data(400)
    est = _small(learning_rate_init=1e-2)
    for _ in range(3):
        for chunk in np.array_split(X, 4):
            est.partial_fit(chunk)
    assert est.n_iter_ == 12
    first_pass, last_pass = np.mean(est.loss_curve_[:4]), np.mean(est.loss_curve_[-4:])
    assert last_pass < 0.6 * first_pass


def test_partial_fit_is_reproducible_and_checks_the_feature_count():
    X = _data(200)
    a, b = _small(), _small()
    for chunk in np.array_split(X, 2):
        a.partial_fit(chunk)
        b.partial_fit(chunk)
    assert_array_equal(flat_parameters(a), flat_parameters(b))
    with pytest.raises(ValueError, match="features"):
        a.partial_fit(X[:, :5])


# ------------------------------------------------------------- dask-ml


def test_incremental_calls_partial_fit_once_per_block():
    X = _data(400)
    dX = da.from_array(X, chunks=(100, N_FEATURES))
    inc = Incremental(_small(callbacks=[RecordChunks()]), shuffle_blocks=False)
    with dask.config.set(scheduler="synchronous"):
        inc.fit(dX)
    est = inc.estimator_
    assert est.n_iter_ == dX.numblocks[0] == 4
    assert _recorded_rows(est) == [100, 100, 100, 100]
    assert _adam_steps(est) == {4 * 4}
    # Identical to calling partial_fit on the blocks by hand, in order.
    by_hand = _small()
    for block in np.split(X, 4):
        by_hand.partial_fit(block)
    assert_array_equal(flat_parameters(est), flat_parameters(by_hand))
    # Learned attributes are copied onto the wrapper; partial_fit makes another pass.
    assert inc.n_iter_ == 4
    inc.partial_fit(dX)
    assert inc.estimator_.n_iter_ == 8


def test_incremental_streams_a_memmap_one_block_at_a_time(tmp_path):
    # A stand-in for a file larger than memory: each partial_fit call gets one
    # block, a view of the file that is read when skae copies it to a tensor.
    n_rows, block = 1000, 50
    mm = np.memmap(tmp_path / "X.f32", dtype=np.float32, mode="w+",
                   shape=(n_rows, N_FEATURES))
    mm[:] = _data(n_rows)
    mm.flush()
    X = np.memmap(tmp_path / "X.f32", dtype=np.float32, mode="r", shape=(n_rows, N_FEATURES))
    dX = da.from_array(X, chunks=(block, N_FEATURES))
    inc = Incremental(_small(callbacks=[RecordChunks()]), random_state=0)
    with dask.config.set(scheduler="synchronous"):
        inc.fit(dX)
    assert _recorded_rows(inc.estimator_) == [block] * (n_rows // block)
    assert inc.estimator_.n_iter_ == 20


def test_incremental_keeps_no_block_alive():
    # Blocks made on demand; a weak reference tells when each is freed.
    n_blocks, block = 20, 50
    alive, peak = set(), [0]

    def make_block(block_info=None):
        i = block_info[None]["chunk-location"][0]
        out = np.random.default_rng(i).random((block, N_FEATURES), dtype=np.float32)
        alive.add(i)
        peak[0] = max(peak[0], len(alive))
        weakref.finalize(out, alive.discard, i)
        return out

    dX = da.map_blocks(make_block, chunks=((block,) * n_blocks, (N_FEATURES,)),
                       dtype=np.float32, meta=np.empty((0, N_FEATURES), np.float32))
    inc = Incremental(_small(), random_state=0)
    # The synchronous scheduler runs the chain of partial_fit calls block by
    # block; the threaded one may read blocks ahead (see docs/scaling.rst).
    with dask.config.set(scheduler="synchronous"):
        inc.fit(dX)
    assert inc.estimator_.n_iter_ == n_blocks
    assert peak[0] == 1
    assert not alive


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("wrapper", [ParallelPostFit, Incremental])
def test_wrapped_transform_of_a_dask_array_equals_in_memory(wrapper, dtype):
    X = _data(300, dtype=dtype)
    dX = da.from_array(X, chunks=(64, N_FEATURES))
    est = wrapper(_small(max_iter=3))
    est.fit(X)  # in memory: fit / one partial_fit
    Z = est.transform(dX)
    assert isinstance(Z, da.Array)
    assert Z.dtype == dtype and Z._meta.dtype == dtype and Z.ndim == 2
    assert isinstance(Z._meta, np.ndarray)
    # dask-ml keeps the input's chunks, so Z.shape claims X's width until
    # computed; the values are right.
    with dask.config.set(scheduler="synchronous"):
        computed = Z.compute()
    expected = est.estimator_.transform(X) if wrapper is Incremental else est.transform(X)
    assert computed.shape == (300, 2) and computed.dtype == dtype
    assert_allclose(computed, expected, rtol=1e-6, atol=1e-7)


def test_map_blocks_transform_has_the_right_lazy_shape():
    # The recipe of docs/scaling.rst: name the output chunks, then the lazy
    # array knows its shape before anything is computed.
    X = _data(300)
    dX = da.from_array(X, chunks=(64, N_FEATURES))
    est = _small(max_iter=3).fit(X)
    Z = dX.map_blocks(est.transform, chunks=(dX.chunks[0], (est.n_components_,)),
                      dtype=dX.dtype)
    assert Z.shape == (300, 2)
    with dask.config.set(scheduler="synchronous"):
        assert_allclose(Z.compute(), est.transform(X), rtol=1e-6, atol=1e-7)


# ------------------------------------------------------ dask.distributed
# Slow: starting a two-process cluster (each worker imports torch) takes about
# 15 s of the default suite's 2-minute budget on 2 cores. `make test-slow` runs
# them; the in-process dask tests above stay in the default suite.

@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


@pytest.mark.slow
def test_incremental_on_a_cluster_matches_one_process(client):
    X = _data(400)
    dX = da.from_array(X, chunks=(100, N_FEATURES))
    with dask.config.set(scheduler="synchronous"):
        local = Incremental(_small(), random_state=0).fit(dX)
    remote = Incremental(_small(), random_state=0).fit(dX)  # on the client's workers
    assert remote.estimator_.n_iter_ == 4
    assert_allclose(flat_parameters(remote.estimator_), flat_parameters(local.estimator_),
                    rtol=1e-6)
    Z = remote.transform(dX).compute()
    assert_allclose(Z, remote.estimator_.transform(X), rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_grid_search_on_a_cluster_matches_n_jobs_1(client):
    joblib = pytest.importorskip("joblib")
    from sklearn.model_selection import GridSearchCV

    X = _data(200)
    grid = {"n_components": [2, 3], "hidden_layer_sizes": [(8,), (4,)]}
    est = AutoencoderTransformer(random_state=0, max_iter=3, batch_size=32)
    local = GridSearchCV(est, grid, cv=2, n_jobs=1).fit(X)
    with joblib.parallel_backend("dask"):
        remote = GridSearchCV(est, grid, cv=2).fit(X)
    assert_allclose(remote.cv_results_["mean_test_score"],
                    local.cv_results_["mean_test_score"], rtol=1e-6)
    assert remote.best_params_ == local.best_params_
    assert_allclose(remote.best_estimator_.transform(X), local.best_estimator_.transform(X),
                    rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_the_workers_keep_their_scratch_space_in_the_session_tmp(client, scratch_dir):
    # conftest's scratch_dir: dask-scratch-space/ lands in pytest's folder, not in $TMPDIR.
    folders = client.run(lambda dask_worker: dask_worker.local_directory)
    assert len(folders) == 2
    for folder in folders.values():
        assert Path(folder).is_relative_to(scratch_dir / "dask-scratch-space"), folder
