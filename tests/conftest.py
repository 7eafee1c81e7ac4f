"""Fixtures shared by the whole test suite (plain helpers are in ``_helpers.py``)."""

import pytest
import torch
from _helpers import make_data


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
