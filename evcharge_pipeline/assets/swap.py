"""Battery-swap network assets: raw swap inputs, the inventory/port/hub plan with its simulation check,
and partitioned sensitivity runs (swap frequency, charging time, service level, fleet size)."""

import numpy as np
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    RunRequest,
    ScheduleEvaluationContext,
    StaticPartitionsDefinition,
    define_asset_job,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from dagster_duckdb import DuckDBResource

from evcharge_pipeline import validation
from evcharge_pipeline.assets.common import (
    key_figures,
    markdown_table,
    picture,
    summary_table,
    warehouse_asset,
    warehouse_check,
)
from evcharge_pipeline.resources import RegionResource, ReportsResource
from evcharge_pipeline.schedules import week_of, weekly_sensitivity_schedule
from evcharge_pipeline.solving import has_solution
from evcharge_pipeline.sources.common import with_provenance
from evcharge_pipeline.swap.inputs import SwapInputs, load_swap_inputs
from evcharge_pipeline.swap.reports import hourly_plot, service_curve_plot
from evcharge_pipeline.swap.simulation import SimulationConfig
from evcharge_pipeline.swap.study import SENSITIVITY_KEYS, SwapStudy, run_study, sensitivity_rows
from evcharge_pipeline.warehouse import read_table, replace_partition, replace_table

GROUP = "swap"
NO_SECTION = "no_swap_section"

swap_sensitivity_partitions = StaticPartitionsDefinition(SENSITIVITY_KEYS)


def _load(region: RegionResource) -> SwapInputs | None:
    bundle = region.bundle()
    section = bundle.section("swap")
    return None if section is None else load_swap_inputs(bundle.root, section)


SIMULATION_RANGES = {
    "sim_days": validation.Range(2.0, 3650.0, integer=True),
    "sim_warmup_days": validation.COUNT,
    "sim_replications": validation.Range(2.0, 1000.0, integer=True),   # a confidence interval needs two
    "sim_confidence": validation.Range(0.0, 1.0, exclusive_minimum=True, exclusive_maximum=True),
    "seed": validation.SEED,
}


class SwapPlanConfig(Config):
    sim_days: int = 60  # simulated days per replication, including warm-up
    sim_warmup_days: int = 3
    sim_replications: int = 8
    sim_confidence: float = 0.95
    seed: int = 2024
    use_log: bool = True  # resample days from the swap log when the region has one

    _ranges = validation.range_validator(SIMULATION_RANGES, validation.warmup_shorter_than_run)


class SwapSensitivityConfig(Config):
    sim_days: int = 20
    sim_warmup_days: int = 2
    sim_replications: int = 4
    seed: int = 2024

    _ranges = validation.range_validator(SIMULATION_RANGES, validation.warmup_shorter_than_run)


@warehouse_asset(group_name=GROUP,
                 description="Swap stations, candidate hubs and the swap log from the region's [swap] section "
                             "(raw.swap_stations, raw.swap_hubs, raw.swap_log).")
def swap_network_inputs(context: AssetExecutionContext, region: RegionResource,
                        warehouse: DuckDBResource) -> MaterializeResult:
    inputs = _load(region)
    if inputs is None:
        context.log.info("region has no [swap] section; swap assets have nothing to do")
        return MaterializeResult(metadata={"status": NO_SECTION})
    origin = inputs.provenance
    frames = {"raw.swap_stations": (inputs.stations, origin["stations"]),
              "raw.swap_hubs": (inputs.hubs, origin["hubs"])}
    if inputs.log is not None:
        frames["raw.swap_log"] = (inputs.log, origin["log"])
    else:  # no log in this region: an empty table, not a stale one from an earlier region
        empty = pd.DataFrame({"timestamp": pd.Series([], dtype="datetime64[ns]"),
                              "station_id": pd.Series([], dtype="string"), "vehicle_id": pd.Series([], dtype="string")})
        frames["raw.swap_log"] = (empty, {"source": "", "sha256": ""})
    counts = {}
    with warehouse.get_connection() as con:
        for table, (frame, prov) in frames.items():
            stamped = with_provenance(frame, prov["source"], prov["sha256"])
            stamped = stamped.astype({"source": "string", "sha256": "string"})
            counts[table] = replace_table(con, table, stamped)
    return MaterializeResult(metadata={
        "status": "loaded",
        **{f"rows {table}": rows for table, rows in counts.items()},
        "vehicles": int(inputs.fleet.vehicles),
        "daily_swaps": inputs.fleet.daily_swaps,
        "log_days": int(inputs.log_daily_swaps.size) if inputs.log_daily_swaps is not None else 0,
        "pipeline_distribution": "negative_binomial" if inputs.dispersion.overdispersed else "poisson",
        "log_dispersion_index": float(inputs.dispersion.dispersion_index),
        "stations": markdown_table(inputs.stations),
        "hubs": markdown_table(inputs.hubs),
    })


