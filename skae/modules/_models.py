"""The two models: :class:`Autoencoder` and :class:`VariationalAutoencoder`."""

import torch
from torch import nn

from ._layers import _normal_like, _output_layer

# Bounds of the VAE's log-variances: exp(-12) ~ 6e-6, exp(8) ~ 3e3. Keeps
# the KL term and the reparameterisation finite whatever the encoder says.
LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0


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

    Examples
    --------
    >>> import torch
    >>> ae = Autoencoder(torch.nn.Linear(4, 2), torch.nn.Linear(2, 4))
    >>> x_pre, z = ae(torch.zeros(3, 4))
    >>> x_pre.shape, z.shape
    (torch.Size([3, 4]), torch.Size([3, 2]))
    """

    def __init__(self, encoder, decoder, output_activation="identity", corruption=None,
                 input_layer=None):
        super().__init__()
        self.input = input_layer if input_layer is not None else nn.Identity()
        self.corruption = corruption
        self.encoder = encoder
        self.decoder = decoder
        self.output = _output_layer(output_activation)

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
                 input_layer=None):
        super().__init__()
        self.input = input_layer if input_layer is not None else nn.Identity()
        self.encoder = encoder
        self.decoder = decoder
        self.output = _output_layer(output_activation)
        self.initial_log_scale = float(log_scale)
        self.log_scale = nn.Parameter(torch.tensor(self.initial_log_scale))

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
