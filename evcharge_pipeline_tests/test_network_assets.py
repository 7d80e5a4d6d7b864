"""Network assets end to end on a temporary warehouse filled with a small synthetic region."""

from __future__ import annotations

import duckdb
import pytest
from dagster import materialize
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.assets.network import (
    network_plan,
    network_plan_sensitivity,
    network_plan_verified,
    sensitivity_frontier,
)
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.resources import ReportsResource
from evcharge_pipeline.warehouse import read_table, replace_table


@pytest.fixture()
def warehouse(tmp_path):
    inst = make_instance(n_demand=150, n_candidates=25, n_existing=10, extent_km=12.0, seed=21)
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    replace_table(con, "raw.charging_stations", inst.stations)
    replace_table(con, "raw.candidate_sites", inst.candidates)
    replace_table(con, "core.demand_points", inst.demand)
    replace_table(con, "core.coverage", inst.coverage)
    con.close()
    return {"warehouse": DuckDBResource(database=str(path)),
            "reports": ReportsResource(directory=str(tmp_path / "reports"))}, path, tmp_path


def test_network_plan_writes_tables_map_and_passes_its_check(warehouse):
    resources, path, tmp = warehouse
    run = {"ops": {"network_plan": {"config": {"budget_cad": 400_000, "time_limit_seconds": 30}}}}
    result = materialize([network_plan, network_plan_verified], resources=resources, run_config=run)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 1 and checks[0].passed
    con = duckdb.connect(str(path), read_only=True)
    plan, summary = read_table(con, "plan.network_plan"), read_table(con, "plan.network_plan_summary")
    con.close()
    assert summary["status"].iloc[0] == "optimal"
    assert set(plan["action"]) <= {"keep", "upgrade_l3", "retire", "new_l2", "new_l3"}
    for column in ("coverage_l2_population_before", "coverage_l3_ev_after", "budget_cad", "radius_l2_km",
                   "radius_l3_km", "min_l3_spacing_km", "max_l3_distance_km", "phases", "solver", "bound", "gap"):
        assert column in summary.columns
    assert 0.0 <= summary["coverage_l3_ev_after"].iloc[0] <= 1.0
    assert (tmp / "reports" / "network_plan_map.html").stat().st_size > 1000


def test_infeasible_plan_is_recorded_not_raised(warehouse):
    resources, path, _ = warehouse
    run = {"ops": {"network_plan": {"config": {"budget_cad": 50_000, "min_coverage_l3_share": 0.95,
                                                "time_limit_seconds": 10}}}}
    result = materialize([network_plan, network_plan_verified], resources=resources, run_config=run)
    assert result.success
    con = duckdb.connect(str(path), read_only=True)
    summary = read_table(con, "plan.network_plan_summary")
    con.close()
    assert summary["status"].iloc[0] == "infeasible"
    assert "budget" in summary["diagnosis"].iloc[0]


def test_sensitivity_partitions_and_frontier(warehouse):
    resources, path, tmp = warehouse
    # L3 radius shrunk so the 95% target cannot be met at 250,000 CAD: that partition must record it.
    unreachable = {"ops": {"network_plan_sensitivity": {"config": {"radius_l3_km": 0.5,
                                                                   "diagnosis_time_limit_seconds": 5}}}}
    for key, run in (("250000|0.95", unreachable), ("2000000|0.80", None), ("500000|0.80", None)):
        result = materialize([network_plan_sensitivity], resources=resources, partition_key=key, run_config=run)
        assert result.success
    # idempotent
    assert materialize([network_plan_sensitivity], resources=resources, partition_key="500000|0.80").success
    result = materialize([sensitivity_frontier], resources=resources)
    assert result.success
    con = duckdb.connect(str(path), read_only=True)
    rows = read_table(con, "plan.network_plan_sensitivity")
    con.close()
    assert len(rows) == 3
    assert set(rows["budget_key"]) == {"250000", "2000000", "500000"}
    assert (rows.loc[rows["budget_key"] == "250000", "status"] == "infeasible").all()
    assert (tmp / "reports" / "network_sensitivity_frontier.png").stat().st_size > 1000
