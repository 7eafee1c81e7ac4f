"""Training data as skae's net reads it: one tensor, sliced a batch at a time.

Instead of skorch's per-row ``Dataset`` and ``DataLoader`` collate, which is
slow on tabular data (skorch#1100), a :class:`TensorDataset` holds all
training rows as one tensor (on the training device when it fits; a
:class:`SparseRows` for sparse input) and a :class:`BatchIterator` slices
whole batches out of it. :class:`HoldOut` is the early-stopping hold-out.
"""

import math

import numpy as np
import scipy.sparse as sp
import torch

#: The numpy float dtypes skae's estimators take and compute in
#: (``validate_data(..., dtype=FLOAT_DTYPES)``): other input becomes float64.
FLOAT_DTYPES = (np.float64, np.float32)


class SparseRows:
    """A scipy CSR matrix that hands out dense float32 tensors of its rows.

    Stands in for the training tensor of a :class:`TensorDataset` when the
    input is sparse: a batch (a slice or ``index_select``) is densified on
    its own, never the whole matrix.
    """

    device = torch.device("cpu")

    def __init__(self, matrix):
        self.matrix = matrix

    def __len__(self):
        return self.matrix.shape[0]

    def _dense(self, rows):
        return torch.from_numpy(rows.toarray())

    def __getitem__(self, index):
        return self._dense(self.matrix[index])

    def index_select(self, dim, index):
        """Rows ``index`` as a dense tensor (``dim`` must be 0)."""
        return self._dense(self.matrix[index.cpu().numpy()])

    def take(self, index):
        """Rows ``index`` as another :class:`SparseRows`."""
        return SparseRows(self.matrix[index.cpu().numpy()])


def _permutation(n, X, generator):
    # Drawn where the generator lives (the training device), then moved to
    # the rows: sparse rows, and dense ones too large for the GPU, stay on
    # the CPU while their batches move.
    device = X.device if generator is None else generator.device
    return torch.randperm(n, device=device, generator=generator).to(X.device)


class TensorDataset(torch.utils.data.Dataset):
    """All training rows as one tensor (or :class:`SparseRows`); rows are their own targets."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.X[i]


class BatchIterator:
    """Yield ``(X_batch, X_batch)`` slices of a :class:`TensorDataset`.

    The rows are their own targets: skorch's ``EpochScoring`` (with its
    default caching) compares them with ``predict``, the reconstructions.

    Shuffling draws one permutation per epoch from ``generator`` (the
    estimator's, seeded by ``random_state``; torch's global generator when
    None) and gathers each batch with ``index_select``,
    as a hand-written training loop does. A last batch of a single row is
    dropped when shuffling, since batch norm cannot train on it; the row is
    seen in other epochs.

    With ``shard=(rank, world_size)`` (data-parallel training), every process
    draws the same permutation and keeps every ``world_size``-th row of it,
    cut to the same length on all ranks so they take the same number of
    steps.
    """

    def __init__(self, dataset, batch_size, shuffle=False, shard=None, generator=None):
        self.X = dataset.X
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.shard = shard
        self.generator = generator

    def _n_rows(self):
        if self.shard is None:
            return len(self.X)
        return len(self.X) // self.shard[1]

    def _bounds(self):
        n, bs = self._n_rows(), self.batch_size
        stops = list(range(bs, n, bs)) + [n]
        starts = [0] + stops[:-1]
        if self.shuffle and n > 1 and stops[-1] - starts[-1] == 1:
            starts, stops = starts[:-1], stops[:-1]
        return zip(starts, stops)

    def __len__(self):
        return len(list(self._bounds()))

    def __iter__(self):
        X = self.X
        if not self.shuffle and self.shard is None:
            for start, stop in self._bounds():
                batch = X[start:stop]
                yield batch, batch
            return
        order = _permutation(len(X), X, self.generator) if self.shuffle else \
            torch.arange(len(X), device=X.device)
        if self.shard is not None:
            rank, world_size = self.shard
            order = order[rank::world_size][: self._n_rows()]
        for start, stop in self._bounds():
            batch = X.index_select(0, order[start:stop])
            yield batch, batch


class HoldOut:
    """skorch ``train_split``: a random hold-out of a :class:`TensorDataset`.

    The rows are drawn from ``generator`` (torch's global one when None).
    """

    generator = None

    def __init__(self, fraction):
        self.fraction = fraction

    def __call__(self, dataset, y=None, groups=None):
        n = len(dataset)
        n_valid = math.ceil(self.fraction * n)
        if n - n_valid < 1:
            raise ValueError(
                f"early_stopping needs at least one training row after holding out "
                f"validation_fraction={self.fraction} of {n} samples."
            )
        perm = _permutation(n, dataset.X, self.generator)
        X = dataset.X
        take = X.take if isinstance(X, SparseRows) else (lambda rows: X.index_select(0, rows))
        return TensorDataset(take(perm[n_valid:])), TensorDataset(take(perm[:n_valid]))


def training_rows(X, device):
    """``X`` (a float array or CSR matrix) as the rows of a :class:`TensorDataset`.

    One float32 tensor, moved to the device once when it fits there (else
    batches move one by one, from pinned memory); a :class:`SparseRows` for
    sparse input, whose rows are densified a batch at a time. Training only
    reads it, so C-ordered float32 input is used in place on the CPU: no
    full copy.
    """
    if sp.issparse(X):
        return SparseRows(X.astype(np.float32, copy=False))
    X = np.ascontiguousarray(X, dtype=np.float32)
    X = torch.from_numpy(X if X.flags.writeable else X.copy())
    if device.type != "cpu":
        try:
            return X.to(device)
        except torch.OutOfMemoryError:
            return X.pin_memory()
    return X


def column_means(X):
    """Column means of a dense or sparse matrix, as a flat float array."""
    return np.asarray(X.mean(axis=0), dtype=np.float64).ravel()


def spread_rows(X, n_rows):
    """At most ``n_rows`` rows of ``X``, evenly spread."""
    if X.shape[0] <= n_rows:
        return X
    return X[np.linspace(0, X.shape[0] - 1, n_rows).astype(np.intp)]
