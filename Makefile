# Quick start: `make demo` and `make test`. Each target creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test bench lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nrr demo

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check syncer reports tests

bench: $(STAMP)
	$(BIN)/python -m syncer.bench $(if $(SIZE),--size $(SIZE),)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
