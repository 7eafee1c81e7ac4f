"""Training and inference on a CUDA device.

Every test here needs a GPU and is skipped, with that reason, without one.
"""

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from skorch.callbacks import Callback

from skae import AutoencoderTransformer, VAETransformer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.fixture
def X():
    return np.random.RandomState(0).rand(300, 20).astype(np.float32)


class _BatchDevices(Callback):
    """Record the device of every training batch."""

    def on_train_begin(self, net, **kwargs):
        self.devices = set()

    def on_batch_begin(self, net, batch=None, **kwargs):
        self.devices.add(batch[0].device.type)


@pytest.mark.parametrize("Est", [AutoencoderTransformer, VAETransformer])
def test_cuda_fit_keeps_data_and_model_on_the_device(Est, X):
    spy = _BatchDevices()
    est = Est(4, hidden_layer_sizes=(16,), max_iter=3, device="cuda", callbacks=[spy],
              random_state=0).fit(X)
    assert spy.devices == {"cuda"}
    assert all(p.device.type == "cuda" for p in est.net_.module_.parameters())
    Z = est.transform(X)
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float32 and np.isfinite(Z).all()
    assert est.inverse_transform(Z).shape == X.shape
    assert np.isfinite(est.score_samples(X)).all()


def test_auto_device_picks_cuda(X):
    est = AutoencoderTransformer(2, hidden_layer_sizes=(8,), max_iter=1, device="auto").fit(X)
    assert est.net_.device.type == "cuda"


def test_float64_inference_on_cuda_matches_float32(X):
    est = AutoencoderTransformer(3, hidden_layer_sizes=(16,), max_iter=2, device="cuda",
                                 random_state=0).fit(X)
    Z32 = est.transform(X)
    Z64 = est.transform(X.astype(np.float64))
    assert Z64.dtype == np.float64
    assert_allclose(Z64, Z32, rtol=1e-3, atol=1e-4)


def test_cuda_matches_cpu_quality(X):
    """Same model, same data: GPU and CPU training reach similar losses."""
    kw = dict(n_components=4, hidden_layer_sizes=(16,), max_iter=30, tol=0, random_state=0)
    cpu = AutoencoderTransformer(**kw).fit(X)
    gpu = AutoencoderTransformer(device="cuda", **kw).fit(X)
    assert gpu.loss_curve_[-1] == pytest.approx(cpu.loss_curve_[-1], rel=0.1)


def test_conv_vae_on_cuda():
    X = np.random.RandomState(0).rand(64, 3 * 9 * 7).astype(np.float32)
    vae = VAETransformer(2, image_shape=(3, 9, 7), conv_channels=(4, 8), max_iter=2,
                         device="cuda", random_state=0).fit(X)
    assert vae.inverse_transform(vae.transform(X)).shape == X.shape
    assert vae.sample(5, random_state=0).shape == (5, X.shape[1])


def test_cuda_pickle_loads_and_transforms_without_cuda(X, tmp_path):
    """A model trained on CUDA unpickles and transforms where CUDA is absent."""
    est = AutoencoderTransformer(3, hidden_layer_sizes=(16,), max_iter=2, device="cuda",
                                 random_state=0).fit(X)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(est))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Z.npy", est.transform(X))
    script = (
        "import pickle, sys, warnings, numpy as np, torch\n"
        "assert not torch.cuda.is_available()\n"
        "d = sys.argv[1]\n"
        "with warnings.catch_warnings():\n"
        "    warnings.simplefilter('ignore')\n"
        "    est = pickle.load(open(d + '/model.pkl', 'rb'))\n"
        "Z = est.transform(np.load(d + '/X.npy'))\n"
        "np.testing.assert_allclose(Z, np.load(d + '/Z.npy'), rtol=1e-4, atol=1e-5)\n"
        "print('ok', est.net_.device)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok cpu")
