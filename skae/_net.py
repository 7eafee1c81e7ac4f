"""The private skorch side of skae: a net, its data path and its callbacks.

The estimators build an :class:`AutoencoderNet` in ``fit`` and keep it as
``net_``. It differs from skorch's ``NeuralNet`` only through skorch's
documented extension points:

- ``get_loss`` learns from ``X`` itself (there is no ``y``) and records the
  criterion's loss terms (e.g. the VAE's KL) per batch, which skorch's
  ``PassthroughScoring`` averages into the epoch's history;
- ``predict`` gives reconstructions in data space (the output activation
  applied to the decoder's outputs), so skorch's ``EpochScoring`` with an
  sklearn metric (``'neg_mean_squared_error'``) scores them against X;
- ``get_iterator`` builds the data path: a :class:`TensorDataset` holding
  one tensor (on the training device when it fits) and a
  :class:`BatchIterator` that slices whole batches out of it, instead of
  skorch's per-row ``Dataset`` and ``DataLoader`` collate, which is slow on
  tabular data (skorch#1100);
- training rules live in callbacks: :class:`TrainingGuard` (divergence,
  interruption, last good weights), :class:`EarlyStopping`,
  :class:`KLWarmup`, :class:`ProgressBar`, :class:`ThreadPolicy`,
  :class:`AdaptiveLearningRate`.
"""

import math
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, LRScheduler
from skorch.callbacks import EarlyStopping as _SkorchEarlyStopping
from skorch.utils import noop, to_numpy

from ._distributed import data_parallel_shard
from ._threads import resolve_n_jobs, set_threads
from .exceptions import TrainingDivergedError  # also importable from here, as in 0.2
from .modules import init_parameters


class SparseRows:
    """A scipy CSR matrix that hands out dense float32 tensors of its rows.

    Stands in for the training tensor of a :class:`TensorDataset` when the
    input is sparse: a batch (a slice or ``index_select``) is densified on
    its own, never the whole matrix.
    """

    device = torch.device("cpu")

    def __init__(self, matrix):
        self.matrix = matrix

    def __len__(self):
        return self.matrix.shape[0]

    def _dense(self, rows):
        return torch.from_numpy(rows.toarray())

    def __getitem__(self, index):
        return self._dense(self.matrix[index])

    def index_select(self, dim, index):
        """Rows ``index`` as a dense tensor (``dim`` must be 0)."""
        return self._dense(self.matrix[index.cpu().numpy()])

    def take(self, index):
        """Rows ``index`` as another :class:`SparseRows`."""
        return SparseRows(self.matrix[index.cpu().numpy()])


def _permutation(n, X, generator):
    # Drawn where the generator lives (the training device), then moved to
    # the rows: sparse rows, and dense ones too large for the GPU, stay on
    # the CPU while their batches move.
    device = X.device if generator is None else generator.device
    return torch.randperm(n, device=device, generator=generator).to(X.device)


