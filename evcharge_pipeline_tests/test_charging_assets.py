"""Charging assets on the sample region: day partitions from the log, in order, a single-run range,
the status check, the evening schedule."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from dagster import (
    DagsterInstance,
    RunRequest,
    SkipReason,
    build_schedule_context,
    instance_for_test,
    materialize,
)

from evcharge_pipeline.assets.charging import (
    CHARGING_DAYS,
    STATUS_CHECK,
    charging_next_day_schedule,
    charging_schedule,
    charging_sessions,
)
from evcharge_pipeline.charging.sample import write_sample_sessions
from evcharge_pipeline_tests.conftest import make_resources


def _toml_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def with_charging_section(region: Path) -> dict:
    """Give the region copy a [charging_sessions] section (the sample generator's) if it has none."""
    config = tomllib.loads((region / "region.toml").read_text())
    if "charging_sessions" in config:
        return config["charging_sessions"]
    section = write_sample_sessions(region)
    lines = ["", "[charging_sessions]"] + [f"{k} = {_toml_value(v)}" for k, v in section.items()]
    with open(region / "region.toml", "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return section


def test_daily_partitions_materialize_in_order_and_respect_every_constraint(sample_region, warehouse_path, tmp_path):
    section = with_charging_section(sample_region)
    resources = make_resources(sample_region, warehouse_path, tmp_path / "reports")
    instance = DagsterInstance.ephemeral()
    assert materialize([charging_sessions], resources=resources, instance=instance).success
    first = materialize([charging_schedule], partition_key="2026-01-05", resources=resources, instance=instance)
    assert first.success
    # a range of days in one run (what a backfill does with the single-run policy)
    ranged = materialize([charging_schedule], resources=resources, instance=instance, tags={
        "dagster/asset_partition_range_start": "2026-01-06", "dagster/asset_partition_range_end": "2026-01-07"})
    assert ranged.success
    meta = ranged.asset_materializations_for_node("charging_schedule")[0].metadata
    assert meta["days"].value == 2 and Path(meta["load_profile_plot"].value).is_file()
    assert meta["carried_sessions_without_history"].value == 0
    checks = ranged.get_asset_check_evaluations()
    assert [c.check_name for c in checks] == [STATUS_CHECK] and checks[0].passed

    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute("SELECT * FROM plan.charging_schedule").df()
        metrics = con.execute("SELECT * FROM plan.charging_schedule_metrics").df()
        sessions = con.execute("SELECT * FROM raw.charging_sessions").df()
    assert sorted(metrics["schedule_date"].unique()) == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert len(metrics) == 3 * 6 and set(metrics["status"]) <= {"optimal", "ok"}
    limit = float(section["site_limit_kw"])
    base = float(section["base_load_kw"])
    step = pd.Timedelta(minutes=int(section["period_minutes"]))
    load = rows.groupby(["method", "period_start_utc"])["power_kw"].sum().reset_index()
    managed = load[load["method"] != "uncontrolled"]
    assert (managed["power_kw"] + base <= limit + 1e-6).all()
    merged = rows.merge(sessions, on="session_id", how="left", validate="many_to_one")
    assert merged["arrival_utc"].notna().all()
    cap = np.minimum(merged["max_power_kw"], float(section["evse_max_kw"]))
    assert (merged["power_kw"] <= cap + 1e-6).all()
    start = pd.to_datetime(merged["period_start_utc"])
    assert (start + step > pd.to_datetime(merged["arrival_utc"])).all()
    assert (start + step <= pd.to_datetime(merged["departure_utc"])).all()
    delivered = rows.groupby(["method", "session_id"])["energy_kwh"].sum().reset_index()
    delivered = delivered.merge(sessions[["session_id", "energy_kwh"]], on="session_id", suffixes=("", "_req"))
    assert (delivered["energy_kwh"] <= delivered["energy_kwh_req"] + 1e-6).all()
    # overnight cars of the first day are charged after midnight by the second partition
    overnight = set(sessions.loc[sessions["session_id"].str.startswith("S00-H"), "session_id"])
    second = rows[(rows["schedule_date"] == "2026-01-06") & (rows["method"] == "milp_offline")]
    assert overnight & set(second["session_id"])
    milp = metrics[metrics["method"] == "milp_offline"].set_index("schedule_date")
    assert (milp["peak_kw"] <= limit + 1e-6).all()

    # re-running a partition replaces its rows (idempotent)
    assert materialize([charging_schedule], partition_key="2026-01-07", resources=resources,
                       instance=instance).success
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        again = con.execute("SELECT count(*) FROM plan.charging_schedule").fetchone()[0]
    assert again == len(rows)


def test_day_partitions_are_the_days_of_the_session_log(sample_region, warehouse_path, tmp_path):
    with_charging_section(sample_region)
    resources = make_resources(sample_region, warehouse_path, tmp_path / "reports")
    with instance_for_test() as instance:
        check_partitions_schedule_and_hard_day(instance, resources, warehouse_path)


def check_partitions_schedule_and_hard_day(instance, resources, warehouse_path):
    instance.add_dynamic_partitions(CHARGING_DAYS, ["2025-12-31"])  # a day no longer in the log
    assert materialize([charging_sessions], resources=resources, instance=instance).success
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        arrivals = con.execute("SELECT arrival_utc FROM raw.charging_sessions").df()["arrival_utc"]
    local = pd.to_datetime(arrivals).dt.tz_localize("UTC").dt.tz_convert("America/Toronto").dt.normalize()
    expected = [d.strftime("%Y-%m-%d") for d in pd.date_range(local.min().tz_localize(None),
                                                              local.max().tz_localize(None), freq="D")]
    keys = list(instance.get_dynamic_partitions(CHARGING_DAYS))
    assert keys == expected and keys[-1] == "2026-02-15"
    # the evening schedule plans tomorrow only when the log has that day
    inside = build_schedule_context(instance=instance,
                                    scheduled_execution_time=dt.datetime(2026, 1, 9, 23, 0, tzinfo=dt.UTC))
    request = charging_next_day_schedule(inside)
    assert isinstance(request, RunRequest) and request.partition_key == "2026-01-10"
    after = build_schedule_context(instance=instance,
                                   scheduled_execution_time=dt.datetime(2026, 2, 15, 23, 0, tzinfo=dt.UTC))
    skipped = charging_next_day_schedule(after)
    assert isinstance(skipped, SkipReason) and "2026-02-15" in skipped.skip_message

    # the day that made HiGHS return UNKNOWN in the online mode plans with every method
    day = materialize([charging_schedule], partition_key="2026-01-12", resources=resources, instance=instance)
    assert day.success
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        metrics = con.execute("SELECT * FROM plan.charging_schedule_metrics").df()
    assert len(metrics) == 6 and set(metrics["status"]) <= {"optimal", "ok"}
    assert day.get_asset_check_evaluations()[0].check_name == STATUS_CHECK
