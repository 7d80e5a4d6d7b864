# Quick start:  make run   (set up, materialize the sample region, print a summary)
#               make test  (set up, run the test suite)
#               make lint  (mypy over the typed modules, ruff over the package and the tests)
#               make dev   (the Dagster UI on http://127.0.0.1:3000)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install services postgres-server run lint typecheck test test-fast dev sample-region benchmark-coverage clean

$(BIN)/dagster: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[dev]"
	touch $@

install: $(BIN)/dagster
	mkdir -p $(DAGSTER_HOME)
	test -f $(DAGSTER_HOME)/dagster.yaml || cp deploy/local/dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# System services the operations tests use: PostgreSQL server binaries (Postgres-instance test),
# redis-server (Celery broker for scale-out tests) and Debian's chromium (browser test of the UI). Installed with apt when run as root; otherwise the
# tests that need them skip with the reason. Run explicitly (CI does: .ci/run); `make test` never runs apt.
services:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }); } || \
	  echo "PostgreSQL binaries not installed: the Postgres instance test will skip"
	@command -v redis-server >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get install -y -q redis-server >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q redis-server >/dev/null; }); } || \
	  echo "redis-server not installed: the Celery scale-out test will skip"
	@command -v chromium >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }); } || \
	  echo "chromium not installed: the browser test of the UI will skip"

postgres-server: services

run: install
	$(BIN)/python -m evcharge_pipeline.cli run

lint: typecheck
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

test: install
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
