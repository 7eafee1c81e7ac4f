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

:func:`build_autoencoder` and :func:`build_variational_autoencoder` assemble
them from an :class:`Architecture`, the plain-data description of a network
that the estimators make from their parameters.

This module is public: the module classes, :class:`Architecture` and the
builders are for users who take a fitted model's ``net_.module_`` into their
own torch code or build the same network by hand (as the benchmarks do).
"""

import math
from dataclasses import dataclass, fields
from itertools import accumulate
from numbers import Integral

import torch
from torch import nn
from torch.nn import functional as F

from .losses import ELEMENTWISE_LOSSES, negative_log_likelihood

__all__ = [
    "ACTIVATIONS",
    "Autoencoder",
    "Corruption",
    "Dropout",
    "FillMissing",
    "TabularInput",
    "TabularOutput",
    "TiedConvTranspose2d",
    "TiedLinear",
    "VariationalAutoencoder",
    "Architecture",
    "build_autoencoder",
    "build_variational_autoencoder",
    "conv_output_shapes",
    "embedding_dim",
    "head_slices",
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

#: Kinds of input corruption of a denoising autoencoder.
NOISE_KINDS = ("gaussian", "masking", "salt_and_pepper")

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


# ---------------------------------------------------------------- tables
#
# A table's columns reach the network as one float per column: a numeric
# value (standardised by the estimator), a 0/1 flag, or a categorical level's
# code (-1 for a level unseen in fit, or missing). Each kind of column owns
# how it enters the network (its input encoding), what the decoder returns
# for it (its head: width and activation) and its loss, so a new kind is one
# class here.

#: Categorical columns with more levels than this enter the network through
#: a learned embedding instead of a one-hot vector.
MAX_ONE_HOT_LEVELS = 16


def embedding_dim(n_levels):
    """Width of the embedding of a categorical column with ``n_levels`` levels.

    fastai's rule of thumb ``1.6 * n ** 0.56``, capped at 32.

    Parameters
    ----------
    n_levels : int
        Number of levels.

    Returns
    -------
    width : int
        Embedding width.

    Examples
    --------
    >>> embedding_dim(100)
    21
    """
    return min(32, round(1.6 * n_levels ** 0.56))


class _Numeric:
    """A numeric column: the value itself in, one linear output, the ``loss``."""

    @staticmethod
    def head_width(n_levels):
        return 1


class _Binary(_Numeric):
    """A 0/1 column: the flag in, one logit out, Bernoulli cross-entropy."""


class _Categorical:
    """A categorical column: its level code in, one logit per level out, cross-entropy.

    An unknown level (code -1) enters as a zero vector and adds no loss.
    """

    @staticmethod
    def head_width(n_levels):
        return n_levels


COLUMN_KINDS = {"numeric": _Numeric, "binary": _Binary, "categorical": _Categorical}


def head_slices(columns):
    """Where each column's head sits in a table's decoder output, as ``(start, stop)``.

    Numeric and binary columns' heads come first, then the categorical
    columns' (one logit per level), each group in column order: the order
    of :class:`TabularInput`'s encoding, so a tied decoder mirrors its
    input.

    Parameters
    ----------
    columns : sequence of (kind, n_levels[, missing])
        The columns.

    Returns
    -------
    slices : list of (int, int)
        One per column.

    Examples
    --------
    >>> head_slices([("categorical", 3), ("numeric", 1)])
    [(1, 4), (0, 1)]
    """
    columns = [tuple(c) for c in columns]
    order = sorted(range(len(columns)), key=lambda j: (columns[j][0] == "categorical", j))
    slices, start = [None] * len(columns), 0
    for j in order:
        kind, n = columns[j][0], columns[j][1]
        slices[j] = (start, start + COLUMN_KINDS[kind].head_width(n))
        start = slices[j][1]
    return slices


class _Columns(nn.Module):
    """Where each kind of column sits, as index tensors made once per device.

    (Not buffers: modules are built on the meta device, and these are
    derived from ``columns``, not learned.)
    """

    def __init__(self, columns):
        super().__init__()
        columns = [tuple(c) for c in columns]
        self.columns = tuple((str(c[0]), int(c[1])) for c in columns)
        #: Whether each column had missing values in training (gets an indicator).
        self.missing = tuple(bool(c[2]) if len(c) > 2 else False for c in columns)
        self.slices = head_slices(self.columns)
        self._positions = {
            kind: [j for j, (k, _) in enumerate(self.columns) if k == kind]
            for kind in COLUMN_KINDS
        }
        self._cache = {}

    def _index(self, name, device):
        key = (name, str(device))
        if key not in self._cache:
            if name.endswith("_heads"):  # the head of a one-wide column starts its slice
                values = [self.slices[j][0] for j in self._positions[name[:-6]]]
            elif name == "missing":
                values = [j for j, flag in enumerate(self.missing) if flag]
            else:
                values = self._positions[name]
            self._cache[key] = torch.tensor(values, dtype=torch.long, device=device)
        return self._cache[key]

    def __getstate__(self):
        state = dict(super().__getstate__())
        state["_cache"] = {}
        return state

    def observed(self, x):
        """Which entries of the columns ``x`` hold a value (not missing, not unknown).

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_columns)
            Values, flags and level codes; NaN or code -1 where missing.

        Returns
        -------
        observed : torch.Tensor of bool, shape (n_samples, n_columns)
            True where the entry holds a value.
        """
        observed = ~torch.isnan(x)
        cols = self._index("categorical", x.device)
        if len(cols):
            observed[:, cols] = x[:, cols] >= 0
        return observed


class TabularInput(_Columns):
    """Encode a table's columns into the network's dense input.

    Numeric and binary columns pass through; a categorical column becomes a
    one-hot vector, or a learned embedding when it has more than
    :data:`MAX_ONE_HOT_LEVELS` levels. A code of -1 (an unknown level)
    becomes a zero vector, as ``OneHotEncoder(handle_unknown='ignore')``
    encodes it. The encoding lists the numeric and binary columns first,
    then the one-hot blocks, then the embeddings.

    A missing value (NaN, or code -1) enters as 0 for a standardised number
    (its training mean), 0.5 for a flag and a zero vector for levels, and
    columns that had missing values in training get an indicator, 1
    where the value is missing, after everything else. In training mode,
    ``hide`` is the fraction of observed entries drawn (from ``generator``)
    to enter as missing, so the model learns to fill them.

    Parameters
    ----------
    columns : sequence of (kind, n_levels) or (kind, n_levels, missing)
        Each input column's kind (``'numeric'``, ``'binary'`` or
        ``'categorical'``), number of levels (1 for the others) and whether
        it gets a missing-value indicator.
    hide : float, default=0.0
        Fraction of entries to hide in training mode.

    Examples
    --------
    >>> import torch
    >>> layer = TabularInput([("numeric", 1), ("categorical", 3)])
    >>> layer(torch.tensor([[0.5, 2.0], [1.0, -1.0]]))
    tensor([[0.5000, 0.0000, 0.0000, 1.0000],
            [1.0000, 0.0000, 0.0000, 0.0000]])
    """

    generator = None

    def __init__(self, columns, hide=0.0):
        super().__init__(columns)
        self.hide = float(hide)
        if self.hide:  # any column may be hidden: all get an indicator
            self.missing = (True,) * len(self.columns)
        categorical = self._positions["categorical"]
        self._one_hot = [j for j in categorical if self.columns[j][1] <= MAX_ONE_HOT_LEVELS]
        self._offsets = list(accumulate((self.columns[j][1] for j in self._one_hot), initial=0))
        self.embeddings = nn.ModuleDict({
            str(j): nn.Embedding(self.columns[j][1], embedding_dim(self.columns[j][1]))
            for j in categorical if j not in self._one_hot
        })

    @property
    def width(self):
        """Width of the encoded input."""
        return (len(self._positions["numeric"]) + len(self._positions["binary"])
                + self._offsets[-1] + sum(e.embedding_dim for e in self.embeddings.values())
                + sum(self.missing))

    def block(self, j):
        """Where column ``j`` sits in the encoding, as ``(start, stop)``.

        Parameters
        ----------
        j : int
            A column's position.

        Returns
        -------
        start, stop : int
            Its slice of :meth:`forward`'s output.
        """
        passthrough = sorted(self._positions["numeric"] + self._positions["binary"])
        if j in passthrough:
            return passthrough.index(j), passthrough.index(j) + 1
        start = len(passthrough)
        if j in self._one_hot:
            i = self._one_hot.index(j)
            return start + self._offsets[i], start + self._offsets[i + 1]
        start += self._offsets[-1]
        for key, embedding in self.embeddings.items():
            if int(key) == j:
                return start, start + embedding.embedding_dim
            start += embedding.embedding_dim
        raise IndexError(f"no column {j}")

    def _index(self, name, device):
        key = (name, str(device))
        if name in ("pass", "fill") and key not in self._cache:
            values = sorted(self._positions["numeric"] + self._positions["binary"])
            if name == "fill":  # what a missing value enters as
                values = [0.5 if self.columns[j][0] == "binary" else 0.0 for j in values]
            dtype = torch.long if name == "pass" else torch.float64
            self._cache[key] = torch.tensor(values, dtype=dtype, device=device)
        elif name in ("one_hot", "offsets") and key not in self._cache:
            values = self._one_hot if name == "one_hot" else self._offsets[:-1]
            self._cache[key] = torch.tensor(values, dtype=torch.long, device=device)
        return super()._index(name, device)

    def forward(self, x):
        """Return the dense encoding of the columns ``x``.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_columns)
            One float per column: values, flags and level codes.

        Returns
        -------
        encoded : torch.Tensor of shape (n_samples, width)
            The network's input.
        """
        if self.training and self.hide:
            hidden = _uniform_like(x, self.generator) < self.hide
            x = torch.where(hidden, torch.nan, x)
        missing = ~self.observed(x)
        passthrough = self._index("pass", x.device)
        fill = self._index("fill", x.device).to(x.dtype)
        parts = [torch.where(missing[:, passthrough], fill, x.index_select(1, passthrough))]
        x = torch.where(missing, -1.0, x)  # missing levels: code -1, no level
        if self._one_hot:
            codes = x.index_select(1, self._index("one_hot", x.device)).long()
            total = self._offsets[-1]  # unknown levels land in a dropped extra column
            where = torch.where(codes >= 0, codes + self._index("offsets", x.device), total)
            hot = x.new_zeros(len(x), total + 1).scatter_(1, where, 1.0)
            parts.append(hot[:, :total])
        for j, embedding in self.embeddings.items():
            codes = x[:, int(j)].long()
            known = (codes >= 0).to(x.dtype)[:, None]
            parts.append(embedding(codes.clamp(min=0)).to(x.dtype) * known)
        if any(self.missing):
            parts.append(missing[:, self._index("missing", x.device)].to(x.dtype))
        return torch.cat(parts, dim=1)


class TabularOutput(_Columns):
    """The decoder's heads for a table: one slice of its output per column.

    ``forward`` applies each column's activation (identity for numeric,
    sigmoid for binary, softmax over a categorical column's levels);
    :meth:`column_losses` gives each column's loss, weighted by
    ``weights`` (a buffer; the estimator sets it to one over the loss of
    predicting the column's training mean or level frequencies, so that
    every column counts alike whatever its kind and scale), and
    :meth:`negative_log_likelihood` the VAE's per-row likelihood.

    Parameters
    ----------
    columns : sequence of (kind, n_levels)
        As for :class:`TabularInput`.

    Examples
    --------
    >>> import torch
    >>> heads = TabularOutput([("binary", 1), ("categorical", 2)])
    >>> heads(torch.zeros(1, 3))
    tensor([[0.5000, 0.5000, 0.5000]])
    """

    def __init__(self, columns):
        super().__init__(columns)
        self.register_buffer("weights", torch.ones(len(self.columns)))

    @property
    def width(self):
        """Width of the decoder output the heads read."""
        return max(stop for _, stop in self.slices)

    def reset_parameters(self):
        """Reset the column weights to one."""
        with torch.no_grad():
            self.weights.fill_(1.0)

    def _categorical(self):
        return [(j, *self.slices[j]) for j in self._positions["categorical"]]

    def forward(self, h):
        """Apply each column's activation to its slice of ``h``.

        Parameters
        ----------
        h : torch.Tensor of shape (..., width)
            Decoder outputs before activation.

        Returns
        -------
        out : torch.Tensor of shape (..., width)
            Values (numeric), probabilities (binary) and level probabilities
            (categorical).
        """
        out = h.clone()
        heads = self._index("binary_heads", h.device)
        out[..., heads] = torch.sigmoid(h[..., heads])
        for _, a, b in self._categorical():
            out[..., a:b] = torch.softmax(h[..., a:b], dim=-1)
        return out

    def _index(self, name, device):
        key = (name, str(device))
        if key not in self._cache and name in ("order", "levels"):
            if name == "order":  # column j's place among [numeric, binary, categorical]
                grouped = [j for kind in COLUMN_KINDS for j in self._positions[kind]]
                values = [grouped.index(j) for j in range(len(self.columns))]
            else:  # each categorical column's head positions, padded with a dummy one
                width = max((b - a for _, a, b in self._categorical()), default=0)
                values = [list(range(a, b)) + [self.width] * (width - (b - a))
                          for _, a, b in self._categorical()]
            self._cache[key] = torch.tensor(values, dtype=torch.long, device=device)
        return super()._index(name, device)

    def _by_kind(self, h, x, numeric):
        """Per-column losses: ``numeric(h, x)`` for numeric columns, cross-entropy else.

        One batched op per kind: the categorical columns' logits are padded
        to the widest one (with -inf, which softmax gives no weight) and
        share one cross-entropy. A missing target (NaN, or code -1) adds no
        loss.
        """
        parts, device = [], h.device
        for kind, fn in (("numeric", numeric), ("binary", _bernoulli)):
            cols = self._index(kind, device)
            if len(cols):
                target = x.index_select(-1, cols).to(h.dtype)
                heads = h.index_select(-1, self._index(kind + "_heads", device))
                missing = torch.isnan(target).expand_as(heads)  # adds no loss
                losses = fn(heads, torch.nan_to_num(target).expand_as(heads))
                parts.append(torch.where(missing, 0.0, losses))
        if self._positions["categorical"]:
            padded = torch.cat([h, torch.full_like(h[..., :1], -torch.inf)], dim=-1)
            logits = padded[..., self._index("levels", device)]  # (..., n, C, L)
            codes = x.index_select(-1, self._index("categorical", device)).long()
            codes = codes.expand(logits.shape[:-1])
            flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1),
                                   ignore_index=-1, reduction="none")
            parts.append(flat.reshape(codes.shape))
        return torch.cat(parts, dim=-1).index_select(-1, self._index("order", device))

    def column_losses(self, h, x, loss="mse"):
        """Each column's weighted loss.

        Parameters
        ----------
        h : torch.Tensor of shape (..., n_samples, width)
            Decoder outputs before activation.
        x : torch.Tensor of shape (n_samples, n_columns)
            The columns as :class:`TabularInput` reads them.
        loss : {'mse', 'mae', 'huber'}, default='mse'
            The loss of numeric columns.

        Returns
        -------
        losses : torch.Tensor of shape (..., n_samples, n_columns)
            ``weights`` times each column's loss.
        """
        losses = self._by_kind(h, x, ELEMENTWISE_LOSSES[loss])
        return losses * self.weights.to(losses.dtype)

    def negative_log_likelihood(self, h, x, loss="mse", log_scale=None):
        """Each row's negative log-likelihood under the heads, in nats.

        Parameters
        ----------
        h : torch.Tensor of shape (..., n_samples, width)
            Decoder outputs before activation.
        x : torch.Tensor of shape (n_samples, n_columns)
            The columns.
        loss : {'mse', 'mae'}, default='mse'
            Gaussian or Laplace likelihood of the numeric columns.
        log_scale : torch.Tensor, optional
            Their log scale.

        Returns
        -------
        nll : torch.Tensor of shape (..., n_samples)
            Summed over columns.
        """
        def numeric(h_num, x_num):  # one value at a time: the last dimension is 1
            return negative_log_likelihood(h_num[..., None], x_num[..., None], loss, log_scale)

        return self._by_kind(h, x, numeric).sum(-1)


def _bernoulli(logits, target):
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


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


def _dense_block(linear, arch):
    # A (possibly tied) linear layer, then batch norm, activation and dropout.
    layers = [linear]
    if arch.batch_norm:
        layers.append(nn.BatchNorm1d(linear.bias.shape[0]))
    layers.append(ACTIVATIONS[arch.activation]())
    if arch.dropout:
        layers.append(Dropout(arch.dropout))
    return layers


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

    def __post_init__(self):
        def normalise(name, value):
            object.__setattr__(self, name, value)

        normalise("hidden_layer_sizes",
                  _positive_ints("hidden_layer_sizes", self.hidden_layer_sizes))
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
        if self.tied_weights and any(kind == "categorical" and n > MAX_ONE_HOT_LEVELS
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
    return Autoencoder(encoder, decoder, _output(arch), corruption, _input(arch))


def _hides(arch):
    # A table's masking noise hides entries (they enter as missing values).
    return bool(arch.columns) and arch.noise == "masking"


def _input(arch):
    if not arch.columns:
        return FillMissing(arch.n_features)
    return TabularInput(arch.columns, hide=arch.noise_level if _hides(arch) else 0.0)


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
    return VariationalAutoencoder(encoder, decoder, _output(arch), input_layer=_input(arch))
