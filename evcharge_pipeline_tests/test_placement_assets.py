"""Placement assets on a copy of the sample region: with a generated demand history and without one."""

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import load_assets_from_modules, materialize

from evcharge_pipeline.assets import demand as demand_assets
from evcharge_pipeline.assets import ingest as ingest_assets
from evcharge_pipeline.assets import placement as placement_assets
from evcharge_pipeline.placement import regional
from evcharge_pipeline.warehouse import read_table

FOUNDATION = load_assets_from_modules([ingest_assets, demand_assets])
FAST = {"ops": {
    "demand_forecast": {"config": {"horizon_years": 2}},
    "placement_plan": {"config": {"mip_rel_gap": 0.02, "time_limit_seconds": 40.0}},
}}


def read(path, table):
    with duckdb.connect(str(path), read_only=True) as con:
        return read_table(con, table)


def set_history_section(region, history: pd.DataFrame | None) -> None:
    """Drop any [demand_history] section of the bundle and, when given, add one naming `history`."""
    lines, skipping = [], False
    for line in (region / "region.toml").read_text().splitlines():
        if line.strip().startswith("["):
            skipping = line.strip() == "[demand_history]"
        if not skipping:
            lines.append(line)
    if history is not None:
        history.to_csv(region / "test_demand_history.csv", index=False)
        lines += ["", "[demand_history]", 'path = "test_demand_history.csv"']
    (region / "region.toml").write_text("\n".join(lines) + "\n")


def test_forecast_and_plan_from_a_demand_history(resources, sample_region, warehouse_path):
    assert materialize(FOUNDATION, resources=resources).success
    points = read(warehouse_path, "core.demand_points")
    history = regional.generate_sample_demand_history(points, seed=7)
    set_history_section(sample_region, history)
    last_year = int(history.columns[-1])

    result = materialize([placement_assets.demand_forecast, placement_assets.placement_plan,
                          placement_assets.placement_plan_feasible, *FOUNDATION],
                         resources=resources, run_config=FAST,
                         selection=["demand_forecast", "placement_plan"])
    assert result.success
    forecast = read(warehouse_path, "core.demand_forecast")
    assert sorted(forecast["year"].unique()) == [last_year + 1, last_year + 2]
    assert set(forecast["demand_id"]) == set(points["demand_id"])
    assert (forecast["q10_evs"] <= forecast["q90_evs"] + 1e-9).all()
    assert forecast["basis"].eq("history").all()
    assert len(read(warehouse_path, "core.demand_forecast_backtest")) > 0

    summary = read(warehouse_path, "plan.placement_summary")
    assert list(summary["year"]) == [last_year + 1, last_year + 2]
    assert summary["status"].isin(["optimal", "time_limit"]).all()
    sites = read(warehouse_path, "plan.placement_sites")
    assign = read(warehouse_path, "plan.placement_assignments")
    # independent checks on the written tables
    assert (sites["slow_chargers"] + sites["fast_chargers"] <= sites["parking_slots"]).all()
    wide = sites.pivot(index="site_id", columns="year", values="slow_chargers")
    assert (wide[last_year + 2] >= wide[last_year + 1]).all()
    load = assign.groupby(["site_id", "year"])["served_evs"].sum()
    cap = sites.set_index(["site_id", "year"])["capacity_evs"]
    assert (load <= cap.reindex(load.index) + 1e-6).all()
    served = assign.groupby("year")["served_evs"].sum()
    np.testing.assert_allclose(served.to_numpy(), summary["served_evs"].to_numpy(), rtol=1e-6)
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)


def test_forecast_without_history_uses_ev_weight(resources, sample_region, warehouse_path):
    set_history_section(sample_region, None)
    assert materialize(FOUNDATION, resources=resources).success
    assert materialize([placement_assets.demand_forecast, *FOUNDATION], resources=resources,
                       selection=["demand_forecast"]).success
    forecast = read(warehouse_path, "core.demand_forecast")
    points = read(warehouse_path, "core.demand_points")
    assert forecast["year"].unique().tolist() == [2030]
    np.testing.assert_allclose(forecast["forecast_evs"].sum(), points["ev_weight"].sum())
    assert forecast["basis"].eq("ev_weight").all()


def test_shellai_benchmark_asset_skips_without_data(resources, warehouse_path, monkeypatch):
    monkeypatch.delenv("EVCHARGE_SHELLAI_DIR", raising=False)
    assert materialize([placement_assets.shellai_benchmark], resources=resources).success
    assert read(warehouse_path, "plan.shellai_benchmark")["status"].tolist() == ["skipped"]


