"""Fixtures shared by the whole test suite (plain helpers are in ``_helpers.py``)."""

import contextlib
import sys
import tempfile

import pytest
import torch
from _helpers import make_data


@pytest.fixture(autouse=True, scope="session")
def scratch_dir(tmp_path_factory):
    """The temporary directory of the whole session: a folder of pytest's own.

    Libraries the tests drive leave scratch files in the temporary directory
    and never remove them: dask's ``dask-scratch-space/``, torchrun's
    ``torchelastic_*/`` log folders, torch.compile's ``torchinductor_<user>/``
    cache. Here ``tempfile`` (this process), ``TMPDIR`` (the processes it
    starts: torchrun, dask's workers), dask's ``temporary-directory`` and
    ``TORCHINDUCTOR_CACHE_DIR`` point into pytest's base temporary folder,
    which pytest removes with its old runs (it keeps the last 3), so
    ``$TMPDIR`` itself is left as it was. Tests that start such processes
    check that their files land here.
    """
    scratch = tmp_path_factory.mktemp("scratch")
    with pytest.MonkeyPatch.context() as patch, contextlib.ExitStack() as stack:
        patch.setattr(tempfile, "tempdir", str(scratch))
        patch.setenv("TMPDIR", str(scratch))
        patch.setenv("TORCHINDUCTOR_CACHE_DIR", str(scratch / "torchinductor"))
        dask = sys.modules.get("dask")  # imported by the test modules that use it
        if dask is not None:
            stack.enter_context(dask.config.set({"temporary-directory": str(scratch)}))
        yield scratch


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Run each test module's torch work on one intra-op thread.

    The test models are tiny: extra threads gain nothing and, on a busy
    2-core CI machine, spin-wait on each other (measured here: L-BFGS fits
    up to 50x slower on 2 shared cores). The setting is restored afterwards.
    """
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(scope="module")
def X():
    """60 rows near a rank-2 subspace of 6 features, in [0, 1] (``make_data()``).

    Read-only: no test may modify the shared data. Modules that need other
    data (more features, an image shape) define their own ``X``.
    """
    X = make_data()
    X.setflags(write=False)
    return X


#: Test files whose tests start processes (torchrun ranks, a dask cluster, the demo) and
#: take 5-15 s each: collected first, so that pytest-xdist's workers start them at once
#: instead of one worker finishing them alone at the end of the run.
_LONG_FIRST = ("test_data_parallel.py", "test_dask.py", "test_demo_smoke.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in _LONG_FIRST)  # stable: order kept
