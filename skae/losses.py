"""Loss functions of skae's autoencoders, as small pure torch functions.

Reconstruction losses take the decoder output *before* its output
activation (``x_pre``) so that the Bernoulli loss can use logits, which is
numerically stable; the other losses apply the activation first. Every
function returns one value per sample, so the same code serves training
(averaged over the batch) and ``score_samples``.

Each piece of the VAE's maths is defined here once: the per-draw
log-likelihood (:func:`negative_log_likelihood`), the KL term
(:func:`kl_normal`), the ELBO (:func:`elbo`) and the importance-weighted
bound (:func:`iwae_log_weights`, :func:`iwae_bound`). Training, the VAE's
``score_samples`` and ``log_likelihood`` all call them. The training
criteria (:class:`AutoencoderCriterion`, :class:`VAECriterion`) combine them
into one batch loss.

This module is public: its functions are stable API.
"""

import math
from abc import ABC, abstractmethod

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ELEMENTWISE_LOSSES",
    "RECONSTRUCTION_LOSSES",
    "AutoencoderCriterion",
    "VAECriterion",
    "column_errors",
    "elbo",
    "iwae_bound",
    "iwae_log_weights",
    "kl_normal",
    "negative_log_likelihood",
    "reconstruction_error",
    "sparsity_penalty",
    "target_loss",
]

#: Element-wise reconstruction losses ``fn(x_hat, x)`` by name (``'bce'`` works on logits:
#: see :func:`column_errors`).
ELEMENTWISE_LOSSES = {
    "mse": lambda x_hat, x: (x_hat - x).square(),
    "mae": lambda x_hat, x: (x_hat - x).abs(),
    "huber": lambda x_hat, x: F.huber_loss(x_hat, x, reduction="none", delta=1.0),
}

#: Reconstruction losses by name.
RECONSTRUCTION_LOSSES = ("mse", "bce", "mae", "huber")


# The same losses reduced to one batch mean by a single fused op (training).
_FUSED = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


class _ColumnHeads(ABC):
    """The protocol of an output that scores each column by its own loss: a table's heads.

    The functions here hand the work to such an ``output`` (a table's
    :class:`~skae.modules.TabularOutput`, whose column kinds each own a
    loss) and treat any other output as an activation of plain numbers.
    """

    @abstractmethod
    def observed(self, x):
        """Which entries of ``x`` hold a value: a bool tensor of its shape."""

    @abstractmethod
    def column_losses(self, h, x, loss="mse"):
        """Each column's weighted loss for decoder outputs ``h``, shape (..., n_columns)."""

    @abstractmethod
    def negative_log_likelihood(self, h, x, loss="mse", log_scale=None):
        """Each row's negative log-likelihood, summed over columns, shape (...)."""


def _activate(output, x_pre):
    """``output(x_pre)``, skipping the call when ``output`` is None or ``nn.Identity``.

    The identity output is the default of ``loss='mse'``; a module call
    costs microseconds per training step on a small model.
    """
    return x_pre if output is None or type(output) is nn.Identity else output(x_pre)


def reconstruction_error(x_pre, x, loss="mse", output=None, reduction="none"):
    """Per-sample reconstruction error, averaged over features.

    Parameters
    ----------
    x_pre : torch.Tensor of shape (n_samples, n_features)
        Decoder output before the output activation (logits for ``'bce'``).
    x : torch.Tensor of shape (n_samples, n_features)
        The clean targets.
    loss : {'mse', 'bce', 'mae', 'huber'}, default='mse'
        ``'bce'`` is binary cross-entropy on logits; ``'huber'`` uses
        ``delta=1``.
    output : callable, optional
        The output activation, applied to ``x_pre`` for all losses but
        ``'bce'``. Identity if None. For a table, its
        :class:`~skae.modules.TabularOutput`: the error is then the mean of
        :func:`column_errors` over the observed entries (none: 0).
    reduction : {'none', 'mean'}, default='none'
        ``'mean'`` returns the mean over samples too, computed as one fused
        op (the training loss).

    Returns
    -------
    error : torch.Tensor of shape (n_samples,), or a scalar for ``'mean'``
        Mean loss over each row's entries (and over rows for ``'mean'``).

    Examples
    --------
    >>> import torch
    >>> reconstruction_error(torch.zeros(2, 3), torch.ones(2, 3))
    tensor([1., 1.])
    """
    if reduction not in ("none", "mean"):
        raise ValueError(f"reduction must be 'none' or 'mean', got {reduction!r}.")
    if isinstance(output, _ColumnHeads):  # a table: the mean over observed entries
        err, observed = column_errors(x_pre, x, loss, output), output.observed(x)
        if reduction == "mean":
            return err.sum() / observed.sum().clamp(min=1)
        return err.sum(dim=-1) / observed.sum(dim=-1).clamp(min=1)
    if reduction == "none" and torch.isnan(x).any():  # inference: the observed entries' mean
        observed = (~torch.isnan(x)).flatten(1).sum(dim=1)
        return column_errors(x_pre, x, loss, output).sum(dim=1) / observed.clamp(min=1)
    if loss == "bce":
        err = F.binary_cross_entropy_with_logits(x_pre, x, reduction=reduction)
    else:
        x_hat = _activate(output, x_pre)
        err = (_FUSED if reduction == "mean" else ELEMENTWISE_LOSSES)[loss](x_hat, x)
    return err if reduction == "mean" else err.flatten(1).mean(dim=1)


