"""Placement assets: per-point demand forecasts, the multi-year charger placement plan, the Shell.ai benchmark."""


import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult
from dagster_duckdb import DuckDBResource

from evcharge_pipeline import validation
from evcharge_pipeline.assets.common import (
    markdown_table,
    picture,
    problems_check,
    summary_table,
    warehouse_asset,
    warehouse_check,
)
from evcharge_pipeline.assets.demand import coverage, demand_points
from evcharge_pipeline.assets.ingest import candidate_sites, charging_stations
from evcharge_pipeline.placement import regional, shellai_case
from evcharge_pipeline.placement.reports import placement_map
from evcharge_pipeline.resources import RegionResource, ReportsResource
from evcharge_pipeline.warehouse import read_table, replace_table

PLACEMENT = "placement"
_DEFAULTS = regional.RegionPlacementConfig()

SITE_COLUMNS = ["site_id", "site_kind", "lat", "lon", "parking_slots", "year", "slow_chargers", "fast_chargers",
                "new_slow_chargers", "new_fast_chargers", "capacity_evs", "load_evs", "utilisation"]
ASSIGNMENT_COLUMNS = ["year", "demand_id", "site_id", "served_evs", "distance_km"]


FORECAST_RANGES = {
    "horizon_years": validation.Range(1.0, 50.0, integer=True),
    "target_year": validation.Range(2000.0, 2100.0, integer=True),
    "no_history_relative_spread": validation.Range(0.0, 10.0),
}
PLACEMENT_RANGES = {
    "slow_charger_evs": validation.POSITIVE,
    "fast_charger_evs": validation.POSITIVE,
    "slow_charger_cost_cad_per_year": validation.NON_NEGATIVE,
    "fast_charger_cost_cad_per_year": validation.NON_NEGATIVE,
    "distance_cost_cad_per_ev_km": validation.NON_NEGATIVE,
    "unserved_cost_cad_per_ev": validation.NON_NEGATIVE,
    "candidate_parking_slots": validation.COUNT,
    "min_station_parking_slots": validation.COUNT,
    "nearest_sites": validation.Range(1.0, 1000.0, integer=True),
    "max_distance_km": validation.DISTANCE_KM,
    "mip_rel_gap": validation.GAP,
    "time_limit_seconds": validation.SECONDS,
}
SHELLAI_RANGES = {"nearest": validation.Range(1.0, 1000.0, integer=True), "mip_gap": validation.GAP}


class DemandForecastConfig(Config):
    horizon_years: int = _DEFAULTS.horizon_years  # years forecast after the last history year
    target_year: int = _DEFAULTS.target_year  # planning year without a [demand_history] source
    no_history_relative_spread: float = _DEFAULTS.no_history_relative_spread  # scenario spread without history

    _ranges = validation.range_validator(FORECAST_RANGES)


class PlacementPlanConfig(Config):
    slow_charger_evs: float = _DEFAULTS.slow_charger_evs
    fast_charger_evs: float = _DEFAULTS.fast_charger_evs
    slow_charger_cost_cad_per_year: float = _DEFAULTS.slow_charger_cost_cad_per_year
    fast_charger_cost_cad_per_year: float = _DEFAULTS.fast_charger_cost_cad_per_year
    distance_cost_cad_per_ev_km: float = _DEFAULTS.distance_cost_cad_per_ev_km
    unserved_cost_cad_per_ev: float = _DEFAULTS.unserved_cost_cad_per_ev
    candidate_parking_slots: int = _DEFAULTS.candidate_parking_slots
    min_station_parking_slots: int = _DEFAULTS.min_station_parking_slots
    nearest_sites: int = _DEFAULTS.nearest_sites
    max_distance_km: float = _DEFAULTS.max_distance_km
    service: str = _DEFAULTS.service  # "chosen" (default) | "hard" | "recourse"
    robust_objective: str = _DEFAULTS.robust_objective  # "recourse" only: "expected" | "worst_case"
    mip_rel_gap: float = _DEFAULTS.mip_rel_gap
    time_limit_seconds: float = _DEFAULTS.time_limit_seconds

    _ranges = validation.range_validator(PLACEMENT_RANGES)


