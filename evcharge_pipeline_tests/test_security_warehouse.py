"""The warehouse under a lock, without write permission, and when a commit fails."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from evcharge_pipeline import warehouse
from evcharge_pipeline.resources import WarehouseResource, default_resources
from evcharge_pipeline.warehouse import WarehouseUnavailable, read_table, replace_table, replace_tables

HOLD_LOCK = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); time.sleep(60)"


def test_the_pipeline_uses_the_quick_failing_warehouse_resource():
    assert isinstance(default_resources()["warehouse"], WarehouseResource)


def test_a_locked_warehouse_is_reported_within_the_lock_wait_naming_the_holder(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with (
            pytest.raises(WarehouseUnavailable, match=r"locked by another process .*waited") as error,
            WarehouseResource(database=str(path), lock_wait_seconds=1.0).get_connection(),
        ):
            pass
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert f"PID {holder.pid}" in str(error.value)
    assert elapsed < 10, elapsed   # DuckDBResource's retries take about 100 s here
    with WarehouseResource(database=str(path)).get_connection() as con:   # lock gone: opens
        assert con.execute("SELECT 1").fetchone() == (1,)


def test_a_lock_released_during_the_wait_is_taken(tmp_path: Path):
    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK.replace("sleep(60)", "sleep(1)"), str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with WarehouseResource(database=str(path), lock_wait_seconds=30.0).get_connection() as con:
            assert con.execute("SELECT 1").fetchone() == (1,)
    finally:
        holder.kill()
        holder.wait()


def test_an_unwritable_warehouse_fails_at_once_without_retries(tmp_path: Path, monkeypatch):
    calls = []

    def read_only(**kwargs):
        calls.append(kwargs)
        raise duckdb.IOException(f'IO Error: Cannot open file "{kwargs["database"]}": Read-only file system')

    monkeypatch.setattr(warehouse.duckdb, "connect", read_only)
    started = time.monotonic()
    with (
        pytest.raises(WarehouseUnavailable, match=r"cannot be opened for writing \(read-only or no permission\)"),
        WarehouseResource(database=str(tmp_path / "w.duckdb"), lock_wait_seconds=30.0).get_connection(),
    ):
        pass
    assert len(calls) == 1 and time.monotonic() - started < 1.0


def test_a_warehouse_path_that_is_a_folder_fails_at_once(tmp_path: Path):
    started = time.monotonic()
    with (
        pytest.raises(WarehouseUnavailable, match="cannot be opened"),
        WarehouseResource(database=str(tmp_path)).get_connection(),
    ):
        pass
    assert time.monotonic() - started < 5.0


class FailingCommit:
    """A connection whose COMMIT fails like a full disk; DuckDB has then ended the transaction, so the
    ROLLBACK that follows fails with 'no transaction is active'."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con, self.ended = con, False

    def execute(self, sql: str, *args):
        if sql == "COMMIT":
            self.con.execute("ROLLBACK")
            self.ended = True
            raise duckdb.IOException("IO Error: Could not write file: No space left on device")
        if sql == "ROLLBACK" and self.ended:
            raise duckdb.TransactionException("TransactionContext Error: cannot rollback - no transaction is active")
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_a_failed_commit_reports_the_real_error_and_keeps_the_previous_table(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    replace_table(con, "raw.t", pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(duckdb.IOException, match="No space left on device"):
        replace_table(FailingCommit(con), "raw.t", pd.DataFrame({"x": [9]}))
    with pytest.raises(duckdb.IOException, match="No space left on device"):
        replace_tables(FailingCommit(con), {"raw.t": pd.DataFrame({"x": [9]}), "raw.u": pd.DataFrame({"y": [1]})})
    assert read_table(con, "raw.t")["x"].tolist() == [1, 2]


class FailingSecondTable:
    """A connection on which writing `core.b` fails (as a full disk would) after `core.a` was written."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str, *args):
        if sql.startswith('CREATE OR REPLACE TABLE "core"."b"'):
            raise duckdb.IOException("IO Error: Could not write file: No space left on device")
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_tables_written_together_are_all_or_none(tmp_path: Path):
    """demand_points writes core.area_totals and core.demand_points this way: never one without the other."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    replace_tables(con, {"core.a": pd.DataFrame({"x": [1]}), "core.b": pd.DataFrame({"y": [1]})})
    with pytest.raises(duckdb.IOException, match="No space left on device"):
        replace_tables(FailingSecondTable(con),
                       {"core.a": pd.DataFrame({"x": [2]}), "core.b": pd.DataFrame({"y": [2]})})
    assert read_table(con, "core.a")["x"].tolist() == [1] and read_table(con, "core.b")["y"].tolist() == [1]
