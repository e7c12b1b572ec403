# medwarden: one command each to run it, test it, lint it.  See README.md.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export MEDWARDEN_DB ?= $(CURDIR)/.medwarden/demo.db
OREF0_DIR ?=

.PHONY: install run demo test test-fast lint lock oref0 sbom bench clean

$(BIN)/medwarden: requirements.lock requirements-sim.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -qq --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/pip install -qq --disable-pip-version-check --require-hashes --no-deps -r requirements-sim.lock
	$(BIN)/pip install -qq --disable-pip-version-check --no-deps -e .
	$(PY) -m compileall -q -j 0 src  # byte-code for the editable source too: CLI start-up
	touch $@

install: $(BIN)/medwarden  ## create .venv from the lock file

run: demo  ## the demo portfolio (see demo), then the REST API on http://127.0.0.1:8000/api/v1
	$(BIN)/medwarden serve --host 127.0.0.1 --port 8000

demo: install  ## a fresh demo store: sample intelligence, a product, its SBOM, findings, an admin token
	rm -f $(MEDWARDEN_DB) $(MEDWARDEN_DB)-wal $(MEDWARDEN_DB)-shm
	$(BIN)/medwarden intel load src/medwarden/data/sample/intel
	$(BIN)/medwarden intel status
	$(BIN)/medwarden product add demo-pump --name "Demo insulin pump" --class IIb \
	  --market EU:MDR --market US:FDA-524B --public-sbom
	$(BIN)/medwarden release add demo-pump 1.0 --state fielded
	$(BIN)/medwarden release import demo-pump 1.0 src/medwarden/data/sample/sbom.cdx.json
	$(BIN)/medwarden findings list --product demo-pump
	$(BIN)/medwarden scan src/medwarden/data/sample/sbom.cdx.json --fail-on none
	$(BIN)/medwarden portfolio register-self
	$(BIN)/medwarden user add admin --role admin --no-password
	@echo "API token for the demo admin (shown once):"
	@$(BIN)/medwarden token create --user admin --name demo --role admin --expires-days 7

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

lock:  ## re-resolve requirements.lock (+ the simulator's simglucose pin) from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra sim --generate-hashes \
	  --python-version 3.11 --no-header -o requirements.lock
	$(BIN)/uv pip compile requirements-sim.in --no-deps --generate-hashes --python-version 3.11 \
	  --no-header -o requirements-sim.lock

oref0: install  ## install the pinned OpenAPS oref0 0.7.1 node modules (outside src/)
	$(PY) -m medwarden.telemetry.controllers.oref0 install $(OREF0_DIR)

sbom: install  ## medwarden's own SBOM (CycloneDX 1.6 JSON) of its installed runtime environment
	$(BIN)/medwarden sbom self --output medwarden.cdx.json

bench: install
	$(PY) benchmarks/bench_scan.py

clean:
	rm -rf $(VENV) .medwarden .pytest_cache .mypy_cache .ruff_cache