def _plots(study: SwapStudy, reports: ReportsResource) -> dict:
    out = {}
    curve = service_curve_plot(study, reports.path_for("swap_service_curve.png"))
    if curve is not None:
        out["service_curve_plot"] = picture(curve)
    hourly = hourly_plot(study, reports.path_for("swap_hourly.png"))
    if hourly is not None:
        out["hourly_plot"] = picture(hourly)
    return out


@warehouse_asset(
    group_name=GROUP, deps=[swap_network_inputs],
    description="Hubs to open, station-to-hub assignment, spare batteries per station and charging ports per hub "
                "from the stochastic swap model and MILP, simulated (plan.swap_* tables).")
def swap_inventory_plan(context: AssetExecutionContext, config: SwapPlanConfig, region: RegionResource,
                        warehouse: DuckDBResource, reports: ReportsResource) -> MaterializeResult:
    inputs = _load(region)
    if inputs is None:
        with warehouse.get_connection() as con:
            replace_table(con, "plan.swap_summary",
                          pd.DataFrame([{"status": NO_SECTION, "reason": "region has no [swap] section"}]))
        return MaterializeResult(metadata={"status": NO_SECTION})
    sim = SimulationConfig(days=config.sim_days, warmup_days=config.sim_warmup_days,
                           replications=config.sim_replications, confidence=config.sim_confidence, seed=config.seed)
    study = run_study(inputs, sim=sim, use_log=config.use_log)
    summary = study.summary
    status = str(summary["status"].iloc[0])
    if not has_solution(status):
        context.log.warning(f"swap plan is {status}: {summary['reason'].iloc[0]}")
    with warehouse.get_connection() as con:
        replace_table(con, "plan.swap_summary", summary)
        replace_table(con, "plan.swap_stations", study.stations)
        replace_table(con, "plan.swap_hubs", study.hubs)
        if not study.service_curve.empty:
            replace_table(con, "plan.swap_service_curve", study.service_curve)
        if not study.hourly.empty:
            replace_table(con, "plan.swap_hourly", study.hourly)
        if not study.comparison.empty:
            replace_table(con, "plan.swap_method_comparison", study.comparison)
    row = summary.iloc[0]
    breakdown = {k: float(row[k]) for k in ("hub_fixed_cost_cad", "port_cost_cad", "battery_cost_cad",
                                            "stockout_cost_cad", "backorder_cost_cad", "transport_cost_cad",
                                            "total_cost_cad") if k in row and pd.notna(row[k])}
    metadata = {
        "status": status,
        "reason": str(row.get("reason") or ""),
        **{k: (int(row[k]) if isinstance(row[k], (int, np.integer)) else float(row[k]))
           for k in ("hubs_open", "charging_ports", "spare_batteries", "total_batteries", "pooled_spare_batteries",
                     "analytic_fill_rate", "sim_fill_rate", "sim_fill_rate_ci_low", "sim_fill_rate_ci_high",
                     "cost_optimal_service_level", "solve_seconds", "sim_seconds")
           if k in row and pd.notna(row[k])},
        **breakdown,
        "pipeline_distribution": str(row["pipeline_distribution"]),
        "summary": key_figures({"status": status, **{k: row[k] for k in (
            "hubs_open", "charging_ports", "spare_batteries", "total_batteries", "cost_optimal_service_level",
            "solve_seconds", "sim_seconds") if k in row}, **{
            "analytic_fill_rate_share": row.get("analytic_fill_rate"), "sim_fill_rate_share": row.get("sim_fill_rate"),
            "sim_fill_rate_ci_low_share": row.get("sim_fill_rate_ci_low")}, **breakdown}),
        "stations": summary_table(study.stations),
        "hubs": summary_table(study.hubs),
    }
    if not study.comparison.empty:
        metadata["method_comparison"] = summary_table(study.comparison)
    metadata.update(_plots(study, reports))
    return MaterializeResult(metadata=metadata)


@warehouse_check(asset=swap_inventory_plan, blocking=False,
                 description="The simulated fill rate's lower confidence bound reaches the service target.")
def swap_simulated_fill_rate(warehouse: DuckDBResource) -> AssetCheckResult:
    with warehouse.get_connection() as con:
        summary = read_table(con, "plan.swap_summary")
    row = summary.iloc[0]
    status = str(row["status"])
    if status == NO_SECTION:
        return AssetCheckResult(passed=True, description="region has no [swap] section: nothing to check",
                                metadata={"status": status})
    if not has_solution(status) or "sim_fill_rate_ci_low" not in row or pd.isna(row["sim_fill_rate_ci_low"]):
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR,
                                description=f"no simulated plan: {status} ({row.get('reason')})",
                                metadata={"status": status})
    low, target = float(row["sim_fill_rate_ci_low"]), float(row["service_level"])
    return AssetCheckResult(
        passed=bool(low >= target),
        severity=AssetCheckSeverity.ERROR,
        description=f"simulated fill rate lower bound {low:.4f} vs target {target:.4f}",
        metadata={"sim_fill_rate": float(row["sim_fill_rate"]), "sim_fill_rate_ci_low": low,
                  "sim_fill_rate_ci_high": float(row["sim_fill_rate_ci_high"]), "service_level": target,
                  "worst_station_ci_low": float(row["sim_worst_station_fill_rate_ci_low"])},
    )


@warehouse_asset(
    group_name=GROUP, deps=[swap_network_inputs], partitions_def=swap_sensitivity_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    description="The swap plan re-optimised with one of swap frequency, charging time, service level or fleet size "
                "changed; one partition per value (plan.swap_sensitivity, key column `scenario`).")
def swap_sensitivity(context: AssetExecutionContext, config: SwapSensitivityConfig, region: RegionResource,
                     warehouse: DuckDBResource) -> MaterializeResult:
    inputs = _load(region)
    keys = context.partition_keys
    if inputs is None:
        return MaterializeResult(metadata={"status": NO_SECTION, "partitions": len(keys)})
    sim = SimulationConfig(days=config.sim_days, warmup_days=config.sim_warmup_days,
                           replications=config.sim_replications, seed=config.seed)
    summaries = []
    with warehouse.get_connection() as con:
        for key in keys:
            rows = sensitivity_rows(inputs, key, sim)
            replace_partition(con, "plan.swap_sensitivity", rows, {"scenario": key})
            first = rows.iloc[0]
            summaries.append({"scenario": key, "status": first["status"], "total_batteries": first["total_batteries"],
                              "total_charging_ports": first["total_charging_ports"],
                              "total_cost_cad": first["total_cost_cad"],
                              "sim_fill_rate_ci_low": first["sim_fill_rate_ci_low"]})
            context.log.info(f"{key}: {first['status']}, {first['total_batteries']} batteries, "
                             f"{first['total_charging_ports']} ports")
    table = pd.DataFrame(summaries)
    return MaterializeResult(metadata={"table": "plan.swap_sensitivity", "partitions": len(keys),
                                       "scenarios": summary_table(table)})


swap_sensitivity_job = define_asset_job(
    name="swap_sensitivity_job",
    selection=[swap_sensitivity],
    description="Swap-network sensitivity runs; backfill its partitions (one per parameter value).",
)



@weekly_sensitivity_schedule(swap_sensitivity_job, "Mondays 05:00 Toronto time: every swap sensitivity partition "
                                                   "in one run.")
def weekly_swap_sensitivity_schedule(context: ScheduleEvaluationContext):
    keys = swap_sensitivity_partitions.get_partition_keys()
    return RunRequest(
        run_key=f"{week_of(context)}:all",
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
    )


jobs = [swap_sensitivity_job]
schedules = [weekly_swap_sensitivity_schedule]
