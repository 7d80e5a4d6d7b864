# Quick start:  make run   (set up, materialize the sample region, print a summary)
#               make test  (set up, run the test suite)
#               make dev   (the Dagster UI on http://127.0.0.1:3000)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install postgres-server run test test-fast dev sample-region benchmark-coverage clean

$(BIN)/dagster: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

install: $(BIN)/dagster
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp deploy/local/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# PostgreSQL server binaries for the Postgres-instance test (skipped with a reason when unavailable).
postgres-server:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }); } || \
	  echo "PostgreSQL binaries not installed: the Postgres instance test will skip"

run: install
	$(BIN)/python -m evcharge_pipeline.cli run

test: install postgres-server
	$(BIN)/pytest -n 2 --dist loadfile

test-fast: install
	$(BIN)/pytest -n 2 --dist loadfile -m "not slow"

dev: install
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

sample-region: install
	$(BIN)/python -m evcharge_pipeline.sample_region --out data/sample_region

benchmark-coverage: install
	$(BIN)/python -m evcharge_pipeline.benchmarks.coverage --demand-points 100000 --sites 10000 --radius-km 5

clean:
	rm -rf $(VENV) .dagster_home data/warehouse.duckdb* data/reports
