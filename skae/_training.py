"""How a fit runs: skorch's loop around the estimator's net, and the checks after it.

:class:`TrainingMixin` holds the estimator side of training: it resolves
the ``'auto'`` parameters, builds the net through :mod:`skae._wiring` (or
continues the fitted one with the current settings), runs skorch's training
loop on the fit's own random stream and threads, and checks the result.
"""

import copy
import math
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from . import _inference, _tabular, _targets
from ._callbacks import ONE_CYCLE_PEAK
from ._data import TensorDataset, column_means, spread_rows, training_rows
from ._distributed import broadcast_seed, data_parallel_shard
from ._threads import restoring_threads
from ._wiring import (
    OPTIMIZERS,
    TrainingSpec,
    auto_batch_size,
    auto_max_iter,
    check_user_callbacks,
    drawing_from,
    make_net,
    optimizer_kwargs,
    resolve_device,
    set_callback_params,
)
from .exceptions import TrainingDivergedError
from .losses import reconstruction_error

#: ``early_stopping='auto'`` holds out validation rows above this many rows
#: (HistGradientBoosting's rule).
AUTO_EARLY_STOPPING_ROWS = 10_000

# A fit whose training reconstruction error ends this many times above the
# error it started from (and above the column means') has blown up.
DIVERGENCE_FACTOR = 10.0