@warehouse_asset(
    group_name=PLACEMENT, deps=[demand_points],
    description="Demand per demand point and future year with quantiles, from the region's [demand_history] "
                "(trend family chosen by rolling-origin backtest) or the projected ev_weight "
                "(core.demand_forecast, core.demand_forecast_backtest).")
def demand_forecast(context: AssetExecutionContext, config: DemandForecastConfig, region: RegionResource,
                    warehouse: DuckDBResource) -> MaterializeResult:
    bundle = region.bundle()
    with warehouse.get_connection() as con:
        points = read_table(con, "core.demand_points")
    section = bundle.section("demand_history")
    history, report = None, {}
    if section is not None:
        path = bundle.resolve(str(section.get("path", "")), "demand_history")
        history, report = regional.load_demand_history_csv(path, points["demand_id"],
                                                           str(section.get("id_field", "demand_id")))
        if report["demand_points_without_history"]:
            context.log.warning(f"{report['demand_points_without_history']} demand points have no history "
                                "(forecast from zero history)")
    cfg = replace(_DEFAULTS, horizon_years=config.horizon_years, target_year=config.target_year,
                  no_history_relative_spread=config.no_history_relative_spread)
    result = regional.forecast_region(points, history, cfg)
    with warehouse.get_connection() as con:
        rows = replace_table(con, "core.demand_forecast", result.table)
        replace_table(con, "core.demand_forecast_backtest", result.backtest)
    totals = result.table.groupby("year")[["forecast_evs"] + [c for c in result.table if c.startswith("q")]].sum()
    summary = (result.backtest.groupby("method")[["mae", "mape", "wape"]].mean().sort_values("mae").reset_index()
               if len(result.backtest) else pd.DataFrame())
    return MaterializeResult(metadata={
        "table": "core.demand_forecast", "dagster/row_count": rows, "method": result.method,
        "basis": "history" if history is not None else "ev_weight", "years": str(result.years),
        "totals_by_year": summary_table(totals.reset_index()),
        "backtest_by_method": summary_table(summary, max_rows=12) if len(summary) else "no history: no backtest",
        **{k: v for k, v in report.items()},
    })


@warehouse_asset(
    group_name=PLACEMENT, deps=[demand_forecast, coverage, charging_stations, candidate_sites],
    description="Slow/fast chargers per site and year and the demand each site serves, from a multi-year MILP "
                "robust to the forecast quantiles (plan.placement_sites, plan.placement_assignments, "
                "plan.placement_summary).")
def placement_plan(context: AssetExecutionContext, config: PlacementPlanConfig, warehouse: DuckDBResource,
                   reports: ReportsResource) -> MaterializeResult:
    cfg = replace(_DEFAULTS, **config.model_dump())
    with warehouse.get_connection() as con:
        forecast = read_table(con, "core.demand_forecast")
        pairs = read_table(con, "core.coverage")
        sites = regional.supply_points(read_table(con, "raw.charging_stations"),
                                       read_table(con, "raw.candidate_sites"), cfg)
    plan = regional.plan_region(forecast, pairs, sites, cfg)
    if plan.demand_points_without_site:
        context.log.warning(f"{plan.demand_points_without_site} demand points have no site within "
                            f"{cfg.max_distance_km} km; their demand cannot be served")
    site_table = plan.sites if len(plan.sites) else pd.DataFrame(columns=SITE_COLUMNS)
    assign_table = plan.assignments if len(plan.assignments) else pd.DataFrame(columns=ASSIGNMENT_COLUMNS)
    with warehouse.get_connection() as con:
        replace_table(con, "plan.placement_sites", site_table)
        replace_table(con, "plan.placement_assignments", assign_table)
        replace_table(con, "plan.placement_summary", plan.summary)
    metadata = {
        "table": "plan.placement_summary", "status": plan.result.status, "reason": plan.result.reason or "",
        "summary": summary_table(plan.summary), "demand_points_without_site": plan.demand_points_without_site,
        "arcs": plan.result.n_arcs, "solve_seconds": float(plan.result.solve_seconds),
        "mip_gap": float(plan.result.mip_gap) if plan.result.mip_gap is not None else float("nan"),
    }
    if plan.result.ok:
        metadata["map"] = picture(placement_map(plan.sites, reports.path_for("placement_plan.png")))
        metadata["dagster/row_count"] = len(site_table)
    else:
        context.log.warning(f"placement {plan.result.status}: {plan.result.reason}")
    return MaterializeResult(metadata=metadata)


