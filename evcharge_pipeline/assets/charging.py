"""Smart-charging assets: the site's session log and the day-by-day charging schedule.

``charging_schedule`` is partitioned by local day. The days are dynamic partitions that
``charging_sessions`` sets to the log's days (first to last local arrival day), so the UI offers only
days that have data. A run plans its days in date order (a backfill is a single run), so each day
continues from what the earlier days delivered to cars still plugged in at midnight and from the
month's already-billed peak. The asset's check ``charging_schedule_status`` lists every method-day
whose solve ended without an optimal schedule and the fallback kept.
"""

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetSelection,
    BackfillPolicy,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    RunRequest,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.assets.common import picture, summary_table, warehouse_asset
from evcharge_pipeline.charging.model import FALLBACK_RETRY, NO_SESSIONS
from evcharge_pipeline.charging.planner import ALL_METHODS, local_days, plan_day
from evcharge_pipeline.charging.reports import load_profile_plot
from evcharge_pipeline.charging.sample import SAMPLE_TIMEZONE
from evcharge_pipeline.charging.section import read_charging_section
from evcharge_pipeline.charging.sessions import SESSION_COLUMNS
from evcharge_pipeline.resources import RegionResource, ReportsResource
from evcharge_pipeline.sources.common import sha256_of, with_provenance
from evcharge_pipeline.warehouse import read_table, replace_partition, replace_table, table_exists

CHARGING = "charging"
SESSIONS_TABLE = "raw.charging_sessions"
SKIPS_TABLE = "raw.charging_session_skips"
SCHEDULE_TABLE = "plan.charging_schedule"
METRICS_TABLE = "plan.charging_schedule_metrics"

# Days are local to the site: one partition per day of the session log, set by charging_sessions.
CHARGING_DAYS = "charging_days"
charging_partitions = DynamicPartitionsDefinition(name=CHARGING_DAYS)
STATUS_CHECK = "charging_schedule_status"
GOOD_STATUSES = ("optimal", "ok", NO_SESSIONS)


def log_days(sessions: pd.DataFrame, timezone: str) -> list[str]:
    """Partition keys of a log: every local day from the first to the last arrival."""
    return [day.strftime("%Y-%m-%d") for day in local_days(sessions, timezone)]


def sync_day_partitions(instance, keys: list[str]) -> dict[str, int]:
    """Make the dynamic day partitions exactly ``keys`` (in date order), keeping those that already
    match so their materializations stay; a log that now starts earlier re-adds every day in order."""
    existing = list(instance.get_dynamic_partitions(CHARGING_DAYS))
    wanted = set(keys)
    stale = [k for k in existing if k not in wanted]
    for key in stale:
        instance.delete_dynamic_partition(CHARGING_DAYS, key)
    kept = [k for k in existing if k in wanted]
    if kept and keys[:len(kept)] != kept:  # new days before old ones: rebuild the order
        for key in kept:
            instance.delete_dynamic_partition(CHARGING_DAYS, key)
        kept = []
    new = keys[len(kept):]
    if new:
        instance.add_dynamic_partitions(CHARGING_DAYS, new)
    return {"added": len(new), "removed": len(stale)}


