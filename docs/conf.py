"""Sphinx configuration of skae's documentation.

``make docs`` builds it with warnings as errors. The build needs no network
and no downloaded data: intersphinx is off unless ``SKAE_DOCS_INTERSPHINX=1``
is set, and the gallery runs on scikit-learn's bundled digits. Everything
generated lands in ``_build``, ``auto_examples`` and ``gen_modules`` (all
ignored by git, removed by ``make clean``).
"""

import datetime
import os
import sys
from pathlib import Path

import torch

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import skae  # after the path set-up: an uninstalled checkout builds too

# The gallery's networks are tiny: torch's intra-op threads buy little for
# them, and one thread keeps a build on a shared machine from
# oversubscribing it.
torch.set_num_threads(int(os.environ.get("SKAE_DOCS_NUM_THREADS", "1")))

project = "skae"
author = "the skae developers"
copyright = f"{datetime.date.today().year}, {author}"
release = skae.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # parses CHANGES.md and the benchmark results (Markdown)
]

templates_path = ["_templates"]
# Markdown is only ever included into .rst pages, never built on its own.
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build"]
root_doc = "index"
default_role = "literal"

# Included Markdown (benchmark reports, the changelog) links between files
# that are not documents here, and may skip heading levels.
suppress_warnings = ["myst.xref_missing", "myst.header"]

# -- API reference -------------------------------------------------------

autosummary_generate = True
autodoc_typehints = "none"
# Methods are listed by the class template (_templates/class.rst).
numpydoc_show_class_members = False
numpydoc_attributes_as_param_list = True

# -- cross-references to other projects (opt-in: needs the network) ------

if os.environ.get("SKAE_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://pytorch.org/docs/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
    }

# -- example gallery -----------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "within_subsection_order": "FileNameSortKey",
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skae",),
    "reference_url": {"skae": None},
    "image_scrapers": ("matplotlib",),
    "remove_config_comments": True,
    "show_memory": False,
    # SKAE_DOCS_PLOT_GALLERY=0 builds the pages without running the examples.
    "plot_gallery": os.environ.get("SKAE_DOCS_PLOT_GALLERY", "True"),
}

# -- HTML ----------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skae {version}"
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_show_sourcelink = False
html_context = {"default_mode": "light"}

# -- benchmark reports ---------------------------------------------------
# benchmarks.rst includes gen_modules/benchmarks.inc, written here: an
# include of benchmarks/README.md and of each benchmarks/results/*.md that
# exists at build time, or a note saying that none has been run.


def _write_benchmark_includes():
    readme = ROOT / "benchmarks" / "README.md"
    results = sorted((ROOT / "benchmarks" / "results").glob("*.md"))

    def include(path):
        # A leading "/" is relative to this folder, so "/../" is the repository.
        relative = path.relative_to(ROOT).as_posix()
        return [f".. include:: /../{relative}", "   :parser: myst_parser.sphinx_", ""]

    lines = include(readme) if readme.is_file() else []
    if results:
        lines += ["Latest reports", "==============", ""]
        for path in results:
            lines += include(path)
    if not lines:
        lines = [
            ".. note::",
            "",
            "   No benchmark reports were found when these pages were built: run",
            "   ``make bench`` to write them to ``benchmarks/results/``.",
            "",
        ]
    target = DOCS / "gen_modules" / "benchmarks.inc"
    target.parent.mkdir(exist_ok=True)
    text = "\n".join(lines)
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")


_write_benchmark_includes()
