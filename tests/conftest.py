"""Settings and helpers shared by the whole test suite."""

import numpy as np
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


def assert_close_ulps(actual, desired, n_ulps, scale=None):
    """Assert that ``actual`` and ``desired`` differ by at most ``n_ulps`` ulps.

    An ulp is ``np.spacing`` of ``scale`` in the arrays' dtype; ``scale``
    defaults to the larger magnitude of the two, element by element. Results
    summed from terms of one size (a layer's outputs) carry rounding errors
    on the scale of those terms, not of each result: for them pass the
    largest magnitude (``scale=np.abs(desired).max()``), or a result that
    cancels to near zero is held to a far tighter bound than its terms allow.
    """
    actual, desired = np.asarray(actual), np.asarray(desired)
    assert actual.shape == desired.shape, (actual.shape, desired.shape)
    assert actual.dtype == desired.dtype, (actual.dtype, desired.dtype)
    if scale is None:
        scale = np.maximum(np.abs(actual), np.abs(desired))
    ulp = np.spacing(np.abs(np.asarray(scale, dtype=actual.dtype)))
    diff = np.abs(actual.astype(np.float64) - desired.astype(np.float64))
    worst = float(np.max(diff / ulp)) if diff.size else 0.0
    assert worst <= n_ulps, f"differ by up to {worst:.3g} ulps, more than {n_ulps}"
