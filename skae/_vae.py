"""VAETransformer: a variational autoencoder with sampling and likelihoods."""

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from ._base import BaseAutoencoder
from ._docstrings import ATTRIBUTES, params
from ._net import KLWarmup, RecordLossTerms, VAECriterion
from .losses import kl_normal, negative_log_likelihood

# ``score_samples`` estimates the ELBO's reconstruction term with this many
# fixed quasi-random (scrambled Sobol) standard-normal draws, shared by every
# row: deterministic, independent of batch composition, and with an error far
# below that of as many plain Monte Carlo draws.
N_SCORE_DRAWS = 64

# Upper bound on decoder outputs held at once by ``log_likelihood``.
_IWAE_CHUNK_ELEMENTS = 2**24


def _qmc_draws(n_draws, n_components):
    points = torch.quasirandom.SobolEngine(n_components, scramble=True, seed=0).draw(
        n_draws, dtype=torch.float64
    )
    return torch.special.ndtri(points.clamp(1e-9, 1 - 1e-9))


def _draws(n_draws, n_components, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n_draws, n_components, generator=gen, dtype=torch.float64)


def _log_weights(module, xb, eps, loss):
    """log p(x|z) + log p(z) - log q(z|x) for draws ``eps``: shape (n_draws, n)."""
    mu, logvar = module.posterior(xb)
    eps = eps.to(mu)[:, None, :]
    z = mu + torch.exp(0.5 * logvar) * eps  # (n_draws, n, k)
    x_pre = module.decoder(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:2], -1)
    log_px = -negative_log_likelihood(x_pre, xb, loss, module.log_scale, module.output)
    log_pz = -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)
    log_qz = -0.5 * (eps.square() + logvar + math.log(2 * math.pi)).sum(-1)
    return log_px + log_pz - log_qz