def column_errors(x_pre, x, loss="mse", output=None):
    """Each column's reconstruction error per sample, in the units training uses.

    For a table (``output`` is a :class:`~skae.modules.TabularOutput`),
    each column's own loss, weighted as in training; otherwise the
    element-wise ``loss``. Their mean over columns is
    :func:`reconstruction_error`.

    Parameters
    ----------
    x_pre : torch.Tensor of shape (n_samples, width)
        Decoder output before the output activation.
    x : torch.Tensor of shape (n_samples, n_features)
        The targets (for a table, its columns as the model reads them).
    loss : {'mse', 'bce', 'mae', 'huber'}, default='mse'
        The loss (of the numeric columns, for a table).
    output : callable, optional
        The output activation or heads.

    Returns
    -------
    errors : torch.Tensor of shape (n_samples, n_features)
        One error per column.

    Examples
    --------
    >>> import torch
    >>> column_errors(torch.zeros(1, 2), torch.tensor([[1.0, 3.0]]))
    tensor([[1., 9.]])
    """
    if isinstance(output, _ColumnHeads):
        return output.column_losses(x_pre, x, loss)
    missing = torch.isnan(x)  # a missing entry has no error
    if loss == "bce":
        err = F.binary_cross_entropy_with_logits(x_pre, torch.nan_to_num(x), reduction="none")
    else:
        x_hat = _activate(output, x_pre)
        err = ELEMENTWISE_LOSSES[loss](x_hat, torch.nan_to_num(x))
    return torch.where(missing, 0.0, err).flatten(1)


def sparsity_penalty(z):
    """Mean absolute code value per sample (the L1 penalty of sparse AEs).

    Parameters
    ----------
    z : torch.Tensor of shape (n_samples, n_components)
        Codes.

    Returns
    -------
    penalty : torch.Tensor of shape (n_samples,)
        Mean of ``|z|`` over each row.

    Examples
    --------
    >>> import torch
    >>> sparsity_penalty(torch.tensor([[1.0, -3.0]]))
    tensor([2.])
    """
    return z.abs().mean(dim=1)


def target_loss(pred, y, widths):
    """Per-sample loss of target heads' outputs ``pred`` against targets ``y``.

    Each target column has its own head: a class column's is ``k >= 2``
    logits (softmax cross-entropy against the class index), a number
    column's one value (squared error against the standardised number).
    Unlabeled entries (NaN) add nothing.

    Parameters
    ----------
    pred : torch.Tensor of shape (n_samples, sum(widths))
        The heads' outputs, side by side.
    y : torch.Tensor of shape (n_samples, len(widths))
        Class indices or standardised numbers, NaN where unlabeled.
    widths : sequence of int
        Each head's width: 1 for numbers, the number of classes for classes.

    Returns
    -------
    loss : torch.Tensor of shape (n_samples,)
        Each row's loss, summed over its labeled target columns (0 for an
        unlabeled row).

    Examples
    --------
    >>> import torch
    >>> target_loss(torch.zeros(2, 1), torch.tensor([[2.0], [float("nan")]]), (1,))
    tensor([4., 0.])
    """
    loss = pred.new_zeros(len(pred))
    start = 0
    for column, width in enumerate(widths):
        out, target = pred[:, start:start + width], y[:, column].to(pred.dtype)
        start += width
        labeled = ~torch.isnan(target)
        target = torch.where(labeled, target, 0.0)
        if width == 1:
            err = (out[:, 0] - target).square()
        else:
            err = F.cross_entropy(out, target.long(), reduction="none")
        loss = loss + torch.where(labeled, err, 0.0)
    return loss