@warehouse_check(
    asset=placement_plan, description="Chargers within slots, never below the existing stock or the "
                                      "previous year, and no site serving more than its capacity.")
def placement_plan_feasible(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        sites = read_table(con, "plan.placement_sites")
        assignments = read_table(con, "plan.placement_assignments")
    if sites.empty:
        return problems_check({"no_plan": 1})
    sites = sites.sort_values(["site_id", "year"])
    load = assignments.groupby(["site_id", "year"])["served_evs"].sum()
    merged = sites.set_index(["site_id", "year"]).join(load.rename("assigned_evs")).fillna({"assigned_evs": 0.0})
    grouped = sites.groupby("site_id")
    return problems_check({
        "chargers_over_slots": int((sites["slow_chargers"] + sites["fast_chargers"] > sites["parking_slots"]).sum()),
        "fewer_chargers_than_before": int(((sites["new_slow_chargers"] < 0) | (sites["new_fast_chargers"] < 0)).sum()
                                          + (grouped["slow_chargers"].diff() < 0).sum()
                                          + (grouped["fast_chargers"].diff() < 0).sum()),
        "load_over_capacity": int((merged["assigned_evs"] > merged["capacity_evs"] + 1e-6).sum()),
        "negative_flows": int((assignments["served_evs"] < 0).sum()),
    })


class ShellaiBenchmarkConfig(Config):
    data_dir: str = ""  # folder with the Shell.ai 2022 files; default: EVCHARGE_SHELLAI_DIR
    # any of "reference", "backtest", "forecast"; a list default is safe here: pydantic copies it per instance
    cases: list[str] = ["reference"]  # noqa: RUF012
    nearest: int = 10
    mip_gap: float = 1e-4

    _ranges = validation.range_validator(SHELLAI_RANGES)


@warehouse_asset(group_name="benchmarks",
                 description="Shell.ai Hackathon 2022 benchmark: official cost and score per case and year "
                             "(plan.shellai_benchmark); skipped when no data folder is configured.")
def shellai_benchmark(context: AssetExecutionContext, config: ShellaiBenchmarkConfig, warehouse: DuckDBResource,
                      reports: ReportsResource) -> MaterializeResult:
    data_dir = config.data_dir or os.environ.get("EVCHARGE_SHELLAI_DIR", "")
    if not data_dir or not Path(data_dir).is_dir():
        reason = "no Shell.ai data folder (set EVCHARGE_SHELLAI_DIR or the data_dir config)"
        context.log.info(f"skipped: {reason}")
        frame = pd.DataFrame([{"case": "all", "year": None, "status": "skipped", "reason": reason}])
        with warehouse.get_connection() as con:
            replace_table(con, "plan.shellai_benchmark", frame)
        return MaterializeResult(metadata={"status": "skipped", "reason": reason})
    cases = {"reference": {"years": [2018], "true_demand": True},
             "backtest": {"years": [2018], "history_until": 2017},
             "forecast": {}}
    rows = []
    for case in config.cases:
        if case not in cases:
            raise ValueError(f"unknown Shell.ai case {case!r}; choose from {sorted(cases)}")
        out = reports.path_for(f"shellai_{case}")
        summary = shellai_case.run(Path(data_dir), out, nearest=config.nearest, mip_gap=config.mip_gap,
                              log=context.log.info, **cases[case])
        for year in summary.get("per_year", []):
            rows.append({"case": case, "status": summary["status"], "reason": "", "valid": summary["valid"],
                         "mip_gap": summary["mip_gap"], "solve_seconds": summary["solve_seconds"],
                         "total_seconds": summary["total_seconds"], "solution": str(out / "solution.csv"), **year})
        if not summary.get("per_year"):
            rows.append({"case": case, "status": summary["status"], "reason": summary.get("reason", "")})
    frame = pd.DataFrame(rows)
    with warehouse.get_connection() as con:
        replace_table(con, "plan.shellai_benchmark", frame)
    return MaterializeResult(metadata={"table": "plan.shellai_benchmark", "results": markdown_table(frame),
                                       "best_score": float(np.nanmax(frame.get("score", pd.Series([np.nan]))))})
