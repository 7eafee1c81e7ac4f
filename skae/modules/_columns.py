"""Column kinds: how each kind of a table's columns enters the network, is decoded and scored.

A table's columns reach the network as one float per column: a numeric
value (standardised by the estimator), a 0/1 flag, or a categorical level's
code (-1 for a level unseen in fit, or missing; :data:`UNSEEN_LEVEL` for a
level unseen in fit where a scorer asks to tell it apart). Each kind of column owns
how it enters the network (its input encoding), what the decoder returns
for it (its head: width and activation) and its loss, so a new kind is one
class here.
"""

from itertools import accumulate
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ..losses import ELEMENTWISE_LOSSES, _ColumnHeads, negative_log_likelihood
from ._layers import _normal_like, _uniform_like

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


#: A categorical column with more levels than this gets its heads' pass to
#: itself (torch's dense reductions over its logits); narrower neighbours
#: share one segmented pass.
WIDE_LEVELS = 256

#: The names of the column kinds, spelled here once.
NUMERIC, BINARY, CATEGORICAL = "numeric", "binary", "categorical"

#: The code of a categorical level unseen in fit, where a scorer tells it
#: apart from a missing value (code -1); see :meth:`_Categorical.loss`. It
#: enters the network as -1 does: as no level.
UNSEEN_LEVEL = -2


class _ColumnKind:
    """What a kind of column is to the network: the protocol each kind follows.

    A *one-wide* kind enters the network as its value (``fill`` where it is
    missing) and is decoded by a one-wide head, to which ``activation``
    (None: identity) applies; ``loss(heads, target, numeric)`` is its
    element-wise loss, where ``numeric`` is the loss the estimator chose for
    numbers. A kind that is not one-wide is a level code, one-hot encoded
    or embedded, decoded by one logit per level (``head_width``); its
    columns' logits sit side by side, where :class:`_Levels` says, and its
    ``activation(logits, levels)`` (a softmax per column), ``loss(logits,
    codes, levels)`` (a cross-entropy per column) and ``draw(logits,
    levels, generator)`` treat all of them at once.
    :class:`TabularInput` and :class:`TabularOutput` batch the columns of
    each kind, kind by kind in the order of :data:`COLUMN_KINDS`.

    ``draw(heads, generator, loss, log_scale)`` draws values from the
    distribution the heads (before activation) define, in the form the
    activation returns (a one-wide kind: its value or flag; a level code
    kind: a one-hot vector), with uniform or normal draws from
    ``generator``; ``loss`` and ``log_scale`` are the decoder's likelihood
    of numbers and its learned log scale.
    """

    one_wide = True
    fill = 0.0
    activation = None

    @staticmethod
    def head_width(n_levels):
        return 1


class _Numeric(_ColumnKind):
    """A numeric column: the value itself in, one linear output, the estimator's ``loss``."""

    @staticmethod
    def loss(heads, target, numeric):
        return numeric(heads, target)

    @staticmethod
    def draw(heads, generator=None, loss="mse", log_scale=None):
        """Numbers from the decoder's likelihood: the mean ``heads`` plus its noise.

        A Gaussian with standard deviation ``exp(log_scale)`` (``loss='mse'``)
        or a Laplace with scale ``exp(log_scale)`` (``loss='mae'``, by the
        inverse of its distribution function); ``log_scale=None`` adds no
        noise.
        """
        if log_scale is None:
            return heads.clone()
        scale = torch.exp(log_scale).to(heads.dtype)
        if loss == "mae":
            u = _uniform_like(heads, generator) - 0.5
            noise = -torch.sign(u) * torch.log1p(-2 * u.abs())
        else:
            noise = _normal_like(heads, generator)
        return heads + scale * noise


class _Binary(_ColumnKind):
    """A 0/1 column: the flag in (0.5 when missing), one logit out, Bernoulli cross-entropy."""

    fill = 0.5
    activation = staticmethod(torch.sigmoid)

    @staticmethod
    def loss(heads, target, numeric):
        return F.binary_cross_entropy_with_logits(heads, target, reduction="none")

    @staticmethod
    def draw(heads, generator=None, loss="mse", log_scale=None):
        """Flags drawn from ``Bernoulli(sigmoid(heads))``, as 0/1."""
        return (_uniform_like(heads, generator) < torch.sigmoid(heads)).to(heads.dtype)


