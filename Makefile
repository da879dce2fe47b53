# casetrail developer tasks. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp

.PHONY: venv postgres run test bench soak

venv: $(STAMP)

# Reinstall only when pyproject.toml changed (or the venv is missing).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

postgres:
	bash scripts/ensure_postgres.sh

run: venv
	$(BIN)/casetrail demo --if-empty && $(BIN)/casetrail serve

test: venv postgres
	$(BIN)/pytest -q -n 2

bench: venv postgres
	$(BIN)/casetrail bench

# 10 minutes of mixed load against `casetrail serve` on a throwaway PostgreSQL:
# fails on any error or server RSS growth >= 10% (QUALITY.md). Report in bench/results/.
soak: venv postgres
	$(BIN)/casetrail soak