class TensorDataset(torch.utils.data.Dataset):
    """All training rows as one tensor (or :class:`SparseRows`); rows are their own targets."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.X[i]


class BatchIterator:
    """Yield ``(X_batch, X_batch)`` slices of a :class:`TensorDataset`.

    The rows are their own targets: skorch's ``EpochScoring`` (with its
    default caching) compares them with ``predict``, the reconstructions.

    Shuffling draws one permutation per epoch from ``generator`` (the
    estimator's, seeded by ``random_state``; torch's global generator when
    None) and gathers each batch with ``index_select``,
    as a hand-written training loop does. A last batch of a single row is
    dropped when shuffling, since batch norm cannot train on it; the row is
    seen in other epochs.

    With ``shard=(rank, world_size)`` (data-parallel training), every process
    draws the same permutation and keeps every ``world_size``-th row of it,
    cut to the same length on all ranks so they take the same number of
    steps.
    """

    def __init__(self, dataset, batch_size, shuffle=False, shard=None, generator=None):
        self.X = dataset.X
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.shard = shard
        self.generator = generator

    def _n_rows(self):
        if self.shard is None:
            return len(self.X)
        return len(self.X) // self.shard[1]

    def _bounds(self):
        n, bs = self._n_rows(), self.batch_size
        stops = list(range(bs, n, bs)) + [n]
        starts = [0] + stops[:-1]
        if self.shuffle and n > 1 and stops[-1] - starts[-1] == 1:
            starts, stops = starts[:-1], stops[:-1]
        return zip(starts, stops)

    def __len__(self):
        return len(list(self._bounds()))

    def __iter__(self):
        X = self.X
        if not self.shuffle and self.shard is None:
            for start, stop in self._bounds():
                batch = X[start:stop]
                yield batch, batch
            return
        order = _permutation(len(X), X, self.generator) if self.shuffle else \
            torch.arange(len(X), device=X.device)
        if self.shard is not None:
            rank, world_size = self.shard
            order = order[rank::world_size][: self._n_rows()]
        for start, stop in self._bounds():
            batch = X.index_select(0, order[start:stop])
            yield batch, batch


class HoldOut:
    """skorch ``train_split``: a random hold-out of a :class:`TensorDataset`.

    The rows are drawn from ``generator`` (torch's global one when None).
    """

    generator = None

    def __init__(self, fraction):
        self.fraction = fraction

    def __call__(self, dataset, y=None, groups=None):
        n = len(dataset)
        n_valid = math.ceil(self.fraction * n)
        if n - n_valid < 1:
            raise ValueError(
                f"early_stopping needs at least one training row after holding out "
                f"validation_fraction={self.fraction} of {n} samples."
            )
        perm = _permutation(n, dataset.X, self.generator)
        X = dataset.X
        take = X.take if isinstance(X, SparseRows) else (lambda rows: X.index_select(0, rows))
        return TensorDataset(take(perm[n_valid:])), TensorDataset(take(perm[:n_valid]))


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


def _clone(tree):
    """Copy nested dicts and lists, cloning tensors (cheaper than deepcopy)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: _clone(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_clone(v) for v in tree)
    return tree


class TrainingGuard(Callback):
    """Keep the last good weights; stop on divergence; survive Ctrl-C.

    - At the start of each epoch, the module's weights and the optimizer's
      state are copied (after every callback's ``on_train_begin``, so a
      checkpoint loaded by skorch's ``LoadInitState`` is what gets copied).
    - An epoch whose training or validation loss is NaN or infinite (any
      of its batches was) restores both (the optimizer's moments have seen
      the non-finite gradients) and raises :class:`TrainingDivergedError`
      naming the epoch and learning rate, and whether an epoch completed
      (without one, the estimator forgets the net).
    - skorch ends training quietly on ``KeyboardInterrupt``; when that
      happens mid-epoch, the half-trained weights are replaced by the last
      completed epoch's, the unfinished epoch is dropped from the history,
      and a warning says so.

    It also counts what the estimator checks after training: the epochs
    completed in this call (``epochs_run_``), whether Ctrl-C ended it
    (``interrupted_``), and how many epochs of history a callback loaded
    before the first epoch (``resumed_epochs_``, e.g. skorch's
    ``LoadInitState``).
    """

    def on_train_begin(self, net, **kwargs):
        self.epochs_run_ = 0
        self.interrupted_ = False
        self.history_at_start_ = len(net.history)
        self.resumed_epochs_ = None

    def on_epoch_begin(self, net, **kwargs):
        if self.resumed_epochs_ is None:  # callbacks' on_train_begin have all run
            self.resumed_epochs_ = len(net.history) - 1 - self.history_at_start_
        self._snapshot(net)

    # The snapshot lives only while training: device tensors kept afterwards
    # would be pickled with the estimator and tie it to that device.
    def _snapshot(self, net):
        self.good_state_ = _clone(net.module_.state_dict())
        self.good_optimizer_state_ = _clone(net.optimizer_.state_dict())

    def _restore(self, net):
        net.module_.load_state_dict(self.good_state_)
        net.optimizer_.load_state_dict(self.good_optimizer_state_)

    def on_epoch_end(self, net, **kwargs):
        # The epoch's losses are means of its batch losses, so one non-finite
        # batch shows here; checking once per epoch keeps the batch loop lean,
        # and the rollback target (this epoch's start) is the same.
        row = net.history[-1]
        for prefix in ("train", "valid"):
            value = row.get(prefix + "_loss")
            if value is not None and not math.isfinite(value):
                self._diverged(net, prefix, value)
        self.epochs_run_ += 1

    def _diverged(self, net, prefix, value):
        lr = net.optimizer_.param_groups[0]["lr"]  # before the rollback restores it
        self.rollback(net, drop_epoch=True)
        completed = len(net.history)
        # With no completed epoch there are no trained weights: the estimator
        # then forgets the net (see BaseAutoencoder._fit_net).
        kept = (f"The weights of the last completed epoch ({completed}) were kept."
                if completed else "No epoch completed, so the estimator is left unfitted.")
        at = "" if lr == net.lr else f"; it was {lr:g} when training diverged"
        raise TrainingDivergedError(
            f"Training diverged: the {prefix} loss became {value} in epoch {completed + 1}. "
            f"{kept} Lower learning_rate_init (it is {net.lr:g}{at}), scale the data "
            f"(e.g. StandardScaler), or clip gradients with max_grad_norm."
        )

    def rollback(self, net, drop_epoch=False):
        """Restore the weights from the start of the current epoch, if unfinished.

        The current epoch is dropped from the history when it did not finish
        (no ``train_loss`` yet) or when ``drop_epoch`` says so. Returns whether
        it was dropped.
        """
        drop = bool(net.history) and (drop_epoch or "train_loss" not in net.history[-1])
        if drop and hasattr(self, "good_state_"):
            self._restore(net)
            del net.history[-1]
        self.__dict__.pop("good_state_", None)
        self.__dict__.pop("good_optimizer_state_", None)
        return drop

    def on_train_end(self, net, **kwargs):
        self.resumed_epochs_ = self.resumed_epochs_ or 0
        if self.rollback(net):
            self.interrupted_ = True
            warnings.warn(
                f"Training was interrupted; kept the weights of the last completed "
                f"epoch ({len(net.history)}).",
                RuntimeWarning,
                stacklevel=2,
            )
        net.module_.eval()


class EarlyStopping(_SkorchEarlyStopping):
    """skorch's ``EarlyStopping`` with the estimators' ``tol`` rule, saying why it stopped.

    ``threshold`` is the estimator's ``tol``. skorch runs ``PrintLog``
    after every other callback, so the epoch whose ``on_epoch_end`` stops
    training would never reach the per-epoch table (``verbose=2``). This
    prints that row first, then the stopping message, which (unlike
    skorch's) says that an improvement counts only above ``tol``: the table
    marks every new best. The reason is kept as ``stop_reason_`` (None
    until the callback stops training) for :class:`ProgressBar`.
    """

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.stop_reason_ = None

    def on_epoch_end(self, net, **kwargs):
        sink, self.sink = self.sink, noop  # skorch's stopping message: replaced below
        try:
            super().on_epoch_end(net, **kwargs)
        except KeyboardInterrupt:
            self.stop_reason_ = self._reason()
            print_log = dict(net.callbacks_).get("print_log")
            if print_log is not None:
                print_log.on_epoch_end(net)
            self.sink = sink
            self._sink(f"Stopping since {self.stop_reason_}.", verbose=net.verbose)
            raise
        finally:
            self.sink = sink

    def _reason(self):
        by = ""
        if self.threshold > 0:
            scale = "relative" if self.threshold_mode == "rel" else "absolute"
            by = f"by more than tol={self.threshold:g} ({scale}) "
        return f"{self.monitor} has not improved {by}in the last {self.patience} epochs"


class ThreadPolicy(Callback):
    """Set the torch threads of each epoch (the estimators' ``n_jobs``).

    The estimator sets, before each training call, ``n_jobs``, ``flops``
    (the work of one training step) and ``ceiling`` (torch's thread count
    when it was called, which it restores afterwards). With ``n_jobs=None``
    the choice is made again at each epoch start, so a fit follows a
    machine that gets busier or quieter (see :mod:`skae._threads`).
    """

    n_jobs = None
    flops = 0.0
    ceiling = 1

    def on_epoch_begin(self, net, **kwargs):
        set_threads(resolve_n_jobs(self.n_jobs, self.flops, self.ceiling))


class AdaptiveLearningRate(LRScheduler):
    """skorch's ``LRScheduler`` around torch's ``ReduceLROnPlateau``, dropped after training.

    The torch scheduler holds the optimizer, which skorch pickles apart
    (mapping its tensors to a device): kept after training, it would be
    pickled again as it is. ``on_train_begin`` makes a new one anyway.
    """

    def on_train_end(self, net, **kwargs):
        self.lr_scheduler_ = None


class KLWarmup(Callback):
    """Anneal the VAE's KL weight linearly from 0 to ``beta`` over ``epochs``."""

    def __init__(self, beta, epochs):
        self.beta = beta
        self.epochs = epochs

    def on_epoch_begin(self, net, **kwargs):
        done = len(net.history) - 1  # epochs completed before this one
        weight = self.beta * min(1.0, done / self.epochs) if self.epochs else self.beta
        net.criterion_.beta = weight
        net.history.record("kl_weight", weight)

    def on_train_end(self, net, **kwargs):
        net.criterion_.beta = self.beta


class ProgressBar(Callback):
    """A tqdm progress bar over epochs showing the latest losses.

    ``total`` is the number of epochs of the coming training call (the
    estimator sets it before each; ``net.max_epochs`` when None). When a
    callback with a ``stop_reason_`` (:class:`EarlyStopping`) ends training
    before ``total`` epochs, a line after the bar says why.
    """

    def __init__(self, total=None):
        self.total = total

    def on_train_begin(self, net, **kwargs):
        from tqdm.auto import tqdm

        self.bar_ = tqdm(total=self.total or net.max_epochs, unit="epoch", leave=True)

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.bar_.set_postfix(
            {k: f"{row[k]:.4g}" for k in ("train_loss", "valid_loss") if k in row}, refresh=False
        )
        self.bar_.update(1)

    def on_train_end(self, net, **kwargs):
        self.bar_.close()
        reasons = [getattr(cb, "stop_reason_", None) for _, cb in net.callbacks_]
        reason = next((r for r in reasons if r), None)
        if reason is not None and self.bar_.n < self.bar_.total:
            print(f"Stopped early after {self.bar_.n} of {self.bar_.total} epochs: {reason}.")
