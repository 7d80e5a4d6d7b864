"""A small partitioned workload shaped like the sensitivity assets, for the operations tests.

It writes its partition's rows with `replace_partition` in the `warehouse` pool and uses the
deployment's executor, like the real assets, but computes nothing expensive, so a backfill of many
partitions through a real daemon stays short. The operations tests load it as a code location
(`python_file`); the tests in this module check the workload itself in one process.

Environment knobs (read at run time, only by the tests):
`OPS_WORKLOAD_ROWS` rows written per partition, `OPS_WORKLOAD_COMPUTE_SECONDS` simulated compute time
outside the warehouse connection, `OPS_WORKLOAD_PAUSE_BEFORE_COMMIT` a file path: when set, the
write creates that file once its rows are inside the open transaction and then waits there (so a
test can kill the process mid-write).
"""

import os
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from dagster import (
    AssetExecutionContext,
    Definitions,
    MaterializeResult,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    materialize,
)
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.deployment import WAREHOUSE_POOL, executor_from_env
from evcharge_pipeline.warehouse import read_table, replace_partition

TABLE = "plan.ops_workload"
PARTITION_KEYS = [f"scenario_{i:02d}" for i in range(12)]
workload_partitions = StaticPartitionsDefinition(PARTITION_KEYS)


class PauseBeforeCommit:
    """A DuckDB connection wrapper: on COMMIT it signals through a file and waits (to be killed)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, signal_file: Path):
        self._con, self._signal = con, signal_file

    def execute(self, sql: str, *args, **kwargs):
        if sql.strip().upper().startswith("COMMIT"):
            self._signal.write_text(str(os.getpid()))
            while True:
                time.sleep(1)
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


def workload_rows(key: str, rows: int) -> pd.DataFrame:
    """Deterministic rows of one partition: `row_index` 0..rows-1 and a value derived from the key."""
    index = np.arange(rows, dtype=np.int64)
    return pd.DataFrame({"row_index": index, "value": index * 0.5 + PARTITION_KEYS.index(key)})


@asset(partitions_def=workload_partitions, pool=WAREHOUSE_POOL, kinds={"duckdb"},
       description="Test workload: one partition's rows, written as one transaction.")
def ops_workload(context: AssetExecutionContext, warehouse: DuckDBResource) -> MaterializeResult:
    key = context.partition_key
    rows = int(os.environ.get("OPS_WORKLOAD_ROWS", "1000"))
    body_started = time.time()
    time.sleep(float(os.environ.get("OPS_WORKLOAD_COMPUTE_SECONDS", "0")))  # the model solve would run here
    frame = workload_rows(key, rows).assign(run_id=context.run.run_id, pid=os.getpid(), body_started=body_started)
    pause = os.environ.get("OPS_WORKLOAD_PAUSE_BEFORE_COMMIT")
    with warehouse.get_connection() as con:
        target = PauseBeforeCommit(con, Path(pause)) if pause else con
        frame = frame.assign(body_finished=time.time())
        written = replace_partition(target, TABLE, frame, {"partition_key": key})
    return MaterializeResult(metadata={"table": TABLE, "dagster/row_count": written})


ops_workload_job = define_asset_job("ops_workload_job", selection=[ops_workload])

defs = Definitions(
    assets=[ops_workload],
    jobs=[ops_workload_job],
    resources={"warehouse": DuckDBResource(database=os.environ.get("EVCHARGE_DUCKDB_PATH", "ops_workload.duckdb"))},
    executor=executor_from_env(),
)


def test_workload_partition_is_replaced_not_appended(tmp_path: Path):
    resources = {"warehouse": DuckDBResource(database=str(tmp_path / "w.duckdb"))}
    for key in (PARTITION_KEYS[0], PARTITION_KEYS[1], PARTITION_KEYS[0]):
        assert materialize([ops_workload], partition_key=key, resources=resources).success
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        frame = read_table(con, TABLE)
    counts = frame.groupby("partition_key").size().to_dict()
    assert counts == {PARTITION_KEYS[0]: 1000, PARTITION_KEYS[1]: 1000}
    assert not frame.duplicated(["partition_key", "row_index"]).any()
