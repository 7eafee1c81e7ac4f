"""A network's shape as data (:class:`Architecture`), and the builders that make models of it."""

import math
from dataclasses import dataclass, fields
from numbers import Integral

from torch import nn

from ._columns import CATEGORICAL, COLUMN_KINDS, MAX_ONE_HOT_LEVELS, TabularInput, TabularOutput
from ._layers import ACTIVATIONS, Corruption, Dropout, FillMissing, TiedConvTranspose2d, TiedLinear
from ._models import Autoencoder, VariationalAutoencoder
from ._targets import TargetHeads


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


def _dense_block(linear, arch):
    # A (possibly tied) linear layer, then batch norm, activation and dropout.
    layers = [linear]
    if arch.batch_norm:
        layers.append(nn.BatchNorm1d(linear.bias.shape[0]))
    layers.append(ACTIVATIONS[arch.activation]())
    if arch.dropout:
        layers.append(Dropout(arch.dropout))
    return layers


def _positive_ints(name, values, allow_empty=True):
    values = (values,) if isinstance(values, Integral) else tuple(values)
    if (not allow_empty and not values) or not all(
        isinstance(v, Integral) and not isinstance(v, bool) and v > 0 for v in values
    ):
        what = "a non-empty" if not allow_empty else "a"
        raise ValueError(f"{name} must be {what} sequence of positive integers, got {values!r}.")
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class Architecture:
    """The shape of a skae network, as plain data: what a builder needs.

    An estimator makes one per fit from its parameters and the data's width,
    hands it to :func:`build_autoencoder` or
    :func:`build_variational_autoencoder`, and compares it with the fitted
    one before a warm start. Values are normalised and checked here, once:
    sequences become tuples of ints (an int ``hidden_layer_sizes`` is one
    layer, as in ``MLPRegressor``). Starting values learned from data (the
    corruption bounds, the VAE's decoder scale) are not part of it.

    Parameters
    ----------
    n_features : int
        Width of the flat input rows.
    n_components : int
        Width of the code.
    hidden_layer_sizes : int or sequence of int, default=()
        Dense encoder layers; the decoder uses them in reverse.
    activation : str, default='relu'
        A key of :data:`ACTIVATIONS`.
    output_activation : {'identity', 'sigmoid', 'tanh'}, default='identity'
        Applied by ``decode``.
    batch_norm : bool, default=False
        Batch norm after each dense hidden layer.
    dropout : float, default=0.0
        Dropout after each dense hidden layer.
    image_shape : tuple of int (C, H, W) or None, default=None
        Read each row as an image and use a convolutional stack.
    conv_channels : sequence of int, default=(32, 64)
        Channels of the stride-2 convolutions.
    kernel_size : int, default=3
        Size of the square convolution kernels.
    tied_weights : bool, default=False
        Decoder layers reuse the transposed encoder weights.
    noise : {'gaussian', 'masking', 'salt_and_pepper'} or None, default=None
        Training-time input corruption (a :class:`Corruption` layer).
    noise_level : float, default=0.1
        Its standard deviation or fraction of corrupted entries.
    columns : sequence of (kind, n_levels) or None, default=None
        For a table: each of the ``n_features`` columns' kind
        (``'numeric'``, ``'binary'``, ``'categorical'``) and number of
        levels. The network then reads the columns through a
        :class:`TabularInput` and decodes them with a :class:`TabularOutput`.
        None: all columns are plain numbers.
    targets : sequence of int, default=()
        The widths of the target heads (:class:`TargetHeads`) on the code,
        one per target column: its number of classes, or 1 for numbers.
        Empty: no heads.

    Examples
    --------
    >>> Architecture(64, 2, hidden_layer_sizes=[32]).hidden_layer_sizes
    (32,)
    """

    n_features: int
    n_components: int
    hidden_layer_sizes: tuple = ()
    activation: str = "relu"
    output_activation: str = "identity"
    batch_norm: bool = False
    dropout: float = 0.0
    image_shape: tuple | None = None
    conv_channels: tuple = (32, 64)
    kernel_size: int = 3
    tied_weights: bool = False
    noise: str | None = None
    noise_level: float = 0.1
    columns: tuple | None = None
    targets: tuple = ()

    def __post_init__(self):
        def normalise(name, value):
            object.__setattr__(self, name, value)

        normalise("hidden_layer_sizes",
                  _positive_ints("hidden_layer_sizes", self.hidden_layer_sizes))
        normalise("targets", _positive_ints("targets", self.targets))
        if self.image_shape is None:
            normalise("conv_channels", tuple(self.conv_channels))
        else:
            shape = _positive_ints("image_shape", self.image_shape)
            if len(shape) != 3:
                raise ValueError(f"image_shape must be (channels, height, width), got {shape!r}.")
            if math.prod(shape) != self.n_features:
                raise ValueError(
                    f"image_shape={shape!r} has {math.prod(shape)} values per image but X has "
                    f"{self.n_features} features; rows must be flattened (C, H, W) images."
                )
            normalise("image_shape", shape)
            normalise("conv_channels",
                      _positive_ints("conv_channels", self.conv_channels, allow_empty=False))
        if self.columns is not None:
            self._check_columns()
        if self.noise in ("masking", "salt_and_pepper") and self.noise_level > 1:
            raise ValueError(
                f"noise={self.noise!r} takes a fraction of entries: noise_level must be in "
                f"[0, 1], got {self.noise_level}."
            )

    def _check_columns(self):
        columns = tuple((str(c[0]), int(c[1]), bool(c[2]) if len(c) > 2 else False)
                        for c in map(tuple, self.columns))
        object.__setattr__(self, "columns", columns)
        if len(columns) != self.n_features or any(c[0] not in COLUMN_KINDS for c in columns):
            raise ValueError(f"columns must give a kind of {sorted(COLUMN_KINDS)} and a number "
                             f"of levels for each of the {self.n_features} features.")
        if self.image_shape is not None:
            raise ValueError("A convolutional architecture (image_shape) reads pixels; it takes "
                             "no categorical or binary columns.")
        if self.tied_weights and any(kind == CATEGORICAL and n > MAX_ONE_HOT_LEVELS
                                     for kind, n, _ in columns):
            raise ValueError(
                "tied_weights mirrors each input in the decoder's output; categorical "
                f"columns with more than {MAX_ONE_HOT_LEVELS} levels enter through embeddings, "
                "which have no output to mirror. Use tied_weights=False."
            )

    @property
    def input_width(self):
        """Width of the encoder's input (one-hot and embedded columns counted out)."""
        return _input(self).width if self.columns else self.n_features

    def changes(self, other):
        """Describe the fields that differ from ``other``'s, as ``'name (a -> b)'``.

        Parameters
        ----------
        other : Architecture
            The architecture to compare with.

        Returns
        -------
        changes : list of str
            One entry per differing field; empty if the two are equal.
        """
        return [f"{f.name} ({getattr(self, f.name)!r} -> {getattr(other, f.name)!r})"
                for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


def _conv_stacks(arch):
    """Convolutional encoder head and decoder tail, and the encoder's flat width.

    Stride-2 convolutions, each followed by batch norm and the activation;
    the decoder mirrors them with transposed convolutions whose output
    padding (0 or 1) restores each layer's input size exactly.
    """
    channels, height, width = arch.image_shape
    chans = [channels, *arch.conv_channels]
    shapes = conv_output_shapes(height, width, len(chans) - 1, arch.kernel_size)
    k, pad = arch.kernel_size, arch.kernel_size // 2
    convs = [nn.Conv2d(c_in, c_out, k, stride=2, padding=pad)
             for c_in, c_out in zip(chans[:-1], chans[1:])]
    encoder = [nn.Unflatten(1, arch.image_shape)]
    for conv in convs:
        encoder += [conv, nn.BatchNorm2d(conv.out_channels), ACTIVATIONS[arch.activation]()]
    encoder.append(nn.Flatten())
    decoder = [ACTIVATIONS[arch.activation](), nn.Unflatten(1, (chans[-1], *shapes[-1]))]
    for i in range(len(convs) - 1, -1, -1):
        conv = convs[i]
        # A stride-2 transposed convolution gives 2 * (size_out - 1) - 2 * pad + k,
        # which is the input size or one short of it.
        padding = tuple(size_in - (2 * (size_out - 1) - 2 * pad + k)
                        for size_in, size_out in zip(shapes[i], shapes[i + 1]))
        if arch.tied_weights:
            decoder.append(TiedConvTranspose2d(conv, output_padding=padding))
        else:
            decoder.append(nn.ConvTranspose2d(conv.out_channels, conv.in_channels, k, stride=2,
                                              padding=pad, output_padding=padding))
        if i > 0:
            decoder += [nn.BatchNorm2d(conv.in_channels), ACTIVATIONS[arch.activation]()]
    decoder.append(nn.Flatten())
    return encoder, decoder, chans[-1] * shapes[-1][0] * shapes[-1][1]


def _mirror(linear, arch, in_features=None):
    # The decoder's counterpart of an encoder layer: its transpose when tied.
    if arch.tied_weights:
        return TiedLinear(linear)
    return nn.Linear(in_features or linear.out_features, linear.in_features)


def _stacks(arch, code_width):
    """The encoder and decoder ``Sequential`` of either model.

    An optional convolutional head (``image_shape``), dense hidden layers,
    then a linear layer to ``code_width`` outputs; the decoder starts from
    ``n_components`` inputs, walks the dense layers back, then the conv tail.
    """
    encoder, conv_tail, flat = _conv_stacks(arch) if arch.image_shape else ([], [], None)
    sizes = [flat or arch.input_width, *arch.hidden_layer_sizes]
    linears = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    for linear in linears:
        encoder += _dense_block(linear, arch)
    code = nn.Linear(sizes[-1], code_width)
    encoder.append(code)
    mirrored = [_mirror(code, arch, arch.n_components),
                *(_mirror(linear, arch) for linear in linears[::-1])]
    out_width = TabularOutput(arch.columns).width if arch.columns else sizes[0]
    if out_width != sizes[0]:  # a table's heads differ from its input (indicators, embeddings)
        mirrored[-1] = TiedLinear(linears[0] if linears else code, out_width) \
            if arch.tied_weights else nn.Linear(mirrored[-1].in_features, out_width)
    decoder = [layer for linear in mirrored[:-1] for layer in _dense_block(linear, arch)]
    decoder += [mirrored[-1], *conv_tail]
    return nn.Sequential(*encoder), nn.Sequential(*decoder)


def build_autoencoder(architecture):
    """Build an untrained :class:`Autoencoder` of the given architecture.

    Parameters
    ----------
    architecture : Architecture
        Its shape; ``tied_weights`` mirrors the encoder's weights, ``noise``
        adds a :class:`Corruption` layer.

    Returns
    -------
    module : Autoencoder
        Maps flat rows to flat rows.

    Examples
    --------
    >>> ae = build_autoencoder(Architecture(6, 2, activation="identity"))
    >>> ae.encoder
    Sequential(
      (0): Linear(in_features=6, out_features=2, bias=True)
    )
    """
    arch = architecture
    encoder, decoder = _stacks(arch, arch.n_components)
    corruption = None
    if arch.noise is not None and not _hides(arch):
        corruption = Corruption(arch.noise, arch.noise_level, arch.input_width)
    return Autoencoder(encoder, decoder, _output(arch), corruption, _input(arch),
                       _target_heads(arch))


def _hides(arch):
    # A table's masking noise hides entries (they enter as missing values).
    return bool(arch.columns) and arch.noise == "masking"


def _input(arch):
    if not arch.columns:
        return FillMissing(arch.n_features)
    return TabularInput(arch.columns, hide=arch.noise_level if _hides(arch) else 0.0)


def _target_heads(arch):
    return TargetHeads(arch.n_components, arch.targets) if arch.targets else None


def _output(arch):
    return TabularOutput(arch.columns) if arch.columns else arch.output_activation


def build_variational_autoencoder(architecture):
    """Build an untrained :class:`VariationalAutoencoder` of the given architecture.

    The encoder's last layer has ``2 * n_components`` outputs (means and
    log-variances); the decoder starts from ``n_components``.

    Parameters
    ----------
    architecture : Architecture
        Its shape, without ``tied_weights`` or ``noise``.

    Returns
    -------
    module : VariationalAutoencoder
        Maps flat rows to flat rows.

    Examples
    --------
    >>> vae = build_variational_autoencoder(Architecture(6, 2))
    >>> vae.encoder[-1].out_features
    4
    """
    arch = architecture
    if arch.tied_weights or arch.noise is not None:
        raise ValueError("A variational autoencoder takes no tied weights and no noise.")
    encoder, decoder = _stacks(arch, 2 * arch.n_components)
    return VariationalAutoencoder(encoder, decoder, _output(arch), input_layer=_input(arch),
                                  target_heads=_target_heads(arch))
