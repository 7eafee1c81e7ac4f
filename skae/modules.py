"""Pure PyTorch building blocks for skae's autoencoders.

Nothing here knows about scikit-learn or skorch. Every module maps flat
rows ``(n_samples, n_features)`` to flat rows, so the estimators can keep
``X`` two-dimensional; convolutional parts reshape internally.

The two model classes share one protocol:

- ``encode(x)`` returns the code used by ``transform`` (for the VAE, the
  posterior mean);
- ``decode(z)`` returns the reconstruction in data space (output activation
  applied);
- ``forward(x)`` returns a tuple whose first element is the decoder output
  *before* the output activation (logits for a Bernoulli decoder):
  ``(x_pre, z)`` for :class:`Autoencoder`, ``(x_pre, mu, logvar)`` for
  :class:`VariationalAutoencoder`.

:func:`build_autoencoder` assembles either from the estimators' parameters.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ACTIVATIONS",
    "Autoencoder",
    "Corruption",
    "Dropout",
    "TiedConvTranspose2d",
    "TiedLinear",
    "VariationalAutoencoder",
    "build_autoencoder",
    "conv_output_shapes",
    "init_parameters",
    "set_generator",
]

#: Hidden-layer activations by their scikit-learn (and common torch) names.
ACTIVATIONS = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "selu": nn.SELU,
    "silu": nn.SiLU,
}

#: Output activations applied by ``decode``.
OUTPUT_ACTIVATIONS = {
    "identity": nn.Identity,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}

# Bounds of the VAE's log-variances: exp(-12) ~ 6e-6, exp(8) ~ 3e3. Keeps
# the KL term and the reparameterisation finite whatever the encoder says.
LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0


# Modules that draw random numbers in training (corruption, dropout, the
# VAE's reparameterisation) take them from their ``generator`` attribute when
# one is set, else from torch's global generator. An estimator sets one
# generator of its own for each training call (:func:`set_generator`), so
# fits running in parallel threads do not share a random stream.


def set_generator(module, generator):
    """Make every random draw of ``module`` in training come from ``generator``.

    Parameters
    ----------
    module : torch.nn.Module
        A model built by :func:`build_autoencoder` (or any module).
    generator : torch.Generator or None
        On the module's device; None returns to torch's global generator.

    Examples
    --------
    >>> import torch
    >>> ae = build_autoencoder(4, 2, dropout=0.5)
    >>> set_generator(ae, torch.Generator().manual_seed(0))
    """
    for sub in module.modules():
        if hasattr(type(sub), "generator"):
            sub.generator = generator


def _normal_like(x, generator):
    return torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def _uniform_like(x, generator):
    return torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)


def init_parameters(module, generator=None):
    """Initialise the weights of ``module`` as torch does, from ``generator``.

    Linear and (transposed) convolution layers get torch's default
    initialisation (Kaiming-uniform weights, uniform biases); batch norm and
    skae's own parameters keep their deterministic starting values. Drawing
    from a generator of the caller's, not torch's global one, makes a seeded
    fit reproducible even while other threads use torch's generator.

    Parameters
    ----------
    module : torch.nn.Module
        The model to initialise, in place.
    generator : torch.Generator, optional
        Source of the random draws, on the module's device.

    Returns
    -------
    module : torch.nn.Module
        The same module.

    Examples
    --------
    >>> import torch
    >>> a = init_parameters(build_autoencoder(4, 2), torch.Generator().manual_seed(0))
    >>> b = init_parameters(build_autoencoder(4, 2), torch.Generator().manual_seed(0))
    >>> torch.equal(a.encoder[0].weight, b.encoder[0].weight)
    True
    """
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_uniform_(sub.weight, a=math.sqrt(5), generator=generator)
                if sub.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(sub.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                    nn.init.uniform_(sub.bias, -bound, bound, generator=generator)
    return module


class Corruption(nn.Module):
    """Corrupt inputs in training mode only (the denoising autoencoder).

    Parameters
    ----------
    kind : {'gaussian', 'masking', 'salt_and_pepper'}
        ``'gaussian'`` adds ``level * N(0, 1)`` noise; ``'masking'`` sets a
        fraction ``level`` of the entries to zero; ``'salt_and_pepper'`` sets a
        fraction ``level`` of the entries to the feature's minimum or maximum
        (half each).
    level : float
        Standard deviation (gaussian) or fraction of corrupted entries.
    low, high : torch.Tensor of shape (n_features,), optional
        Per-feature minimum and maximum used by ``'salt_and_pepper'``
        (default 0 and 1).

    Examples
    --------
    >>> import torch
    >>> layer = Corruption("masking", 0.5)
    >>> x = torch.ones(2, 4)
    >>> torch.equal(layer.eval()(x), x)
    True
    """

    generator = None

    def __init__(self, kind, level, low=None, high=None):
        super().__init__()
        if kind not in ("gaussian", "masking", "salt_and_pepper"):
            raise ValueError(f"Unknown corruption kind {kind!r}.")
        self.kind = kind
        self.level = float(level)
        self.register_buffer("low", torch.as_tensor(0.0 if low is None else low))
        self.register_buffer("high", torch.as_tensor(1.0 if high is None else high))

    def forward(self, x):
        """Return ``x`` corrupted (training mode) or unchanged (eval mode).

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Clean inputs.

        Returns
        -------
        x_noisy : torch.Tensor of shape (n_samples, n_features)
            The corrupted inputs; ``x`` itself in eval mode.
        """
        if not self.training or self.level == 0:
            return x
        if self.kind == "gaussian":
            return x + self.level * _normal_like(x, self.generator)
        hit = _uniform_like(x, self.generator) < self.level
        if self.kind == "masking":
            return x.masked_fill(hit, 0.0)
        salt = _uniform_like(x, self.generator) < 0.5
        noisy = torch.where(salt, self.high.to(x.dtype), self.low.to(x.dtype))
        return torch.where(hit, noisy.expand_as(x), x)

    def extra_repr(self):
        return f"kind={self.kind!r}, level={self.level}"


def _hide(module, name, value):
    # Keep a reference to a module without registering it as a submodule,
    # so shared weights appear once in ``parameters()`` and ``state_dict()``.
    object.__setattr__(module, name, value)


class TiedLinear(nn.Module):
    """A linear layer whose weight is the transpose of another layer's.

    Only the bias is a parameter of its own: a tied decoder has about half
    the parameters of an untied one.

    Parameters
    ----------
    source : torch.nn.Linear
        The encoder layer to mirror; maps ``out_features -> in_features`` of
        ``source``.

    Examples
    --------
    >>> import torch
    >>> enc = torch.nn.Linear(5, 2)
    >>> dec = TiedLinear(enc)
    >>> dec(torch.zeros(3, 2)).shape
    torch.Size([3, 5])
    >>> sum(p.numel() for p in dec.parameters())
    5
    """

    def __init__(self, source):
        super().__init__()
        _hide(self, "source", source)
        self.bias = nn.Parameter(torch.zeros(source.in_features))

    def forward(self, z):
        """Map ``z`` back through the transposed source weight.

        Parameters
        ----------
        z : torch.Tensor of shape (n_samples, source.out_features)
            Inputs, e.g. codes.

        Returns
        -------
        out : torch.Tensor of shape (n_samples, source.in_features)
            ``z @ source.weight + bias``.
        """
        return F.linear(z, self.source.weight.t(), self.bias)


class TiedConvTranspose2d(nn.Module):
    """The adjoint of a stride-2 ``Conv2d``, sharing its weight.

    Parameters
    ----------
    source : torch.nn.Conv2d
        The encoder convolution to mirror.
    output_padding : int or tuple of int, default=0
        Extra rows and columns on one side, to hit the encoder's input size.

    Examples
    --------
    >>> import torch
    >>> conv = torch.nn.Conv2d(1, 4, 3, stride=2, padding=1)
    >>> up = TiedConvTranspose2d(conv, output_padding=1)
    >>> up(conv(torch.zeros(2, 1, 8, 8))).shape
    torch.Size([2, 1, 8, 8])
    """

    def __init__(self, source, output_padding=0):
        super().__init__()
        _hide(self, "source", source)
        self.output_padding = output_padding
        self.bias = nn.Parameter(torch.zeros(source.in_channels))

    def forward(self, h):
        """Apply the transposed convolution with the source's kernels.

        Parameters
        ----------
        h : torch.Tensor of shape (n_samples, source.out_channels, height, width)
            Feature maps.

        Returns
        -------
        out : torch.Tensor of shape (n_samples, source.in_channels, height', width')
            Upsampled maps (about twice the size for a stride-2 source).
        """
        src = self.source
        return F.conv_transpose2d(
            h, src.weight, self.bias, stride=src.stride, padding=src.padding,
            output_padding=self.output_padding,
        )


class _CropOrPad(nn.Module):
    """Crop or zero-pad the last two dimensions to ``(height, width)``."""

    def __init__(self, height, width):
        super().__init__()
        self.height, self.width = height, width

    def forward(self, x):
        dh, dw = self.height - x.shape[-2], self.width - x.shape[-1]
        if dh == 0 and dw == 0:
            return x
        return F.pad(x, (0, dw, 0, dh))  # negative pads crop


def conv_output_shapes(height, width, n_layers, kernel_size):
    """Spatial sizes after each stride-2 convolution of the encoder.

    Parameters
    ----------
    height, width : int
        Input image size.
    n_layers : int
        Number of stride-2 convolutions.
    kernel_size : int
        Square kernel size; padding is ``kernel_size // 2``.

    Returns
    -------
    shapes : list of (int, int)
        ``n_layers + 1`` sizes, the input's first.

    Examples
    --------
    >>> conv_output_shapes(28, 28, 2, 3)
    [(28, 28), (14, 14), (7, 7)]
    """
    pad = kernel_size // 2
    shapes = [(height, width)]
    for _ in range(n_layers):
        h, w = shapes[-1]
        shapes.append(((h + 2 * pad - kernel_size) // 2 + 1, (w + 2 * pad - kernel_size) // 2 + 1))
    return shapes


class Dropout(nn.Dropout):
    """``torch.nn.Dropout`` that draws its mask from ``generator`` when set.

    Parameters
    ----------
    p : float, default=0.5
        Probability of zeroing an entry in training mode.
    inplace : bool, default=False
        Passed to ``torch.nn.Dropout`` (used when no generator is set).

    Examples
    --------
    >>> import torch
    >>> layer = Dropout(0.5)
    >>> layer.generator = torch.Generator().manual_seed(0)
    >>> layer(torch.ones(1, 4)).shape
    torch.Size([1, 4])
    """

    generator = None

    def forward(self, x):
        """Zero a fraction ``p`` of ``x`` and rescale the rest (training mode only).

        Parameters
        ----------
        x : torch.Tensor
            Inputs.

        Returns
        -------
        out : torch.Tensor
            ``x`` with dropout applied; ``x`` itself in eval mode.
        """
        if self.generator is None or not self.training or self.p == 0:
            return super().forward(x)
        keep = _uniform_like(x, self.generator) >= self.p
        return x * keep / (1.0 - self.p)


def _dense_block(linear, activation, batch_norm, dropout):
    # A (possibly tied) linear layer, then batch norm, activation and dropout.
    layers = [linear]
    if batch_norm:
        layers.append(nn.BatchNorm1d(linear.bias.shape[0]))
    layers.append(ACTIVATIONS[activation]())
    if dropout:
        layers.append(Dropout(dropout))
    return layers


class Autoencoder(nn.Module):
    """An encoder, a decoder and an optional input corruption.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps ``(n, n_features)`` to codes ``(n, n_components)``.
    decoder : torch.nn.Module
        Maps codes back to ``(n, n_features)``, before the output activation.
    output_activation : {'identity', 'sigmoid', 'tanh'}, default='identity'
        Applied by :meth:`decode`; ``forward`` returns the values before it.
    corruption : Corruption, optional
        Applied to the input in training mode only.

    Examples
    --------
    >>> import torch
    >>> ae = Autoencoder(torch.nn.Linear(4, 2), torch.nn.Linear(2, 4))
    >>> x_pre, z = ae(torch.zeros(3, 4))
    >>> x_pre.shape, z.shape
    (torch.Size([3, 4]), torch.Size([3, 2]))
    """

    def __init__(self, encoder, decoder, output_activation="identity", corruption=None):
        super().__init__()
        self.corruption = corruption
        self.encoder = encoder
        self.decoder = decoder
        self.output = OUTPUT_ACTIVATIONS[output_activation]()

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
        return self.encoder(x)

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
    output_activation : {'identity', 'sigmoid', 'tanh'}, default='identity'
        Applied by :meth:`decode`.
    log_scale : float, default=0.0
        Initial log standard deviation (Gaussian decoder) or log scale
        (Laplace decoder) of the likelihood, a learned scalar.

    Examples
    --------
    >>> import torch
    >>> vae = VariationalAutoencoder(torch.nn.Linear(4, 4), torch.nn.Linear(2, 4))
    >>> x_pre, mu, logvar = vae.eval()(torch.zeros(3, 4))
    >>> mu.shape
    torch.Size([3, 2])
    """

    generator = None

    def __init__(self, encoder, decoder, output_activation="identity", log_scale=0.0):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.output = OUTPUT_ACTIVATIONS[output_activation]()
        self.log_scale = nn.Parameter(torch.tensor(float(log_scale)))

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
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
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
            z = mu + torch.exp(0.5 * logvar) * _normal_like(mu, self.generator)
        else:
            z = mu
        return self.decoder(z), mu, logvar


