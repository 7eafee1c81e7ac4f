"""The two models: :class:`Autoencoder` and :class:`VariationalAutoencoder`.

The VAE also owns its Monte-Carlo estimates: the ELBO and the
importance-weighted bound over posterior draws, the draws themselves (fixed
quasi-random ones, or seeded pseudo-random ones), and the decoding of one
draw from each row's posterior. The maths of each estimate is
:mod:`skae.losses`'s.
"""

import torch
from torch import nn

from .. import losses
from ._layers import _normal_like, _output_layer

# Bounds of the VAE's log-variances: exp(-12) ~ 6e-6, exp(8) ~ 3e3. Keeps
# the KL term and the reparameterisation finite whatever the encoder says.
LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0

# Upper bound on decoder outputs held at once when decoding many draws.
_DRAW_CHUNK_ELEMENTS = 2**24


class Autoencoder(nn.Module):
    """An encoder, a decoder and an optional input corruption.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps ``(n, n_features)`` to codes ``(n, n_components)``.
    decoder : torch.nn.Module
        Maps codes back to ``(n, n_features)``, before the output activation.
    output_activation : {'identity', 'sigmoid', 'tanh'} or torch.nn.Module, default='identity'
        Applied by :meth:`decode`; ``forward`` returns the values before it.
        A module such as :class:`TabularOutput` may stand in for the name.
    corruption : Corruption, optional
        Applied to the (encoded) input in training mode only.
    input_layer : torch.nn.Module, optional
        Applied to the input first, e.g. :class:`TabularInput`; identity
        if None.
    target_heads : TargetHeads, optional
        Heads that predict targets from the code, kept as ``target``
        (trained through the criterion; no part of ``forward``).

    Examples
    --------
    >>> import torch
    >>> ae = Autoencoder(torch.nn.Linear(4, 2), torch.nn.Linear(2, 4))
    >>> x_pre, z = ae(torch.zeros(3, 4))
    >>> x_pre.shape, z.shape
    (torch.Size([3, 4]), torch.Size([3, 2]))
    """

    def __init__(self, encoder, decoder, output_activation="identity", corruption=None,
                 input_layer=None, target_heads=None):
        super().__init__()
        self.input = input_layer if input_layer is not None else nn.Identity()
        self.corruption = corruption
        self.encoder = encoder
        self.decoder = decoder
        self.output = _output_layer(output_activation)
        self.target = target_heads  # registered last: its initial draws come last

    def encode(self, x):
        """Return the codes of ``x`` (never corrupted).

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        z : torch.Tensor of shape (n_samples, n_components)
            Their codes.
        """
        return self.encoder(self.input(x))

    def decode(self, z):
        """Return reconstructions in data space.

        Parameters
        ----------
        z : torch.Tensor of shape (n_samples, n_components)
            Codes.

        Returns
        -------
        x_hat : torch.Tensor of shape (n_samples, n_features)
            Decoder outputs with the output activation applied.
        """
        return self.output(self.decoder(z))

    def forward(self, x):
        """Corrupt (in training mode), encode and decode ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        x_pre : torch.Tensor of shape (n_samples, n_features)
            Decoder outputs before the output activation.
        z : torch.Tensor of shape (n_samples, n_components)
            Codes.
        """
        x = self.input(x)
        if self.corruption is not None:
            x = self.corruption(x)
        z = self.encoder(x)
        return self.decoder(z), z