class _Levels(NamedTuple):
    """Where each of several categorical columns' logits sit, side by side in one tensor.

    ``segment`` (long, one per logit) is the column each logit belongs to;
    ``offsets`` (long, one per column and one more) where each column's
    logits start, and the last one's end. Its reductions (:meth:`top`,
    :meth:`sums`) and :meth:`spread` act on each column's logits; for one
    column they are torch's dense reductions over the last dimension.
    """

    segment: torch.Tensor
    offsets: torch.Tensor

    @classmethod
    def of(cls, n_levels, device=None):
        """The layout of columns with ``n_levels`` levels each, in that order."""
        sizes = torch.as_tensor(n_levels, dtype=torch.long, device=device)
        segment = torch.repeat_interleave(torch.arange(len(sizes), device=device), sizes)
        return cls(segment, F.pad(sizes.cumsum(0), (1, 0)))

    @property
    def n_columns(self):
        return len(self.offsets) - 1

    @property
    def starts(self):
        """Where each column's logits start."""
        return self.offsets[:-1]

    def top(self, values):
        """Each column's largest of ``values`` (shape (..., width)), shape (..., n_columns)."""
        if self.n_columns == 1:
            return values.amax(-1, keepdim=True)
        top = values.new_full((*values.shape[:-1], self.n_columns), -torch.inf)
        return top.scatter_reduce_(-1, self.segment.expand(values.shape), values, "amax")

    def sums(self, values):
        """Each column's sum of ``values`` (shape (..., width)), shape (..., n_columns)."""
        if self.n_columns == 1:
            return values.sum(-1, keepdim=True)
        offsets = self.offsets.expand(*values.shape[:-1], len(self.offsets))
        return torch.segment_reduce(values, "sum", offsets=offsets, axis=values.dim() - 1)

    def spread(self, values):
        """Each column's entry of ``values`` (shape (..., n_columns)) at each of its logits.

        For one column, ``values`` itself, which broadcasts.
        """
        return values if self.n_columns == 1 else values.index_select(-1, self.segment)


class _Categorical(_ColumnKind):
    """Categorical columns: level codes in, one logit per level out, cross-entropy.

    An unknown level (code -1) enters as a zero vector and adds no loss;
    a level marked unseen in fit (:data:`UNSEEN_LEVEL`) enters as -1 does
    and costs the column's unseen-level loss (see :meth:`loss`).
    The columns' logits sit side by side (``levels``, a :class:`_Levels`)
    and each method treats all columns at once, without padding them to a
    common width.
    """

    one_wide = False

    @staticmethod
    def head_width(n_levels):
        return n_levels

    @staticmethod
    def _exp(logits, levels):
        """``exp(logits - top)`` and each column's sum of it and shift ``top``.

        ``top``, each column's largest logit, keeps the exponentials finite;
        each column's softmax is ``exp / sum`` and its log-sum-exp
        ``log(sum) + top``, whatever ``top`` (it takes no gradient).
        """
        with torch.no_grad():
            top = levels.top(logits)
            top = torch.where(torch.isfinite(top), top, 0.0)
        exp = torch.exp(logits - levels.spread(top))
        return exp, levels.sums(exp), top

    @classmethod
    def activation(cls, logits, levels):
        """Each column's softmax over its levels, shape of ``logits``."""
        if levels.n_columns == 1:  # the same softmax, by torch's fused kernel
            return torch.softmax(logits, dim=-1)
        exp, total, _ = cls._exp(logits, levels)
        return exp / levels.spread(total)

    @classmethod
    def loss(cls, logits, codes, levels, unseen=None):
        """Each column's cross-entropy ``logsumexp(logits) - logits[code]``; code -1 adds 0.

        ``codes`` (long, shape (..., n_columns)) broadcasts against the
        logits' leading dimensions. A level unseen in fit
        (:data:`UNSEEN_LEVEL`) costs ``-log(unseen)``, in nats as the
        cross-entropy of a seen level: ``unseen`` (shape (n_columns,)) is
        each column's probability of a level outside its training levels,
        estimated in fit (see :func:`unseen_level_probability`); NaN (not
        estimated), or ``unseen=None``, makes it cost 0, as code -1.
        """
        exp, total, top = cls._exp(logits, levels)
        codes = codes.expand(*logits.shape[:-1], codes.shape[-1])
        picked = logits.gather(-1, levels.starts + codes.clamp(min=0))
        seen = torch.where(codes >= 0, total.log() + top - picked, 0.0)
        if unseen is None:
            return seen
        surprise = torch.nan_to_num(-torch.log(unseen.to(seen.dtype)), nan=0.0)
        return torch.where(codes == UNSEEN_LEVEL, surprise, seen)

    @classmethod
    def draw(cls, logits, levels, generator=None):
        """Levels drawn from each column's softmax (not its argmax), as one-hot vectors.

        One uniform draw per row from ``generator`` for each column in turn
        (the draws :func:`_uniform_like` makes on a column's first logit):
        the level drawn is the first whose cumulative probability reaches
        it.
        """
        cumulative = cls.activation(logits, levels).cumsum(-1)
        ends = cumulative.index_select(-1, levels.offsets[1:-1] - 1)  # each column's but the last
        before = F.pad(ends, (1, 0))  # the cumulative probability before each column
        u = _uniform_like(logits.new_empty(levels.n_columns, *logits.shape[:-1]), generator)
        below = cumulative - levels.spread(before) < levels.spread(u.movedim(0, -1))
        codes = levels.sums(below.to(logits.dtype)).long()
        codes = torch.minimum(codes, levels.offsets.diff() - 1)  # rounding: at most the last
        return torch.zeros_like(logits).scatter_(-1, levels.starts + codes, 1.0)


