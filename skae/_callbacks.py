"""skae's training rules, as skorch callbacks.

:class:`TrainingGuard` (divergence, interruption, last good weights),
:class:`EarlyStopping` (the estimators' ``tol`` rule), :class:`ThreadPolicy`
(``n_jobs``), :class:`AdaptiveLearningRate` (``learning_rate='adaptive'``),
:class:`OneCycleLearningRate` (``learning_rate='one_cycle'``),
:class:`KLWarmup` (the VAE's ``kl_warmup``), :class:`TargetCheckpoint`
(the epoch whose code best predicts held-out labels) and :class:`ProgressBar`
(``verbose=1``). Each is configured through its ``__init__`` parameters,
and after the net is built through skorch's
``net.set_params(callbacks__<name>__<param>=...)``.
"""

import math
import warnings

import torch
from skorch.callbacks import Callback, LRScheduler
from skorch.callbacks import EarlyStopping as _SkorchEarlyStopping
from skorch.utils import noop

from ._threads import forward_flops, resolve_n_jobs, set_threads
from .exceptions import TrainingDivergedError
from .losses import target_loss


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
            scale = "relative" if self.threshold_mode == "rel" else "absolute"
            self.stop_reason_ = _no_improvement(self.monitor, self.threshold, scale,
                                                self.patience)
            _announce_stop(net, sink, self.stop_reason_)
            raise
        finally:
            self.sink = sink


def _no_improvement(monitor, threshold, scale, patience):
    """Why a stopping rule ended training: ``monitor`` has not improved by ``threshold``."""
    by = f"by more than tol={threshold:g} ({scale}) " if threshold > 0 else ""
    return f"{monitor} has not improved {by}in the last {patience} epochs"


def _announce_stop(net, sink, reason):
    """Print this epoch's row of the table, then why training stops (with the table only).

    skorch runs ``PrintLog`` after every other callback, so the epoch whose
    callback ends training would not reach the table; ``verbose=1`` shows a
    progress bar instead, which says the reason itself (:class:`ProgressBar`).
    """
    print_log = dict(net.callbacks_).get("print_log")
    if print_log is not None:
        print_log.on_epoch_end(net)
    if net.verbose:
        sink(f"Stopping since {reason}.")


class TargetCheckpoint(Callback):
    """Keep the weights of the epoch whose code best predicts held-out labels.

    The training data (a :class:`~skae._data.TensorDataset`) may hold
    labeled rows apart (``held_out``: rows and their targets, which training
    never sees). After each epoch, their mean target loss
    (:func:`skae.losses.target_loss` of the module's target heads on
    ``encode``, the code of ``transform``) is recorded in the history as
    ``valid_target``; when training ends, the weights of the epoch with the
    lowest are restored, as skorch's ``Checkpoint`` with ``load_best``
    would. Without held-out rows it does nothing.

    With a ``patience``, it also ends training once the held-out target
    loss has not improved by more than ``threshold`` (relative) in that
    many epochs: later epochs could only change the weights it restores
    by beating the best, and with few labels the best epoch comes early.
    The reason is kept as ``stop_reason_`` (None until it stops training),
    for :class:`ProgressBar`.

    The first ``warmup`` epochs of a training call are recorded but neither
    kept nor counted: under a one-cycle schedule the rate is still rising
    then, and with few held-out labels an early, barely trained epoch can
    look best by chance.

    Parameters
    ----------
    patience : int or None, default=None
        Epochs without improvement before training ends; None never ends
        it.
    threshold : float, default=0.0
        The relative improvement that counts (the estimators' ``tol``).
    sink : callable, default=noop
        Where the stopping message goes (``print`` when verbose).
    warmup : int, default=0
        Epochs at the start of each training call that it leaves out (set
        before each call).
    """

    def __init__(self, patience=None, threshold=0.0, sink=noop, warmup=0):
        self.patience = patience
        self.threshold = threshold
        self.sink = sink
        self.warmup = warmup

    def on_train_begin(self, net, X=None, **kwargs):
        self.held_out_ = X.held_out
        self.best_loss_, self.best_state_ = math.inf, None
        self.reference_loss_, self.misses_, self.stop_reason_ = math.inf, 0, None
        self.epochs_ = 0

    def on_epoch_end(self, net, **kwargs):
        if self.held_out_ is None:
            return
        rows, targets = self.held_out_
        module = net.module_
        training = module.training
        module.eval()
        with torch.no_grad():
            loss = float(target_loss(module.target(module.encode(rows)), targets,
                                     module.target.widths).mean())
        module.train(training)
        net.history.record("valid_target", loss)
        self.epochs_ += 1
        if self.epochs_ <= self.warmup:
            return
        if loss < self.best_loss_:
            self.best_loss_, self.best_state_ = loss, _clone(module.state_dict())
        if loss < self.reference_loss_ * (1 - self.threshold):
            self.reference_loss_, self.misses_ = loss, 0
        else:
            self.misses_ += 1
        if self.patience is not None and self.misses_ >= self.patience:
            self.stop_reason_ = _no_improvement(
                "the held-out labeled rows' target loss (valid_target)", self.threshold,
                "relative", self.patience)
            _announce_stop(net, self.sink, self.stop_reason_)
            raise KeyboardInterrupt  # how skorch's callbacks end training

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
        # Nothing of the data outlives training (it would be pickled with the net).
        self.held_out_, self.best_state_ = None, None


