"""Spec for skae.datasets: the IDX reader and the MNIST loader."""

import doctest
import gzip

import numpy as np
import pytest
from _helpers import MNIST_DIR, no_mnist

from skae import datasets
from skae.datasets import load_idx, load_mnist

FASHION_DIR = MNIST_DIR / "fashion_mnist"

IDX_CODES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def idx_bytes(array, code=None):
    """Encode ``array`` as IDX bytes (big-endian header and data)."""
    code = IDX_CODES[array.dtype.type] if code is None else code
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, content, compress=False):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def require(folder, subset="test"):
    """Skip the test unless ``folder`` holds the MNIST files of ``subset``."""
    prefix = {"train": "train", "test": "t10k"}[subset]
    if not (folder / f"{prefix}-labels-idx1-ubyte.gz").is_file():
        pytest.skip(no_mnist(folder, subset))
    return folder


def test_the_skip_reason_says_where_to_get_mnist(tmp_path):
    reason = no_mnist(tmp_path, "test")
    assert str(tmp_path) in reason and "SKAE_MNIST_DIR" in reason
    assert "t10k-images-idx3-ubyte.gz" in reason and "t10k-labels-idx1-ubyte.gz" in reason
    assert "https://ossci-datasets.s3.amazonaws.com/mnist/" in reason
    assert "fashion_mnist/" in reason and "zalandoresearch/fashion-mnist" in reason


# --- load_idx ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_load_idx_round_trips_every_dtype(tmp_path, dtype, compress):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    name = "a.idx.gz" if compress else "a.idx"
    out = load_idx(write(tmp_path / name, idx_bytes(array), compress))
    assert out.dtype == np.dtype(dtype)
    assert out.dtype.isnative
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, array)


def test_load_idx_detects_gzip_by_content_not_only_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    out = load_idx(write(tmp_path / "labels-idx1-ubyte", idx_bytes(array), compress=True))
    np.testing.assert_array_equal(out, array)


def test_load_idx_accepts_str_path_and_returns_writable_array(tmp_path):
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = load_idx(str(write(tmp_path / "a.idx", idx_bytes(array))))
    out[0, 0] = 42  # writable: not a view of the file buffer
    assert out[0, 0] == 42


def test_load_idx_reads_big_endian_values(tmp_path):
    content = bytes([0, 0, 0x0C, 1, 0, 0, 0, 1, 0x01, 0x02, 0x03, 0x04])
    assert load_idx(write(tmp_path / "a.idx", content))[0] == 0x01020304


def test_load_idx_rejects_bad_magic(tmp_path):
    content = bytes([1, 0, 0x08, 1, 0, 0, 0, 1, 7])
    with pytest.raises(ValueError, match="bad magic number"):
        load_idx(write(tmp_path / "a.idx", content))


def test_load_idx_rejects_empty_file(tmp_path):
    with pytest.raises(ValueError, match="bad magic number"):
        load_idx(write(tmp_path / "a.idx", b""))


def test_load_idx_rejects_unknown_dtype_code(tmp_path):
    content = idx_bytes(np.zeros(3, np.uint8), code=0x0A)
    with pytest.raises(ValueError, match="unknown IDX dtype code 0x0A"):
        load_idx(write(tmp_path / "a.idx", content))


def test_load_idx_rejects_truncated_header(tmp_path):
    content = bytes([0, 0, 0x08, 3, 0, 0, 0, 2])
    with pytest.raises(ValueError, match="truncated header"):
        load_idx(write(tmp_path / "a.idx", content))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_load_idx_rejects_truncated_data(tmp_path, compress):
    content = idx_bytes(np.zeros((4, 5), np.int16))[:-1]
    with pytest.raises(ValueError, match=r"truncated file.*needs 40 data bytes, file has 39"):
        load_idx(write(tmp_path / "a.idx", content, compress))


