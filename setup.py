"""Packaging for skae: autoencoders as scikit-learn estimators."""

import runpy
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
# Read the version without importing skae (its dependencies may not be installed yet).
VERSION = runpy.run_path(str(HERE / "skae" / "_version.py"))["__version__"]
README = HERE / "README.md"

TEST = ["pytest>=7", "pytest-xdist", "hypothesis>=6", "matplotlib>=3.6", "safetensors>=0.4"]
DOCS = ["sphinx>=7", "numpydoc>=1.6", "sphinx-gallery>=0.15", "matplotlib", "pydata-sphinx-theme"]

setup(
    name="skae",
    version=VERSION,
    description="Autoencoders as scikit-learn estimators, backed by skorch and PyTorch",
    long_description=README.read_text(encoding="utf-8") if README.exists() else "",
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["skae", "skae.*"]),
    python_requires=">=3.10",
    install_requires=[
        "scikit-learn>=1.6",
        "skorch>=1.0",
        "torch>=2.1",
        "numpy>=1.23",
        "pandas>=1.5",
        "safetensors>=0.4",
    ],
    extras_require={
        "plot": ["matplotlib>=3.6"],
        "test": TEST,
        "docs": DOCS,
        "dev": TEST + DOCS + ["ruff"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
