"""End to end: `dagster dev` on 127.0.0.1, a run launched through the GraphQL API, tables checked, clean stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient

from evcharge_pipeline.settings import PROJECT_ROOT
from evcharge_pipeline_tests.dagster_ui import free_port, wait_for_server


@pytest.mark.slow
def test_dagster_dev_runs_the_foundation_job_via_graphql(tmp_path: Path, sample_region: Path):
    home, warehouse, port = tmp_path / "dagster_home", tmp_path / "warehouse.duckdb", free_port()
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "EVCHARGE_DUCKDB_PATH": str(warehouse),
           "EVCHARGE_REGION": str(sample_region), "EVCHARGE_REPORTS_DIR": str(tmp_path / "reports")}
    log = (tmp_path / "dagster_dev.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
         "-p", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_server(f"http://127.0.0.1:{port}", process)
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        # the local deployment's default (in-process) executor: one process for all steps
        run_id = client.submit_job_execution("foundation_job", repository_location_name="evcharge_pipeline")
        deadline = time.monotonic() + 600
        status = client.get_run_status(run_id)
        while status not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
            assert time.monotonic() < deadline, f"run {run_id} still {status}"
            time.sleep(2)
            status = client.get_run_status(run_id)
        assert status == DagsterRunStatus.SUCCESS, (tmp_path / "dagster_dev.log").read_text()[-3000:]
    finally:
        process.send_signal(signal.SIGINT)  # dagster dev shuts its children down cleanly on SIGINT
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        log.close()
    assert process.returncode in (0, -signal.SIGINT)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        points, = con.execute("SELECT count(*) FROM core.demand_points").fetchone()
        pairs, = con.execute("SELECT count(*) FROM core.coverage").fetchone()
    assert points > 100 and pairs > points
