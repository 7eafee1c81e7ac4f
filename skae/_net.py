"""The private skorch side of skae: the net the estimators train.

The estimators build an :class:`AutoencoderNet` in ``fit`` (see
:mod:`skae._wiring`) and keep it as ``net_``. It differs from skorch's
``NeuralNet`` only through skorch's documented extension points:

- ``get_loss`` learns from ``X`` itself, and from the code's targets ``y``
  when the criterion has a ``target_weight`` (the estimators'
  ``fit(X, y)``), and records the criterion's loss terms (e.g. the VAE's
  KL) per batch, which skorch's ``PassthroughScoring`` averages into the
  epoch's history;
- ``run_single_epoch`` is skorch's loop, except that it reads the batches'
  losses off the device once per epoch rather than once per batch, and
  calls only the callbacks' per-batch methods that do something;
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
from skorch.callbacks import Callback
from skorch.dataset import get_len
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

_BATCH_HOOKS = ("on_batch_begin", "on_grad_computed", "on_batch_end")
# skorch's per-batch methods that do nothing (the net's on_batch_begin starts
# the batch's history entry).
_EMPTY_HOOKS = frozenset({Callback.on_batch_begin, Callback.on_grad_computed,
                          Callback.on_batch_end, NeuralNet.on_grad_computed,
                          NeuralNet.on_batch_end})


class AutoencoderNet(NeuralNet):
    """skorch ``NeuralNet`` whose loss compares the module's output with X.

    ``generator_`` (set by the estimator for each training call, else None)
    is the source of the shuffling; the shard of a data-parallel run is
    looked up when each epoch's iterator is made.
    """

    generator_ = None
    _batch_hooks = None  # in run_single_epoch: {method name: the methods notify calls}

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
        # Without targets, the batch's rows are their own y_true (see _data.BatchIterator).
        targets = y_true if self.criterion_.target_weight else None
        loss = self.criterion_(y_pred, X, self.module_, targets)
        prefix = "train" if training else "valid"
        for name, value in self.criterion_.terms.items():
            # Inside run_single_epoch, a tensor that the epoch's end reads.
            value = value.item() if self._batch_hooks is None else value.detach()
            self.history.record_batch(f"{prefix}_{name}", value)
        return loss

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """Run one training or validation epoch, reading its losses once.

        skorch's ``NeuralNet.run_single_epoch`` with two differences:

        - each batch's loss (``<prefix>_loss``) and the criterion's terms
          (``<prefix>_<term>``, see :meth:`get_loss`) are recorded in the
          batch's history entry as detached 0-d tensors while the epoch
          runs, and replaced by floats (what skorch's ``.item()`` gives)
          in one transfer when it ends, before any ``on_epoch_end``:
          skorch's ``.item()`` per batch makes the host wait for a GPU to
          finish each batch before it can queue the next one;
        - the per-batch methods that :meth:`notify` calls (the net's and
          the callbacks' ``on_batch_begin``, ``on_grad_computed`` and
          ``on_batch_end``) are looked up when the epoch starts, leaving
          out skorch's empty defaults: most callbacks have no per-batch
          work, and calling them costs a few percent of a small model's
          step.

        The calls are otherwise skorch's: ``on_batch_begin(batch,
        training)``, then ``step_fn``, whose steps call ``get_loss`` and
        ``on_grad_computed``, then ``on_batch_end(batch, training, loss,
        y_pred)`` with the step's loss tensor. A callback that reads a
        batch's loss from ``net.history`` during the epoch reads a tensor
        (``float()`` of it waits for the device, as ``.item()`` did).

        Parameters
        ----------
        iterator : iterable or None
            The epoch's batches; None skips the epoch (no validation data).
        training : bool
            Whether the epoch trains (``step_fn`` is ``train_step``).
        prefix : {'train', 'valid'}
            The prefix of the history's keys.
        step_fn : callable
            Called with each batch and ``fit_params``; returns skorch's
            step dict (``'loss'``, ``'y_pred'``).
        **fit_params : dict
            Passed to ``step_fn``.
        """
        if iterator is None:
            return
        entries = self.history[-1]["batches"]
        first = len(entries)
        batch_count = 0
        self._batch_hooks = {name: self._hooks(name) for name in _BATCH_HOOKS}
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                entry = entries[-1]  # what history.record_batch writes to, found once
                entry[prefix + "_loss"] = step["loss"].detach()
                Xi = batch[0] if isinstance(batch, (tuple, list)) else batch
                entry[prefix + "_batch_size"] = (len(Xi) if isinstance(Xi, torch.Tensor)
                                                 else get_len(Xi))
                self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
        finally:
            del self._batch_hooks  # back to the class's None (not pickled)
            keys = [prefix + "_loss", *(f"{prefix}_{name}" for name in self.criterion_.terms)]
            _read_tensors(entries[first:], keys)
        self.history.record(prefix + "_batch_count", batch_count)

    def notify(self, method_name, **cb_kwargs):
        # In run_single_epoch, the per-batch methods that do something, looked
        # up once per epoch; otherwise (and for other methods) skorch's notify.
        hooks = self._batch_hooks and self._batch_hooks.get(method_name)
        if hooks is None:
            return super().notify(method_name, **cb_kwargs)
        for hook in hooks:
            hook(self, **cb_kwargs)

    def _hooks(self, name):
        """The net's and the callbacks' ``name`` methods, less skorch's empty ones.

        What skorch's ``notify(name)`` calls, in its order; most callbacks
        have no per-batch work.
        """
        hooks = [getattr(self, name), *(getattr(cb, name) for _, cb in self.callbacks_)]
        return [hook for hook in hooks if getattr(hook, "__func__", None) not in _EMPTY_HOOKS]

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


def _read_tensors(entries, keys):
    """Replace the tensors under ``keys`` in the history entries by floats, in one transfer."""
    slots = [(entry, key) for entry in entries for key in keys
             if isinstance(entry.get(key), torch.Tensor)]
    if slots:
        # One stack and copy: float32 values promoted to float64 keep their value.
        values = torch.stack([entry[key].reshape(()) for entry, key in slots]).tolist()
        for (entry, key), value in zip(slots, values):
            entry[key] = value