def kl_normal(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over dimensions.

    Parameters
    ----------
    mu : torch.Tensor of shape (n_samples, n_components)
        Posterior means.
    logvar : torch.Tensor of shape (n_samples, n_components)
        Posterior log-variances.

    Returns
    -------
    kl : torch.Tensor of shape (n_samples,)
        The divergence of each row's posterior from the prior, in nats.

    Examples
    --------
    >>> import torch
    >>> kl_normal(torch.zeros(1, 3), torch.zeros(1, 3))
    tensor([0.])
    """
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1)


def negative_log_likelihood(x_pre, x, loss="mse", log_scale=None, output=None):
    """Per-sample negative log-likelihood of ``x`` under the decoder, in nats.

    Summed over features. ``'mse'`` is a Gaussian decoder with standard
    deviation ``exp(log_scale)``, ``'mae'`` a Laplace decoder with scale
    ``exp(log_scale)``, ``'bce'`` a Bernoulli decoder on logits (for data in
    [0, 1]; exact for binary data).

    Parameters
    ----------
    x_pre : torch.Tensor of shape (..., n_features)
        Decoder output before the output activation.
    x : torch.Tensor of shape (..., n_features)
        Data (broadcast against ``x_pre``).
    loss : {'mse', 'bce', 'mae'}, default='mse'
        Which likelihood.
    log_scale : torch.Tensor, optional
        Scalar log standard deviation (Gaussian) or log scale (Laplace).
    output : callable, optional
        Output activation applied to ``x_pre`` for the Gaussian and Laplace
        decoders; for a table, its :class:`~skae.modules.TabularOutput`,
        which sums each column's likelihood.

    Returns
    -------
    nll : torch.Tensor of shape (...)
        Negative log-likelihood of each row in nats, summed over features.

    Examples
    --------
    >>> import torch
    >>> zeros = torch.zeros(1, 2)
    >>> nll = negative_log_likelihood(zeros, zeros, log_scale=torch.tensor(0.0))
    >>> round(float(nll), 4)  # 2 * 0.5 * log(2 pi)
    1.8379
    """
    if isinstance(output, _ColumnHeads):  # a table: each column's likelihood
        return output.negative_log_likelihood(x_pre, x, loss, log_scale)
    missing = torch.isnan(x)  # missing entries add nothing to the likelihood
    if loss == "bce":
        terms = F.binary_cross_entropy_with_logits(
            x_pre, torch.nan_to_num(x).expand_as(x_pre), reduction="none")
        return torch.where(missing, 0.0, terms).sum(dim=-1)
    x_hat = _activate(output, x_pre)
    log_scale = torch.zeros((), device=x_pre.device) if log_scale is None else log_scale
    d = (~missing).sum(dim=-1)
    residual = torch.where(missing, 0.0, x - x_hat)
    if loss == "mse":
        sq = residual.square().sum(dim=-1)
        return 0.5 * sq * torch.exp(-2 * log_scale) + d * (log_scale + 0.5 * math.log(2 * math.pi))
    if loss == "mae":
        ab = residual.abs().sum(dim=-1)
        return ab * torch.exp(-log_scale) + d * (log_scale + math.log(2.0))
    raise ValueError(f"No likelihood for loss={loss!r}; use 'mse', 'bce' or 'mae'.")


def elbo(log_px, kl, beta=1.0):
    """The evidence lower bound per sample: ``log p(x|z) - beta * KL``.

    Parameters
    ----------
    log_px : torch.Tensor of shape (n_samples,)
        The decoder's log-likelihood of each row (minus
        :func:`negative_log_likelihood`), for one posterior draw or averaged
        over several.
    kl : torch.Tensor of shape (n_samples,)
        KL(q(z|x) || p(z)) of each row (:func:`kl_normal`).
    beta : float, default=1.0
        Weight of the KL term (a beta-VAE's objective when not 1).

    Returns
    -------
    elbo : torch.Tensor of shape (n_samples,)
        In nats; training minimises its negative batch mean.

    Examples
    --------
    >>> import torch
    >>> elbo(torch.tensor([-3.0]), torch.tensor([1.0]))
    tensor([-4.])
    """
    return log_px - beta * kl


def iwae_log_weights(log_px, z, eps, logvar):
    """Log importance weights ``log p(x|z) + log p(z) - log q(z|x)`` of posterior draws.

    Parameters
    ----------
    log_px : torch.Tensor of shape (n_draws, n_samples)
        The decoder's log-likelihood of each row under each draw.
    z : torch.Tensor of shape (n_draws, n_samples, n_components)
        The draws, ``mu + exp(logvar / 2) * eps``.
    eps : torch.Tensor of shape (n_draws, 1 or n_samples, n_components)
        The standard-normal noise behind them.
    logvar : torch.Tensor of shape (n_samples, n_components)
        Posterior log-variances.

    Returns
    -------
    log_w : torch.Tensor of shape (n_draws, n_samples)
        Log weights, in nats.

    Examples
    --------
    >>> import torch
    >>> eps = torch.zeros(1, 1, 2)
    >>> iwae_log_weights(torch.zeros(1, 1), eps, eps, torch.zeros(1, 2))
    tensor([[0.]])
    """
    log_2pi = math.log(2 * math.pi)
    log_pz = -0.5 * (z.square() + log_2pi).sum(-1)
    log_qz = -0.5 * (eps.square() + logvar + log_2pi).sum(-1)
    return log_px + log_pz - log_qz


def iwae_bound(log_weights):
    """The importance-weighted bound ``log (1/K) sum_k w_k`` on log p(x) per sample.

    Parameters
    ----------
    log_weights : torch.Tensor of shape (n_draws, n_samples)
        From :func:`iwae_log_weights`; K is ``n_draws`` (K=1 is the ELBO).

    Returns
    -------
    log_px : torch.Tensor of shape (n_samples,)
        A lower bound on each row's log-likelihood, tighter as K grows.

    Examples
    --------
    >>> import torch
    >>> iwae_bound(torch.zeros(4, 2))
    tensor([0., 0.])
    """
    return torch.logsumexp(log_weights, dim=0) - math.log(len(log_weights))


class _TargetTerm(nn.Module):
    """What both criteria share: the code's target term, ``target_weight`` of the loss.

    With ``target_weight`` 0 (a model without target heads) the loss is the
    criterion's own, untouched. Above 0 it is ``(1 - target_weight) *
    loss + target_weight * target``, where ``target`` is
    :func:`target_loss` of the module's heads (``module.target``) on the
    code, summed over the batch's labeled rows and divided by a number of
    rows: the batch's (``target_scale='rows'``: a batch with few labels weighs
    its target little), its labeled rows' (``'labeled'``: the mean over them),
    or the geometric mean of the two (``'sqrt'``, in between: with 2% of the
    rows labeled the target weighs about 14% of what the mean over labeled
    rows gives, with 10% about 32%).
    """

    # Criteria pickled before targets existed have neither setting.
    target_weight = 0.0
    target_scale = "sqrt"

    def _with_target(self, loss, code, y, module):
        if not self.target_weight:
            return loss
        w = self.target_weight
        if y is None:  # no labels in this call: reconstruction only
            return (1 - w) * loss
        heads = module.target
        per_row = target_loss(heads(code), y, heads.widths)
        labeled = (~torch.isnan(y)).any(dim=1).sum().clamp(min=1).to(per_row.dtype)
        if self.target_scale == "rows":
            n = len(code)
        elif self.target_scale == "sqrt":
            n = (labeled * len(code)).sqrt()
        else:
            n = labeled
        return (1 - w) * loss + w * per_row.sum() / n


class AutoencoderCriterion(_TargetTerm):
    """Batch-mean training loss of a plain autoencoder.

    Reconstruction error (mean over entries, one fused op) plus ``sparsity``
    times the mean absolute code.

    Parameters
    ----------
    loss : {'mse', 'bce', 'mae', 'huber'}, default='mse'
        The reconstruction loss.
    sparsity : float, default=0.0
        Weight of :func:`sparsity_penalty`.
    target_weight : float in [0, 1], default=0.0
        Share of the target term: the loss is ``(1 - target_weight) *
        reconstruction + target_weight * target`` (:func:`target_loss` of
        the module's target heads on the code). 0: reconstruction only.
    target_scale : {'sqrt', 'rows', 'labeled'}, default='sqrt'
        The target term's denominator: the geometric mean of the batch's
        rows and its labeled rows, the batch's rows, or its labeled rows.

    Examples
    --------
    >>> import torch
    >>> from skae.modules import Architecture, build_autoencoder
    >>> ae = build_autoencoder(Architecture(4, 2))
    >>> x = torch.zeros(3, 4)
    >>> AutoencoderCriterion()(ae(x), x, ae).shape
    torch.Size([])
    """

    #: Names of the per-batch terms kept in ``terms`` (none).
    term_names = ()

    def __init__(self, loss="mse", sparsity=0.0, target_weight=0.0, target_scale="sqrt"):
        super().__init__()
        self.loss = loss
        self.sparsity = sparsity
        self.target_weight = target_weight
        self.target_scale = target_scale
        self.terms = {}

    def forward(self, y_pred, X, module, y=None):
        """Return the batch loss of the module's output ``y_pred`` for inputs ``X``.

        Parameters
        ----------
        y_pred : tuple
            ``(x_pre, z)`` as :class:`~skae.modules.Autoencoder` returns it.
        X : torch.Tensor of shape (n_samples, n_features)
            The clean inputs.
        module : skae.modules.Autoencoder
            The model (for its output activation and target heads).
        y : torch.Tensor of shape (n_samples, n_targets), optional
            Targets of the code (NaN where unlabeled), with ``target_weight``.

        Returns
        -------
        loss : torch.Tensor
            A scalar.
        """
        x_pre, z = y_pred
        loss = reconstruction_error(x_pre, X, self.loss, module.output, reduction="mean")
        if self.sparsity:
            loss = loss + self.sparsity * sparsity_penalty(z).mean()
        return self._with_target(loss, z, y, module)


class VAECriterion(_TargetTerm):
    """Batch mean of the negative ELBO, with ``beta`` weighting the KL term.

    Keeps the batch means of the reconstruction and KL terms (detached) in
    ``terms``, which the training loop records in the history.

    Parameters
    ----------
    loss : {'mse', 'bce', 'mae'}, default='mse'
        The decoder's likelihood (:func:`negative_log_likelihood`).
    beta : float, default=1.0
        Weight of the KL term.
    target_weight : float in [0, 1], default=0.0
        Share of the target term, read from the posterior means (the codes
        of ``transform``): ``(1 - target_weight) * negative ELBO +
        target_weight * target``.
    target_scale : {'sqrt', 'rows', 'labeled'}, default='sqrt'
        The target term's denominator: the geometric mean of the batch's
        rows and its labeled rows, the batch's rows, or its labeled rows.

    Examples
    --------
    >>> import torch
    >>> from skae.modules import Architecture, build_variational_autoencoder
    >>> vae = build_variational_autoencoder(Architecture(4, 2))
    >>> x = torch.zeros(3, 4)
    >>> criterion = VAECriterion()
    >>> criterion(vae(x), x, vae).shape
    torch.Size([])
    >>> sorted(criterion.terms)
    ['kl', 'reconstruction']
    """

    #: Names of the per-batch terms kept in ``terms``.
    term_names = ("reconstruction", "kl")

    def __init__(self, loss="mse", beta=1.0, target_weight=0.0, target_scale="sqrt"):
        super().__init__()
        self.loss = loss
        self.beta = beta
        self.target_weight = target_weight
        self.target_scale = target_scale
        self.terms = {}

    def forward(self, y_pred, X, module, y=None):
        """Return the batch's negative ELBO for the module's output ``y_pred``.

        Parameters
        ----------
        y_pred : tuple
            ``(x_pre, mu, logvar)`` as
            :class:`~skae.modules.VariationalAutoencoder` returns it.
        X : torch.Tensor of shape (n_samples, n_features)
            The inputs.
        module : skae.modules.VariationalAutoencoder
            The model (for its decoder scale, output activation and target heads).
        y : torch.Tensor of shape (n_samples, n_targets), optional
            Targets of the posterior means (NaN where unlabeled), with
            ``target_weight``.

        Returns
        -------
        loss : torch.Tensor
            A scalar, in nats per sample.
        """
        x_pre, mu, logvar = y_pred
        rec = negative_log_likelihood(x_pre, X, self.loss, module.log_scale, module.output)
        kl = kl_normal(mu, logvar)
        self.terms = {"reconstruction": rec.detach().mean(), "kl": kl.detach().mean()}
        return self._with_target(-elbo(-rec, kl, self.beta).mean(), mu, y, module)