class ThreadPolicy(Callback):
    """Set the torch threads of each epoch (the estimators' ``n_jobs``).

    At the start of each training call it reads torch's thread count (the
    ceiling of the policy, which the estimator restores afterwards) and the
    work of one training step (three forward passes of a batch, see
    :func:`~skae._threads.forward_flops`). With ``n_jobs=None`` the choice
    is made again at each epoch start, so a fit follows a machine that gets
    busier or quieter (see :mod:`skae._threads`).

    Parameters
    ----------
    n_jobs : int or None, default=None
        The estimator's ``n_jobs``: None is skae's policy, an int follows
        joblib's convention.
    """

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs

    def on_train_begin(self, net, **kwargs):
        self.ceiling_ = torch.get_num_threads()
        self.flops_ = 3 * net.batch_size * forward_flops(net)

    def on_epoch_begin(self, net, **kwargs):
        set_threads(resolve_n_jobs(self.n_jobs, self.flops_, self.ceiling_))


class AdaptiveLearningRate(LRScheduler):
    """skorch's ``LRScheduler`` around torch's ``ReduceLROnPlateau``, dropped after training.

    The torch scheduler holds the optimizer, which skorch pickles apart
    (mapping its tensors to a device): kept after training, it would be
    pickled again as it is. ``on_train_begin`` makes a new one anyway.
    """

    def on_train_end(self, net, **kwargs):
        self.lr_scheduler_ = None


#: The share of a one-cycle's steps over which the rate rises (torch's ``pct_start``).
ONE_CYCLE_PEAK = 0.3


class OneCycleLearningRate(Callback):
    """``learning_rate='one_cycle'``: torch's ``OneCycleLR`` over one training call.

    The rate climbs from ``lr / 25`` to the net's ``lr`` (the estimator's
    ``learning_rate_init``) over the first 30% of the call's steps, then
    anneals along a cosine to ``lr / 250,000``; Adam's ``beta1`` (SGD's
    momentum) cycles the other way, 0.95 to 0.85 and back (Smith 2018;
    torch's defaults). The cycle spans ``epochs`` epochs (``fit``:
    ``max_iter``; a ``partial_fit`` call: its one epoch), so its length in
    steps is only known once skorch has split the data: the scheduler is
    made at the call's first epoch and stepped after every training batch.
    The rate each epoch ended at is recorded as ``event_lr`` in the history.

    Parameters
    ----------
    epochs : int or None
        The epochs of the current training call, set before each call.
    """

    def __init__(self, epochs=None):
        self.epochs = epochs

    def on_train_begin(self, net, **kwargs):
        self.scheduler_ = None

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.scheduler_ is not None:
            return
        steps = len(net.get_iterator(dataset_train, training=True)) * max(self.epochs or 1, 1)
        defaults = net.optimizer_.defaults
        self.scheduler_ = torch.optim.lr_scheduler.OneCycleLR(
            net.optimizer_, max_lr=net.lr, total_steps=steps + 1,  # + 1: the last step
            pct_start=ONE_CYCLE_PEAK,
            cycle_momentum="betas" in defaults or bool(defaults.get("momentum")))

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            self.scheduler_.step()

    def on_epoch_end(self, net, **kwargs):
        net.history.record("event_lr", net.optimizer_.param_groups[0]["lr"])

    def on_train_end(self, net, **kwargs):
        # The scheduler holds the optimizer, which skorch pickles apart (see
        # AdaptiveLearningRate); the next call makes a new one.
        self.scheduler_ = None


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