def _sessions_for_table(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["arrival_utc"] = out.pop("arrival").dt.tz_convert("UTC").dt.tz_localize(None)
    out["departure_utc"] = out.pop("departure").dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def _sessions_from_table(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["arrival"] = pd.to_datetime(out["arrival_utc"]).dt.tz_localize("UTC")
    out["departure"] = pd.to_datetime(out["departure_utc"]).dt.tz_localize("UTC")
    for col in ("session_id", "station_id", "site_id"):
        out[col] = out[col].astype(str)
    return out[SESSION_COLUMNS]


@warehouse_asset(group_name=CHARGING,
                 description="Charging sessions of the site from the bundle's [charging_sessions] log "
                             "(raw.charging_sessions; skipped rows with file, row, field and reason in "
                             "raw.charging_session_skips).")
def charging_sessions(context: AssetExecutionContext, region: RegionResource,
                      warehouse: DuckDBResource) -> MaterializeResult:
    bundle = region.bundle()
    section = read_charging_section(bundle)
    if section is None:
        context.log.info("the region bundle has no [charging_sessions] section; writing an empty session table")
        empty = pd.DataFrame({c: pd.Series(dtype="object") for c in SESSION_COLUMNS
                              if c not in ("arrival", "departure")})
        empty["arrival_utc"] = pd.Series(dtype="datetime64[ns]")
        empty["departure_utc"] = pd.Series(dtype="datetime64[ns]")
        with warehouse.get_connection() as con:
            replace_table(con, SESSIONS_TABLE, with_provenance(empty, "", ""))
        sync_day_partitions(context.instance, [])
        return MaterializeResult(metadata={"dagster/row_count": 0, "note": "no [charging_sessions] section"})
    log = section.load()
    digest = sha256_of(section.path)
    sessions = with_provenance(_sessions_for_table(log.sessions), str(section.path), digest)
    skipped = with_provenance(log.skipped.astype({"row": "int64"}), str(section.path), digest)
    with warehouse.get_connection() as con:
        replace_table(con, SESSIONS_TABLE, sessions)
        replace_table(con, SKIPS_TABLE, skipped)
    if len(log.skipped):
        context.log.warning(f"{len(log.skipped)} session row(s) skipped: {log.skip_counts}")
    first = log.sessions["arrival"].min()
    last = log.sessions["arrival"].max()
    days = log_days(log.sessions, section.timezone)
    changed = sync_day_partitions(context.instance, days)
    return MaterializeResult(metadata={
        "day_partitions": len(days),
        "day_partitions_added": changed["added"],
        "day_partitions_removed": changed["removed"],
        "table": SESSIONS_TABLE,
        "dagster/row_count": len(sessions),
        "source": str(section.path),
        "sha256": digest,
        "format": section.format,
        "rows_skipped": len(log.skipped),
        "skipped_by_reason": MetadataValue.json(log.skip_counts),
        "first_arrival": "" if pd.isna(first) else first.tz_convert(section.timezone).isoformat(),
        "last_arrival": "" if pd.isna(last) else last.tz_convert(section.timezone).isoformat(),
        "energy_requested_kwh": float(log.sessions["energy_kwh"].sum()),
    })


def _history(con, method: str, sessions: pd.DataFrame, day_start_utc: pd.Timestamp, month_first: str,
             period_hours: float, schedule_date: str) -> tuple[pd.Series, float]:
    """Energy delivered before the day (by session) and the month's committed peak, from earlier partitions."""
    if not table_exists(con, SCHEDULE_TABLE):
        return pd.Series(dtype=float), 0.0
    start = day_start_utc.tz_localize(None)
    ids = sessions.loc[(sessions["arrival"] < day_start_utc) & (sessions["departure"] > day_start_utc), "session_id"]
    delivered = con.execute(
        f"SELECT session_id, sum(power_kw) * ? AS kwh FROM {SCHEDULE_TABLE} "
        "WHERE method = ? AND period_start_utc < ? AND schedule_date < ? GROUP BY session_id",
        [period_hours, method, start, schedule_date],
    ).df()
    delivered = delivered[delivered["session_id"].isin(set(ids))]
    peak = 0.0
    if table_exists(con, METRICS_TABLE):
        row = con.execute(
            f"SELECT max(peak_kw) FROM {METRICS_TABLE} WHERE method = ? AND schedule_date < ? AND schedule_date >= ?",
            [method, schedule_date, month_first],
        ).fetchone()
        peak = float(row[0]) if row and row[0] is not None else 0.0
    return delivered.set_index("session_id")["kwh"], peak


@warehouse_asset(
    group_name=CHARGING,
    deps=[charging_sessions],
    partitions_def=charging_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    check_specs=[AssetCheckSpec(STATUS_CHECK, asset="charging_schedule",
                                description="Every method-day has an optimal schedule (or none to plan); lists the "
                                            "days whose solve ended otherwise and the fallback schedule kept.")],
    description="Per-step charging power for every session of the day with the MILP (offline and online) and the "
                "uncontrolled/FCFS/EDF/LLF baselines (plan.charging_schedule), and per-day metrics for every method "
                "(plan.charging_schedule_metrics).",
)
def charging_schedule(context: AssetExecutionContext, region: RegionResource, warehouse: DuckDBResource,
                      reports: ReportsResource) -> MaterializeResult:
    section = read_charging_section(region.bundle())
    keys = sorted(context.partition_keys)
    if section is None:
        context.log.info("no [charging_sessions] section in the region bundle: nothing to schedule")
        return MaterializeResult(metadata={"note": "no [charging_sessions] section", "days": len(keys)},
                                 check_results=[status_check_result(pd.DataFrame())])
    site, tariff, model = section.site(), section.tariff(), section.model()
    with warehouse.get_connection() as con:
        sessions = _sessions_from_table(read_table(con, SESSIONS_TABLE))
    last_rows = last_metrics = None
    missing_history = 0
    all_metrics = []
    for key in keys:  # days in order: each continues from the previous one
        day = pd.Timestamp(key).tz_localize(section.timezone)
        day_utc = day.tz_convert("UTC")
        month_first = day.replace(day=1).strftime("%Y-%m-%d")
        frames, metrics = [], []
        for method in ALL_METHODS:
            with warehouse.get_connection() as con:
                delivered, floor = _history(con, method, sessions, day_utc, month_first, site.period_hours, key)
            carried = sessions[(sessions["arrival"] < day_utc) & (sessions["departure"] > day_utc)]
            if method == ALL_METHODS[0]:
                missing_history += int((~carried["session_id"].isin(delivered.index)).sum())
            res = plan_day(sessions, day, method, site, tariff, model, delivered, floor)
            frames.append(res.committed)
            arriving = sessions[sessions["arrival"].dt.tz_convert(section.timezone).dt.normalize() == day]
            planned = res.planned.groupby("session_id")["power_kw"].sum() * site.period_hours
            got = arriving["session_id"].map(planned).fillna(0.0)
            metrics.append({
                "method": method, "status": res.status, "reason": res.reason, "sessions": res.sessions,
                "energy_requested_kwh": res.energy_requested_kwh, "energy_delivered_kwh": res.energy_planned_kwh,
                "energy_delivered_share": (res.energy_planned_kwh / res.energy_requested_kwh
                                           if res.energy_requested_kwh > 0 else 1.0),
                "sessions_fully_served": int((got >= arriving["energy_kwh"] - 1e-3).sum()),
                "peak_kw": res.peak_kw, "site_limit_kw": site.site_limit_kw, "energy_cost": res.energy_cost,
                "demand_charge": res.demand_charge, "degradation_cost": res.degradation_cost,
                "solve_seconds": res.solve_seconds + res.build_seconds, "fallback": res.fallback,
            })
            if res.status not in GOOD_STATUSES or res.fallback:
                context.log.warning(f"{key} {method}: status {res.status}, fallback {res.fallback or 'none'}: "
                                    f"{res.reason}")
        rows = pd.concat(frames, ignore_index=True)
        rows["period_start_utc"] = pd.DatetimeIndex(rows["period_start"]).tz_convert("UTC").tz_localize(None)
        rows["energy_kwh"] = rows["power_kw"] * site.period_hours
        table_rows = rows[["method", "session_id", "period_start_utc", "power_kw", "energy_kwh"]]
        metric_frame = pd.DataFrame(metrics)
        with warehouse.get_connection() as con:
            replace_partition(con, SCHEDULE_TABLE, table_rows, {"schedule_date": key})
            replace_partition(con, METRICS_TABLE, metric_frame, {"schedule_date": key})
        last_rows, last_metrics, last_key = rows, metric_frame, key
        all_metrics.append(metric_frame.assign(schedule_date=key))
        context.log.info(f"{key}: planned {int(metric_frame['sessions'].iloc[0])} arriving sessions with "
                         f"{len(ALL_METHODS)} methods")
    plot_path = reports.path_for(f"charging_schedule_{last_key}.png")
    plot = load_profile_plot(last_key, section, last_rows, tariff, path=plot_path)
    shown = last_metrics[["method", "status", "energy_delivered_share", "sessions_fully_served", "peak_kw",
                          "energy_cost", "demand_charge", "degradation_cost", "solve_seconds"]]
    milp = last_metrics[last_metrics["method"] == "milp_offline"].iloc[0]
    return MaterializeResult(metadata={
        "days": len(keys),
        "last_day": last_key,
        "tables": f"{SCHEDULE_TABLE}, {METRICS_TABLE}",
        "metrics": summary_table(shown.rename(columns={"energy_cost": "energy_cost_cad",
                                                       "demand_charge": "demand_charge_cad",
                                                       "degradation_cost": "degradation_cost_cad"}),
                                 {"energy_delivered_share": "energy delivered / requested, %",
                                  "peak_kw": "site peak including base load, kW"}),
        "load_profile": picture(plot),
        "load_profile_plot": MetadataValue.path(str(plot_path)),
        "milp_peak_kw": float(milp["peak_kw"]),
        "site_limit_kw": float(site.site_limit_kw),
        "milp_energy_delivered_share": float(milp["energy_delivered_share"]),
        "carried_sessions_without_history": missing_history,
    }, check_results=[status_check_result(pd.concat(all_metrics, ignore_index=True))])


def status_check_result(metrics: pd.DataFrame) -> AssetCheckResult:
    """Passes when every method-day is optimal / ok / no_sessions without a fallback; otherwise a warning
    naming each such day, its status and the fallback schedule that was written instead."""
    if metrics.empty:
        return AssetCheckResult(check_name=STATUS_CHECK, passed=True, description="no days planned")
    fallback = metrics.get("fallback", pd.Series("", index=metrics.index)).fillna("")
    # a solve repeated without presolve that then reached optimality is noted, not a failure
    odd = metrics[~metrics["status"].isin(GOOD_STATUSES) | ~fallback.isin(["", FALLBACK_RETRY])]
    retried = int((fallback == FALLBACK_RETRY).sum())
    days = int(metrics["schedule_date"].nunique())
    listed = [f"{r.schedule_date} {r.method}: {r.status}, fallback {r.fallback or 'none'}"
              for r in odd.assign(fallback=fallback[odd.index]).itertuples()]
    empty_days = int(metrics.loc[metrics["status"] == NO_SESSIONS, "schedule_date"].nunique())
    description = (f"{days} day(s) planned, {empty_days} without sessions; "
                   + (f"{len(odd)} method-day(s) not optimal or with a fallback: " + "; ".join(listed[:20])
                      if len(odd) else "every method-day optimal")
                   + (f"; {retried} method-day(s) optimal after a re-solve without presolve" if retried else ""))
    return AssetCheckResult(
        check_name=STATUS_CHECK, passed=bool(odd.empty), severity=AssetCheckSeverity.WARN,
        description=description[:2000],
        metadata={"days": days, "days_without_sessions": empty_days, "method_days_with_fallback": len(odd),
                  "method_days_resolved_without_presolve": retried,
                  "fallbacks": MetadataValue.json(sorted(set(fallback[fallback != ""])))},
    )


charging_schedule_job = define_asset_job(
    name="charging_schedule_job",
    selection=AssetSelection.assets(charging_schedule),
    description="Plan the charging schedule of one day (all methods).",
)


@schedule(job=charging_schedule_job, cron_schedule="0 18 * * *", execution_timezone=SAMPLE_TIMEZONE,
          description="Every evening at 18:00 site time, plan tomorrow's charging.")
def charging_next_day_schedule(context: ScheduleEvaluationContext):
    now = pd.Timestamp(context.scheduled_execution_time).tz_convert(SAMPLE_TIMEZONE)
    tomorrow = (now.normalize() + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    days = list(context.instance.get_dynamic_partitions(CHARGING_DAYS))
    if tomorrow not in days:
        last = days[-1] if days else "none (materialize charging_sessions first)"
        return SkipReason(f"the session log has no day {tomorrow}; its last day is {last}")
    return RunRequest(run_key=f"charging_schedule_{tomorrow}", partition_key=tomorrow)


jobs = [charging_schedule_job]
schedules = [charging_next_day_schedule]
