"""Small layers and the plumbing every skae network shares.

Activations by name, the initialisation of a whole model from one generator
(:func:`init_parameters`), the generator of training-time random draws
(:func:`set_generator`), and the small layers: :class:`FillMissing`,
:class:`Corruption`, :class:`Dropout`, and the tied layers
:class:`TiedLinear` and :class:`TiedConvTranspose2d`.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

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

#: Kinds of input corruption of a denoising autoencoder.
NOISE_KINDS = ("gaussian", "masking", "salt_and_pepper")


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
    >>> from skae.modules import Architecture, build_autoencoder
    >>> ae = build_autoencoder(Architecture(4, 2, dropout=0.5))
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
    """Initialise every parameter and buffer of ``module``, drawing from ``generator``.

    Linear and (transposed) convolution layers get torch's default
    initialisation (Kaiming-uniform weights, uniform biases), embeddings
    theirs (standard normal); every other
    submodule with a ``reset_parameters`` method (batch norm, skae's own
    layers) is reset to its deterministic starting values. So a module built
    on the ``meta`` device and materialised with ``to_empty`` is fully
    initialised. Drawing from a generator of the caller's, not torch's
    global one, makes a seeded fit reproducible even while other threads use
    torch's generator.

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
    >>> from skae.modules import Architecture, build_autoencoder
    >>> a = init_parameters(build_autoencoder(Architecture(4, 2)), torch.Generator().manual_seed(0))
    >>> b = init_parameters(build_autoencoder(Architecture(4, 2)), torch.Generator().manual_seed(0))
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
            elif isinstance(sub, nn.Embedding):  # torch's default: N(0, 1)
                nn.init.normal_(sub.weight, generator=generator)
            elif hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
    return module


def _output_layer(output_activation):
    if isinstance(output_activation, nn.Module):
        return output_activation
    return OUTPUT_ACTIVATIONS[output_activation]()

class FillMissing(nn.Module):
    """Replace missing values (NaN) by per-feature fill values (a buffer).

    The input layer of a network on plain numbers: an estimator sets
    ``fill`` to the training means, so rows with missing entries at
    inference are encoded as if those entries were average. In training
    mode rows pass through unchanged: skae trains such a network on
    complete rows only (numbers with gaps make a table, see
    :class:`TabularInput`), and the check would cost about 5% of a small
    model's training step.

    Parameters
    ----------
    n_features : int
        Width of the rows.

    Examples
    --------
    >>> import torch
    >>> layer = FillMissing(2).eval()
    >>> layer(torch.tensor([[float("nan"), 3.0]]))
    tensor([[0., 3.]])
    """

    def __init__(self, n_features):
        super().__init__()
        self.register_buffer("fill", torch.zeros(n_features))

    def reset_parameters(self):
        """Reset the fill values to zero."""
        with torch.no_grad():
            self.fill.zero_()

    def forward(self, x):
        """Return ``x`` with each NaN replaced by its feature's fill value.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            Rows, possibly with NaN.

        Returns
        -------
        filled : torch.Tensor of shape (n_samples, n_features)
            ``x`` where it holds a number.
        """
        if self.training:  # training rows are complete (see the class docstring)
            return x
        return torch.where(torch.isnan(x), self.fill.to(x.dtype), x)


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
    n_features : int, default=1
        Width of the rows; sizes the per-feature bounds ``low`` and ``high``
        (buffers, 0 and 1 to start with) that ``'salt_and_pepper'`` uses. An
        estimator sets them to the training data's minimum and maximum.

    Examples
    --------
    >>> import torch
    >>> layer = Corruption("masking", 0.5, n_features=4)
    >>> x = torch.ones(2, 4)
    >>> torch.equal(layer.eval()(x), x)
    True
    """

    generator = None

    def __init__(self, kind, level, n_features=1):
        super().__init__()
        if kind not in NOISE_KINDS:
            raise ValueError(f"Unknown corruption kind {kind!r}.")
        self.kind = kind
        self.level = float(level)
        self.register_buffer("low", torch.zeros(n_features))
        self.register_buffer("high", torch.ones(n_features))

    def reset_parameters(self):
        """Reset the bounds to 0 and 1."""
        with torch.no_grad():
            self.low.fill_(0.0)
            self.high.fill_(1.0)

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
        return torch.where(hit, noisy, x)

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
    out_features : int, optional
        Keep only the first ``out_features`` outputs (all of the source's
        inputs by default): a table's decoder mirrors its input but not the
        missing-value indicators at its end.

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

    def __init__(self, source, out_features=None):
        super().__init__()
        _hide(self, "source", source)
        self.out_features = out_features or source.in_features
        self.bias = nn.Parameter(torch.zeros(self.out_features))

    def reset_parameters(self):
        """Reset the bias to zero (the weight is the source's)."""
        nn.init.zeros_(self.bias)

    def forward(self, z):
        """Map ``z`` back through the transposed source weight.

        Parameters
        ----------
        z : torch.Tensor of shape (n_samples, source.out_features)
            Inputs, e.g. codes.

        Returns
        -------
        out : torch.Tensor of shape (n_samples, out_features)
            ``z @ source.weight + bias``.
        """
        return F.linear(z, self.source.weight[:, :self.out_features].t(), self.bias)


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

    def reset_parameters(self):
        """Reset the bias to zero (the kernels are the source's)."""
        nn.init.zeros_(self.bias)

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
