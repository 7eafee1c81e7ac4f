"""Settings shared by the whole test suite."""

import pytest
import torch


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
