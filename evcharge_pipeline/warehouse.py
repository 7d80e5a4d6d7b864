"""DuckDB warehouse helpers: atomic table replacement and partition-scoped writes.

Every write here runs inside one transaction, so a failed or killed run leaves the previous
table (or the previous rows of a partition) exactly as they were.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any

import duckdb
import pandas as pd

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DEFAULT_LOCK_WAIT_SECONDS = 5.0   # how long a connection waits for another process's lock on the file


class WarehouseUnavailable(RuntimeError):
    """The warehouse file cannot be opened for writing; the message says why and what to do."""


def _lock_conflict(error: duckdb.Error) -> bool:
    return "Could not set lock" in str(error) or "Conflicting lock" in str(error)


def _reason(database: str, error: duckdb.Error, waited: float) -> str:
    message = str(error)
    if _lock_conflict(error):
        return (f"warehouse {database} is locked by another process (DuckDB admits one writer; waited "
                f"{waited:.1f} s): {message}. Stop that process (a notebook, a BI tool, a run outside the "
                "warehouse pool) and run again")
    lowered = message.lower()
    if "read-only" in lowered or "permission denied" in lowered:
        return (f"warehouse {database} cannot be opened for writing (read-only or no permission): {message}. "
                "Check EVCHARGE_DUCKDB_PATH and the permissions of the file and its folder")
    return f"warehouse {database} cannot be opened: {message}"


def connect_warehouse(database: str, config: Mapping[str, Any] | None = None,
                      lock_wait_seconds: float = DEFAULT_LOCK_WAIT_SECONDS) -> duckdb.DuckDBPyConnection:
    """Open the warehouse for writing. Another process's lock is waited for up to `lock_wait_seconds`
    (short: pipeline steps queue in the `warehouse` pool instead); every other failure (read-only file
    or folder, missing folder, not a database) is reported at once as `WarehouseUnavailable`."""
    started = time.monotonic()
    delay = 0.05
    while True:
        try:
            return duckdb.connect(database=database, read_only=False, config=dict(config or {}))
        except duckdb.IOException as exc:
            waited = time.monotonic() - started
            if _lock_conflict(exc) and waited + delay <= lock_wait_seconds:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            raise WarehouseUnavailable(_reason(database, exc, waited)) from exc


def qualified(table: str) -> str:
    """Validate `schema.table` (both plain identifiers) and return it quoted for SQL."""
    parts = table.split(".")
    if len(parts) != 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise ValueError(f"table name must be schema.table with plain identifiers, got {table!r}")
    return ".".join(f'"{p}"' for p in parts)


def _schema(table: str) -> str:
    return table.split(".", maxsplit=1)[0]


@contextmanager
def _staged(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> Iterator[str]:
    """Register `frame` as a view and open a transaction; commit on success, roll back on any error."""
    con.execute(f'CREATE SCHEMA IF NOT EXISTS "{_schema(table)}"')
    view = f"_incoming_{abs(hash((table, id(frame))))}"
    con.register(view, frame)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            yield view
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)   # the original error (e.g. "No space left on device") is what is raised
            raise
    finally:
        con.unregister(view)


def replace_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Replace `schema.table` with `frame` in one transaction; returns the row count written."""
    target = qualified(table)
    with _staged(con, table, frame) as view:
        con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {view}")
    return len(frame)


def replace_tables(con: duckdb.DuckDBPyConnection, frames: Mapping[str, pd.DataFrame]) -> dict[str, int]:
    """Replace several tables in ONE transaction (all or none): tables that are read together."""
    targets = {table: qualified(table) for table in frames}
    for table in frames:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{_schema(table)}"')
    views = {table: f"_incoming_{i}_{abs(hash((table, id(frame))))}" for i, (table, frame) in enumerate(frames.items())}
    for table, view in views.items():
        con.register(view, frames[table])
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            for table, view in views.items():
                con.execute(f"CREATE OR REPLACE TABLE {targets[table]} AS SELECT * FROM {view}")
            con.execute("COMMIT")
        except BaseException:
            _rollback(con)
            raise
    finally:
        for view in views.values():
            con.unregister(view)
    return {table: len(frame) for table, frame in frames.items()}


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back, without letting a failed ROLLBACK ('no transaction is active') hide the original error."""
    with suppress(duckdb.Error):
        con.execute("ROLLBACK")


def replace_partition(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pd.DataFrame,
    keys: Mapping[str, Any],
) -> int:
    """Delete the rows of one partition (`keys`: column -> value) and insert `frame`, atomically.

    The table is created from the frame's schema on first use. The key columns are added to the
    frame with the given values, so re-running a partition is idempotent.
    """
    target = qualified(table)
    for column in keys:
        if not _IDENTIFIER.match(column):
            raise ValueError(f"partition key column {column!r} is not a plain identifier")
    rows = frame.assign(**dict(keys))
    rows = rows[list(keys) + [c for c in rows.columns if c not in keys]]
    with _staged(con, table, rows) as view:
        con.execute(f"CREATE TABLE IF NOT EXISTS {target} AS SELECT * FROM {view} LIMIT 0")
        _add_missing_columns(con, target, view)
        where = " AND ".join(f'"{c}" = ?' for c in keys)
        con.execute(f"DELETE FROM {target} WHERE {where}", list(keys.values()))
        con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM {view}")
    return len(rows)


def _add_missing_columns(con: duckdb.DuckDBPyConnection, target: str, view: str) -> None:
    """Columns a newer version writes are added to an existing partitioned table (older partitions get NULL),
    so an upgrade keeps the partitions already computed."""
    have = {row[0] for row in con.execute(f"DESCRIBE {target}").fetchall()}
    for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall():
        if name not in have:
            con.execute(f'ALTER TABLE {target} ADD COLUMN "{name.replace(chr(34), chr(34) * 2)}" {kind}')


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()
    return bool(row and row[0])


def read_table(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """The whole table as a DataFrame; a clear error when it has not been materialized yet."""
    if not table_exists(con, table):
        raise LookupError(f"table {table} does not exist yet: materialize the asset that writes it first")
    return con.execute(f"SELECT * FROM {qualified(table)}").df()


def table_row_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every user table in the warehouse with its row count (for summaries)."""
    tables = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') ORDER BY 1, 2"
    ).fetchall()
    rows = []
    for schema, name in tables:
        count = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchall()[0][0]
        rows.append({"table": f"{schema}.{name}", "rows": int(count)})
    return pd.DataFrame(rows, columns=["table", "rows"])
