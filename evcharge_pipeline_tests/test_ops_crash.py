"""Crash safety: a writer killed with SIGKILL inside its transaction loses nothing.

The child process writes a large frame through `replace_table` / `replace_partition` (large enough
that DuckDB writes row groups to the file before commit). It signals once the big statement has
started and blocks on COMMIT, so the kill always lands inside the open transaction: either during
the statement or just before its commit. Afterwards the warehouse must open, hold exactly the
previous rows, and a re-run must complete.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, materialize
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.deployment import WAREHOUSE_POOL
from evcharge_pipeline.settings import PROJECT_ROOT
from evcharge_pipeline.warehouse import read_table, replace_partition, replace_table
from evcharge_pipeline_tests import test_ops_workload as workload

BIG_ROWS = 3_000_000
TABLE = "plan.crash_probe"

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import duckdb, numpy as np, pandas as pd
    from evcharge_pipeline.warehouse import replace_partition, replace_table

    database, mode, signal_file, rows = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])

    class Tripwire:
        '''Signals when the big statement starts; never lets the transaction commit.'''
        def __init__(self, con):
            self._con = con
        def execute(self, sql, *args, **kwargs):
            text = sql.strip().upper()
            if text.startswith(("INSERT", "CREATE OR REPLACE TABLE")):
                signal_file.write_text("statement")
            if text.startswith("COMMIT"):
                signal_file.write_text("commit")
                while True:
                    time.sleep(1)
            return self._con.execute(sql, *args, **kwargs)
        def __getattr__(self, name):
            return getattr(self._con, name)

    frame = pd.DataFrame({"row_index": np.arange(rows, dtype=np.int64), "value": np.full(rows, -1.0),
                          "label": np.repeat("new", rows)})
    con = Tripwire(duckdb.connect(database))
    if mode == "table":
        replace_table(con, "plan.crash_probe", frame)
    else:
        replace_partition(con, "plan.crash_probe", frame, {"partition_key": "b"})
""")


def previous_rows(n: int, label: str) -> pd.DataFrame:
    return pd.DataFrame({"row_index": np.arange(n, dtype=np.int64), "value": np.arange(n) * 1.5, "label": label})


def seed(database: Path, mode: str) -> pd.DataFrame:
    with duckdb.connect(str(database)) as con:
        if mode == "table":
            replace_table(con, TABLE, previous_rows(5000, "old"))
        else:
            replace_partition(con, TABLE, previous_rows(3000, "old_a"), {"partition_key": "a"})
            replace_partition(con, TABLE, previous_rows(4000, "old_b"), {"partition_key": "b"})
        return read_table(con, TABLE)


