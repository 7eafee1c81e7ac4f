# Targets install into .venv on first use; stamp files keep later runs from reinstalling.
PYTHON ?= python3.11
VENV = .venv
BIN = $(VENV)/bin
TORCH_VERSION ?= 2.13.0
PYTEST_ARGS ?=
# The default suite runs on two worker processes (pytest-xdist, in the test extra): it
# needs ~3 minutes of CPU, so one process would take that long on CI's 2 cores.
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 2
# What ruff checks (its rule set is in pyproject.toml; ruff comes with the test extra).
LINT_PATHS = skae tests benchmarks docs/examples

.PHONY: test lint test-slow demo bench docs clean distclean

test: $(VENV)/.stamp-test
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check $(LINT_PATHS)

test-slow: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

demo: $(VENV)/.stamp-plot
	$(BIN)/python -m skae.demo --output demo_output

bench: $(VENV)/.stamp-plot,test,bench
	$(BIN)/python benchmarks/run_all.py

docs: $(VENV)/.stamp-docs,plot
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# The venv, with torch installed first (override TORCH_VERSION, e.g. for a CUDA build).
$(VENV)/.stamp-torch-$(TORCH_VERSION):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install torch==$(TORCH_VERSION)
	touch $@

# skae in editable mode with the extras named in the stamp, e.g. .stamp-plot,test
$(VENV)/.stamp-%: setup.py pyproject.toml $(VENV)/.stamp-torch-$(TORCH_VERSION)
	$(BIN)/python -m pip install -e '.[$*]'
	touch $@

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .hypothesis demo_output \
		docs/_build docs/auto_examples docs/gen_modules docs/sg_execution_times.rst
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
