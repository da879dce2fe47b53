# casetrail developer tasks. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv venv-test postgres chromium run lint test bench soak

# `make run` installs only what running needs (the base install, no extras);
# `make test` adds the test and bench extras. Each reinstalls only when
# pyproject.toml changed (or the venv is missing).
venv: $(VENV)/.stamp-run
venv-test: $(VENV)/.stamp-test

$(VENV)/.stamp-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	touch $@

postgres:
	bash scripts/ensure_postgres.sh

# Debian's chromium and CJK fonts for the console's browser tests (never a downloaded browser).
chromium:
	bash scripts/ensure_chromium.sh

# The demo data is loaded once (a second `casetrail demo` changes nothing and says so).
run: venv
	$(BIN)/casetrail demo && $(BIN)/casetrail serve

# Static checks: style and bugs (ruff), types (mypy, strict on domain/model), the layers (import-linter).
lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/mypy domain/model
	$(BIN)/lint-imports

test: lint postgres chromium
	$(BIN)/pytest -q -n 3

bench: venv-test postgres
	$(BIN)/casetrail bench

# 10 minutes of mixed load against `casetrail serve` on a throwaway PostgreSQL:
# fails on any error or server RSS growth >= 10% (QUALITY.md). Report in bench/results/.
soak: venv-test postgres
	$(BIN)/casetrail soak
