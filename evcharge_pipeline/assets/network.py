"""Network enhancement plan assets: the default plan, its verification, and the budget x coverage sweep.

Thin wrappers: read the foundation tables, call `evcharge_pipeline.network`, write `plan.*` tables,
reports and metadata. Infeasible plans are recorded (status + diagnosis), never raised.
"""

import json

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
    MetadataValue,
    MultiPartitionsDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    define_asset_job,
)
from dagster_duckdb import DuckDBResource

from evcharge_pipeline import validation
from evcharge_pipeline.assets.common import key_figures, picture, summary_table, warehouse_asset, warehouse_check
from evcharge_pipeline.assets.demand import coverage, demand_points
from evcharge_pipeline.assets.equity import area_equity, verify_plan_equity, write_plan_equity
from evcharge_pipeline.assets.ingest import candidate_sites, charging_stations
from evcharge_pipeline.equity import with_equity
from evcharge_pipeline.network.config import NetworkConfig, with_cost_scenario
from evcharge_pipeline.network.inputs import considered_candidates
from evcharge_pipeline.network.plan import (
    SOLVE_FACT_TEXT,
    SOLVE_FACTS,
    NetworkPlanResult,
    empty_plan_frame,
    plan_network,
)
from evcharge_pipeline.network.reports import frontier_plot, plan_key_figures, plan_map, static_plan_map
from evcharge_pipeline.network.verifier import verify_plan
from evcharge_pipeline.reporting import readable_value
from evcharge_pipeline.resources import ReportsResource
from evcharge_pipeline.schedules import week_of, weekly_sensitivity_schedule
from evcharge_pipeline.warehouse import (
    read_table,
    replace_partition,
    replace_table,
    table_exists,
)

NETWORK = "network"
INPUT_TABLES = ("raw.charging_stations", "raw.candidate_sites", "core.demand_points", "core.coverage")
EQUITY_TABLE = "core.area_equity"   # income band and need weighting per demand point (optional)
INPUT_ASSETS = [charging_stations, candidate_sites, demand_points, coverage, area_equity]

BUDGET_LEVELS_CAD = ("250000", "500000", "1000000", "2000000")
COVERAGE_TARGETS = ("0.80", "0.90", "0.95")
sensitivity_partitions = MultiPartitionsDefinition({
    "budget": StaticPartitionsDefinition(list(BUDGET_LEVELS_CAD)),
    "coverage_target": StaticPartitionsDefinition(list(COVERAGE_TARGETS)),
})

NUMERIC_SUMMARY = {
    "objective", "bound", "gap", "solve_seconds", "build_seconds", "prepare_seconds", "greedy_seconds",
    "greedy_objective", "capex_total_cad", "budget_used_share", "annual_opex_after_cad", "min_budget_cad",
    "min_budget_lower_cad",
    "budget_cad", "radius_l2_km", "radius_l3_km", "min_l3_spacing_km", "max_l3_distance_km",
    "min_coverage_l2_share", "min_coverage_l3_share", "mip_gap_target", "time_limit_seconds",
    "upgrades", "retirements", "new_l2", "new_l3", "ports_added_l2", "ports_added_l3", "phases",
    "demand_points", "demand_groups", "existing_stations", "candidate_sites", "service_standard_exempt_points",
    *(name for name in SOLVE_FACTS if name not in SOLVE_FACT_TEXT),
}


def _template_summary() -> dict:
    """Every summary column with a typed placeholder (from a 1-site, 1-demand-point plan that is infeasible)."""
    from evcharge_pipeline.network.plan import _parameters

    base = {k: None for k in NUMERIC_SUMMARY}
    base.update({"status": "", "warm_started": False, "capex_by_phase_cad": "", "skipped_json": "",
                 "diagnosis": "", "conflicting_constraints": ""})
    base.update({k: None for k in _coverage_figure_names()})
    base.update({k: ("" if k in SOLVE_FACT_TEXT else None) for k in SOLVE_FACTS})
    base.update({k: ("" if isinstance(v, str) else None) for k, v in _parameters(NetworkConfig()).items()})
    return base