POINTS = pd.DataFrame({"demand_id": [1, 2, 3], "ev_count": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize("text, pattern", [
    ("demand_id,2020,2021\n1,1,2\n9,1,2\n", r"row 2, field 'demand_id' = 9 is not a demand point"),
    ("demand_id,2020,2021\n1,1,\n", r"row 1, field '2021' is empty \(a gap\)"),
    ("demand_id,2020,2021\n1,1,-3\n", r"row 1, field '2021' is negative"),
    ("demand_id,2020,2021\n1,x,3\n", r"row 1, field '2020' is not numeric"),
    ("demand_id,2020,2022\n1,1,3\n", r"year column\(s\) \[2021\] missing"),
    ("demand_id,2020,2021\n1,1,3\n1,2,3\n", r"row 2, field 'demand_id' = 1 repeats"),
])
def test_bad_demand_history_is_refused(tmp_path, text, pattern):
    path = tmp_path / "demand_history.csv"
    path.write_text(text)
    with pytest.raises(regional.DemandHistoryError, match="demand_history.csv: " + pattern):
        regional.load_demand_history_csv(path, POINTS["demand_id"])


def test_missing_points_are_counted_not_dropped(tmp_path):
    path = tmp_path / "demand_history.csv"
    path.write_text("demand_id,2020,2021\n1,1,2\n")
    wide, report = regional.load_demand_history_csv(path, POINTS["demand_id"])
    assert report["demand_points_without_history"] == 2
    assert list(wide.index) == [1, 2, 3] and wide.loc[3].sum() == 0


def test_generated_history_ends_near_the_current_ev_count():
    history = regional.generate_sample_demand_history(POINTS.assign(ev_count=[10.0, 20.0, 30.0]), seed=1)
    assert list(history.columns) == ["demand_id"] + [str(y) for y in range(2017, 2025)]
    np.testing.assert_allclose(history["2024"], [10, 20, 30], rtol=0.3)
    assert (history.iloc[:, 1:].diff(axis=1).iloc[:, 1:].mean(axis=0) > 0).all()


def test_regional_plan_reports_infeasible_instead_of_crashing():
    forecast = pd.DataFrame({"demand_id": [1, 2], "year": 2030, "forecast_evs": [500.0, 400.0],
                             "q50_evs": [500.0, 400.0]})
    pairs = pd.DataFrame({"demand_id": [1, 2], "site_id": ["a", "a"], "site_kind": "existing",
                          "distance_km": [1.0, 2.0]})
    stations = pd.DataFrame({"site_id": ["a"], "lat": [0.0], "lon": [0.0], "level": ["L2"], "ports": [2],
                             "ports_l1": [0], "ports_l2": [2], "ports_l3": [0]})
    candidates = pd.DataFrame({"site_id": ["b"], "lat": [0.1], "lon": [0.1]})
    cfg = regional.RegionPlacementConfig(service="hard")
    plan = regional.plan_region(forecast, pairs, regional.supply_points(stations, candidates, cfg), cfg)
    assert plan.result.status == "infeasible"
    assert plan.summary["status"].tolist() == ["infeasible"] and plan.summary["reason"].iloc[0]
    # the same demand with the default soft service is planned, serving what the slots allow
    cfg = regional.RegionPlacementConfig()
    plan = regional.plan_region(forecast, pairs, regional.supply_points(stations, candidates, cfg), cfg)
    assert plan.result.ok
    assert plan.summary["served_evs"].iloc[0] <= 8 * cfg.fast_charger_evs + 1e-6
    assert (plan.sites.loc[plan.sites["site_id"] == "a", "slow_chargers"] >= 2).all()


def test_bundled_sample_history_is_read(resources, warehouse_path):
    """The shipped sample region names a demand history whose ids are its demand points."""
    assert materialize(FOUNDATION, resources=resources).success
    result = materialize([placement_assets.demand_forecast, *FOUNDATION], resources=resources,
                         selection=["demand_forecast"])
    assert result.success
    forecast = read(warehouse_path, "core.demand_forecast")
    if forecast["basis"].eq("ev_weight").all():
        pytest.skip("the bundled sample region has no [demand_history] section")
    meta = result.asset_materializations_for_node("demand_forecast")[0].metadata
    assert meta["demand_points_without_history"].value == 0
    assert forecast["basis"].eq("history").all() and forecast["forecast_evs"].sum() > 0


@pytest.mark.slow
def test_shellai_benchmark_asset_on_the_published_data(resources, warehouse_path, monkeypatch):
    from evcharge_pipeline_tests.test_placement_shellai import PUBLISHED_BEST_2018, SHARED

    if not SHARED.exists():
        pytest.skip("Shell.ai 2022 data: ../shared/data not present")
    monkeypatch.setenv("EVCHARGE_SHELLAI_DIR", str(SHARED))
    assert materialize([placement_assets.shellai_benchmark], resources=resources).success
    table = read(warehouse_path, "plan.shellai_benchmark")
    assert table["case"].tolist() == ["reference"] and table["valid"].all()
    assert table["cost"].iloc[0] <= PUBLISHED_BEST_2018