def unseen_level_probability(counts):
    """The probability that a categorical column's next value is a level unseen so far.

    Good-Turing's estimate of the probability mass of the levels not seen,
    the share of the observed values whose level was seen once, smoothed
    by one value of a new level so that it is never 0:
    ``(n_1 + 1) / (n + 1)``, where ``n`` is the number of observed values
    and ``n_1`` the number of levels seen exactly once. A column whose
    levels all recur (``n_1 = 0``) gives ``1 / (n + 1)``, as if the next
    value were the first of a new level; a column of identifiers, whose
    levels are mostly seen once, gives nearly 1: a new identifier is no
    surprise.

    Parameters
    ----------
    counts : array-like of int
        How many observed values each level has (levels with no values may
        be included: they count for nothing).

    Returns
    -------
    probability : float
        In (0, 1].

    Examples
    --------
    >>> unseen_level_probability([500, 300, 199])  # 999 values, no level seen once
    0.001
    >>> unseen_level_probability([2, 1, 1])  # two of four values of a level seen once
    0.6
    """
    counts = [int(c) for c in counts]
    return (sum(c == 1 for c in counts) + 1) / (sum(counts) + 1)


#: Each column kind by its name, in the order of a table's heads and losses.
COLUMN_KINDS = {NUMERIC: _Numeric, BINARY: _Binary, CATEGORICAL: _Categorical}
ONE_WIDE_KINDS = tuple(name for name, kind in COLUMN_KINDS.items() if kind.one_wide)


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
    order = sorted(range(len(columns)), key=lambda j: (not COLUMN_KINDS[columns[j][0]].one_wide, j))
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

    def _passthrough(self):
        """The one-wide columns, which enter the network as their values, in column order."""
        return sorted(j for kind in ONE_WIDE_KINDS for j in self._positions[kind])

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
        cols = self._index(CATEGORICAL, x.device)
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
        categorical = self._positions[CATEGORICAL]
        self._one_hot = [j for j in categorical if self.columns[j][1] <= MAX_ONE_HOT_LEVELS]
        self._offsets = list(accumulate((self.columns[j][1] for j in self._one_hot), initial=0))
        self.embeddings = nn.ModuleDict({
            str(j): nn.Embedding(self.columns[j][1], embedding_dim(self.columns[j][1]))
            for j in categorical if j not in self._one_hot
        })

    @property
    def width(self):
        """Width of the encoded input."""
        return (len(self._passthrough()) + self._offsets[-1]
                + sum(e.embedding_dim for e in self.embeddings.values()) + sum(self.missing))

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
        passthrough = self._passthrough()
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
            values = self._passthrough()
            if name == "fill":  # what a missing value enters as
                values = [COLUMN_KINDS[self.columns[j][0]].fill for j in values]
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