def _coverage_figure_names() -> list[str]:
    names = [f"{m}_{w}_{when}" for m in ("coverage_l2", "coverage_l3", "underserved") for w in ("population", "ev")
             for when in ("before", "after")]
    return [*names, "underserved_share_before", "underserved_share_after"]


# every number of the run config; `NetworkConfig.validate` adds the cross-field rules
NETWORK_PLAN_RANGES = {
    "budget_cad": validation.NON_NEGATIVE,
    "phases": validation.Range(1.0, 20.0, integer=True),
    "radius_l2_km": validation.DISTANCE_KM,
    "radius_l3_km": validation.DISTANCE_KM,
    "max_l3_distance_km": validation.Range(0.0, 500.0, exclusive_minimum=True, optional=True),
    "min_l3_spacing_km": validation.Range(0.0, 500.0),
    "min_coverage_l2_share": validation.SHARE,
    "min_coverage_l3_share": validation.SHARE,
    "equity_min_coverage_l2_share": validation.SHARE,
    "equity_min_coverage_l3_share": validation.SHARE,
    "home_charger_public_need_ratio": validation.SHARE,
    "min_ports_per_100_ev": validation.Range(0.0, 100.0),
    "max_upgrades_per_phase": validation.COUNT,
    "candidate_thinning_km": validation.Range(0.0, 500.0, exclusive_minimum=True, optional=True),
    "mip_gap": validation.GAP,
    "time_limit_seconds": validation.SECONDS,
    "diagnosis_time_limit_seconds": validation.SECONDS,
}


class NetworkPlanConfig(Config):
    """Run configuration of the network plan (defaults: `NetworkConfig`). Money in CAD, distances in km;
    every number is range-checked (`NETWORK_PLAN_RANGES`) when the run starts."""

    budget_cad: float = NetworkConfig.budget_cad
    phases: int = NetworkConfig.phases
    radius_l2_km: float = NetworkConfig.radius_l2_km
    radius_l3_km: float = NetworkConfig.radius_l3_km
    max_l3_distance_km: float | None = NetworkConfig.max_l3_distance_km
    min_l3_spacing_km: float = NetworkConfig.min_l3_spacing_km
    min_coverage_l2_share: float = NetworkConfig.min_coverage_l2_share
    min_coverage_l3_share: float = NetworkConfig.min_coverage_l3_share
    coverage_weight: str = NetworkConfig.coverage_weight   # ev | population | ev_need (docs/equity.md)
    equity_min_coverage_l2_share: float = NetworkConfig.equity_min_coverage_l2_share
    equity_min_coverage_l3_share: float = NetworkConfig.equity_min_coverage_l3_share
    home_charger_public_need_ratio: float = NetworkConfig.home_charger_public_need_ratio
    min_ports_per_100_ev: float = NetworkConfig.min_ports_per_100_ev
    max_upgrades_per_phase: int = NetworkConfig.max_upgrades_per_phase
    candidate_thinning_km: float | None = NetworkConfig.candidate_thinning_km
    cost_scenario: str = "base"          # base | high_l3_cost | low_hardware_cost
    solver: str = NetworkConfig.solver
    mip_gap: float = NetworkConfig.mip_gap
    time_limit_seconds: float = NetworkConfig.time_limit_seconds
    diagnosis_time_limit_seconds: float = NetworkConfig.diagnosis_time_limit_seconds

    _ranges = validation.range_validator(NETWORK_PLAN_RANGES)

    def network_config(self, **overrides) -> NetworkConfig:
        values = self.model_dump()
        scenario = values.pop("cost_scenario")
        values.update(overrides)
        return with_cost_scenario(NetworkConfig(**values), scenario)


class SensitivityConfig(NetworkPlanConfig):
    """Per-partition solves stop at a 0.5 % gap; 120 s each is what closes every KW partition to 1 % or
    proves it infeasible (at 60 s, 2 M CAD with a 90 % L3 target ends at 1.1 %; docs/network.md).
    Infeasible partitions end in seconds, so a backfill of the 12 takes a few minutes."""

    mip_gap: float = 0.005
    time_limit_seconds: float = 120.0
    diagnosis_time_limit_seconds: float = 10.0


