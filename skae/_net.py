"""The private skorch side of skae: the net the estimators train.

The estimators build an :class:`AutoencoderNet` in ``fit`` (see
:mod:`skae._wiring`) and keep it as ``net_``. It differs from skorch's
``NeuralNet`` only through skorch's documented extension points:

- ``get_loss`` learns from ``X`` itself (there is no ``y``) and records the
  criterion's loss terms (e.g. the VAE's KL) per batch, which skorch's
  ``PassthroughScoring`` averages into the epoch's history;
- ``predict`` gives reconstructions in data space (the output activation
  applied to the decoder's outputs), so skorch's ``EpochScoring`` with an
  sklearn metric (``'neg_mean_squared_error'``) scores them against X;
- ``get_iterator`` builds the data path of :mod:`skae._data`: a
  :class:`~skae._data.TensorDataset` holding one tensor and a
  :class:`~skae._data.BatchIterator` that slices whole batches out of it.

Training rules live in the callbacks of :mod:`skae._callbacks`.
"""

import numpy as np
import torch
from skorch import NeuralNet
from skorch.utils import to_numpy

# Pickles of skae 0.2 name the data path's classes and the callbacks by this
# module (``skae._net.TrainingGuard``): they stay importable from here.
from ._callbacks import (  # noqa: F401
    AdaptiveLearningRate,
    EarlyStopping,
    KLWarmup,
    ProgressBar,
    ThreadPolicy,
    TrainingGuard,
)
from ._data import BatchIterator, HoldOut, SparseRows, TensorDataset  # noqa: F401
from ._distributed import data_parallel_shard
from .exceptions import TrainingDivergedError  # noqa: F401  (importable from here, as in 0.2)
from .modules import init_parameters


class AutoencoderNet(NeuralNet):
    """skorch ``NeuralNet`` whose loss compares the module's output with X.

    ``generator_`` (set by the estimator for each training call, else None)
    is the source of the shuffling; the shard of a data-parallel run is
    looked up when each epoch's iterator is made.
    """

    generator_ = None

    def initialize_module(self):
        # Built on the meta device, then materialised and initialised from
        # generator_ (the fit's own): building draws nothing from torch's
        # global generator, so it neither disturbs nor depends on other code.
        with torch.device("meta"):
            super().initialize_module()
        self.module_ = init_parameters(self.module_.to_empty(device=self.device),
                                       self.generator_)
        return self

    def _set_training(self, training=True):
        # skorch calls this before every batch, and torch's Module.train walks
        # every submodule each time (2-3% of a small model's step). Modes
        # change only here and in skae's inference, which sets the whole tree
        # at once, so the root's mode tells whether the tree needs the walk.
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = self.criterion_(y_pred, X, self.module_)
        prefix = "train" if training else "valid"
        for name, value in self.criterion_.terms.items():
            self.history.record_batch(f"{prefix}_{name}", value.item())
        return loss

    def predict_proba(self, X):
        """Reconstructions of ``X`` in data space, as a numpy array.

        The module's output activation (:attr:`output`, e.g. the sigmoid of
        ``loss='bce'``, or a table's per-column heads) applied to the
        decoder's outputs, which ``forward`` returns first. ``predict`` is
        the same.
        """
        outputs = []
        with torch.no_grad():
            for y_pred in self.forward_iter(X, training=False):
                x_pre = y_pred[0] if isinstance(y_pred, tuple) else y_pred
                outputs.append(to_numpy(self.module_.output(x_pre)))
        return np.concatenate(outputs, 0)

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training=False)
        return self.iterator_train(
            dataset, batch_size=self.batch_size, shard=data_parallel_shard(),
            generator=self.generator_, **self.get_params_for("iterator_train"),
        )

    def __setstate__(self, state):
        super().__setstate__(state)
        # torch's LBFGS keeps its parameter list in a private attribute that
        # Optimizer.__setstate__ does not restore; without it an unpickled
        # net cannot take another step (still so in torch 2.13: partial_fit
        # after unpickling raises AttributeError '_params').
        optimizer = self.__dict__.get("optimizer_")
        if isinstance(optimizer, torch.optim.LBFGS) and not hasattr(optimizer, "_params"):
            optimizer._params = optimizer.param_groups[0]["params"]
            optimizer._numel_cache = None