class VariationalAutoencoder(nn.Module):
    """A VAE with a diagonal Gaussian posterior and a standard normal prior.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps ``(n, n_features)`` to ``(n, 2 * n_components)``: the posterior
        means, then the log-variances (clamped to a safe range).
    decoder : torch.nn.Module
        Maps codes to ``(n, n_features)`` before the output activation.
    output_activation : {'identity', 'sigmoid', 'tanh'} or torch.nn.Module, default='identity'
        Applied by :meth:`decode`; a module such as :class:`TabularOutput`
        may stand in for the name.
    log_scale : float, default=0.0
        Initial log standard deviation (Gaussian decoder) or log scale
        (Laplace decoder) of the likelihood, a learned scalar.
    input_layer : torch.nn.Module, optional
        Applied to the input first, e.g. :class:`TabularInput`; identity
        if None.
    target_heads : TargetHeads, optional
        Heads that predict targets from the posterior means, kept as
        ``target`` (trained through the criterion; no part of ``forward``).

    Examples
    --------
    >>> import torch
    >>> vae = VariationalAutoencoder(torch.nn.Linear(4, 4), torch.nn.Linear(2, 4))
    >>> x_pre, mu, logvar = vae.eval()(torch.zeros(3, 4))
    >>> mu.shape
    torch.Size([3, 2])
    """

    generator = None

    def __init__(self, encoder, decoder, output_activation="identity", log_scale=0.0,
                 input_layer=None, target_heads=None):
        super().__init__()
        self.input = input_layer if input_layer is not None else nn.Identity()
        self.encoder = encoder
        self.decoder = decoder
        self.output = _output_layer(output_activation)
        self.initial_log_scale = float(log_scale)
        self.log_scale = nn.Parameter(torch.tensor(self.initial_log_scale))
        self.target = target_heads  # registered last: its initial draws come last

    def reset_parameters(self):
        """Reset the decoder's log scale to its initial value."""
        nn.init.constant_(self.log_scale, self.initial_log_scale)

    def posterior(self, x):
        """Return the posterior means and (clamped) log-variances of ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        mu : torch.Tensor of shape (n_samples, n_components)
            Posterior means.
        logvar : torch.Tensor of shape (n_samples, n_components)
            Posterior log-variances, clamped to [LOGVAR_MIN, LOGVAR_MAX].
        """
        mu, logvar = self.encoder(self.input(x)).chunk(2, dim=-1)
        return mu, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX)

    def encode(self, x):
        """Return the posterior means of ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        mu : torch.Tensor of shape (n_samples, n_components)
            Posterior means.
        """
        return self.posterior(x)[0]

    def decode(self, z):
        """Return the decoder's mean output in data space.

        Parameters
        ----------
        z : torch.Tensor of shape (n_samples, n_components)
            Codes.

        Returns
        -------
        x_hat : torch.Tensor of shape (n_samples, n_features)
            Decoder means with the output activation applied.
        """
        return self.output(self.decoder(z))

    def forward(self, x):
        """Encode, sample a code (training mode) or take the mean, and decode.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        x_pre : torch.Tensor of shape (n_samples, n_features)
            Decoder outputs before the output activation.
        mu, logvar : torch.Tensor of shape (n_samples, n_components)
            Posterior means and log-variances.
        """
        mu, logvar = self.posterior(x)
        if self.training:  # the reparameterisation trick
            z = self.reparameterize(mu, logvar, _normal_like(mu, self.generator))
        else:
            z = mu
        return self.decoder(z), mu, logvar

    @staticmethod
    def reparameterize(mu, logvar, eps):
        """Return the posterior draws ``mu + exp(logvar / 2) * eps``.

        Parameters
        ----------
        mu, logvar : torch.Tensor of shape (n_samples, n_components)
            Posterior means and log-variances.
        eps : torch.Tensor broadcastable to them
            Standard-normal noise, e.g. of shape (n_draws, 1, n_components).

        Returns
        -------
        z : torch.Tensor
            The draws, of the broadcast shape.
        """
        return mu + torch.exp(0.5 * logvar) * eps

    def decode_draws(self, mu, logvar, eps):
        """Decode the posterior draws of each row for standard-normal noise ``eps``.

        Parameters
        ----------
        mu, logvar : torch.Tensor of shape (n_samples, n_components)
            Posterior means and log-variances (see :meth:`posterior`).
        eps : torch.Tensor of shape (n_draws, 1 or n_samples, n_components)
            The noise; draws of shape (n_draws, 1, k) are shared by all rows.

        Returns
        -------
        x_pre : torch.Tensor of shape (n_draws, n_samples, n_features)
            Decoder outputs before the output activation.
        z : torch.Tensor of shape (n_draws, n_samples, n_components)
            The draws.
        """
        z = self.reparameterize(mu, logvar, eps)
        x_pre = self.decoder(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:2], -1)
        return x_pre, z

    def sample_posterior(self, x, generator=None):
        """Decode one code drawn from each row's posterior.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.
        generator : torch.Generator, optional
            Source of the draws, on the module's device; torch's global
            generator if None.

        Returns
        -------
        x_hat : torch.Tensor of shape (n_samples, n_features)
            The decoded draws, output activation applied.
        """
        mu, logvar = self.posterior(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self.decode(self.reparameterize(mu, logvar, eps))

    def conditional_codes(self, x, n_samples, generator=None, loss="mse", n_proposals=20000,
                          widen=1.5):
        """Draw codes from the model's posterior p(z | the observed entries of ``x``).

        Self-normalised importance resampling: ``max(n_proposals,
        n_samples)`` proposals from the encoder's posterior on the row (its
        missing entries enter as missing), standard deviation widened by
        ``widen``, each weighted by ``p(z) p(x_observed | z) / q(z)`` with
        the decoder's likelihood of the observed entries (missing ones add
        nothing); ``n_samples`` codes are then drawn by weight. Exact for
        the model as the proposals grow, unlike the encoder's posterior
        alone.

        Parameters
        ----------
        x : torch.Tensor of shape (1, n_features)
            One row; NaN (or level code -1) where not given.
        n_samples : int
            Number of codes.
        generator : torch.Generator, optional
            Source of the draws, on the module's device.
        loss : {'mse', 'bce', 'mae'}, default='mse'
            The decoder's likelihood.
        n_proposals : int, default=20000
            Number of proposals.
        widen : float, default=1.5
            Factor on the posterior's standard deviation.

        Returns
        -------
        z : torch.Tensor of shape (n_samples, n_components)
            The codes.
        effective_sample_size : torch.Tensor
            ``1 / sum(w ** 2)`` of the normalised weights ``w``: how many
            proposals the draws rest on (few: the given values are rare
            under the model).
        """
        mu, logvar = self.posterior(x[:1])
        std = torch.exp(0.5 * logvar) * widen
        eps = torch.randn((max(n_proposals, n_samples), mu.shape[-1]), generator=generator,
                          device=mu.device, dtype=mu.dtype)
        z = mu + std * eps
        # log p(z) - log q(z), up to a constant that the normalisation drops
        log_w = 0.5 * ((eps ** 2).sum(-1) - (z ** 2).sum(-1)) + torch.log(std).sum(-1)
        log_w = log_w - losses.negative_log_likelihood(self.decoder(z), x[:1], loss,
                                                       self.log_scale, self.output)
        w = torch.softmax(log_w.double(), dim=0)
        picked = torch.multinomial(w, n_samples, replacement=True, generator=generator)
        return z[picked], 1.0 / (w ** 2).sum()

    def elbo(self, x, eps, loss="mse"):
        """Each row's ELBO, its reconstruction term averaged over the draws ``eps``.

        The analytic KL term (with weight 1) and the decoder's
        log-likelihood averaged over the posterior draws ``mu + exp(logvar
        / 2) * eps`` (:func:`skae.losses.elbo`).

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.
        eps : torch.Tensor of shape (n_draws, n_components)
            Standard-normal draws shared by the rows, e.g.
            :meth:`quasi_random_draws`.
        loss : {'mse', 'bce', 'mae'}, default='mse'
            The decoder's likelihood.

        Returns
        -------
        elbo : torch.Tensor of shape (n_samples,)
            In nats.
        """
        log_px, mu, logvar = self._over_draws(x, eps, loss, lambda log_px, *_: log_px)
        return losses.elbo(log_px.mean(dim=0), losses.kl_normal(mu, logvar))

    def iwae_bound(self, x, eps, loss="mse"):
        """Each row's importance-weighted bound on log p(x), over the draws ``eps``.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Inputs.
        eps : torch.Tensor of shape (n_draws, n_components)
            Standard-normal draws shared by the rows (K = ``n_draws``), e.g.
            :meth:`random_draws`.
        loss : {'mse', 'bce', 'mae'}, default='mse'
            The decoder's likelihood.

        Returns
        -------
        log_px : torch.Tensor of shape (n_samples,)
            :func:`skae.losses.iwae_bound` of the draws' log weights, in nats.
        """
        log_weights, _, _ = self._over_draws(x, eps, loss, losses.iwae_log_weights)
        return losses.iwae_bound(log_weights)

    def _over_draws(self, x, eps, loss, fn):
        """``fn(log_px, z, eps, logvar)`` for the posterior draws ``eps`` of each row.

        ``eps`` (n_draws, k) are standard-normal draws shared by the rows;
        they are decoded a chunk at a time (at most ``_DRAW_CHUNK_ELEMENTS``
        decoder outputs), and the results are concatenated along the draws.
        Returns them with the posterior's ``mu`` and ``logvar``.
        """
        mu, logvar = self.posterior(x)
        chunk = max(1, _DRAW_CHUNK_ELEMENTS // (len(x) * x.shape[1]))
        results = []
        for part in eps.split(chunk):
            part = part.to(mu)[:, None, :]
            x_pre, z = self.decode_draws(mu, logvar, part)
            log_px = -losses.negative_log_likelihood(x_pre, x, loss, self.log_scale, self.output)
            results.append(fn(log_px, z, part, logvar))
        return torch.cat(results), mu, logvar

    @staticmethod
    def quasi_random_draws(n_draws, n_components):
        """Fixed quasi-random standard-normal draws, moment-matched.

        Scrambled Sobol points (seed 0) mapped through the normal quantile,
        then centred and whitened so that their mean is exactly 0 and their
        covariance exactly I (each dimension scaled to unit second moment
        when ``n_components >= n_draws``): an average over them is exact
        wherever the average is of a quadratic function of the code.

        Parameters
        ----------
        n_draws : int
            Number of draws.
        n_components : int
            Their width.

        Returns
        -------
        eps : torch.Tensor of shape (n_draws, n_components)
            In float64; the same every call.
        """
        points = torch.quasirandom.SobolEngine(n_components, scramble=True, seed=0).draw(
            n_draws, dtype=torch.float64
        )
        eps = torch.special.ndtri(points.clamp(1e-9, 1 - 1e-9))
        eps = eps - eps.mean(dim=0)
        if n_components < n_draws:  # whiten: the draws' covariance is exactly I
            chol = torch.linalg.cholesky(eps.T @ eps / n_draws)
            return torch.linalg.solve_triangular(chol, eps.T, upper=False).T
        return eps / eps.square().mean(dim=0).sqrt()

    @staticmethod
    def random_draws(n_draws, n_components, seed):
        """Standard-normal draws from a generator seeded with ``seed``.

        Parameters
        ----------
        n_draws : int
            Number of draws.
        n_components : int
            Their width.
        seed : int
            Seed of the CPU generator they come from.

        Returns
        -------
        eps : torch.Tensor of shape (n_draws, n_components)
            In float64.
        """
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(n_draws, n_components, generator=gen, dtype=torch.float64)
