# Quick start: `make demo` and `make test`. Each target creates .venv and installs what it needs.
PYTHON ?= python3
SHELL := bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test bench screenshots lint typecheck audit clean

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

# 20 kill -9 + resume cycles under 20% Stripe faults on a size-M account (long; see tests/soak).
# NRR_SOAK_CUSTOMERS=300 tries it small.
soak: $(STAMP)
	$(BIN)/python -m pytest -q -s -m soak tests/soak $(PYTEST_ARGS)

typecheck: $(STAMP)
	$(BIN)/mypy

lint: $(STAMP)
	$(BIN)/ruff check syncer reports tests

# Measures sizes XS, S (default), M or L at a latency (LATENCY_MS, 150 by default); writes
# bench/results.json and the tables of docs/BENCHMARK.md. STEPS=backfill,idle runs only those
# (and the steps they need) and writes nothing; MERGE=1 writes their figures into that size's entry.
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(SIZE),--size $(SIZE),) $(if $(LATENCY_MS),--latency-ms $(LATENCY_MS),) \
	  $(if $(STEPS),--steps $(STEPS),) $(if $(MERGE),--merge,)

# Each page of the dashboard (nrr serve) on a fresh demo account as a PNG in screenshots/ (OUT=DIR),
# through Debian's headless Chromium (apt-get install chromium chromium-driver); README_IMAGE=1
# also rewrites docs/img/dashboard.png, the README's screenshot.
screenshots: $(STAMP)
	$(BIN)/python -m bench.screenshots $(if $(OUT),--out $(OUT),) $(if $(README_IMAGE),--readme-image docs/img/dashboard.png,)

# Known vulnerabilities in the pinned runtime dependencies (requirements.lock; README: Development).
# pip-audit first; the pins it could not look up (a network that reaches only PyPI's project
# pages) are checked against PyPI's advisory data for the latest release by .ci/pypi_audit.py.
audit: $(STAMP)
	@set -o pipefail; $(BIN)/pip-audit -r requirements.lock --no-deps --disable-pip --progress-spinner off $(AUDIT_ARGS) 2>&1 \
	  | tee .venv/pip-audit.log
	@skipped="$$(sed -n 's/.*could not be audited: \([^ ]*\) (.*/\1/p' .venv/pip-audit.log)"; \
	  if [ -n "$$skipped" ]; then $(BIN)/python .ci/pypi_audit.py requirements.lock $$skipped; fi

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache
