"""The swap assets materialize on a small generated region and the simulation check passes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.assets import swap as swap_assets
from evcharge_pipeline.region import section_toml
from evcharge_pipeline.resources import RegionResource, ReportsResource
from evcharge_pipeline.swap.sample import write_sample_swap
from evcharge_pipeline.swap.study import SENSITIVITY_KEYS, parse_scenario

REQUIRED_FILES = {
    "boundary": "boundary.geojson",
    "areas": "areas.geojson",
    "ev_ownership": "evs.csv",
    "population": "population.csv",
    "stations": "stations.csv",
}


def make_region(folder: Path, with_swap: bool = True, **swap_overrides) -> Path:
    """A region folder whose required sections name placeholder files (the swap assets never read them)."""
    lines = ['name = "Swap test region"', ""]
    for section, name in REQUIRED_FILES.items():
        (folder / name).write_text("placeholder\n")
        lines += [f"[{section}]", f'path = "{name}"', ""]
    if with_swap:
        section = write_sample_swap(folder, seed=11)
        section.update(swap_overrides)
        lines.append(section_toml(section, "swap"))
    (folder / "region.toml").write_text("\n".join(lines) + "\n")
    return folder


def resources(tmp_path: Path, region: Path) -> dict:
    return {
        "warehouse": DuckDBResource(database=str(tmp_path / "warehouse.duckdb")),
        "region": RegionResource(path=str(region)),
        "reports": ReportsResource(directory=str(tmp_path / "reports")),
    }


FAST_PLAN = {"ops": {"swap_inventory_plan": {"config": {"sim_days": 6, "sim_warmup_days": 1, "sim_replications": 3}}}}


def test_plan_materializes_and_simulation_check_passes(tmp_path):
    region = make_region(tmp_path)
    result = materialize(
        [swap_assets.swap_network_inputs, swap_assets.swap_inventory_plan, swap_assets.swap_simulated_fill_rate],
        resources=resources(tmp_path, region),
        run_config=FAST_PLAN,
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 1 and checks[0].passed, checks[0].description if checks else "no check ran"
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        summary = con.execute("SELECT status, spare_batteries, total_batteries, vehicles, charging_ports, "
                              "sim_fill_rate_ci_low, service_level FROM plan.swap_summary").fetchone()
        status, spares, total, vehicles, ports, low, target = summary
        assert status == "optimal"
        assert total == vehicles + spares
        assert low >= target
        per_station = con.execute("SELECT sum(spare_batteries) FROM plan.swap_stations").fetchone()[0]
        assert per_station == spares
        hub_ports = con.execute("SELECT sum(charging_ports) FROM plan.swap_hubs").fetchone()[0]
        assert hub_ports == ports
        # every station is assigned to an open hub
        orphans = con.execute("SELECT count(*) FROM plan.swap_stations s JOIN plan.swap_hubs h USING (hub_id) "
                              "WHERE NOT h.is_open").fetchone()[0]
        assert orphans == 0
        log_rows = con.execute("SELECT count(*), count(DISTINCT sha256) FROM raw.swap_log").fetchone()
        assert log_rows[0] > 0 and log_rows[1] == 1
        methods = dict(con.execute("SELECT method, sim_fill_rate FROM plan.swap_method_comparison").fetchall())
        assert methods["naive_24h_average"] < methods["stochastic_model"]
        curve = con.execute("SELECT count(*), sum(is_cost_optimal::INT) FROM plan.swap_service_curve").fetchone()
        assert curve[0] > 10 and curve[1] >= 1
    finally:
        con.close()
    assert (tmp_path / "reports" / "swap_service_curve.png").is_file()


def test_region_without_log_plans_from_the_profile(tmp_path):
    region = make_region(tmp_path)
    toml = (region / "region.toml").read_text().replace('log = "swap/swap_log.csv"\n', "")
    (region / "region.toml").write_text(toml)
    result = materialize(
        [swap_assets.swap_network_inputs, swap_assets.swap_inventory_plan, swap_assets.swap_simulated_fill_rate],
        resources=resources(tmp_path, region),
        run_config={"ops": {"swap_inventory_plan": {"config": {"sim_days": 5, "sim_warmup_days": 1,
                                                                "sim_replications": 2}}}},
    )
    assert result.success and result.get_asset_check_evaluations()[0].passed
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        distribution, arrivals = con.execute(
            "SELECT pipeline_distribution, sim_arrivals FROM plan.swap_summary").fetchone()
        log_rows = con.execute("SELECT count(*) FROM raw.swap_log").fetchone()[0]
    finally:
        con.close()
    assert (distribution, arrivals, log_rows) == ("poisson", "poisson_profile", 0)


def test_sensitivity_partitions_write_their_rows(tmp_path):
    region = make_region(tmp_path)
    fast = {"ops": {"swap_sensitivity": {"config": {"sim_days": 5, "sim_warmup_days": 1, "sim_replications": 2}}}}
    for key in ("vehicles_scale=1.5", "charging_hours=2", "vehicles_scale=4"):
        result = materialize([swap_assets.swap_sensitivity], resources=resources(tmp_path, region),
                             partition_key=key, run_config=fast)
        assert result.success
    # re-running a partition replaces its rows instead of appending
    materialize([swap_assets.swap_sensitivity], resources=resources(tmp_path, region),
                partition_key="charging_hours=2", run_config=fast)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT scenario, count(*), max(vehicles), max(charging_hours), max(total_batteries), "
                           "max(status), max(reason) FROM plan.swap_sensitivity GROUP BY scenario").fetchall()
    finally:
        con.close()
    by_key = {r[0]: r for r in rows}
    assert set(by_key) == {"vehicles_scale=1.5", "charging_hours=2", "vehicles_scale=4"}
    assert by_key["vehicles_scale=1.5"][1] == 4 and by_key["charging_hours=2"][1] == 4  # one row per station
    assert by_key["vehicles_scale=1.5"][2] == 300
    assert by_key["charging_hours=2"][3] == 2.0
    assert by_key["vehicles_scale=1.5"][4] > by_key["charging_hours=2"][4] > 300  # more swaps need more batteries
    # a fleet four times larger exceeds the hubs' grid limits: recorded as an answer, one row with the reason
    assert by_key["vehicles_scale=4"][1] == 1
    assert by_key["vehicles_scale=4"][5] == "infeasible" and "grid limit" in by_key["vehicles_scale=4"][6]


def test_partition_keys_cover_the_four_dimensions():
    keys = SENSITIVITY_KEYS
    assert len(keys) <= 36 and len(set(keys)) == len(keys)
    assert {parse_scenario(k)[0] for k in keys} == {
        "vehicles_scale", "swaps_per_vehicle_day", "charging_hours", "service_level"}


def test_region_without_swap_section_is_skipped_not_failed(tmp_path):
    region = make_region(tmp_path, with_swap=False)
    result = materialize(
        [swap_assets.swap_network_inputs, swap_assets.swap_inventory_plan, swap_assets.swap_simulated_fill_rate],
        resources=resources(tmp_path, region),
    )
    assert result.success
    assert result.get_asset_check_evaluations()[0].passed


def test_infeasible_plan_is_recorded_and_fails_the_check(tmp_path):
    # tiny grid limits: no hub can charge the peak
    region = make_region(tmp_path)
    hubs = (region / "swap" / "hubs.csv").read_text().splitlines()
    header = hubs[0].split(",")
    limit = header.index("grid_limit_ports")
    rows = [header] + [line.split(",") for line in hubs[1:]]
    for row in rows[1:]:
        row[limit] = "3"
    (region / "swap" / "hubs.csv").write_text("\n".join(",".join(r) for r in rows) + "\n")
    result = materialize(
        [swap_assets.swap_network_inputs, swap_assets.swap_inventory_plan, swap_assets.swap_simulated_fill_rate],
        resources=resources(tmp_path, region), run_config=FAST_PLAN, raise_on_error=False,
    )
    assert result.success  # the plan asset records the answer instead of crashing
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        status, reason = con.execute("SELECT status, reason FROM plan.swap_summary").fetchone()
    finally:
        con.close()
    assert status == "infeasible" and "grid limit" in reason


@pytest.mark.parametrize("bad,message", [
    ({"service_level": 1.5}, "service_level"),
    ({"charging_hours": 0.0}, "charging_hours"),
    ({"swaps_per_vehicle_day": -1.0}, "swaps_per_vehicle_day"),
])
def test_bad_section_values_fail_with_the_parameter_named(tmp_path, bad, message):
    region = make_region(tmp_path, **bad)
    result = materialize([swap_assets.swap_network_inputs], resources=resources(tmp_path, region), raise_on_error=False)
    assert not result.success
    errors = [e.event_specific_data.error.to_string() for e in result.all_events
              if e.event_type_value == "STEP_FAILURE"]
    assert any(f"field 'swap.{message}'" in text and "region.toml" in text for text in errors), errors


@pytest.mark.slow
def test_sensitivity_range_backfills_from_the_cli(tmp_path):
    import json
    import os
    import subprocess
    import sys

    region = make_region(tmp_path)
    env = {**os.environ, "EVCHARGE_REGION": str(region), "EVCHARGE_DUCKDB_PATH": str(tmp_path / "cli.duckdb"),
           "EVCHARGE_REPORTS_DIR": str(tmp_path / "reports"), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    (tmp_path / "dagster_home").mkdir()
    config = {"ops": {"swap_sensitivity": {"config": {"sim_days": 4, "sim_warmup_days": 1, "sim_replications": 2}}}}
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "evcharge_pipeline.definitions", "--select", "swap_sensitivity",
         "--partition-range", "charging_hours=1...charging_hours=2", "--config-json", json.dumps(config)],
        env=env, capture_output=True, text=True, timeout=170, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    con = duckdb.connect(str(tmp_path / "cli.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT DISTINCT scenario FROM plan.swap_sensitivity ORDER BY 1").fetchall()
        scenarios = [r[0] for r in rows]
    finally:
        con.close()
    assert scenarios == ["charging_hours=1", "charging_hours=1.5", "charging_hours=2"]
