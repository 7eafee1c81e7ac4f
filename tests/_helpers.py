"""Plain helpers shared by the test modules: data, small estimators, weights.

Fixtures live in ``conftest.py``; functions, classes and constants that
tests call directly live here (``from _helpers import ...``: pytest puts
``tests/`` on ``sys.path``, as the folder has no ``__init__.py``).
"""

import copy
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from numpy.testing import assert_array_equal
from skorch.callbacks import Callback
from torch import nn

from skae.modules import TiedLinear

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "benchmarks"
#: The MNIST files of the tests that need them: ``$SKAE_MNIST_DIR``, else
#: ``shared/data/mnist`` next to the checkout (where this project keeps them).
MNIST_DIR = Path(os.environ.get("SKAE_MNIST_DIR") or REPO.parent / "shared" / "data" / "mnist")

N_SAMPLES, N_FEATURES = 60, 6

# Small and quick: 60 rows in batches of 16 are 4 optimizer steps an epoch.
FAST = {"hidden_layer_sizes": (8,), "max_iter": 3, "batch_size": 16, "random_state": 0}


def no_mnist(folder=MNIST_DIR, subset="train and test"):
    """Why a test that needs MNIST is skipped, and how to get the files."""
    return (
        f"no MNIST {subset} files in {folder}. To run it, download MNIST's IDX files "
        "(train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
        "t10k-labels-idx1-ubyte.gz; e.g. from https://ossci-datasets.s3.amazonaws.com/mnist/, "
        "torchvision's mirror) into a folder, Fashion-MNIST's (same names, from "
        "https://github.com/zalandoresearch/fashion-mnist, data/fashion/) into its "
        "fashion_mnist/ subfolder, and set SKAE_MNIST_DIR to that folder."
    )


def make_data(n_samples=N_SAMPLES, n_features=N_FEATURES, rank=2, noise=0.05, seed=0):
    """Rows near a rank-``rank`` subspace, each feature scaled to [0, 1]."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, rank) @ rng.randn(rank, n_features)
    X += noise * rng.randn(n_samples, n_features)
    return (X - X.min(axis=0)) / (X.max(axis=0) - X.min(axis=0))


def count(module, kind):
    """How many submodules of ``module`` (itself included) are a ``kind``."""
    return sum(isinstance(m, kind) for m in module.modules())


def dense_shapes(sequential):
    """(in, out) of each (possibly tied) linear layer of an encoder or decoder, in order."""
    shapes = []
    for m in sequential:
        if isinstance(m, nn.Linear):
            shapes.append((m.in_features, m.out_features))
        elif isinstance(m, TiedLinear):
            shapes.append((m.source.out_features, m.source.in_features))
    return shapes


def state_of(module):
    """A detached CPU copy of a module's state (parameters and buffers)."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def weights(est):
    """A detached CPU copy of a fitted estimator's module state."""
    return state_of(est.net_.module_)


def flat_parameters(est):
    """A fitted estimator's parameters, flattened into one numpy vector."""
    return np.concatenate([p.detach().cpu().numpy().ravel()
                           for p in est.net_.module_.parameters()])


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def assert_same_weights(a, b):
    """Bit-for-bit equal module states; ``a``/``b`` are estimators or state dicts."""
    wa, wb = (weights(e) if hasattr(e, "net_") else e for e in (a, b))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


class RecordInitialWeights(Callback):
    """Keeps a copy of the module's weights from before the first step (``initial_``)."""

    def on_train_begin(self, net, **kwargs):
        self.initial_ = state_of(net.module_)


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


def assert_raises_and_unchanged(fn, arg, exc, match):
    """``fn(arg)`` raises ``exc`` matching ``match`` and leaves ``arg`` as it was."""
    before = copy.deepcopy(arg)
    with pytest.raises(exc, match=match):
        fn(arg)
    if isinstance(arg, np.ndarray):
        assert_array_equal(arg, before)
    elif sp.issparse(arg):
        assert (arg != before).nnz == 0


# ---------------------------------------------------------- missing values

N_GAPPY = 300


def low_rank(n=N_GAPPY, d=6, seed=0):
    """Rows near a 2-D subspace, standardised: a model can fill gaps from the rest."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 2) @ rng.randn(2, d) + 0.1 * rng.randn(n, d)
    return (X - X.mean(axis=0)) / X.std(axis=0)


def with_gaps(X, fraction=0.2, seed=1):
    """``X`` with a ``fraction`` of its entries set to NaN, completely at random."""
    X = np.array(X, dtype=np.float64)
    X[np.random.RandomState(seed).rand(*X.shape) < fraction] = np.nan
    return X


def mixed_with_gaps(seed=0):
    """A table (numbers, nullable flags, object and category levels) with gaps of every kind."""
    rng = np.random.RandomState(seed)
    t = rng.randn(N_GAPPY)
    frame = pd.DataFrame({
        "x": t + 0.1 * rng.randn(N_GAPPY),
        "y": -t + 0.1 * rng.randn(N_GAPPY),
        "flag": pd.array(t > 0, dtype="boolean"),
        "level": pd.Series(np.where(t > 0.5, "hi", np.where(t < -0.5, "lo", "mid")),
                           dtype=object),
        "color": pd.Categorical(np.where(t > 0, "red", "blue")),
    })
    frame.loc[rng.rand(N_GAPPY) < 0.15, "x"] = np.nan
    frame.loc[rng.rand(N_GAPPY) < 0.15, "flag"] = pd.NA
    frame.loc[rng.rand(N_GAPPY) < 0.1, "level"] = None
    frame.loc[rng.rand(N_GAPPY) < 0.1, "level"] = np.nan
    frame.loc[rng.rand(N_GAPPY) < 0.15, "color"] = np.nan
    return frame


# ---------------------------------------------- seeing inside without private names

def network_input(est, X):
    """The rows of ``X`` as the fitted ``est``'s network reads them, as an array.

    For a table: each column as one float (numbers standardised, flags 0/1,
    level codes, -1 for no level; NaN where missing). Seen from outside: a
    forward pre-hook (torch's own) records what ``est.transform(X)`` hands
    the network's input layer (``net_.module_.input``), so no private
    method of the estimator is named.
    """
    layer = type(est.net_.module_.input)  # float64 data runs through a float64 copy
    seen = []

    def record(module, args):
        if type(module) is layer:
            seen.append(args[0].detach().cpu().numpy().copy())

    handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
    try:
        est.transform(X)
    finally:
        handle.remove()
    assert seen, "transform never reached the network's input layer"
    return np.concatenate(seen)


def _skae_modules_with(name):
    """skae's modules that hold ``name`` (where it is defined, and where it is imported)."""
    modules = [m for key, m in sorted(sys.modules.items())
               if (key == "skae" or key.startswith("skae.")) and hasattr(m, name)]
    assert modules, f"no skae module holds {name}"
    return modules


def skae_setting(name):
    """The value of one of skae's private module constants (e.g. ``INFERENCE_BATCH_SIZE``).

    Found by name in whichever module holds it, so a test that shrinks or
    reads such a setting does not break when the constant moves.
    """
    values = {getattr(m, name) for m in _skae_modules_with(name)}
    assert len(values) == 1, f"{name} differs between skae's modules: {values}"
    return values.pop()


def set_skae_setting(monkeypatch, name, value):
    """Set one of skae's private module constants for one test, in every module that holds it."""
    for module in _skae_modules_with(name):
        monkeypatch.setattr(module, name, value)