def build_autoencoder(
    n_features,
    n_components,
    *,
    hidden_layer_sizes=(),
    activation="relu",
    output_activation="identity",
    batch_norm=False,
    dropout=0.0,
    tied_weights=False,
    noise=None,
    noise_level=0.1,
    noise_low=None,
    noise_high=None,
    variational=False,
    log_scale=0.0,
    image_shape=None,
    conv_channels=(32, 64),
    kernel_size=3,
):
    """Build an :class:`Autoencoder` or a :class:`VariationalAutoencoder`.

    The encoder is an optional convolutional stack (``image_shape`` given:
    stride-2 convolutions, each followed by batch norm and the activation),
    then dense hidden layers, then a linear layer to the code. The decoder
    mirrors it, with transposed convolutions that return exactly
    ``image_shape``.

    Parameters
    ----------
    n_features : int
        Width of the flat input rows.
    n_components : int
        Width of the code.
    hidden_layer_sizes : sequence of int, default=()
        Dense encoder layers; the decoder uses them in reverse.
    activation : str, default='relu'
        A key of :data:`ACTIVATIONS`.
    output_activation : {'identity', 'sigmoid', 'tanh'}, default='identity'
        Applied by ``decode``.
    batch_norm : bool, default=False
        Batch norm after each dense hidden layer.
    dropout : float, default=0.0
        Dropout after each dense hidden layer.
    tied_weights : bool, default=False
        Decoder layers reuse the transposed encoder weights (not for VAEs).
    noise : {'gaussian', 'masking', 'salt_and_pepper'} or None, default=None
        Training-time input corruption (a :class:`Corruption` layer; not for
        VAEs).
    noise_level : float, default=0.1
        Its standard deviation or fraction of corrupted entries.
    noise_low, noise_high : array-like of shape (n_features,), optional
        Per-feature minimum and maximum for salt-and-pepper noise.
    variational : bool, default=False
        Build a :class:`VariationalAutoencoder`.
    log_scale : float, default=0.0
        Initial decoder log scale of a VAE.
    image_shape : tuple of int (C, H, W), optional
        Read each row as an image and use a convolutional stack.
    conv_channels : sequence of int, default=(32, 64)
        Channels of the stride-2 convolutions.
    kernel_size : int, default=3
        Size of the square convolution kernels.

    Returns
    -------
    module : Autoencoder or VariationalAutoencoder
        The untrained model, mapping flat rows to flat rows.

    Examples
    --------
    >>> ae = build_autoencoder(6, 2, activation="identity")
    >>> ae.encoder
    Sequential(
      (0): Linear(in_features=6, out_features=2, bias=True)
    )
    """
    if variational and (tied_weights or noise is not None):
        raise ValueError("A variational autoencoder takes no tied weights and no noise.")
    corruption = None
    if noise is not None:
        corruption = Corruption(
            noise, noise_level,
            low=None if noise_low is None else torch.as_tensor(noise_low, dtype=torch.float32),
            high=None if noise_high is None else torch.as_tensor(noise_high, dtype=torch.float32),
        )
    hidden = [int(h) for h in hidden_layer_sizes]
    encoder, decoder_tail = [], []
    if image_shape is not None:
        channels, height, width = image_shape
        chans = [channels, *(int(c) for c in conv_channels)]
        shapes = conv_output_shapes(height, width, len(chans) - 1, kernel_size)
        convs = [
            nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=kernel_size // 2)
            for c_in, c_out in zip(chans[:-1], chans[1:])
        ]
        encoder.append(nn.Unflatten(1, (channels, height, width)))
        for conv in convs:
            encoder += [conv, nn.BatchNorm2d(conv.out_channels), ACTIVATIONS[activation]()]
        encoder.append(nn.Flatten())
        # Transposed convolutions, last encoder layer first; each picks the
        # output padding that restores the encoder's input size exactly.
        for i in range(len(convs) - 1, -1, -1):
            conv, (h_in, w_in), (h_out, w_out) = convs[i], shapes[i], shapes[i + 1]
            pad = (h_in - ((h_out - 1) * 2 - 2 * conv.padding[0] + kernel_size),
                   w_in - ((w_out - 1) * 2 - 2 * conv.padding[1] + kernel_size))
            pad = tuple(p if 0 <= p <= 1 else 0 for p in pad)
            if tied_weights:
                up = TiedConvTranspose2d(conv, output_padding=pad)
            else:
                up = nn.ConvTranspose2d(
                    conv.out_channels, conv.in_channels, kernel_size, stride=2,
                    padding=conv.padding, output_padding=pad,
                )
            decoder_tail.append(up)
            if i > 0:
                decoder_tail += [nn.BatchNorm2d(conv.in_channels), ACTIVATIONS[activation]()]
        decoder_tail += [_CropOrPad(height, width), nn.Flatten()]
        flat = chans[-1] * shapes[-1][0] * shapes[-1][1]
        unflatten = nn.Unflatten(1, (chans[-1], *shapes[-1]))
    else:
        flat = n_features

    sizes = [flat, *hidden]
    linears = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for lin in linears:
        encoder += _dense_block(lin, activation, batch_norm, dropout)
    code = nn.Linear(sizes[-1], 2 * n_components if variational else n_components)
    encoder.append(code)

    def mirror(lin):
        if variational and lin is code:  # the code layer has 2k outputs
            return nn.Linear(n_components, lin.in_features)
        return TiedLinear(lin) if tied_weights else nn.Linear(lin.out_features, lin.in_features)

    # The decoder walks the dense layers back: code -> last hidden -> ... -> flat.
    mirrored = [mirror(lin) for lin in [code, *linears[::-1]]]
    decoder = []
    for layer in mirrored[:-1]:
        decoder += _dense_block(layer, activation, batch_norm, dropout)
    decoder.append(mirrored[-1])
    if image_shape is not None:
        decoder += [ACTIVATIONS[activation](), unflatten, *decoder_tail]

    encoder, decoder = nn.Sequential(*encoder), nn.Sequential(*decoder)
    if variational:
        return VariationalAutoencoder(encoder, decoder, output_activation, log_scale)
    return Autoencoder(encoder, decoder, output_activation, corruption)

