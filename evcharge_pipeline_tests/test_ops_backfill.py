"""A 12-partition backfill through the real CLI and daemon, on the local instance configuration.

`dagster job backfill` queues the backfill; `dagster-daemon run` launches one run per partition (up to
`max_concurrent_runs` at once), each run uses the multiprocess executor, and every step writes the
same DuckDB file. The warehouse pool (limit 1) serialises the steps; each partition's rows must exist
exactly once. (Re-running a partition replaces its rows: test_ops_workload and test_ops_crash.)
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from evcharge_pipeline.settings import PROJECT_ROOT
from evcharge_pipeline.warehouse import read_table
from evcharge_pipeline_tests import test_ops_workload as workload
from evcharge_pipeline_tests.conftest import stop_process_group

BIN = Path(sys.executable).parent
LOCAL_INSTANCE_YAML = PROJECT_ROOT / "deploy" / "local" / "dagster.yaml"
ROWS = 2000
TERMINAL = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def write_workspace(folder: Path) -> Path:
    path = folder / "workspace.yaml"
    path.write_text(
        "load_from:\n"
        "  - python_file:\n"
        f"      relative_path: {Path(workload.__file__).resolve()}\n"
        f"      working_directory: {PROJECT_ROOT}\n"
        "      location_name: ops_workload\n"
    )
    return path


def ops_env(home: Path, warehouse: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVCHARGE_", "OPS_WORKLOAD_", "DAGSTER_"))}
    env.update({
        "DAGSTER_HOME": str(home),
        "EVCHARGE_DUCKDB_PATH": str(warehouse),
        "EVCHARGE_EXECUTOR": "multiprocess",
        "OPS_WORKLOAD_ROWS": str(ROWS),
        "OPS_WORKLOAD_COMPUTE_SECONDS": "0.5",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    })
    env.update(extra)
    return env


def queue_backfill(workspace: Path, env: dict[str, str]) -> None:
    """`dagster job backfill --all`: one queued run per partition."""
    result = subprocess.run(
        [str(BIN / "dagster"), "job", "backfill", "-w", str(workspace), "-j", "ops_workload_job", "--all",
         "--noprompt"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def wait_for_runs(instance: DagsterInstance, count: int, timeout_s: float = 900) -> list:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs(RunsFilter(job_name="ops_workload_job"))
        if len(runs) >= count and all(run.status in TERMINAL for run in runs):
            return runs
        time.sleep(1)
    states = {run.tags.get("dagster/partition"): run.status.value
              for run in instance.get_runs(RunsFilter(job_name="ops_workload_job"))}
    pytest.fail(f"backfill did not finish {count} runs within {timeout_s:.0f} s: {states}")


@pytest.mark.slow
def test_twelve_partition_backfill_with_multiprocess_executor_writes_each_partition_once(tmp_path: Path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(LOCAL_INSTANCE_YAML, home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance's event-log storage lives under DAGSTER_HOME
    warehouse = tmp_path / "warehouse.duckdb"
    workspace = write_workspace(tmp_path)
    env = ops_env(home, warehouse)
    first = workload.PARTITION_KEYS
    assert len(first) >= 12

    queue_backfill(workspace, env)
    daemon = subprocess.Popen([str(BIN / "dagster-daemon"), "run", "-w", str(workspace)], cwd=PROJECT_ROOT, env=env,
                              stdout=(tmp_path / "daemon.log").open("w"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        with DagsterInstance.from_config(str(home)) as instance:
            runs = wait_for_runs(instance, len(first))
            backfills = instance.get_backfills()
            failed = [(run.tags.get("dagster/partition"), run.status.value) for run in runs
                      if run.status != DagsterRunStatus.SUCCESS]
            assert not failed, f"{failed}; daemon log:\n{(tmp_path / 'daemon.log').read_text()[-3000:]}"
            spans = sorted((record.start_time, record.end_time) for record in
                           (instance.get_run_record_by_id(run.run_id) for run in runs))
            executors = {
                run.run_id: [e.message for e in instance.all_logs(run.run_id) if e.message and "executor" in e.message]
                for run in runs
            }
    finally:
        stop_process_group(daemon, signal.SIGINT, 30)

    assert len(backfills) == 1 and all(b.status.value.startswith("COMPLETED") for b in backfills)
    assert all(any("multiprocess" in m for m in messages) for messages in executors.values()), executors
    by_partition: dict[str, list[str]] = {}
    for run in runs:
        by_partition.setdefault(run.tags["dagster/partition"], []).append(run.run_id)
    assert sorted(by_partition) == sorted(first)
    assert all(len(by_partition[k]) == 1 for k in first)

    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = read_table(con, workload.TABLE)
    # every backfilled partition's rows exactly once, nothing else
    assert sorted(frame["partition_key"].unique()) == sorted(first)
    assert not frame.duplicated(["partition_key", "row_index"]).any()
    assert (frame.groupby("partition_key").size() == ROWS).all()
    for key in first:
        part = frame[frame["partition_key"] == key]
        assert part["row_index"].tolist() == list(range(ROWS))
        assert part["run_id"].nunique() == 1 and part["run_id"].iloc[0] in by_partition[key]
    # the warehouse pool admitted one step at a time: step bodies never overlap, although runs were
    # in flight together and each body spends 0.5 s outside the warehouse connection
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), "runs never overlapped"
    bodies = frame.groupby(["partition_key", "run_id"])[["body_started", "body_finished"]].first()
    bodies = bodies.sort_values("body_started")
    assert (bodies["body_started"].to_numpy()[1:] >= bodies["body_finished"].to_numpy()[:-1]).all()

