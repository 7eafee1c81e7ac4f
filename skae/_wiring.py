"""From sklearn parameters to a skorch net: the wiring of skae's training.

An estimator resolves its parameters into a :class:`TrainingSpec` (the
optimizer and its settings, the batch size, the callbacks' settings) and
:func:`make_net` builds the :class:`~skae._net.AutoencoderNet` from it; the
device, torch's fused Adam, ``batch_size='auto'`` and the generator that
every random draw of a training call comes from are settled here too.
"""

import math
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

import torch
from skorch.callbacks import EpochScoring, GradientNormClipping, LRScheduler, PassthroughScoring
from skorch.utils import noop

from ._callbacks import (
    AdaptiveLearningRate,
    EarlyStopping,
    OneCycleLearningRate,
    ProgressBar,
    TargetCheckpoint,
    ThreadPolicy,
    TrainingGuard,
)
from ._data import BatchIterator, HoldOut
from ._distributed import DataParallelSync
from ._net import AutoencoderNet
from ._optim import LBFGS
from .modules import set_generator

OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "lbfgs": LBFGS,  # torch's, undoing a step that blows up (see skae._optim)
}


def auto_batch_size(n_train):
    """``batch_size='auto'``: 64 rows up to 12,800 training rows, then more.

    ``n_train / 200`` rounded down to a power of two (so an epoch has
    200-400 steps), at most 1024: big tables take bigger, cheaper steps
    (a 200,000-row epoch costs a quarter of what it does at 64 rows).
    """
    return int(min(1024, max(64, 2 ** math.floor(math.log2(max(n_train, 1) / 200)))))



#: ``max_iter='auto'`` with a one-cycle schedule: this many epochs, more on small
#: tables so that the cycle has at least AUTO_MIN_STEPS steps, at most AUTO_MAX_ITER.
AUTO_EPOCHS, AUTO_MIN_STEPS, AUTO_MAX_ITER = 60, 2_500, 200


def auto_max_iter(n_train, batch_size, schedule):
    """``max_iter='auto'``: the epochs of a fit on ``n_train`` rows in batches of ``batch_size``.

    With ``schedule='one_cycle'``: 60 epochs, or as many as give the cycle
    2,500 steps on a small table (``n_train`` below about 2,700 at batch 64;
    digits' 1,347 training rows get 114), at most 200. Otherwise 200, the
    ``tol`` rule and early stopping ending the fit before.
    """
    if schedule != "one_cycle":
        return AUTO_MAX_ITER
    steps = max(1, math.ceil(n_train / max(batch_size, 1)))
    return int(min(AUTO_MAX_ITER, max(AUTO_EPOCHS, math.ceil(AUTO_MIN_STEPS / steps))))


def available_devices():
    """The devices skae can train on here, as ``device`` strings: ``'cpu'`` first."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None and accelerator.is_available():
        kind = accelerator.current_accelerator().type
        if kind not in ("cuda", "mps"):
            devices.append(kind)
    return devices


def resolve_device(device):
    """Turn the ``device`` parameter into a ``torch.device`` or raise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device: {exc}") from None
    devices = available_devices()
    available = "available here: " + ", ".join(repr(d) for d in devices)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available "
            f"(torch.cuda.is_available() is False); {available}. Use device='cpu' or "
            "device='auto'."
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device={str(device)!r} was requested but only {torch.cuda.device_count()} "
            f"CUDA device(s) are visible; {available}."
        )
    if device.type == "meta":
        raise ValueError(
            f"device='meta' holds no data (tensors there have shapes, no values), so a "
            f"model cannot train on it; {available}."
        )
    if device.type != "cuda" and device.type not in {d.split(":")[0] for d in devices}:
        raise ValueError(
            f"device={str(device)!r} was requested but this torch build or machine has "
            f"no {device.type} backend; {available}. Use device='cpu' or device='auto'."
        )
    return device