class TabularOutput(_Columns, _ColumnHeads):
    """The decoder's heads for a table: one slice of its output per column.

    ``forward`` applies each column's activation (identity for numeric,
    sigmoid for binary, softmax over a categorical column's levels);
    :meth:`column_losses` gives each column's loss, weighted by
    ``weights`` (a buffer; the estimator sets it to one over the loss of
    predicting the column's training mean or level frequencies, so that
    every column counts alike whatever its kind and scale), and
    :meth:`negative_log_likelihood` the VAE's per-row likelihood. In both,
    a level marked :data:`UNSEEN_LEVEL` costs ``-log`` of its column's
    probability of a level unseen in fit (:meth:`set_unseen`).

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

    #: Each column's probability of a level unseen in fit (NaN: not estimated),
    #: set by :meth:`set_unseen`; None: none estimated (as in a module pickled by
    #: skae 0.2).
    unseen = None

    def __init__(self, columns):
        super().__init__(columns)
        self.register_buffer("weights", torch.ones(len(self.columns)))

    def set_unseen(self, probabilities):
        """Set each column's probability of a level unseen in fit.

        What a level marked :data:`UNSEEN_LEVEL` costs in :meth:`column_losses`
        and :meth:`negative_log_likelihood`: ``-log`` of its column's
        probability (see :meth:`_Categorical.loss`). Plain data derived from
        the training table (as ``columns``), not a learned buffer: the
        estimator sets it when it builds or loads the network.

        Parameters
        ----------
        probabilities : sequence of float
            One per column; NaN (a column that is not categorical, or whose
            probability was not estimated) makes an unseen level cost 0.
        """
        probabilities = tuple(float(p) for p in probabilities)
        if len(probabilities) != len(self.columns):
            raise ValueError(f"set_unseen needs {len(self.columns)} probabilities, one per "
                             f"column; got {len(probabilities)}.")
        self.unseen = probabilities
        self._cache = {key: value for key, value in self._cache.items() if key[0] != "unseen"}

    def observed(self, x):
        """Which entries of ``x`` are scored: those that hold a value, and unseen levels.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_columns)
            Values, flags and level codes.

        Returns
        -------
        observed : torch.Tensor of bool, shape (n_samples, n_columns)
            True where the entry holds a value or a level marked
            :data:`UNSEEN_LEVEL` (which has a loss of its own).
        """
        observed = super().observed(x)
        cols = self._index(CATEGORICAL, x.device)
        if len(cols):
            observed[:, cols] |= x[:, cols] == UNSEEN_LEVEL
        return observed

    @property
    def width(self):
        """Width of the decoder output the heads read."""
        return max(stop for _, stop in self.slices)

    def reset_parameters(self):
        """Reset the column weights to one."""
        with torch.no_grad():
            self.weights.fill_(1.0)

    def _levels(self, device):
        """The categorical heads in groups that share a pass: ``(start, stop, levels)`` each.

        The heads come after the one-wide heads, side by side, in column
        order; a column with more than :data:`WIDE_LEVELS` levels is a group
        of its own, each run of narrower columns between them one group.
        ``levels`` (a :class:`_Levels`) is where a group's columns sit in its
        slice ``h[..., start:stop]``.
        """
        key = ("levels", str(device))
        if key not in self._cache:
            groups, wide = [], True  # wide: whether a new group starts after the last column
            for j in self._positions[CATEGORICAL]:
                a, b = self.slices[j]
                if wide or b - a > WIDE_LEVELS:
                    groups.append([])
                groups[-1].append((a, b))
                wide = b - a > WIDE_LEVELS
            self._cache[key] = [(g[0][0], g[-1][1], _Levels.of([b - a for a, b in g], device))
                                for g in groups]
        return self._cache[key]

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
        for name in ONE_WIDE_KINDS:
            activation = COLUMN_KINDS[name].activation
            if activation is not None:
                heads = self._index(name + "_heads", h.device)
                out[..., heads] = activation(h[..., heads])
        for start, stop, levels in self._levels(h.device):
            out[..., start:stop] = _Categorical.activation(h[..., start:stop], levels)
        return out

    def draw(self, h, generator=None, loss="mse", log_scale=None):
        """Draw each column from its head's distribution (not its mode).

        The drawing counterpart of :meth:`forward`: numbers from the
        decoder's likelihood (Gaussian or Laplace with the learned scale),
        flags from their Bernoulli, levels from their softmax; each kind's
        ``draw``. Columns are drawn one kind after the other, in the order
        of :data:`COLUMN_KINDS`, so a seeded ``generator`` gives the same
        draws every time.

        Parameters
        ----------
        h : torch.Tensor of shape (n_samples, width)
            Decoder outputs before activation.
        generator : torch.Generator, optional
            Source of the uniform and normal draws.
        loss : {'mse', 'mae'}, default='mse'
            The likelihood of the numeric columns.
        log_scale : torch.Tensor, optional
            Its learned log scale; None adds no noise to the numbers.

        Returns
        -------
        drawn : torch.Tensor of shape (n_samples, width)
            Standardised numbers, 0/1 flags and one-hot level vectors, in
            the layout of :meth:`forward`'s output.

        Examples
        --------
        >>> import torch
        >>> heads = TabularOutput([("binary", 1), ("categorical", 2)])
        >>> drawn = heads.draw(torch.tensor([[50.0, -50.0, 50.0]]))
        >>> drawn
        tensor([[1., 0., 1.]])
        """
        out = h.clone()
        for name in ONE_WIDE_KINDS:
            heads = self._index(name + "_heads", h.device)
            if len(heads):
                out[..., heads] = COLUMN_KINDS[name].draw(h[..., heads], generator, loss,
                                                          log_scale)
        for start, stop, levels in self._levels(h.device):  # in column order
            out[..., start:stop] = _Categorical.draw(h[..., start:stop], levels, generator)
        return out

    def _index(self, name, device):
        key = (name, str(device))
        if key not in self._cache and name == "unseen":  # of the categorical columns
            unseen = self.unseen or (float("nan"),) * len(self.columns)
            values = [unseen[j] for j in self._positions[CATEGORICAL]]
            self._cache[key] = torch.tensor(values, dtype=torch.float64, device=device)
        if key not in self._cache and name == "order":
            # column j's place among the losses, one-wide kinds first
            grouped = [j for kind in (*ONE_WIDE_KINDS, CATEGORICAL) for j in self._positions[kind]]
            values = [grouped.index(j) for j in range(len(self.columns))]
            self._cache[key] = torch.tensor(values, dtype=torch.long, device=device)
        return super()._index(name, device)

    def _by_kind(self, h, x, numeric):
        """Per-column losses: ``numeric(h, x)`` for numeric columns, cross-entropy else.

        One batched op per kind: the categorical columns' cross-entropies
        are computed together, each over its own levels (no padding). A
        missing target (NaN, or code -1) adds no loss.
        """
        parts, device = [], h.device
        for name in ONE_WIDE_KINDS:
            cols = self._index(name, device)
            if len(cols):
                target = x.index_select(-1, cols).to(h.dtype)
                heads = h.index_select(-1, self._index(name + "_heads", device))
                missing = torch.isnan(target).expand_as(heads)  # adds no loss
                losses = COLUMN_KINDS[name].loss(
                    heads, torch.nan_to_num(target).expand_as(heads), numeric)
                parts.append(torch.where(missing, 0.0, losses))
        if self._positions[CATEGORICAL]:
            codes = x.index_select(-1, self._index(CATEGORICAL, device))
            codes = torch.nan_to_num(codes, nan=-1.0).long()
            unseen = self._index("unseen", device)
            groups = self._levels(device)
            # one split (not a slice per group): its gradient is one tensor of h's width
            logits = h.split([groups[0][0]] + [stop - start for start, stop, _ in groups], -1)
            for group_logits, (_, _, levels) in zip(logits[1:], groups):
                n = levels.n_columns
                parts.append(_Categorical.loss(group_logits, codes[:, :n], levels, unseen[:n]))
                codes, unseen = codes[:, n:], unseen[n:]
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