def _read_inputs(warehouse: DuckDBResource, config: NetworkConfig, log=None) -> tuple[pd.DataFrame, ...]:
    """Stations, candidates, demand points and coverage pairs. The demand points carry `income_band` and
    `ev_need` when core.area_equity exists (empty when the region has no [households]: no bands, and
    ev_need = ev_count, which `log` is warned about); without that table they carry neither, and ev_need
    weighting or floors fail naming it."""
    with warehouse.get_connection() as con:
        stations, candidates, demand, pairs = (read_table(con, table) for table in INPUT_TABLES)
        equity = read_table(con, EQUITY_TABLE) if table_exists(con, EQUITY_TABLE) else None
    if equity is not None:
        demand = with_equity(demand, equity, config.home_charger_public_need_ratio)
        if log is not None and config.coverage_weight == "ev_need" and equity.empty:
            log.warning("coverage_weight ev_need: the region has no [households] section, so every EV counts the "
                        "same (ev_need = ev_count)")
    return stations, candidates, demand, pairs


def summary_frame(summary: dict) -> pd.DataFrame:
    """One typed row: numeric columns as floats (NaN when absent), text as strings, flags as bools."""
    frame = pd.DataFrame([summary])
    for column in frame.columns:
        if column in NUMERIC_SUMMARY:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        elif column == "warm_started":
            frame[column] = frame[column].astype(bool)
        elif column.startswith(("coverage_", "underserved_")):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
        else:
            frame[column] = frame[column].astype("string")
    return frame


def _all_fields(summary: dict) -> MetadataValue:
    """Every summary field (rounded) except the run configuration, for reference below the key figures."""
    return key_figures({k: v for k, v in summary.items() if k != "config_json"})


def _map_context(warehouse: DuckDBResource):
    """Area polygons with EV counts and the boundary, when the warehouse has them (None otherwise)."""
    import geopandas as gpd
    import shapely

    with warehouse.get_connection() as con:
        if not all(table_exists(con, t) for t in ("raw.areas", "core.area_totals")):
            return None, None
        polygons = read_table(con, "raw.areas")[["area_id", "geometry_wkt"]]
        totals = read_table(con, "core.area_totals")[["area_id", "area_km2", "ev_count_inside"]]
        boundary = (shapely.from_wkt(read_table(con, "raw.region_boundary")["geometry_wkt"].iloc[0])
                    if table_exists(con, "raw.region_boundary") else None)
    joined = polygons.merge(totals, on="area_id", how="left").rename(columns={"ev_count_inside": "ev_count"})
    joined["ev_count"] = joined["ev_count"].fillna(0.0)
    areas = gpd.GeoDataFrame(joined.drop(columns="geometry_wkt"),
                             geometry=shapely.from_wkt(joined["geometry_wkt"].to_numpy()), crs="EPSG:4326")
    return areas, boundary


def _rounded(name: str, value) -> MetadataValue | str:
    """A summary figure rounded by its unit (shares in %), `n/a` when missing."""
    shown = readable_value(name, None if value is None else float(value))
    return "n/a" if shown is None else MetadataValue.float(float(shown))


def _metadata(result: NetworkPlanResult, extra: dict) -> dict:
    s = result.summary
    meta = {
        "status": s["status"],
        "summary": key_figures(plan_key_figures(s)),
        "all_fields": _all_fields(s),
        "objective": _rounded("objective", s["objective"]),
        "gap_share": _rounded("gap_share", s["gap"]),   # percent
        "solve_seconds": _rounded("solve_seconds", s["solve_seconds"]),
        "build_seconds": _rounded("build_seconds", s["build_seconds"]),
        "dagster/row_count": len(result.plan),
    }
    if s.get("diagnosis"):
        meta["diagnosis"] = MetadataValue.text(s["diagnosis"])
    if result.feasible:
        changes = result.plan[result.plan["action"] != "keep"]
        by_phase = (changes.groupby(["phase", "action"]).agg(sites=("site_id", "size"), capex_cad=("capex_cad", "sum"))
                    .reset_index())
        meta["actions"] = summary_table(by_phase, {"phase": "plan phase (1 = first)",
                                                   "action": "what happens to the site",
                                                   "sites": "number of sites", "capex_cad": "capital cost, CAD"}) \
            if len(changes) else "no changes"
    meta.update(extra)
    return meta


@warehouse_asset(
    group_name=NETWORK, kinds={"cvxpy"}, deps=INPUT_ASSETS,
    description="Phased network enhancement plan (plan.network_plan, plan.network_plan_summary) and its HTML map.")
def network_plan(context: AssetExecutionContext, config: NetworkPlanConfig, warehouse: DuckDBResource,
                 reports: ReportsResource) -> MaterializeResult:
    cfg = config.network_config()
    stations, candidates, demand, pairs = _read_inputs(warehouse, cfg, context.log)
    result = plan_network(stations, candidates, demand, pairs, cfg)
    context.log.info(f"network plan: {result.status}; {result.summary.get('diagnosis') or ''}")
    plan = result.plan if result.feasible else empty_plan_frame()
    with warehouse.get_connection() as con:
        replace_table(con, "plan.network_plan", plan)
        replace_table(con, "plan.network_plan_summary", summary_frame(result.summary))
    extra = write_plan_equity(warehouse, result, demand, cfg)   # plan.network_plan_equity, by income band
    if result.feasible:
        areas, boundary = _map_context(warehouse)
        extra["plan_map"] = picture(static_plan_map(
            result.plan, demand, pairs, cfg.radius_l2_km, cfg.radius_l3_km, areas=areas, boundary=boundary,
            path=reports.path_for("network_plan_map.png")))
        path = plan_map(result.plan, demand, reports.path_for("network_plan_map.html"), cfg.radius_l2_km,
                        cfg.radius_l3_km, title="Network enhancement plan")
        extra["interactive_map"] = MetadataValue.path(str(path))
    return MaterializeResult(metadata=_metadata(result, extra))


def _config_from_summary(summary: pd.Series) -> NetworkConfig:
    values = json.loads(summary["config_json"])
    for key in ("phase_budget_cad", "upgradeable_levels", "not_upgradeable_site_ids", "relax"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    return NetworkConfig(**values)


@warehouse_check(
    asset=network_plan, additional_deps=INPUT_ASSETS,
    description="Recompute every constraint and reported figure of the plan from its decisions alone.")
def network_plan_verified(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        plan = read_table(con, "plan.network_plan")
        summary = read_table(con, "plan.network_plan_summary").iloc[0]
    cfg = _config_from_summary(summary)
    stations, candidates, demand, pairs = _read_inputs(warehouse, cfg)
    if plan.empty:
        return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN,
                                metadata={"status": str(summary["status"]),
                                          "note": f"no plan to verify: {summary.get('diagnosis')}"})
    record = {k: (None if pd.isna(v) else v) for k, v in summary.items()}
    report = verify_plan(plan, record, stations, considered_candidates(candidates, pairs, demand, cfg), demand,
                         pairs, cfg)
    equity_problems = verify_plan_equity(warehouse, report, demand, cfg)
    return AssetCheckResult(passed=report.ok and not equity_problems, metadata={
        "violations": len(report.violations) + len(equity_problems),
        "equity_table": MetadataValue.md("\n".join(f"- {p}" for p in equity_problems) or "recomputed, no mismatch"),
        "report": MetadataValue.md(report.as_markdown()),
        "recomputed_objective": MetadataValue.float(float(report.figures.get("objective", float("nan")))),
    })


@warehouse_asset(group_name=NETWORK, kinds={"cvxpy"}, partitions_def=sensitivity_partitions,
                 deps=INPUT_ASSETS,
                 description="One network plan per (budget, L3 coverage target); rows in plan.network_plan_sensitivity "
                             "(summary) and plan.network_plan_sensitivity_actions (changed sites), keyed by partition.")
def network_plan_sensitivity(context: AssetExecutionContext, config: SensitivityConfig, warehouse: DuckDBResource
                             ) -> MaterializeResult:
    keys = context.partition_key.keys_by_dimension
    budget, target = float(keys["budget"]), float(keys["coverage_target"])
    cfg = config.network_config(budget_cad=budget, min_coverage_l3_share=target)
    stations, candidates, demand, pairs = _read_inputs(warehouse, cfg, context.log)
    try:
        result = plan_network(stations, candidates, demand, pairs, cfg)
        summary = summary_frame(result.summary)
    except Exception as exc:  # a partition records its failure instead of failing the backfill
        context.log.error(f"partition {context.partition_key}: {exc!r}")
        summary = summary_frame({"status": "error", "diagnosis": repr(exc), "budget_cad": budget,
                                 "min_coverage_l3_share": target})
        result = None
    partition = {"budget_key": keys["budget"], "coverage_target_key": keys["coverage_target"]}
    actions = (result.plan[result.plan["action"] != "keep"] if result is not None and result.feasible
               else empty_plan_frame())
    with warehouse.get_connection() as con:
        for table, template in (("plan.network_plan_sensitivity", summary_frame(_TEMPLATE_SUMMARY)),
                                ("plan.network_plan_sensitivity_actions", empty_plan_frame())):
            if not table_exists(con, table):   # fix the schema with typed columns on first use
                typed = template.iloc[0:0].assign(budget_key=pd.Series(dtype="string"),
                                                  coverage_target_key=pd.Series(dtype="string"))
                replace_table(con, table, typed[["budget_key", "coverage_target_key"]
                                                + [c for c in typed.columns if not c.endswith("_key")]])
        replace_partition(con, "plan.network_plan_sensitivity", summary, partition)
        replace_partition(con, "plan.network_plan_sensitivity_actions", actions, partition)
    meta = {"status": str(summary["status"].iloc[0]), "budget_cad": budget, "min_coverage_l3_share": target,
            "summary": key_figures(plan_key_figures(summary.iloc[0].to_dict()))}
    if result is not None and result.summary.get("diagnosis"):
        meta["diagnosis"] = MetadataValue.text(result.summary["diagnosis"])
    return MaterializeResult(metadata=meta)


@warehouse_asset(group_name=NETWORK, kinds={"matplotlib"}, deps=[network_plan_sensitivity],
                 description="Budget-coverage frontier over every materialized sensitivity partition (PNG).")
def sensitivity_frontier(warehouse: DuckDBResource, reports: ReportsResource) -> MaterializeResult:
    with warehouse.get_connection() as con:
        rows = (read_table(con, "plan.network_plan_sensitivity")
                if table_exists(con, "plan.network_plan_sensitivity") else pd.DataFrame())
    if rows.empty:
        frame = pd.DataFrame(columns=["budget_cad", "min_coverage_l3_share", "coverage_l3_ev_after", "status"])
    else:
        frame = rows.copy()
        frame.loc[~frame["status"].isin(["optimal", "time_limit"]), "coverage_l3_ev_after"] = float("nan")
    markdown = frontier_plot(frame, reports.path_for("network_sensitivity_frontier.png"))
    shown = {"budget_cad": "budget_cad", "min_coverage_l3_share": "l3_target_share", "status": "status",
             "capex_total_cad": "capex_total_cad", "coverage_l3_ev_after": "ev_within_l3_radius_after_share",
             "coverage_l2_ev_after": "ev_within_l2_radius_after_share", "gap": "mip_gap_share",
             "solve_seconds": "solve_seconds", "min_budget_cad": "min_budget_cad"}
    table = (frame[[c for c in shown if c in frame]].sort_values(["budget_cad", "min_coverage_l3_share"])
             .rename(columns=shown) if len(frame) else frame)
    return MaterializeResult(metadata={
        "partitions": len(frame),
        "infeasible": int((frame["status"] == "infeasible").sum()) if len(frame) else 0,
        "frontier": picture(markdown),
        "table": summary_table(table) if len(table) else "no partitions yet",
    })


_TEMPLATE_SUMMARY = _template_summary()

network_sensitivity_job = define_asset_job(
    name="network_sensitivity_job",
    selection=[network_plan_sensitivity],
    description="Sensitivity sweep of the network plan over budget levels x L3 coverage targets.",
)


@weekly_sensitivity_schedule(network_sensitivity_job, "Mondays 05:00 Toronto time: one run per budget x "
                                                      "coverage-target partition of the network sweep.")
def weekly_network_sensitivity_schedule(context: ScheduleEvaluationContext):
    week = week_of(context)
    for key in sensitivity_partitions.get_partition_keys():
        yield RunRequest(run_key=f"{week}:{key}", partition_key=key)


jobs = [network_sensitivity_job]
schedules = [weekly_network_sensitivity_schedule]
