"""Scale-out for real: a Redis broker on 127.0.0.1, a dagster-celery worker, and partitioned runs whose
steps execute on the worker (EVCHARGE_EXECUTOR=celery). Every partition's rows must exist exactly once.

Needs the `redis-server` binary (Debian package, `make services`) and the `redis` Python client;
skips with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from evcharge_pipeline.settings import PROJECT_ROOT
from evcharge_pipeline.warehouse import read_table
from evcharge_pipeline_tests import test_ops_workload as workload
from evcharge_pipeline_tests.conftest import stop_process_group

BIN = Path(sys.executable).parent
PARTITIONS = workload.PARTITION_KEYS[:3]
ROWS = 500

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path: Path):
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server not installed (Debian package redis-server; `make services` installs it)")
    try:
        import redis  # noqa: F401
    except ImportError:
        pytest.skip("the redis Python client (Celery's Redis transport) is not installed")
    port = _free_port()
    process = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.2)
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=30)


def test_partitioned_runs_through_the_celery_executor_write_each_partition_once(redis_url: str, tmp_path: Path,
                                                                                monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get():   # create the SQLite storages once, before the worker and CLI race to
        pass
    database = tmp_path / "warehouse.duckdb"
    config = tmp_path / "celery.yaml"
    config.write_text(f"execution:\n  config:\n    broker: {redis_url}/0\n    backend: {redis_url}/1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVCHARGE_", "OPS_WORKLOAD_", "DAGSTER_"))}
    env.update({"DAGSTER_HOME": str(home), "EVCHARGE_DUCKDB_PATH": str(database), "EVCHARGE_EXECUTOR": "celery",
                "EVCHARGE_CELERY_BROKER": f"{redis_url}/0", "EVCHARGE_CELERY_BACKEND": f"{redis_url}/1",
                "OPS_WORKLOAD_ROWS": str(ROWS), "PYTHONPATH": str(PROJECT_ROOT),
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    worker = subprocess.Popen([str(BIN / "dagster-celery"), "worker", "start", "-y", str(config), "-A",
                               "dagster_celery.app", "--", "--concurrency", "1"],
                              cwd=PROJECT_ROOT, env=env, stdout=(tmp_path / "worker.log").open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for key in PARTITIONS + PARTITIONS[:1]:   # the first partition twice: a re-run replaces its rows
            run = subprocess.run([str(BIN / "dagster"), "asset", "materialize", "-f", workload.__file__,
                                  "--select", "ops_workload", "--partition", key],
                                 cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
            assert run.returncode == 0, (run.stderr[-3000:], (tmp_path / "worker.log").read_text()[-3000:])
    finally:
        stop_process_group(worker, signal.SIGTERM, 60)

    with duckdb.connect(str(database), read_only=True) as con:
        rows = read_table(con, workload.TABLE)
    assert rows.groupby("partition_key").size().to_dict() == {key: ROWS for key in PARTITIONS}
    assert not rows.duplicated(["partition_key", "row_index"]).any()
    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == len(PARTITIONS) + 1 and all(r.status == DagsterRunStatus.SUCCESS for r in runs)
        for run in runs:
            engine = [e.message or "" for e in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT)]
            assert any("celery" in m.lower() for m in engine), engine
    # the step ran in the worker's process tree, not in the CLI run process
    run_pids = set(rows["pid"])
    assert worker.pid not in run_pids and len(run_pids) >= 1
