"""Readers for the IDX file format and the MNIST family of data sets.

The IDX format is the one MNIST and Fashion-MNIST ship in: a 4-byte magic
number (two zero bytes, a dtype code, the number of dimensions), one
big-endian ``uint32`` size per dimension, then the data in row-major order.
"""

import gzip
import math
import os
from pathlib import Path

import numpy as np

__all__ = ["load_idx", "load_mnist"]

_GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian numpy dtype
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MNIST_PREFIX = {"train": "train", "test": "t10k"}


def load_idx(path):
    """Read an IDX file into a numpy array.

    Parameters
    ----------
    path : str or os.PathLike
        Path of the file. It is decompressed with gzip if its name ends
        with ``.gz`` or its content starts with the gzip magic bytes.

    Returns
    -------
    array : ndarray
        Array with the shape given in the file header, in native byte
        order, of dtype ``uint8``, ``int8``, ``int16``, ``int32``,
        ``float32`` or ``float64``.

    Raises
    ------
    ValueError
        If the magic number is wrong, the dtype code is unknown, or the
        file holds fewer or more data bytes than its header announces.

    Examples
    --------
    Write a tiny 2 x 3 ``uint8`` IDX file and read it back:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from skae.datasets import load_idx
    >>> header = bytes([0, 0, 0x08, 2]) + np.array([2, 3], dtype=">u4").tobytes()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "tiny-idx2-ubyte")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(header + bytes(range(6)))
    ...     array = load_idx(path)
    >>> array
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = os.fspath(path)
    raw = Path(path).read_bytes()
    if path.endswith(".gz") or raw[:2] == _GZIP_MAGIC:
        raw = gzip.decompress(raw)

    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(
            f"{path!r} is not an IDX file: bad magic number {raw[:4].hex()!r} "
            "(expected two zero bytes, a dtype code and the number of dimensions)"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"{path!r}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    dtype = _IDX_DTYPES[code]

    offset = 4 + 4 * ndim
    if len(raw) < offset:
        raise ValueError(
            f"{path!r}: truncated header, {ndim} dimensions need {offset} bytes, "
            f"file has {len(raw)}"
        )
    shape = tuple(int(n) for n in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - offset
    if found != expected:
        problem = "truncated file" if found < expected else "trailing bytes"
        raise ValueError(
            f"{path!r}: size mismatch ({problem}): header shape {shape} of {dtype.name} "
            f"needs {expected} data bytes, file has {found}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=offset)
    # astype copies: the result is writable and in native byte order.
    return data.astype(dtype.newbyteorder("=")).reshape(shape)


def _find(folder, name):
    """Return the path of ``name`` or ``name.gz`` in ``folder``, or None."""
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(path, subset="train", *, flatten=True, scale=True):
    """Load MNIST (or Fashion-MNIST) images and labels from a folder.

    The folder must hold the original IDX files, gzip-compressed or not:
    ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` for the
    training set, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    for the test set. Fashion-MNIST uses the same names.

    Parameters
    ----------
    path : str or os.PathLike
        Folder with the IDX files.
    subset : {"train", "test"}, default="train"
        Which split to load.
    flatten : bool, default=True
        If True, return images as rows of 784 pixels, else as 28 x 28 arrays.
    scale : bool, default=True
        If True, return ``float32`` pixels in [0, 1], else the raw ``uint8``
        values in [0, 255].

    Returns
    -------
    X : ndarray of shape (n_samples, 784) or (n_samples, 28, 28)
        Images, ``float32`` if ``scale`` else ``uint8``.
    y : ndarray of shape (n_samples,)
        Labels 0-9 as ``int64``.

    Raises
    ------
    ValueError
        If ``subset`` is not "train" or "test", or the files do not match.
    FileNotFoundError
        If the image or label file is missing from ``path``.

    Examples
    --------
    >>> from skae.datasets import load_mnist
    >>> X, y = load_mnist("path/to/mnist", subset="test")  # doctest: +SKIP
    >>> X.shape, X.dtype, y[:5]  # doctest: +SKIP
    ((10000, 784), dtype('float32'), array([7, 2, 1, 0, 4]))
    """
    if subset not in _MNIST_PREFIX:
        raise ValueError(f"subset must be 'train' or 'test', got {subset!r}")
    folder = Path(path)
    prefix = _MNIST_PREFIX[subset]
    names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
    files = [_find(folder, name) for name in names]
    if None in files:
        expected = " and ".join(f"{name}[.gz]" for name in names)
        raise FileNotFoundError(
            f"MNIST {subset} files not found in folder {str(folder)!r}: expected {expected}"
        )

    X, y = (load_idx(file) for file in files)
    if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
        raise ValueError(
            f"{files[0]} and {files[1]} do not match: images of shape {X.shape}, "
            f"labels of shape {y.shape}"
        )
    if flatten:
        X = X.reshape(len(X), -1)
    if scale:
        X = np.divide(X, 255, dtype=np.float32)
    return X, y.astype(np.int64)
