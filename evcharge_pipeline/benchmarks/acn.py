"""Smart-charging benchmark on a session log (ACN-Data or any supported format).

Runs every method (offline and online MILP, uncontrolled, FCFS, EDF, LLF) day by day over the whole
log under one transformer limit, prints the metrics beside the LP upper bound on deliverable
energy, and writes ``metrics.csv``, ``schedule.csv`` and ``period_minutes.txt`` to ``--out``.

    python -m evcharge_pipeline.benchmarks.acn --sessions sessions_flat.csv --limit-kw 50 \\
        --max-kw 6.6 --out bench_out
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import pandas as pd

from evcharge_pipeline.charging.instance import SiteConfig, build_instance
from evcharge_pipeline.charging.metrics import CostModel, schedule_metrics
from evcharge_pipeline.charging.model import ChargingModelConfig, max_deliverable_energy
from evcharge_pipeline.charging.planner import ALL_METHODS, local_days, plan_period
from evcharge_pipeline.charging.prices import Tariff, default_tou_prices, load_prices_csv
from evcharge_pipeline.charging.sessions import SessionDataError, load_sessions
from evcharge_pipeline.validation import check_range


def _guess_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith((".json", ".json.gz")):
        return "acn_json"
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        head = fh.readline()
    return "norway_csv" if head.count(";") > head.count(",") else "flat_csv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m evcharge_pipeline.benchmarks.acn",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", required=True, type=Path,
                    help="session log (ACN-Data JSON, flat CSV or Norwegian CSV)")
    ap.add_argument("--format", choices=["acn_json", "flat_csv", "norway_csv"], help="default: from the file")
    ap.add_argument("--timezone", default="America/Los_Angeles", help="site time zone (hours of the tariff, days)")
    ap.add_argument("--limit-kw", type=float, required=True, help="transformer limit on the site load")
    ap.add_argument("--max-kw", type=float, required=True, help="EVSE maximum power")
    ap.add_argument("--prices", type=Path, help="CSV hour (0-23 local), price_per_kwh; default: built-in TOU tariff")
    ap.add_argument("--demand-charge", type=float, default=12.0, help="per kW of monthly peak (default 12)")
    ap.add_argument("--period-minutes", type=int, default=5)
    ap.add_argument("--min-kw", type=float, default=0.0, help="minimum non-zero rate (binaries); default continuous")
    ap.add_argument("--pilot-levels", type=str, default="", help="comma-separated allowed powers in kW (binaries)")
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve (MILP stops with its incumbent)")
    ap.add_argument("--methods", type=str, default=",".join(ALL_METHODS))
    defaults = ChargingModelConfig()
    ap.add_argument("--online-regularizer", choices=["elapsed", "quick_charge"], default=defaults.online_regularizer,
                    help=f"online mode's regulariser (default {defaults.online_regularizer})")
    ap.add_argument("--online-weight", type=float, default=defaults.online_urgency_cad_per_kwh,
                    help=f"its weight per kWh (default {defaults.online_urgency_cad_per_kwh})")
    ap.add_argument("--forecast-weeks", type=int, default=defaults.online_forecast_weeks,
                    help="online mode: forecast cars from the same weekday of this many previous weeks "
                         f"(default {defaults.online_forecast_weeks}; 0 = none)")
    ap.add_argument("--forecast-factor", type=float, default=defaults.forecast_energy_factor,
                    help="forecast cars' energy over the history's average "
                         f"(default {defaults.forecast_energy_factor})")
    ap.add_argument("--site", type=str, help="only sessions of this site_id (e.g. one Norwegian garage)")
    ap.add_argument("--exclude-station", action="append", default=[], help="ACN stationID to skip (repeatable)")
    ap.add_argument("--days", type=int, help="only the first N days (quick runs)")
    ap.add_argument("--out", type=Path, required=True)
    return ap.parse_args(argv)


def check_args(args: argparse.Namespace) -> None:
    """Refuse unusable arguments before any work, with one line naming the option (`ValueError`)."""
    check_range("--limit-kw", args.limit_kw, minimum=0.0, exclusive_minimum=True)
    check_range("--max-kw", args.max_kw, minimum=0.0, exclusive_minimum=True)
    check_range("--demand-charge", args.demand_charge, minimum=0.0)
    check_range("--min-kw", args.min_kw, minimum=0.0)
    check_range("--time-limit", args.time_limit, minimum=0.0, exclusive_minimum=True)
    if args.period_minutes <= 0 or 60 % args.period_minutes:
        raise ValueError(f"--period-minutes = {args.period_minutes} must divide 60")
    if args.days is not None:
        check_range("--days", args.days, minimum=1.0)
    if not args.sessions.is_file():
        raise ValueError(f"{args.sessions}: session file not found")
    if args.prices:
        try:
            load_prices_csv(args.prices)   # its errors name the file, the row and the field
        except UnicodeDecodeError:
            raise ValueError(f"{args.prices}: not a UTF-8 text file (a binary file or another encoding)") from None
        except pd.errors.EmptyDataError:
            raise ValueError(f"{args.prices}: file is empty") from None


def main(argv: list[str] | None = None) -> int:
    """Bad arguments or an unreadable session or price file end with one line (file, reason), exit 2."""
    args = parse_args(argv)
    try:
        check_args(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args)
    except SessionDataError as exc:   # the session file cannot be read as its format
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    fmt = args.format or _guess_format(args.sessions)
    options = {"exclude_stations": tuple(args.exclude_station)} if fmt == "acn_json" and args.exclude_station else {}
    log = load_sessions(args.sessions, fmt, args.timezone, args.max_kw, **options)
    sessions = log.sessions
    if args.site:
        sessions = sessions[sessions["site_id"] == args.site].reset_index(drop=True)
    print(f"sessions: {len(sessions)} loaded from {args.sessions.name} ({fmt}); skipped: {len(log.skipped)}"
          + (f" {log.skip_counts}" if len(log.skipped) else ""))
    if sessions.empty:
        print("no sessions to schedule", file=sys.stderr)
        return 1
    prices = load_prices_csv(args.prices) if args.prices else default_tou_prices()
    tariff = Tariff(prices, args.demand_charge, args.timezone)
    site = SiteConfig(period_minutes=args.period_minutes, site_limit_kw=args.limit_kw, evse_max_kw=args.max_kw)
    levels = tuple(float(x) for x in args.pilot_levels.split(",") if x.strip())
    model = ChargingModelConfig(cost=CostModel(), min_power_kw=args.min_kw, pilot_levels_kw=levels,
                                time_limit_seconds=args.time_limit, online_urgency_cad_per_kwh=args.online_weight,
                                online_regularizer=args.online_regularizer, online_forecast_weeks=args.forecast_weeks,
                                forecast_energy_factor=args.forecast_factor)
    methods = tuple(m.strip() for m in args.methods.split(",") if m.strip())
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown:
        print(f"unknown method(s) {unknown}; choose from {', '.join(ALL_METHODS)}", file=sys.stderr)
        return 2
    days = local_days(sessions, args.timezone)
    if args.days:
        days = days[: args.days]
        end = (days[-1].tz_localize(None) + pd.Timedelta(days=1)).tz_localize(days[-1].tz).tz_convert("UTC")
        sessions = sessions[sessions["arrival"] < end].reset_index(drop=True)

    # LP upper bound over the whole period (perfect foresight, continuous rates)
    inst = build_instance(sessions, site, tariff, days[0].tz_convert("UTC"))
    bound = max_deliverable_energy(inst, model)
    bound_kwh = float(bound.objective or 0.0)
    requested = float(sessions["energy_kwh"].sum())
    print(f"upper bound (LP, {inst.n_pairs} pairs, {bound.build_seconds + bound.solve_seconds:.1f} s): "
          f"{bound_kwh:.2f} of {requested:.2f} kWh = {100 * bound_kwh / requested:.3f} %")

    def progress(day_result):
        if day_result.method.startswith("milp") and day_result.status not in ("optimal", "ok"):
            print(f"  {day_result.day.date()} {day_result.method}: {day_result.status} {day_result.reason}")

    result = plan_period(sessions, site, tariff, model, methods, days, progress=progress)
    per_day = result.day_frame()
    rows = []
    for method in methods:
        rows_m = result.schedule[result.schedule["method"] == method]
        metrics = schedule_metrics(sessions, rows_m, site.period_minutes, tariff.prices_for, tariff.month_of,
                                   tariff.demand_charge_cad_per_kw_month, model.cost, site.base_load_kw)
        days_m = per_day[per_day["method"] == method]
        metrics["degradation_cost"] = float(days_m["degradation_cost"].sum())
        metrics["solve_seconds"] = float((days_m["solve_seconds"] + days_m["build_seconds"]).sum())
        metrics["max_day_seconds"] = float((days_m["solve_seconds"] + days_m["build_seconds"]).max())
        metrics["max_day_solver_seconds"] = float(days_m["solve_seconds"].max())
        metrics["days_not_optimal"] = int((~days_m["status"].isin(["optimal", "ok"])).sum())
        gaps = pd.to_numeric(days_m["mip_gap"], errors="coerce")
        metrics["max_mip_gap"] = float(gaps.max()) if gaps.notna().any() else float("nan")
        rows.append({"method": method, **metrics})
    table = pd.DataFrame(rows)
    table["cost_per_kwh"] = table["energy_cost"] / table["energy_delivered_kwh"]
    table["gap_to_bound_pp"] = 100 * (bound_kwh - table["energy_delivered_kwh"]) / requested

    args.out.mkdir(parents=True, exist_ok=True)
    columns = ["method", "energy_requested_kwh", "energy_delivered_kwh", "energy_delivered_share",
               "sessions_fully_served", "peak_kw", "energy_cost", "demand_charge", "degradation_cost", "solve_seconds"]
    table[columns].to_csv(args.out / "metrics.csv", index=False)
    sched = result.schedule.copy()
    local_start = pd.DatetimeIndex(sched["period_start"]).tz_convert(args.timezone)
    sched["period_start"] = local_start.map(lambda t: t.isoformat())
    sched[["method", "session_id", "period_start", "power_kw"]].to_csv(args.out / "schedule.csv", index=False)
    (args.out / "period_minutes.txt").write_text(f"{site.period_minutes}\n")
    per_day.to_csv(args.out / "per_day.csv", index=False)

    show = table[["method", "energy_delivered_kwh", "energy_delivered_share", "gap_to_bound_pp",
                  "sessions_fully_served", "peak_kw", "energy_cost", "cost_per_kwh", "demand_charge",
                  "degradation_cost", "solve_seconds", "max_day_seconds", "days_not_optimal", "max_mip_gap"]]
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(show.to_string(index=False))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"limit {args.limit_kw} kW, {len(days)} days, step {site.period_minutes} min; "
          f"bound {100 * bound_kwh / requested:.3f} %; wall {time.perf_counter() - t_start:.1f} s; "
          f"peak memory {peak_mb:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
