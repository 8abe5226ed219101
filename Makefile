# Quickstart: `make demo` (installs, then runs the main job) and `make test` (installs, then runs
# the whole test suite). torch==2.13.0 is installed first so that pip never fetches a CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: install
	$(BIN)/lrlab compare

test: install
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/startup.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache .hypothesis
