"""Run one Shell.ai Hackathon 2022 case end to end: forecast, plan, write the official solution file, read it
back and score it with the independent evaluator. Used by the benchmark CLI and the `shellai_benchmark` asset."""

from __future__ import annotations

import json
import os
import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from evcharge_pipeline.placement import evaluator, forecast, model, shellai_io


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run(data_dir: Path, out_dir: Path, years: list[int] | None = None, history_until: int | None = None,
        true_demand: bool = False, nearest: int | None = 10, mip_gap: float = 1e-4,
        time_limit_seconds: float = 300.0, forecast_config: forecast.ForecastConfig | None = None,
        placement_config: model.PlacementConfig | None = None, method: str | None = None,
        log=print) -> dict:
    """Run one benchmark case; returns the summary that is also written to ``summary.json``."""
    started = time.perf_counter()
    cpu_started = time.process_time()
    history, supply = shellai_io.load_benchmark(data_dir)
    last = history.years[-1]
    if true_demand:
        years = years or [last]
        missing = [y for y in years if y not in history.years]
        if missing:
            raise shellai_io.DataError(f"--true-demand needs years inside the history {history.years[0]}..{last}; "
                                       f"{missing} are not")
    else:
        history_until = last if history_until is None else history_until
        years = years or [history_until + 1, history_until + 2]
        if min(years) <= history_until:
            raise shellai_io.DataError(f"forecast years {years} must come after --history-until {history_until}")
    years = sorted(set(int(y) for y in years))
    truth = {y: history.year(y) for y in years if y in history.years}

    cfg = placement_config or model.PlacementConfig()
    cfg = replace(cfg, mip_rel_gap=mip_gap, time_limit_seconds=time_limit_seconds,
                  nearest_supply_points=nearest)
    forecast_info: dict = {}
    t0 = time.perf_counter()
    if true_demand:
        demand = np.stack([history.year(y) for y in years])[None]  # (1, T, n)
        weights = None
        cfg = replace(cfg, service="hard")
    else:
        train = history.until(history_until)
        fc = forecast.forecast_demand(train.values, train.years, years, forecast_config or forecast.ForecastConfig(),
                                      method=method)
        if cfg.service == "hard":
            demand, weights = fc.point.T[None], None  # serve the point forecast exactly
        else:
            scen, weights = fc.scenarios()  # (K, n, T)
            demand = np.transpose(scen, (0, 2, 1))
        forecast_info = {"method": fc.method, "point_total": fc.point.sum(axis=0).round(3).tolist(),
                         "backtest": fc.summary.head(8).round(4).to_dict(orient="records")}
        if truth:
            forecast_info["point_mae_vs_truth"] = {
                y: float(np.abs(fc.point[:, k] - truth[y]).mean()) for k, y in enumerate(years) if y in truth}
        log(f"forecast: {fc.method} chosen by rolling-origin backtest (MAE {fc.summary.iloc[0]['mae']:.3f}); "
            f"point totals {', '.join(f'{y}: {v:,.0f}' for y, v in zip(years, fc.point.sum(axis=0), strict=True))}")
    forecast_seconds = time.perf_counter() - t0

    restricted = nearest is not None and nearest < supply.n_points
    arcs = model.nearest_arcs(history.xy, supply.xy, nearest if restricted else None)
    problem = model.PlacementProblem(
        arcs=arcs, n_demand=history.n_points, parking_slots=supply.parking_slots,
        existing_slow=supply.existing_slow, existing_fast=supply.existing_fast, demand=demand, years=years,
        scenario_weights=weights, all_pairs=model.all_arcs(history.xy, supply.xy) if restricted else None)
    result = model.solve_placement(problem, cfg)
    log(f"placement: {result.status} {result.reason} objective {result.objective} bound {result.best_bound} "
        f"gap {result.mip_gap} arcs {result.n_arcs} (pricing rounds {result.price_rounds_used}, "
        f"arcs added {result.arcs_added}); build {result.build_seconds:.2f}s solve {result.solve_seconds:.2f}s")
    if result.global_bound is not None:
        log(f"global lower bound over all {history.n_points * supply.n_points:,} pairs {result.global_bound:,.1f} "
            f"(gap {result.global_gap:.4%})")
    if not result.ok:
        summary = {"status": result.status, "reason": result.reason, "years": years}
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    plans = []
    for t, y in enumerate(years):
        flows = result.flows[t].toarray()
        flows = np.floor(np.maximum(flows, 0.0) * 1e6) / 1e6  # never round a supply point over capacity
        plans.append(shellai_io.YearPlan(y, result.slow[:, t], result.fast[:, t], flows))
    out_dir.mkdir(parents=True, exist_ok=True)
    t1 = time.perf_counter()
    path = shellai_io.write_solution(plans, out_dir / "solution.csv")
    written = shellai_io.read_solution(path, history.n_points, supply.n_points)
    ev = evaluator.evaluate(written, supply, history.xy, truth)
    io_seconds = time.perf_counter() - t1
    total = time.perf_counter() - started
    cpu_total = time.process_time() - cpu_started

    rows = []
    for score in ev.years:
        rows.append({"year": score.year, "cost": score.cost, "score": score.score,
                     "cost_customer_dissatisfaction": score.cost_customer_dissatisfaction,
                     "cost_demand_mismatch": score.cost_demand_mismatch,
                     "infrastructure_units": score.cost_infrastructure,
                     "served_units": score.served_units, "capacity_units": score.capacity_units})
    summary = {
        "case": "reference (true demand)" if true_demand else
                ("backtest" if truth else "forecast"),
        "years": years, "history_until": None if true_demand else history_until,
        "valid": ev.valid, "violations": [str(v) for v in ev.violations],
        "status": result.status, "objective": result.objective, "best_bound": result.best_bound,
        "mip_gap": result.mip_gap, "global_bound": result.global_bound, "global_gap": result.global_gap,
        "build_seconds": round(result.build_seconds, 3),
        "solve_seconds": round(result.solve_seconds, 3), "forecast_seconds": round(forecast_seconds, 3),
        "write_and_check_seconds": round(io_seconds, 3), "total_seconds": round(total, 3),
        "total_cpu_seconds": round(cpu_total, 3), "load_average_1min": _load_average(),
        "peak_rss_mib": round(_peak_rss_mib(), 1), "arcs": result.n_arcs,
        "price_rounds": result.price_rounds_used, "per_year": rows, "forecast": forecast_info,
        "solution": path.name,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    gap = "n/a" if result.mip_gap is None else f"{result.mip_gap:.4%}"
    log(f"{'year':>6} {'cost':>14} {'score':>8} {'CD':>14} {'DM':>12} {'IF units':>10} {'solve s':>8} {'gap':>9}")
    for r in rows:
        dm = "unknown" if r["cost_demand_mismatch"] is None else f"{r['cost_demand_mismatch']:,.1f}"
        log(f"{r['year']:>6} {r['cost']:>14,.1f} {r['score']:>8.4f} {r['cost_customer_dissatisfaction']:>14,.1f} "
            f"{dm:>12} {r['infrastructure_units']:>10,.1f} {result.solve_seconds:>8.2f} {gap:>9}")
    log(f"solve seconds {result.solve_seconds:.2f} (joint over {len(years)} year(s)), build seconds "
        f"{result.build_seconds:.2f}, end to end {total:.2f} s ({cpu_total:.2f} s CPU), peak memory "
        f"{summary['peak_rss_mib']:.0f} MiB, load average {summary['load_average_1min']}")
    log(f"solution {path} {'is valid' if ev.valid else 'is INVALID'}")
    for v in ev.violations[:10]:
        log(f"  {v}")
    return summary
