"""Loss functions of skae's autoencoders, as small pure torch functions.

Reconstruction losses take the decoder output *before* its output
activation (``x_pre``) so that the Bernoulli loss can use logits, which is
numerically stable; the other losses apply the activation first. Every
function returns one value per sample, so the same code serves training
(averaged over the batch) and ``score_samples``.
"""

import math

import torch
from torch.nn import functional as F

__all__ = [
    "RECONSTRUCTION_LOSSES",
    "kl_normal",
    "negative_log_likelihood",
    "reconstruction_error",
    "sparsity_penalty",
]

_ELEMENTWISE = {
    "mse": lambda x_hat, x: (x_hat - x).square(),
    "mae": lambda x_hat, x: (x_hat - x).abs(),
    "huber": lambda x_hat, x: F.huber_loss(x_hat, x, reduction="none", delta=1.0),
}

#: Reconstruction losses by name.
RECONSTRUCTION_LOSSES = ("mse", "bce", "mae", "huber")


# The same losses reduced to one batch mean by a single fused op (training).
_FUSED = {"mse": F.mse_loss, "mae": F.l1_loss, "huber": F.huber_loss}


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
        ``'bce'``. Identity if None.
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
    if loss == "bce":
        err = F.binary_cross_entropy_with_logits(x_pre, x, reduction=reduction)
    else:
        x_hat = x_pre if output is None else output(x_pre)
        err = (_FUSED if reduction == "mean" else _ELEMENTWISE)[loss](x_hat, x)
    return err if reduction == "mean" else err.flatten(1).mean(dim=1)


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
        decoders.

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
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(
            x_pre, x.expand_as(x_pre), reduction="none"
        ).sum(dim=-1)
    x_hat = x_pre if output is None else output(x_pre)
    log_scale = torch.zeros((), device=x_pre.device) if log_scale is None else log_scale
    d = x_hat.shape[-1]
    if loss == "mse":
        sq = (x - x_hat).square().sum(dim=-1)
        return 0.5 * sq * torch.exp(-2 * log_scale) + d * (log_scale + 0.5 * math.log(2 * math.pi))
    if loss == "mae":
        ab = (x - x_hat).abs().sum(dim=-1)
        return ab * torch.exp(-log_scale) + d * (log_scale + math.log(2.0))
    raise ValueError(f"No likelihood for loss={loss!r}; use 'mse', 'bce' or 'mae'.")
