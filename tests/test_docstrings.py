"""The documentation holds: docstrings follow numpydoc and every example runs.

- Every public class, function and method of skae passes numpydoc's
  validation, except for the checks listed (with their reason) below.
- The examples in all docstrings run as doctests (fast: tiny ``max_iter``).
- Slow: the code of the narrative docs (``docs/*.rst``) runs as doctests,
  and each gallery example (``docs/examples/plot_*.py``) runs.
"""

import doctest
import importlib
import inspect
import os
import pkgutil
import runpy
from pathlib import Path

import pytest

import skae

try:
    from numpydoc.validate import validate
except ImportError:
    validate = None

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None

try:
    import onnxruntime  # noqa: F401
    import skl2onnx  # noqa: F401  (skae.onnx's extra)

    has_onnx = True
except ImportError:
    has_onnx = False

DOCS = Path(__file__).resolve().parent.parent / "docs"

# ---------------------------------------------------- numpydoc validation

# Public modules whose ``__all__`` is validated. ``skae`` itself exports the
# estimators, ``interpolate``, the error, save/load and the scorer.
PUBLIC_MODULES = ["skae", "skae.datasets", "skae.modules", "skae.losses", "skae.plotting",
                  "skae.onnx"]

# Checks skipped everywhere, and why.
IGNORED_CHECKS = {
    "ES01": "an extended summary is optional; one-line summaries suit small functions",
    "SA01": "See Also is given where a reader has a natural next stop, not everywhere",
    "RT02": "return values are named (`self : object`, `Z : ndarray ...`), as in scikit-learn",
}

# Checks skipped for methods only.
IGNORED_METHOD_CHECKS = {
    "EX01": "methods are shown in their class's Examples section, as in scikit-learn",
}

# Public objects not validated, and why.
NOT_VALIDATED = {
    "skae.modules.Corruption.extra_repr": "torch's repr hook, documented by torch",
}


def _defined_in_skae(cls, name):
    owner = next(klass for klass in cls.__mro__ if name in vars(klass))
    return owner.__module__.split(".")[0] == "skae"


def _public_objects():
    """Import paths of the public API: classes, their own methods, functions.

    Maps each path to True for methods, False otherwise.
    """
    names = {}
    for module_name in PUBLIC_MODULES:
        if (module_name == "skae.plotting" and plt is None) \
                or (module_name == "skae.onnx" and not has_onnx):
            continue
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            path = f"{module_name}.{name}"
            if inspect.isclass(obj):
                names[path] = False
                names.update(
                    (f"{path}.{attr}", True) for attr, member in inspect.getmembers(obj)
                    if not attr.startswith("_") and inspect.isfunction(member)
                    and _defined_in_skae(obj, attr)
                )
            elif callable(obj):
                names[path] = False
    return {name: is_method for name, is_method in names.items() if name not in NOT_VALIDATED}


PUBLIC_OBJECTS = _public_objects()


@pytest.mark.skipif(validate is None, reason="numpydoc is not installed")
@pytest.mark.parametrize("name", PUBLIC_OBJECTS)
def test_docstring_follows_numpydoc(name):
    method_checks = IGNORED_METHOD_CHECKS.keys() if PUBLIC_OBJECTS[name] else set()
    ignored = IGNORED_CHECKS.keys() | method_checks
    errors = [f"{code}: {message}" for code, message in validate(name)["errors"]
              if code not in ignored]
    assert not errors, f"{name}:\n  " + "\n  ".join(errors)


def test_validation_covers_the_public_api():
    names = set(PUBLIC_OBJECTS)
    expected = {
        "skae.AutoencoderTransformer", "skae.AutoencoderTransformer.fit",
        "skae.AutoencoderTransformer.score_samples", "skae.VAETransformer.sample",
        "skae.VAETransformer.log_likelihood", "skae.interpolate", "skae.TrainingDivergedError",
        "skae.datasets.load_idx", "skae.datasets.load_mnist", "skae.modules.build_autoencoder",
        "skae.modules.Autoencoder.encode", "skae.losses.kl_normal",
    }
    if plt is not None:
        expected.add("skae.plotting.plot_latent_space")
    assert expected <= names
    # scikit-learn's inherited methods are scikit-learn's to document
    assert "skae.AutoencoderTransformer.set_output" not in names


# ---------------------------------------------------------------- doctests

MODULES = ["skae", *sorted(m.name for m in pkgutil.walk_packages(skae.__path__, "skae."))]
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _run_doctests(tests):
    report = []
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    for test in tests:
        runner.run(test, out=report.append)
        test.globs.clear()
    return runner, "".join(report)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    if module_name == "skae.plotting" and plt is None:
        pytest.skip("the examples of skae.plotting need matplotlib")
    if module_name == "skae.onnx" and not has_onnx:
        pytest.skip("skae.onnx needs the onnx extra: pip install 'skae[onnx]'")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder().find(module)
    try:
        runner, report = _run_doctests(tests)
    finally:
        if plt is not None:
            plt.close("all")
    assert runner.failures == 0, report


def test_doctests_are_found_in_every_public_docstring():
    # The finder must see through decorators (interpolate is wrapped by
    # validate_params) and f-string class docstrings.
    found = {
        test.name for name in MODULES
        if (name != "skae.plotting" or plt is not None) and (name != "skae.onnx" or has_onnx)
        for test in doctest.DocTestFinder().find(importlib.import_module(name)) if test.examples
    }
    public = [skae.AutoencoderTransformer, skae.VAETransformer, skae.interpolate,
              skae.datasets.load_idx, skae.modules.build_autoencoder, skae.losses.kl_normal]
    # (a doctest is named after the module that defines the object)
    assert {f"{obj.__module__}.{obj.__qualname__}" for obj in public} <= found
    if plt is not None:
        assert {f"skae.plotting.{name}" for name in importlib.import_module(
            "skae.plotting").__all__} <= found


# ------------------------------------------------ narrative docs and gallery

# Pages with ``>>>`` examples (the others hold no code or only code-blocks
# that need a GPU, a cluster or a file).
PAGES = sorted(page for page in DOCS.glob("*.rst") if ">>> " in page.read_text(encoding="utf-8"))
EXAMPLES = sorted((DOCS / "examples").glob("plot_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_narrative_docs_code_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = doctest.DocTestParser()
    test = parser.get_doctest(page.read_text(encoding="utf-8"), {}, page.name, str(page), 0)
    try:
        runner, report = _run_doctests([test])
    finally:
        if plt is not None:
            plt.close("all")
    assert runner.failures == 0, report


@pytest.mark.slow
@pytest.mark.skipif(plt is None, reason="the gallery needs matplotlib")
@pytest.mark.parametrize("example", EXAMPLES, ids=[example.name for example in EXAMPLES])
def test_gallery_example_runs(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(plt, "show", lambda *args, **kwargs: None)
    try:
        runpy.run_path(os.fspath(example), run_name="__main__")
        assert plt.get_fignums(), f"{example.name} drew no figure"
    finally:
        plt.close("all")
