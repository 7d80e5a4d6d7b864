"""The Postgres-backed instance (`deploy/postgres/dagster.yaml`) against a real PostgreSQL server.

The test starts its own server on 127.0.0.1 from the Debian/Ubuntu binaries (`apt-get install -y
postgresql`; `make test` installs them where it can) in a temporary folder, as an unprivileged user
when run as root, and skips with the reason when no binaries are found.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, materialize

from evcharge_pipeline.assets.ingest import region_boundary
from evcharge_pipeline.deployment import WAREHOUSE_POOL
from evcharge_pipeline.settings import PROJECT_ROOT
from evcharge_pipeline_tests import test_ops_workload as workload

POSTGRES_YAML = PROJECT_ROOT / "deploy" / "postgres" / "dagster.yaml"


def postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_server():
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="evcharge_pg_"))
    if os.geteuid() == 0:  # postgres refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
        as_user = ["runuser", "-u", "nobody", "--"]
        shutil.chown(folder, "nobody")
    folder.chmod(0o755)
    data, port = folder / "data", free_port()
    run = lambda *cmd, **kw: subprocess.run([*as_user, *map(str, cmd)], capture_output=True, text=True,  # noqa: E731
                                            timeout=300, check=False, **kw)
    init = run(binaries / "initdb", "-D", data, "-U", "dagster", "--auth=trust", "-E", "UTF8", "--no-sync")
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr[-500:]}")
    started = run(binaries / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-t", "120",
                  "-o", f"-h 127.0.0.1 -p {port} -k {folder} -F", "start")
    if started.returncode != 0:
        log = (folder / "server.log").read_text() if (folder / "server.log").exists() else ""
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {started.stdout}{started.stderr}{log[-1000:]}")
    try:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=port, user="dagster", dbname="postgres")
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute("CREATE DATABASE dagster_ops")
        con.close()
        yield {"DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_HOST": "127.0.0.1",
               "DAGSTER_PG_DB": "dagster_ops", "DAGSTER_PG_PORT": str(port)}
    finally:
        run(binaries / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_instance(postgres_server, tmp_path: Path, monkeypatch):
    for name, value in postgres_server.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(POSTGRES_YAML, home / "dagster.yaml")
    return home


def test_materialization_on_the_postgres_instance_is_read_back(postgres_instance: Path, resources: dict):
    with DagsterInstance.from_config(str(postgres_instance)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "RecoveringPostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        result = materialize([region_boundary], instance=instance, resources=resources)
        assert result.success
        run_id = result.run_id

    # a new instance (new connections) reads the run, its events and the materialization back
    with DagsterInstance.from_config(str(postgres_instance)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == DagsterRunStatus.SUCCESS
        assert [record.dagster_run.run_id for record in instance.get_run_records()] == [run_id]
        event = instance.get_latest_materialization_event(AssetKey("region_boundary"))
        assert event is not None and event.run_id == run_id
        metadata = event.asset_materialization.metadata
        assert metadata["table"].value == "raw.region_boundary" and metadata["dagster/row_count"].value == 1
        assert DagsterEventType.RUN_SUCCESS in {e.dagster_event_type for e in instance.all_logs(run_id)}


def test_warehouse_pool_slots_live_in_postgres(postgres_instance: Path, tmp_path: Path):
    from dagster_duckdb import DuckDBResource

    resources = {"warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb"))}
    with DagsterInstance.from_config(str(postgres_instance)) as instance:
        assert instance.event_log_storage.supports_global_concurrency_limits
        for key in workload.PARTITION_KEYS[:2]:
            result = materialize([workload.ops_workload], partition_key=key, instance=instance, resources=resources)
            assert result.success
        info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
        assert info.slot_count == 1 and info.active_slot_count == 0   # the default limit, released after use
