# medwarden: one command each to run it, test it, lint it.  See README.md.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export MEDWARDEN_DB ?= $(CURDIR)/.medwarden/medwarden.db

.PHONY: install run test test-fast lint lock sbom bench clean

$(BIN)/medwarden: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install -qq --disable-pip-version-check --no-deps -e .
	$(PY) -m compileall -q -j 0 src  # byte-code for the editable source too: CLI start-up
	touch $@

install: $(BIN)/medwarden  ## create .venv from the lock file

run: install  ## load the bundled sample intelligence and scan the bundled sample SBOM
	$(BIN)/medwarden intel load src/medwarden/data/sample/intel
	$(BIN)/medwarden intel status
	$(BIN)/medwarden scan src/medwarden/data/sample/sbom.cdx.json --fail-on none

test: install  ## everything CI runs: lint, type checks, layers, all tests on SQLite and PostgreSQL
	$(MAKE) lint
	MEDWARDEN_TEST_PG_URL=$$(bash .ci/postgres.sh) $(BIN)/pytest -n 2 -p no:cacheprovider \
	  --cov=medwarden --cov-branch --cov-report=term:skip-covered

test-fast: install  ## tests without PostgreSQL
	$(BIN)/pytest -n 2 -m "not postgres"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

lock:  ## re-resolve requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
	  --no-header -o requirements.lock

sbom: install  ## medwarden's own SBOM (CycloneDX 1.6 JSON) of its installed runtime environment
	$(BIN)/medwarden sbom self --output medwarden.cdx.json

bench: install
	$(PY) benchmarks/bench_scan.py

clean:
	rm -rf $(VENV) .medwarden .pytest_cache .mypy_cache .ruff_cache