class TrainingMixin:
    """Training for :class:`~skae._base.BaseAutoencoder`: one fit or continued fit.

    Reads the estimator's parameters and its subclass hooks (see
    :class:`~skae._base.BaseAutoencoder`); keeps the fitted ``net_``,
    ``n_iter_``, ``loss_curve_``, ``validation_loss_curve_``,
    ``batch_size_`` and ``do_early_stopping_``.
    """

    def _train(self, X, y, epochs, keep, check=False):
        """Build (or keep) the net and train it for up to ``epochs`` epochs.

        ``epochs=None``: ``max_iter_`` (``fit``).
        ``y``: the code's targets (used with ``target_weight``), or None.
        With ``check`` (``fit``, not ``partial_fit``), labeled rows are held
        out to choose the epoch for the targets (see
        :func:`skae._targets.held_out_rows`), and the result is checked
        afterwards: see :meth:`_check_fit`.
        """
        if not keep:
            self.__dict__.pop("net_", None)  # a refit that fails leaves no stale model
        X = self._model_input(X, reset=not keep)
        if keep and self._table is None and not sp.issparse(X) and np.isnan(X).any():
            raise ValueError(
                "Input X contains NaN, and this model was fitted on complete numbers: it "
                "encodes rows with missing values (as if those entries were the training "
                "means) but cannot train on them. Refit (fit with warm_start=False) on data "
                "with gaps: skae then learns a model with missing-value indicators."
            )
        targets = self._target_rows(y, X.shape[0], reset=not keep)
        architecture = self._architecture(X.shape[1])
        if not keep:
            self._resolve_auto(X.shape[0], partial=not check)
        self._check_data(X)
        device = resolve_device(self.device)
        seed = self._seed(keep, device)
        generator = torch.Generator(device=device).manual_seed(seed)
        if keep:
            self._continue_with_current_params(architecture)
        else:
            self.net_ = self._make_net(architecture, device, generator)
            self.n_components_ = self.n_components
            self._init_weights(X)
        epochs = self.max_iter_ if epochs is None else epochs
        X_check = self._rows_to_check(X) if check else None
        start = self._reconstruction_errors(X_check).mean() if check else None
        start_state = copy.deepcopy(self.net_.module_.state_dict()) \
            if check and self._keeps_better_start() else None
        dataset = self._training_data(X, targets, device, seed, hold_out=check)
        guard = self._fit_net(dataset, epochs, keep, generator)
        if not keep and guard.resumed_epochs_:
            warnings.warn(
                f"fit() resumed from a checkpoint of {guard.resumed_epochs_} epoch(s) that a "
                "callback (e.g. skorch's LoadInitState) loaded when training began. Under "
                "cross-validation or a search, every clone shares the callback's settings and "
                "so resumes from the same checkpoint, trained on other folds' rows: use such "
                "callbacks only for a single fit (see 'Persistence and safety' in the docs).",
                UserWarning,
                stacklevel=4,
            )
        reconstructs = self._target_spec is None or self.target_weight < 1
        if check and not guard.interrupted_ and reconstructs:
            self._check_fit(X_check, start, start_state, epochs)

    def _target_rows(self, y, n_rows, reset):
        """The code's targets as training reads them (:func:`skae._targets.encode`), or None.

        A fresh fit (``reset``) with ``target_weight > 0`` and labels in
        ``y`` describes them (the model then gets target heads); without
        labels it warns that ``y`` is ignored. A continued fit keeps the
        first fit's description.
        """
        if self.target_weight == 0:
            if reset:
                self._set_targets(None)
            return None
        labeled = _targets.n_labeled(y, n_rows)
        if reset:
            if not labeled:
                what = "y is None" if y is None else "no row of y is labeled"
                warnings.warn(
                    f"target_weight={self.target_weight:g} but {what}: y is ignored and the "
                    "model learns to reconstruct X only, as with target_weight=0. Pass labels "
                    "(-1 in integer y, NaN or None otherwise, marks an unlabeled row).",
                    UserWarning,
                    stacklevel=5,
                )
                self._set_targets(None)
                return None
            self._set_targets(_targets.describe(y))
        elif self._target_spec is None:
            if labeled:
                raise ValueError(
                    "This model was first fitted without labels, so its network has no "
                    "target heads: the first fit fixes the targets. Refit with fit(X, y) "
                    "(warm_start=False) and target_weight > 0 to learn them."
                )
            return None
        return None if y is None else _targets.encode(y, self._target_spec, n_rows)

    def _training_data(self, X, targets, device, seed, hold_out):
        """The :class:`~skae._data.TensorDataset` of the training rows and their targets.

        With ``hold_out``, some labeled rows lose their labels in training
        and choose the best epoch instead (:func:`skae._targets.held_out_rows`,
        drawn from ``seed``; with targets only, so a fit without draws none).
        """
        rows = training_rows(X, device)
        if targets is None:
            return TensorDataset(rows)
        held_out = None
        index = _targets.held_out_rows(targets, self._target_spec, np.random.default_rng(seed)) \
            if hold_out else ()
        if len(index):
            kept = X[index].toarray() if sp.issparse(X) else X[index]
            held_out = (torch.as_tensor(np.asarray(kept, dtype=np.float32), device=device),
                        torch.as_tensor(targets[index], device=device))
            targets = targets.copy()
            targets[index] = np.nan
        return TensorDataset(rows, torch.as_tensor(targets, device=rows.device), held_out)

    def _resolve_auto(self, n_samples, partial):
        """Resolve ``batch_size``, ``early_stopping`` and ``max_iter`` for ``n_samples`` rows.

        For a fresh fit; kept as ``batch_size_``, ``do_early_stopping_`` and
        ``max_iter_`` for the fit's life (warm starts and ``partial_fit``
        continue with them).
        """
        if self.early_stopping == "auto":  # as HistGradientBoosting*; not for partial_fit
            # A one-cycle schedule sets its own budget (max_iter epochs).
            self.do_early_stopping_ = (not partial and n_samples > AUTO_EARLY_STOPPING_ROWS
                                       and self._schedule() != "one_cycle")
        else:
            self.do_early_stopping_ = bool(self.early_stopping)
        n_train = n_samples - (math.ceil(self.validation_fraction * n_samples)
                               if self.do_early_stopping_ else 0)
        self.batch_size_ = auto_batch_size(n_train) if self.batch_size == "auto" \
            else self.batch_size
        self.max_iter_ = auto_max_iter(n_train, self.batch_size_, self._schedule()) \
            if self.max_iter == "auto" else self.max_iter

    def _seed(self, keep, device):
        """This call's seed: from ``random_state``, moved on by continued fits."""
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max)) + (self.n_iter_ if keep else 0)
        return seed if data_parallel_shard() is None else broadcast_seed(seed, device)

    def _fit_net(self, dataset, epochs, keep, generator):
        """Run skorch's training loop on ``dataset``; return the net's :class:`TrainingGuard`."""
        n_rows = len(dataset)
        self.net_.set_params(batch_size=n_rows if self._optimizer_name == "lbfgs"
                             else min(self.batch_size_, n_rows))
        if self.verbose == 1:
            self.net_.set_params(callbacks__progress_bar__total=epochs)
        callbacks = dict(self.net_.callbacks_)
        if "lr_schedule" in callbacks:  # the cycle spans this call's epochs
            callbacks["lr_schedule"].epochs = epochs
            if "target_checkpoint" in callbacks:  # held-out labels wait for its peak
                callbacks["target_checkpoint"].warmup = math.ceil(ONE_CYCLE_PEAK * epochs)
        guard = callbacks["training_guard"]
        try:
            with drawing_from(self.net_, generator), restoring_threads():
                self.net_.partial_fit(dataset, epochs=epochs)
        except TrainingDivergedError:
            # The net keeps the last completed epoch's weights; with none, there
            # is no trained model to keep (the error says so).
            if not self.net_.history:
                self._forget_fit()
            raise
        except BaseException:
            if keep:
                guard.rollback(self.net_)
            else:
                self._forget_fit()
            raise
        finally:
            if hasattr(self, "net_"):
                self.net_.module_.eval()
                self._record_history()
        return guard

    def _record_history(self):
        rows = [row for row in self.net_.history if "train_loss" in row]
        self.n_iter_ = len(rows)
        self.loss_curve_ = [row["train_loss"] for row in rows]
        self.validation_loss_curve_ = (
            [row.get("valid_loss") for row in rows] if self.do_early_stopping_ else None
        )

    def _forget_fit(self):
        """Leave the estimator unfitted: drop the net and its training record."""
        for name in ("net_", "n_iter_", "loss_curve_", "validation_loss_curve_"):
            self.__dict__.pop(name, None)

    def _continue_with_current_params(self, architecture):
        """Warm start or partial_fit: apply changed settings, refuse a changed network.

        As ``MLPRegressor`` does, a continued fit uses the current learning
        rate and loss settings; parameters that shape the network cannot
        change without a fresh fit.
        """
        changed = self.net_.module__architecture.changes(architecture)
        callbacks = dict(self.net_.callbacks_)
        built = ("adaptive" if "learning_rate" in callbacks
                 else "one_cycle" if "lr_schedule" in callbacks else "constant")
        if built != self._schedule():
            changed.append("learning_rate")  # the schedule is a callback of the built net
        if changed:
            raise ValueError(
                "These parameters changed since the network was built: " + ", ".join(changed)
                + ". Continue with the fitted values, or refit with warm_start=False."
            )
        if self.batch_size != "auto":  # a changed batch_size applies, as the lr does
            self.batch_size_ = self.batch_size
        if self.max_iter != "auto":
            self.max_iter_ = self.max_iter
        set_callback_params(self.net_, **self._callback_params())
        if self._optimizer_name != "lbfgs":
            self.net_.set_params(lr=self.learning_rate_init)
        # Set on the criterion itself: skorch's set_params(criterion__...) would
        # rebuild the criterion and the optimizer, losing the optimizer's state.
        for name, value in self._criterion_settings()[1].items():
            setattr(self.net_.criterion_, name, value)

    def _schedule(self):
        """The learning-rate schedule in force: ``learning_rate``, 'constant' for L-BFGS."""
        return "constant" if self._optimizer_name == "lbfgs" else self.learning_rate

    def _min_learning_rate(self):
        """The floor of ``learning_rate='adaptive'``: 1e-3 times ``learning_rate_init``."""
        return self.learning_rate_init * 1e-3

    def _make_net(self, architecture, device, generator):
        """A new, initialised skorch net for ``architecture`` on ``device``.

        What ``fit`` builds before training (its initial weights drawn from
        ``generator``), and what :func:`skae.load` builds before it loads
        the saved weights into it. A table's heads get its columns'
        probabilities of a level unseen in fit.
        """
        check_user_callbacks(self.callbacks, validation=self.do_early_stopping_,
                             table=self._table is not None,
                             targets=self._target_spec is not None, schedule=self._schedule())
        net = make_net(self._training_spec(device), architecture, generator)
        if self._table is not None:
            net.module_.output.set_unseen(_tabular.unseen_probabilities(self._table))
        return net

    def _criterion_settings(self):
        """``(criterion class, settings)``: the estimator's criterion, with the target's share.

        A model with target heads trains them with ``target_weight``; one
        without has no target term (the criterion's defaults).
        """
        criterion, kwargs = self._criterion()
        if self._target_spec is not None:
            kwargs = {**kwargs, "target_weight": self.target_weight,
                      "target_scale": _targets._TARGET_SCALE}
        return criterion, kwargs

    def _training_spec(self, device):
        """This estimator's parameters resolved for a net on ``device``."""
        criterion, criterion_kwargs = self._criterion_settings()
        name = self._optimizer_name
        adaptive = self._schedule() == "adaptive"
        return TrainingSpec(
            builder=self._builder(),
            criterion=criterion,
            criterion_kwargs=criterion_kwargs,
            optimizer=OPTIMIZERS[name] if name else self.optimizer,
            optimizer_kwargs=optimizer_kwargs(name, self.learning_rate_init,
                                              self.weight_decay, device),
            device=device,
            batch_size=self.batch_size_,
            max_epochs=self.max_iter_,
            validation_fraction=self.validation_fraction if self.do_early_stopping_ else None,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            min_learning_rate=self._min_learning_rate() if adaptive else None,
            one_cycle=self._schedule() == "one_cycle",
            max_grad_norm=self.max_grad_norm,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            own_callbacks=tuple(self._extra_callbacks()),
            user_callbacks=tuple(self.callbacks or ()),
            targets=self._target_spec is not None,
        )

    @property
    def _optimizer_name(self):
        return self.optimizer if isinstance(self.optimizer, str) else None

    # ------------------------------------------------------- after the fit

    def _rows_to_check(self, X):
        """The training rows that :meth:`_check_fit` measures.

        All of them, or an even spread of at most ``INFERENCE_BATCH_SIZE``
        (one inference batch), fewer for wide data (at most ``2**22``
        values, 16 MB in float32, so the checks cost little beside training
        in time and memory); all where the fit may revert to its start.
        """
        if self._keeps_better_start():
            return X
        n_rows = min(_inference.INFERENCE_BATCH_SIZE, max(256, 2**22 // max(X.shape[1], 1)))
        return spread_rows(X, n_rows)

    def _check_fit(self, X, start, start_state, epochs):
        """Refuse a blown-up fit; warn about one that learned nothing or stopped early.

        Compares the reconstruction error of training rows ``X`` after the fit with
        its error before (``start``) and with that of the column means: a
        fit that ended more than ``DIVERGENCE_FACTOR`` times worse than it
        started and worse than the means raises
        :class:`TrainingDivergedError`; one that merely ends worse than the
        means gets a ``ConvergenceWarning``. ``max_iter`` epochs without the
        ``tol`` rule stopping the fit also warn, as in ``MLPRegressor``
        (not with ``tol=0``, which asks for ``max_iter`` epochs).
        """
        end = self._reconstruction_errors(X).mean()
        if start_state is not None and end > start:
            self.net_.module_.load_state_dict(start_state)
            end = start
        baseline = self._baseline_errors(X).mean()
        lr = f"learning_rate_init (it is {self.learning_rate_init:g})"
        if end > baseline and (end > DIVERGENCE_FACTOR * start or not np.isfinite(end)):
            raise TrainingDivergedError(
                f"Training diverged: the training data's reconstruction error went from "
                f"{start:.4g} to {end:.4g} (predicting each column's mean gives "
                f"{baseline:.4g}). Lower {lr}, scale the data (e.g. StandardScaler), or "
                "clip gradients with max_grad_norm."
            )
        if end > baseline:
            warnings.warn(
                f"The fitted model reconstructs its training data worse than predicting "
                f"each column's mean (error {end:.4g} vs {baseline:.4g}): it has learned "
                f"nothing useful. Scale the data (e.g. StandardScaler), lower {lr}, or "
                "train longer (max_iter).",
                ConvergenceWarning,
                stacklevel=5,
            )
        callbacks = dict(self.net_.callbacks_)
        stopper = callbacks.get("early_stopping")
        if self.tol > 0 and stopper is not None and stopper.misses_ < stopper.patience \
                and callbacks["training_guard"].epochs_run_ == epochs:
            warnings.warn(
                f"max_iter={self.max_iter_} epochs ended the fit while {self._stopping_rule()}: "
                "it has not converged. Raise max_iter, or set tol=0 to "
                + ("stop early only when the validation loss stops improving at all"
                   if self.do_early_stopping_ else "train exactly max_iter epochs")
                + " (no warning then).",
                ConvergenceWarning,
                stacklevel=5,
            )

    def _stopping_rule(self):
        """What the ``tol`` rule watches, for the warning of a fit that ``max_iter`` ended."""
        if self.do_early_stopping_:
            held_out = "" if self.early_stopping != "auto" else (
                f", which early_stopping='auto' holds out above {AUTO_EARLY_STOPPING_ROWS:,} rows")
            monitored = (f"the validation loss (of the held-out validation_fraction="
                         f"{self.validation_fraction:g} of the rows{held_out})")
        else:
            monitored = "the training loss"
        return (f"{monitored} was still improving by more than tol={self.tol:g} (relative) "
                f"within n_iter_no_change={self.n_iter_no_change} epochs")

    def _marginal_outputs(self, X):
        """Decoder outputs (before activation) that predict every row by the column means.

        For a table: each numeric column's mean, each flag's frequency and
        each categorical column's level frequencies.
        """
        if self._table is not None:
            return torch.as_tensor(_tabular.marginal_logits(X, self._table))
        mean = torch.as_tensor(column_means(X))
        return torch.logit(mean, eps=1e-7) if self.loss == "bce" else mean

    def _baseline_errors(self, X):
        """Per-row error of reconstructing every row by the column means."""
        pre, loss = self._marginal_outputs(X), self.loss
        output = (lambda m: m.output) if self._table is not None else (lambda m: None)
        return self._batched(X, lambda m, xb: reconstruction_error(
            pre.to(xb).expand(len(xb), -1), xb, loss, output(m)))