def test_load_idx_rejects_trailing_bytes(tmp_path):
    content = idx_bytes(np.zeros((4, 5), np.uint8)) + b"\x00"
    with pytest.raises(ValueError, match=r"trailing bytes.*needs 20 data bytes, file has 21"):
        load_idx(write(tmp_path / "a.idx", content))


def test_docstring_examples_run():
    result = doctest.testmod(datasets, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    assert result.attempted > 0


# --- load_mnist on synthetic files -------------------------------------------


def make_mnist(folder, subset="test", n=3, compress=True):
    prefix = {"train": "train", "test": "t10k"}[subset]
    suffix = ".gz" if compress else ""
    images = np.arange(n * 28 * 28).reshape(n, 28, 28).astype(np.uint8)
    labels = np.arange(n, dtype=np.uint8)
    write(folder / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), compress)
    write(folder / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), compress)
    return images, labels


@pytest.mark.parametrize("subset", ["train", "test"])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_load_mnist_reads_plain_or_gzip_files(tmp_path, subset, compress):
    images, labels = make_mnist(tmp_path, subset, compress=compress)
    X, y = load_mnist(tmp_path, subset)
    assert X.shape == (3, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X, images.reshape(3, -1) / 255, rtol=1e-6)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, labels)


def test_load_mnist_without_flatten_or_scale_returns_raw_images(tmp_path):
    images, _ = make_mnist(tmp_path)
    X, _ = load_mnist(str(tmp_path), "test", flatten=False, scale=False)
    assert X.dtype == np.uint8
    np.testing.assert_array_equal(X, images)


def test_load_mnist_rejects_unknown_subset(tmp_path):
    with pytest.raises(ValueError, match="subset must be 'train' or 'test', got 'valid'"):
        load_mnist(tmp_path, "valid")


def test_load_mnist_names_folder_and_files_when_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\[\.gz\]") as info:
        load_mnist(tmp_path, "test")
    assert str(tmp_path) in str(info.value)
    assert "t10k-labels-idx1-ubyte[.gz]" in str(info.value)


def test_load_mnist_rejects_mismatched_image_and_label_counts(tmp_path):
    make_mnist(tmp_path, n=3)
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(2, np.uint8)), True)
    with pytest.raises(ValueError, match="do not match"):
        load_mnist(tmp_path, "test")


# --- the real data sets --------------------------------------------------------


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist(require(MNIST_DIR), "test")


def test_mnist_test_set_shapes_and_ranges(mnist_test):
    X, y = mnist_test
    assert X.shape == (10000, 784) and X.dtype == np.float32
    assert y.shape == (10000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert X.mean() == pytest.approx(0.1325, abs=1e-4)


def test_mnist_test_labels(mnist_test):
    _, y = mnist_test
    np.testing.assert_array_equal(y[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(
        np.bincount(y), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )


def test_mnist_test_set_unscaled_images():
    X, _ = load_mnist(require(MNIST_DIR), "test", flatten=False, scale=False)
    assert X.shape == (10000, 28, 28) and X.dtype == np.uint8
    assert X.max() == 255


def test_fashion_mnist_test_set():
    X, y = load_mnist(require(FASHION_DIR), "test")
    assert X.shape == (10000, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), [1000] * 10)
    assert X.mean() == pytest.approx(0.2868, abs=1e-4)


@pytest.mark.slow
def test_mnist_train_set():
    X, y = load_mnist(require(MNIST_DIR, "train"), "train")
    assert X.shape == (60000, 784) and X.dtype == np.float32
    np.testing.assert_array_equal(
        np.bincount(y), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    assert X.mean() == pytest.approx(0.1307, abs=1e-4)


@pytest.mark.slow
def test_fashion_mnist_train_set():
    X, y = load_mnist(require(FASHION_DIR, "train"), "train")
    assert X.shape == (60000, 784)
    np.testing.assert_array_equal(np.bincount(y), [6000] * 10)
    assert X.mean() == pytest.approx(0.2860, abs=1e-4)