@cache
def fused_adam_supported(device_type):
    """Whether torch's fused Adam runs on this device type (CPU: torch >= 2.4)."""
    try:
        param = torch.zeros(1, device=device_type, requires_grad=True)
        torch.optim.Adam([param], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


@contextmanager
def drawing_from(net, generator):
    """Route every random draw of a training call through ``generator``.

    Shuffling, the early-stopping hold-out, input corruption, dropout and
    the VAE's reparameterisation then use the fit's own stream, never
    torch's process-wide generator, so fits in concurrent threads cannot
    disturb each other.
    """
    holdout = net.train_split if isinstance(net.train_split, HoldOut) else None
    set_generator(net.module_, generator)
    net.generator_ = generator
    if holdout is not None:
        holdout.generator = generator
    try:
        yield
    finally:  # the generator is not part of the model: never pickle it
        set_generator(net.module_, None)
        net.generator_ = None
        if holdout is not None:
            holdout.generator = None


def _validation_monitor(callback):
    """The ``valid_*`` history key a skorch callback monitors, if any."""
    monitor = getattr(callback, "monitor", None)
    if isinstance(monitor, str) and monitor.startswith("valid"):
        return monitor
    return None


def check_user_callbacks(callbacks, validation, table, targets=False, schedule="constant"):
    """Refuse user ``callbacks`` that cannot work in this fit.

    Those that monitor validation scores when there are none (without
    ``validation`` rows), sklearn metrics of a ``table``'s
    reconstruction or of a model with ``targets`` (its batches' second
    half is ``y``, not ``X``), and a learning-rate scheduler beside skae's
    own ``schedule`` (the ``learning_rate`` in force).
    """
    for item in callbacks or ():
        name, callback = item if isinstance(item, tuple) else (type(item).__name__, item)
        if isinstance(callback, LRScheduler) and schedule != "constant":
            raise ValueError(
                f"Callback {name} is an LRScheduler, and learning_rate={schedule!r} "
                "schedules the learning rate too: the two would overwrite each other. "
                "Set learning_rate='constant' to use your own schedule."
            )
        metric = isinstance(callback, EpochScoring) and isinstance(callback.scoring, str)
        if metric and not callback.use_caching:
            raise ValueError(
                f"Callback {name} is an EpochScoring with scoring={callback.scoring!r} "
                "and use_caching=False, which passes the metric no targets: skae's rows "
                "are their own targets, and skorch hands them to the metric only from "
                "its cache. Leave use_caching=True (skorch's default)."
            )
        if metric and targets:
            raise ValueError(
                f"Callback {name} is an EpochScoring with scoring={callback.scoring!r}, "
                "which compares X with net_.predict, the reconstruction; with target_weight "
                "> 0 and labels, skorch hands it the targets y instead of X. Watch "
                "'train_loss' and 'valid_target' in net_.history instead, or fit with "
                "target_weight=0."
            )
        if metric and table:
            raise ValueError(
                f"Callback {name} is an EpochScoring with scoring={callback.scoring!r}, "
                "which compares X with net_.predict, the reconstruction; a table's "
                "reconstruction gives each categorical column's level probabilities, "
                "which no sklearn metric can compare with X entry by entry. Watch "
                "'train_loss' (and 'valid_loss' with early_stopping) in net_.history "
                "instead: the loss of each column relative to predicting its marginal; "
                "reconstruction_error(X, per_feature=True) gives it per column."
            )
        monitor = None if validation else _validation_monitor(callback)
        if monitor is not None:
            raise ValueError(
                f"Callback {name} monitors {monitor!r}, but there is no validation "
                "data: skae holds out validation rows only with early_stopping=True "
                "(validation_fraction sets their share). Set early_stopping=True, or "
                "monitor the training loss instead ('train_loss', or "
                "'train_loss_best' for Checkpoint)."
            )


def optimizer_kwargs(optimizer, learning_rate_init, weight_decay, device):
    """The keyword arguments of the optimizer named ``optimizer``, ``lr`` included.

    None for a user's optimizer class (``optimizer=torch.optim.RMSprop``)
    gives the learning rate and weight decay alone.
    """
    if optimizer == "lbfgs":
        return {"lr": 1.0, "line_search_fn": "strong_wolfe"}
    kwargs = {"lr": learning_rate_init}
    if optimizer == "sgd":
        kwargs.update(momentum=0.9, nesterov=True)
    elif optimizer in ("adam", "adamw") and fused_adam_supported(device.type):
        kwargs["fused"] = True  # one kernel per step (see benchmarks/bench_fit.py)
    if weight_decay:
        kwargs["weight_decay"] = weight_decay
    return kwargs


@dataclass(frozen=True)
class TrainingSpec:
    """What a net is built from: an estimator's parameters, resolved for one fit.

    Made by the estimator (``BaseAutoencoder._training_spec``) when it
    builds its net; :func:`make_net` turns it into skorch's parameters.

    Attributes
    ----------
    builder : callable
        The module builder of :mod:`skae.modules`, called with the
        :class:`~skae.modules.Architecture`.
    criterion : type
        The criterion of :mod:`skae.losses`; ``criterion_kwargs`` its settings.
    optimizer : type
        The optimizer class; ``optimizer_kwargs`` its settings, ``lr`` included.
    device : torch.device
        Where the net trains.
    batch_size, max_epochs : int
        Rows per training step (``batch_size='auto'`` resolved) and ``max_iter``.
    validation_fraction : float or None
        The share of rows held out for early stopping; None holds none out.
    tol, n_iter_no_change : float, int
        The stopping rule (and the adaptive learning rate's threshold).
    min_learning_rate : float or None
        The floor of ``learning_rate='adaptive'``; None: no adaptive rate.
    one_cycle : bool
        ``learning_rate='one_cycle'``: a one-cycle schedule over each
        training call's epochs, which then end only by early stopping
        (a validation split), not by the ``tol`` rule on the training loss
        or on held-out labels.
    max_grad_norm : float or None
        Gradient clipping, or none.
    n_jobs : int or None
        The thread policy (see :mod:`skae._threads`).
    verbose : int
        1 shows a progress bar, 2 skorch's table of epochs.
    own_callbacks, user_callbacks : tuple of (name, callback)
        The estimator's own callbacks (e.g. the VAE's KL warm-up) and the
        user's ``callbacks``.
    targets : bool
        Whether the model has target heads: training then keeps the epoch
        whose code best predicts the held-out labels (if any are held out),
        and, when a stopping rule is on (a validation split or ``tol > 0``),
        ends once they stop improving for ``n_iter_no_change`` epochs.
    """

    builder: object
    criterion: type
    criterion_kwargs: dict
    optimizer: type
    optimizer_kwargs: dict
    device: torch.device
    batch_size: int
    max_epochs: int
    validation_fraction: float = None
    tol: float = 0.0
    n_iter_no_change: int = 10
    min_learning_rate: float = None
    one_cycle: bool = False
    max_grad_norm: float = None
    n_jobs: int = None
    verbose: int = 0
    own_callbacks: tuple = ()
    user_callbacks: tuple = ()
    targets: bool = False

    def callbacks(self):
        """skae's training callbacks around the user's, in the order they must run.

        Gradients are averaged across ranks before clipping, and every other
        callback sees an epoch before early stopping ends training.
        """
        validation = self.validation_fraction is not None
        terms = [f"{prefix}_{name}" for name in self.criterion.term_names
                 for prefix in ("train", "valid")[:1 + validation]]
        callbacks = [
            ("training_guard", TrainingGuard()),
            ("thread_policy", ThreadPolicy(n_jobs=self.n_jobs)),
            *((term, PassthroughScoring(name=term, on_train=term.startswith("train")))
              for term in terms),
            *self.own_callbacks,
            ("data_parallel", DataParallelSync()),  # a no-op outside a process group
        ]
        if self.max_grad_norm is not None:
            callbacks.append(("gradient_clipping", GradientNormClipping(self.max_grad_norm)))
        callbacks += list(self.user_callbacks)
        if self.verbose == 1:
            callbacks.append(("progress_bar", ProgressBar()))
        monitor = "valid_loss" if validation else "train_loss"
        if self.min_learning_rate is not None:
            # MLPRegressor's 'adaptive' rule: divide by 5 after two epochs without
            # improving by tol; skae stops dividing at min_learning_rate.
            callbacks.append(("learning_rate", AdaptiveLearningRate(
                "ReduceLROnPlateau", monitor=monitor, mode="min", factor=0.2, patience=1,
                threshold=self.tol, threshold_mode="rel", min_lr=self.min_learning_rate,
            )))
        if self.one_cycle:
            callbacks.append(("lr_schedule", OneCycleLearningRate()))
        # Without a stopping rule, max_iter epochs. A one-cycle schedule is its own
        # budget: a plateau of the training loss (or of held-out labels, which then
        # only choose the best epoch after the peak) must not end it at a high rate.
        stops_early = validation or (self.tol > 0 and not self.one_cycle)
        if stops_early:
            callbacks.append(("early_stopping", EarlyStopping(
                monitor=monitor,
                patience=self.n_iter_no_change,
                threshold=self.tol,
                threshold_mode="rel",
                load_best=validation,
                sink=print if self.verbose else noop,
            )))
        if self.targets:  # last: its weights are restored after early stopping's
            callbacks.append(("target_checkpoint", TargetCheckpoint(
                patience=self.n_iter_no_change if stops_early else None,
                threshold=self.tol, sink=print if self.verbose else noop)))
        return callbacks


def make_net(spec, architecture, generator):
    """A new, initialised :class:`~skae._net.AutoencoderNet` built from ``spec``.

    For ``architecture``, its initial weights drawn from ``generator``.
    """
    validation = spec.validation_fraction is not None
    # Classes and plain values, not instances: the net pickles module_ and
    # criterion_ through skorch's device mapping, but not its parameters.
    net = AutoencoderNet(
        module=spec.builder,
        module__architecture=architecture,
        criterion=spec.criterion,
        **{f"criterion__{k}": v for k, v in spec.criterion_kwargs.items()},
        optimizer=spec.optimizer,
        **{f"optimizer__{k}": v for k, v in spec.optimizer_kwargs.items() if k != "lr"},
        lr=spec.optimizer_kwargs["lr"],
        max_epochs=spec.max_epochs,
        batch_size=spec.batch_size,
        iterator_train=BatchIterator,
        iterator_train__shuffle=True,
        iterator_valid=BatchIterator,
        train_split=HoldOut(spec.validation_fraction) if validation else None,
        callbacks=spec.callbacks(),
        device=spec.device,
        verbose=int(spec.verbose >= 2),
    )
    net.generator_ = generator
    if spec.verbose < 2:
        net.set_params(callbacks__print_log=None)
    if not validation:  # no validation data: skip its per-batch callback calls
        net.set_params(callbacks__valid_loss=None)
    return net.initialize()


def set_callback_params(net, **params):
    """Set callbacks' parameters (``<name>__<param>=value``) that changed.

    Through skorch's ``net.set_params(callbacks__<name>__<param>=value)``,
    for callbacks that ``net`` has; values equal to the current ones are
    left alone, since skorch then makes its default callbacks anew (the
    scorers' best scores, the table's header of ``verbose=2``).
    """
    callbacks = dict(net.callbacks_)
    changed = {}
    for key, value in params.items():
        name, param = key.split("__")
        if name in callbacks and callbacks[name].get_params()[param] != value:
            changed[f"callbacks__{key}"] = value
    if changed:
        net.set_params(**changed)