class VAETransformer(BaseAutoencoder):
    __doc__ = f"""Variational autoencoder as a scikit-learn transformer.

    The encoder outputs a diagonal Gaussian posterior q(z|x) (a mean and a
    clamped log-variance); training samples codes with the
    reparameterisation trick and minimises, per sample, the reconstruction
    negative log-likelihood summed over features plus ``beta`` times
    KL(q(z|x) || N(0, I)) summed over latent dimensions (the negative ELBO,
    for ``beta=1``). Unlike a plain autoencoder, its latent space has no
    holes: codes drawn from the prior decode to plausible data.

    Parameters
    ----------
    {params("n_components", "hidden_layer_sizes", "activation", "output_activation")}
    loss : {{'mse', 'bce', 'mae'}}, default='mse'
        The decoder's likelihood: ``'mse'`` a Gaussian with a learned scale
        (a fixed unit variance would let the KL term dominate on data in
        [0, 1] and collapse the posterior), ``'bce'`` a Bernoulli on logits
        (for data in [0, 1], exact for binary data), ``'mae'`` a Laplace with
        a learned scale.
    beta : float, default=1.0
        Weight of the KL term (a beta-VAE when not 1). Larger values give
        smoother, more disentangled codes and worse reconstructions.
    kl_warmup : int, default=0
        Epochs over which the KL weight grows linearly from 0 to ``beta``;
        0 is off. Helps against posterior collapse with strong decoders.
    {params("batch_norm", "dropout", "image_shape", "conv_channels", "kernel_size",
            "optimizer")}
    learning_rate_init : float, default=1e-3
        Learning rate of the optimizer.
    {params("weight_decay", "max_grad_norm", "batch_size", "max_iter", "early_stopping",
            "validation_fraction", "n_iter_no_change", "tol", "callbacks", "device",
            "random_state", "verbose", "warm_start")}

    Attributes
    ----------
    {ATTRIBUTES}

    See Also
    --------
    AutoencoderTransformer : Deterministic autoencoder with the same interface.
    interpolate : Decode the latent path between two inputs.

    Notes
    -----
    ``transform`` returns the posterior mean and ``inverse_transform`` the
    decoder's mean, so both are deterministic. ``score_samples`` is the ELBO
    with ``beta=1`` whatever ``beta`` was trained with: the analytic KL
    term plus the reconstruction term averaged over 64 fixed quasi-random
    (scrambled Sobol) posterior draws shared by all rows, so it is
    deterministic and independent of batch composition. The skorch history
    ``net_.history`` records the epoch means of the reconstruction and KL
    terms as ``train_reconstruction``
    and ``train_kl`` (``valid_*`` with early stopping), and ``kl_weight``
    with ``kl_warmup``; ``loss_curve_`` holds the total.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(n_components=4, max_iter=5, random_state=0).fit(X)
    >>> vae.transform(X).shape
    (1797, 4)
    >>> vae.sample(3, random_state=0).shape
    (3, 64)
    >>> vae.score(X) < 0  # mean ELBO per sample, in nats
    True
    """

    _parameter_constraints: dict = {
        **BaseAutoencoder._parameter_constraints,
        "loss": [StrOptions({"mse", "bce", "mae"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(128, 64),
        activation="relu",
        output_activation="auto",
        loss="mse",
        beta=1.0,
        kl_warmup=0,
        batch_norm=False,
        dropout=0.0,
        image_shape=None,
        conv_channels=(32, 64),
        kernel_size=3,
        optimizer="adam",
        learning_rate_init=1e-3,
        weight_decay=0.0,
        max_grad_norm=None,
        batch_size=64,
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        device="cpu",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.output_activation = output_activation
        self.loss = loss
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.image_shape = image_shape
        self.conv_channels = conv_channels
        self.kernel_size = kernel_size
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.weight_decay = weight_decay
        self.max_grad_norm = max_grad_norm
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _module_kwargs(self, X):
        # Start the decoder's scale at that of a model predicting the mean:
        # its standard deviation (Gaussian) or mean absolute deviation (Laplace).
        if self.loss == "mae":
            spread = np.abs(X - np.median(X, axis=0)).mean()
        else:
            spread = np.sqrt(X.var(axis=0).mean())
        return {"variational": True, "log_scale": math.log(max(float(spread), 1e-3))}

    def _criterion(self):
        return VAECriterion, {"loss": self.loss, "beta": self.beta}

    def _extra_callbacks(self):
        callbacks = [("loss_terms", RecordLossTerms())]
        if self.kl_warmup:
            callbacks.append(("kl_warmup", KLWarmup(self.beta, self.kl_warmup)))
        return callbacks

    def _continue_with_current_params(self):
        super()._continue_with_current_params()
        warmup = dict(self.net_.callbacks_).get("kl_warmup")
        if warmup is not None:
            warmup.beta = self.beta

    def _score_fn(self):
        draws = _qmc_draws(N_SCORE_DRAWS, self.n_components_)
        loss = self.loss

        def elbo(m, xb):
            mu, logvar = m.posterior(xb)
            std = torch.exp(0.5 * logvar)
            nll = sum(
                negative_log_likelihood(m.decoder(mu + std * eps.to(mu)), xb, loss,
                                        m.log_scale, m.output)
                for eps in draws
            ) / len(draws)
            return -(nll + kl_normal(mu, logvar))

        return elbo

    def sample(self, n_samples=1, random_state=None):
        """Generate rows by decoding codes drawn from the prior N(0, I).

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the prior draws; an int gives the same rows every call.

        Returns
        -------
        X_new : ndarray of shape (n_samples, ``n_features_in_``)
            The decoder's mean output for each draw (no likelihood noise
            added), in float64.
        """
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
        check_is_fitted(self)
        Z = check_random_state(random_state).standard_normal((n_samples, self.n_components_))
        return self.inverse_transform(Z)

    def log_likelihood(self, X, n_importance=100, random_state=0):
        """Importance-weighted estimate of log p(x) per sample (the IWAE bound).

        ``log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x)`` with ``K = n_importance``
        posterior draws: a lower bound on log p(x) that tightens as K grows
        (K=1 is the ELBO). The VAE literature reports test negative
        log-likelihood as minus this value with K = 5000.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to evaluate.
        n_importance : int, default=100
            Number of importance samples K.
        random_state : int, RandomState instance or None, default=0
            Seeds the draws, which are shared by all rows.

        Returns
        -------
        log_px : ndarray of shape (n_samples,)
            Estimates in nats, in ``X``'s float dtype.
        """
        if not isinstance(n_importance, Integral) or n_importance < 1:
            raise ValueError(f"n_importance must be a positive integer, got {n_importance!r}.")
        X = self._validate_X(X)
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
        eps = _draws(n_importance, self.n_components_, seed)
        loss = self.loss

        def fn(m, xb):
            chunk = max(1, _IWAE_CHUNK_ELEMENTS // (len(xb) * xb.shape[1]))
            log_w = torch.cat([_log_weights(m, xb, e, loss) for e in eps.split(chunk)])
            return torch.logsumexp(log_w, dim=0) - math.log(n_importance)

        return self._batched(X, fn)


@validate_params(
    {
        "estimator": [BaseAutoencoder],
        "x_a": ["array-like"],
        "x_b": ["array-like"],
        "n_steps": [Interval(Integral, 2, None, closed="left")],
        "method": [StrOptions({"linear", "spherical"})],
    },
    prefer_skip_nested_validation=True,
)
def interpolate(estimator, x_a, x_b, n_steps=10, method="linear"):
    """Decode the path between the codes of two inputs.

    Parameters
    ----------
    estimator : AutoencoderTransformer or VAETransformer
        A fitted skae estimator.
    x_a, x_b : array-like of shape (n_features,) or (1, n_features)
        The two end points, in data space.
    n_steps : int, default=10
        Number of points on the path, end points included.
    method : {'linear', 'spherical'}, default='linear'
        Straight line between the codes, or spherical interpolation (slerp),
        which keeps the code norm typical of a Gaussian prior.

    Returns
    -------
    path : ndarray of shape (n_steps, n_features)
        Decoded points from ``x_a``'s reconstruction to ``x_b``'s.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skae import VAETransformer, interpolate
    >>> X = load_digits().data / 16
    >>> vae = VAETransformer(max_iter=2, random_state=0).fit(X)
    >>> interpolate(vae, X[0], X[1], n_steps=5).shape
    (5, 64)
    """
    ends = np.vstack([np.asarray(x_a).reshape(1, -1), np.asarray(x_b).reshape(1, -1)])
    if hasattr(estimator, "feature_names_in_"):  # fitted on a DataFrame: keep its names
        ends = pd.DataFrame(ends, columns=estimator.feature_names_in_)
    z_a, z_b = np.asarray(estimator.transform(ends))  # also under set_output("pandas")
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    if method == "linear":
        Z = (1 - t) * z_a + t * z_b
    else:
        cos = np.dot(z_a, z_b) / (np.linalg.norm(z_a) * np.linalg.norm(z_b) + 1e-12)
        omega = np.arccos(np.clip(cos, -1.0, 1.0))
        if omega < 1e-6:
            Z = (1 - t) * z_a + t * z_b
        else:
            Z = (np.sin((1 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)
    return estimator.inverse_transform(Z.astype(z_a.dtype))
