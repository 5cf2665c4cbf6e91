# Every target creates and uses .venv by itself: on a fresh machine `make test` alone suffices.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

CONFIG ?= configs/validity.yaml

.PHONY: sweep test test-slow lint regression-update clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev,plot,distributed]"
	touch $(STAMP)

sweep: $(STAMP)  ## run a sweep config (default: the validity sweep) into runs/
	$(VENV)/bin/microsim sweep $(CONFIG)

test: $(STAMP)  ## fast physics test suite (what CI runs)
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## the expensive checks too (full tensor space at N = 3, ...)
	$(PY) -m pytest -q -m "slow or not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests

regression-update: $(STAMP)  ## rerun configs/ci.yaml and rewrite tests/data/ci_reference.json
	$(PY) tests/regression.py runs/ci.h5

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