def sort(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def kill_when(signal_file: Path, process: subprocess.Popen, delay_s: float, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while not signal_file.exists():
        if process.poll() is not None:
            pytest.fail(f"writer exited before reaching its write (code {process.returncode}): "
                        f"{process.stderr.read() if process.stderr else ''}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("writer never reached its write")
        time.sleep(0.05)
    time.sleep(delay_s)
    stage = signal_file.read_text()
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:   # step subprocesses of the group exit a moment later
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    return stage


@pytest.mark.parametrize("mode", ["table", "partition"])
@pytest.mark.parametrize("delay_s", [0.3, 0.0], ids=["during_statement_or_commit", "at_statement_start"])
def test_sigkill_inside_the_write_keeps_previous_rows(tmp_path: Path, mode: str, delay_s: float):
    database = tmp_path / "warehouse.duckdb"
    before = seed(database, mode)
    signal_file = tmp_path / "signal"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(database), mode, str(signal_file), str(BIG_ROWS)],
        cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    stage = kill_when(signal_file, child, delay_s)
    assert stage in {"statement", "commit"}
    assert child.returncode == -signal.SIGKILL

    # the file opens, the previous rows are exactly there, nothing of the killed write is visible
    with duckdb.connect(str(database)) as con:
        after = read_table(con, TABLE)
        pd.testing.assert_frame_equal(sort(after), sort(before))
        assert (after["value"] >= 0).all()
        # a re-run of the same write completes and replaces exactly what it should
        fresh = previous_rows(200, "rerun")
        if mode == "table":
            replace_table(con, TABLE, fresh)
            expected = fresh
        else:
            replace_partition(con, TABLE, fresh, {"partition_key": "b"})
            expected = pd.concat([before[before["partition_key"] == "a"],
                                  fresh.assign(partition_key="b")[before.columns]])
        con.execute("CHECKPOINT")
        pd.testing.assert_frame_equal(sort(read_table(con, TABLE)), sort(expected), check_dtype=False)
    with duckdb.connect(str(database), read_only=True) as con:   # and it reopens after the re-run
        assert con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == len(expected)


@pytest.mark.slow
def test_sigkilled_materialization_keeps_the_partition_and_the_same_command_then_succeeds(tmp_path: Path, monkeypatch):
    """The same through Dagster: `dagster asset materialize` of one partition, killed mid-write, then the
    very same command again, with nobody terminating the killed run or freeing its pool slot."""
    database = tmp_path / "warehouse.duckdb"
    resources = {"warehouse": DuckDBResource(database=str(database))}
    for key in workload.PARTITION_KEYS[:2]:
        assert materialize([workload.ops_workload], partition_key=key, resources=resources).success
    with duckdb.connect(str(database), read_only=True) as con:
        before = read_table(con, workload.TABLE)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    signal_file = tmp_path / "signal"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVCHARGE_", "OPS_WORKLOAD_", "DAGSTER_"))}
    env.update({"DAGSTER_HOME": str(home), "EVCHARGE_DUCKDB_PATH": str(database), "EVCHARGE_EXECUTOR": "multiprocess",
                "OPS_WORKLOAD_ROWS": str(BIG_ROWS), "PYTHONPATH": str(PROJECT_ROOT)})
    command = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", workload.__file__,
               "--select", "ops_workload", "--partition", workload.PARTITION_KEYS[1]]
    run = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**env, "OPS_WORKLOAD_PAUSE_BEFORE_COMMIT": str(signal_file)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    kill_when(signal_file, run, 0.0)

    with duckdb.connect(str(database), read_only=True) as con:
        after = read_table(con, workload.TABLE)
    pd.testing.assert_frame_equal(sort(after), sort(before))
    with DagsterInstance.get() as instance:
        (killed,) = instance.get_runs()
        assert killed.status == DagsterRunStatus.STARTED   # nobody has told the instance yet
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).active_slot_count == 1

    # the same command again, unaided: its blocked step frees the dead run's slot and proceeds
    rerun = subprocess.run(command, cwd=PROJECT_ROOT, env={**env, "OPS_WORKLOAD_ROWS": "1000"},
                           capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    with DagsterInstance.get() as instance:
        runs = {r.run_id: r for r in instance.get_runs()}
        assert runs[killed.run_id].status == DagsterRunStatus.FAILURE
        assert sorted(r.status.value for r in runs.values()) == ["FAILURE", "SUCCESS"]
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).active_slot_count == 0
    with duckdb.connect(str(database), read_only=True) as con:
        final = read_table(con, workload.TABLE)
    assert final.groupby("partition_key").size().to_dict() == {k: 1000 for k in workload.PARTITION_KEYS[:2]}
    assert not final.duplicated(["partition_key", "row_index"]).any()


@pytest.mark.slow
def test_a_run_waiting_for_the_warehouse_slot_sleeps(tmp_path: Path, monkeypatch):
    """A run whose step waits for the pool slot (held by a live process) uses little CPU."""
    import psutil

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster._core.utils import make_new_run_id

    with DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
        holder = make_new_run_id()
        instance.add_run(DagsterRun(job_name="holder", run_id=holder, status=DagsterRunStatus.STARTED))
        # held by this (live) test process
        assert instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, holder, "hold").is_claimed
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVCHARGE_", "OPS_WORKLOAD_", "DAGSTER_"))}
    env.update({"DAGSTER_HOME": str(home), "EVCHARGE_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
                "EVCHARGE_EXECUTOR": "multiprocess", "PYTHONPATH": str(PROJECT_ROOT)})
    waiting = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", workload.__file__,
         "--select", "ops_workload", "--partition", workload.PARTITION_KEYS[0]],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 300
            while instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).pending_step_count == 0:
                assert waiting.poll() is None and time.monotonic() < deadline
                time.sleep(0.5)
        process = psutil.Process(waiting.pid)
        cpu_before, wall_before = sum(process.cpu_times()[:2]), time.monotonic()
        time.sleep(10)
        cpu_share = (sum(process.cpu_times()[:2]) - cpu_before) / (time.monotonic() - wall_before)
        print(f"waiting run: {cpu_share:.1%} of a core")
        assert cpu_share < 0.25   # a busy wait takes a whole core
    finally:
        os.killpg(waiting.pid, signal.SIGKILL)
        waiting.wait(timeout=60)
