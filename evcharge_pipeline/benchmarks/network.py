"""Benchmark of the network plan: build/solve seconds, gap and peak memory per instance, and the
covering core against PySAL spopt's MCLP (PuLP/CBC) on identical data.

    python -m evcharge_pipeline.benchmarks.network                      # sample region + synthetic 20,000 x 2,000
    python -m evcharge_pipeline.benchmarks.network --region ../shared/data/kw_waterloo --instances region
    python -m evcharge_pipeline.benchmarks.network --warehouse data/warehouse.duckdb --instances warehouse

Every instance runs in its own process so the reported peak memory (max RSS) is that instance's.
Region instances are built with the foundation assets into a temporary DuckDB file first.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from evcharge_pipeline import settings

TABLES = ("raw.charging_stations", "raw.candidate_sites", "core.demand_points", "core.coverage")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def tables_from_warehouse(path: str) -> tuple[pd.DataFrame, ...]:
    import duckdb

    from evcharge_pipeline.warehouse import read_table

    con = duckdb.connect(path, read_only=True)
    try:
        return tuple(read_table(con, t) for t in TABLES)
    finally:
        con.close()


def build_region_warehouse(region: str, database: str) -> None:
    """Materialize the foundation assets (ingest + demand) of a region bundle into `database`."""
    from dagster import load_assets_from_modules, materialize
    from dagster_duckdb import DuckDBResource

    from evcharge_pipeline.assets import demand, ingest
    from evcharge_pipeline.resources import RegionResource, ReportsResource

    result = materialize(load_assets_from_modules([ingest, demand]), resources={
        "warehouse": DuckDBResource(database=database), "region": RegionResource(path=region),
        "reports": ReportsResource(directory=str(Path(database).parent / "reports"))})
    if not result.success:
        raise RuntimeError(f"foundation assets failed for region {region}")


def _run_instance(spec: dict, queue) -> None:
    from evcharge_pipeline.network.config import NetworkConfig
    from evcharge_pipeline.network.core import coverage_matrix, solve_mclp
    from evcharge_pipeline.network.inputs import considered_candidates
    from evcharge_pipeline.network.plan import plan_network
    from evcharge_pipeline.network.synthetic import make_instance
    from evcharge_pipeline.network.verifier import verify_plan

    out: dict = {"instance": spec["name"]}
    try:
        started = time.perf_counter()
        if spec["kind"] == "synthetic":
            inst = make_instance(n_demand=spec["demand"], n_candidates=spec["candidates"], n_existing=spec["existing"],
                                 extent_km=spec["extent_km"], n_areas=spec["areas"], seed=spec.get("seed", 0))
            stations, candidates, demand, pairs = inst.stations, inst.candidates, inst.demand, inst.coverage
        else:
            stations, candidates, demand, pairs = tables_from_warehouse(spec["warehouse"])
        out["load_seconds"] = time.perf_counter() - started
        cfg = NetworkConfig(**spec.get("config", {}))
        result = plan_network(stations, candidates, demand, pairs, cfg)
        s = result.summary
        out.update({k: s.get(k) for k in ("status", "objective", "bound", "gap", "bound_method", "method", "lp_bound",
                                          "greedy_objective", "primal_source", "build_seconds", "solve_seconds",
                                          "prepare_seconds", "greedy_seconds", "warm_started", "demand_points",
                                          "demand_groups", "existing_stations", "candidate_sites", "budget_cad",
                                          "min_coverage_l3_share", "min_budget_cad", "min_budget_lower_cad",
                                          "local_search_moves", "kernel_candidates", "lagrangian_evaluations",
                                          "windows_improved", "diagnosis")})
        out["load_average_1min"] = os.getloadavg()[0]
        out["pairs"] = len(pairs)
        out["peak_mb_plan"] = _peak_mb()
        if result.feasible:
            v0 = time.perf_counter()
            report = verify_plan(result.plan, s, stations, considered_candidates(candidates, pairs, demand, cfg),
                                 demand, pairs, cfg)
            out["verified"] = report.ok
            out["verify_seconds"] = time.perf_counter() - v0
            if not report.ok:
                out["violations"] = report.violations[:5]
        if not spec.get("core", True):
            out["peak_mb"] = _peak_mb()
            queue.put(out)
            return
        # Covering core: p new L3 sites among the candidates, EV-weighted, radius_l3_km.
        cand_ids = candidates["site_id"].astype(str).to_numpy()
        a = coverage_matrix(demand["demand_id"].to_numpy(), cand_ids, pairs, cfg.radius_l3_km)
        weight = demand["ev_count"].to_numpy(float)
        p = spec["p"]
        core = solve_mclp(a, weight, p, time_limit_seconds=spec.get("core_time_limit", 600), mip_gap=0.0)
        out["core"] = {"p": p, "status": core.status, "covered_weight": core.objective, "gap": core.gap,
                       "build_seconds": core.build_seconds, "solve_seconds": core.solve_seconds, "rows": core.rows,
                       "seconds": core.build_seconds + core.solve_seconds}
        if spec.get("spopt", True):
            sp_result = _spopt_with_timeout(a, weight, p, spec.get("spopt_wall_seconds", 1800))
            out["spopt"] = sp_result
            if core.objective is not None and sp_result.get("objective") is not None:
                tolerance = 1e-6 * max(1.0, core.objective)
                out["core_objectives_agree"] = abs(core.objective - sp_result["objective"]) <= tolerance
            if sp_result.get("objective") is not None and core.status == "optimal":
                out["speedup_vs_spopt"] = sp_result["seconds"] / out["core"]["seconds"]
        out["peak_mb"] = _peak_mb()
    except Exception as exc:  # report, do not hide
        out["error"] = repr(exc)
    queue.put(out)


def _spopt_child(a, weight, p, queue) -> None:
    from evcharge_pipeline.network.core import solve_mclp_spopt

    queue.put(solve_mclp_spopt(a, weight, p, time_limit_seconds=3600))


def _spopt_with_timeout(a, weight, p, wall_seconds: float) -> dict:
    """spopt in its own process, stopped after `wall_seconds` (its model build is not time-limited)."""
    import queue as queue_module

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    started = time.perf_counter()
    proc = ctx.Process(target=_spopt_child, args=(a, weight, p, queue))
    proc.start()
    try:
        result = queue.get(timeout=wall_seconds)
    except queue_module.Empty:
        proc.kill()
        result = {"status": f"stopped after {wall_seconds:.0f} s", "objective": None,
                  "seconds": time.perf_counter() - started}
    proc.join()
    return result


def run(specs: list[dict]) -> list[dict]:
    ctx = mp.get_context("spawn")
    results = []
    for spec in specs:
        queue = ctx.Queue()
        proc = ctx.Process(target=_run_instance, args=(spec, queue))
        proc.start()
        result = queue.get()
        proc.join()
        results.append(result)
        print(json.dumps(result, default=str), flush=True)
    return results


def markdown(results: list[dict]) -> str:
    lines = ["| instance | demand pts (groups) | sites (existing + cand.) | status | build s | solve s | gap | peak MB "
             "| verified | MCLP p | ours s | spopt s | spopt / ours |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['instance']} | error: {r['error']} |")
            continue
        core, spopt = r.get("core", {}), r.get("spopt", {})
        gap = "n/a" if r.get("gap") is None else f"{100 * r['gap']:.3f}%"
        lines.append(
            f"| {r['instance']} | {r['demand_points']} ({r['demand_groups']}) | {r['existing_stations']} + "
            f"{r['candidate_sites']} | {r['status']} | {r['build_seconds'] + r['prepare_seconds']:.1f} | "
            f"{r['solve_seconds']:.1f} | {gap} ({r.get('bound_method') or 'no bound'}) | {r.get('peak_mb', 0):.0f} | "
            f"{r.get('verified', 'n/a')} | "
            f"{core.get('p', '')} | {core.get('seconds', float('nan')):.1f} | "
            f"{spopt.get('seconds', float('nan')):.1f} ({spopt.get('status', 'skipped')}) | "
            + (f"{r['speedup_vs_spopt']:.2f}x |" if "speedup_vs_spopt" in r else "n/a (not both proven) |"))
    return "\n".join(lines)


def _variant(config: dict, budget: float | None, target: float | None) -> dict:
    out = dict(config)
    if budget is not None:
        out["budget_cad"] = budget
    if target is not None:
        out["min_coverage_l3_share"] = target
    return out


def _variant_name(name: str, budget: float | None, target: float | None) -> str:
    if budget is not None:
        name = f"{name}, budget {budget / 1e6:g} M CAD"
    return name if target is None else f"{name}, L3 target {target:g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", default="region,synthetic",
                        help="comma list of: region (the --region bundle), warehouse (--warehouse file), synthetic")
    parser.add_argument("--region", default=settings.SAMPLE_REGION_DIR.as_posix(), help="region bundle folder")
    parser.add_argument("--warehouse", help="existing DuckDB file with the foundation tables")
    parser.add_argument("--region-name", default=None, help="label of the region instance")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds per plan solve (default: config)")
    parser.add_argument("--synthetic-demand", type=int, default=20_000)
    parser.add_argument("--synthetic-candidates", type=int, default=2_000)
    parser.add_argument("--synthetic-time-limit", type=float, default=120.0)
    parser.add_argument("--synthetic-extent-km", type=float, default=None,
                        help="side of the synthetic square (default 40 km at 20,000 points, scaled with the square "
                             "root of the point count: the same density at every size)")
    parser.add_argument("--synthetic-areas", type=int, default=None,
                        help="grid-capacity areas of the synthetic instance (default 16 at 20,000 points, scaled with "
                             "the point count: the same area size, so the same grid room per station, at every size)")
    parser.add_argument("--synthetic-budget", type=float, default=None,
                        help="budget of the synthetic instance (default 8 M CAD per 2,000 candidates)")
    parser.add_argument("--no-spopt", action="store_true", help="skip the spopt comparison")
    parser.add_argument("--no-core", action="store_true", help="plan only: skip the MCLP core and spopt")
    parser.add_argument("--p", type=int, default=20, help="sites opened in the MCLP core comparison")
    parser.add_argument("--spopt-wall-seconds", type=float, default=1800.0,
                        help="stop spopt (model build + CBC) after this many seconds")
    parser.add_argument("--budgets", help="comma list of budgets (CAD): one region/warehouse instance per budget")
    parser.add_argument("--l3-targets", help="comma list of L3 coverage targets: one instance per budget and target "
                                             "(with --budgets 250000,500000,1000000,2000000 --l3-targets 0.8,0.9,0.95 "
                                             "--time-limit 60 --mip-gap 0.005: the network_plan_sensitivity sweep)")
    parser.add_argument("--mip-gap", type=float, help="relative gap at which a solve stops (default: config)")
    parser.add_argument("--diagnosis-time-limit", type=float, help="seconds per diagnosis solve (default: config)")
    parser.add_argument("--method", choices=["benders", "monolithic"], help="solution method (default: config)")
    parser.add_argument("--output", help="write the results as JSON here")
    args = parser.parse_args(argv)

    wanted = [x.strip() for x in args.instances.split(",") if x.strip()]
    base_cfg = {} if args.time_limit is None else {"time_limit_seconds": args.time_limit}
    if args.method:
        base_cfg["method"] = args.method
    if args.mip_gap is not None:
        base_cfg["mip_gap"] = args.mip_gap
    if args.diagnosis_time_limit is not None:
        base_cfg["diagnosis_time_limit_seconds"] = args.diagnosis_time_limit
    budgets = [float(b) for b in args.budgets.split(",")] if args.budgets else [None]
    targets = [float(t) for t in args.l3_targets.split(",")] if args.l3_targets else [None]
    variants = [(b, t) for b in budgets for t in targets]
    specs = []
    solvers = {"spopt": not args.no_spopt, "core": not args.no_core, "spopt_wall_seconds": args.spopt_wall_seconds}
    tmp = tempfile.TemporaryDirectory()
    if "region" in wanted:
        database = str(Path(tmp.name) / "region.duckdb")
        t0 = time.perf_counter()
        build_region_warehouse(args.region, database)
        print(f"foundation tables for {args.region} built in {time.perf_counter() - t0:.1f} s", flush=True)
        specs += [{"name": _variant_name(args.region_name or Path(args.region).name, budget, target),
                   "kind": "warehouse", "warehouse": database, "config": _variant(base_cfg, budget, target),
                   "p": args.p, **solvers}
                  for budget, target in variants]
    if "warehouse" in wanted:
        if not args.warehouse:
            parser.error("--instances warehouse needs --warehouse")
        specs += [{"name": _variant_name(args.region_name or Path(args.warehouse).stem, budget, target),
                   "kind": "warehouse", "warehouse": args.warehouse, "config": _variant(base_cfg, budget, target),
                   "p": args.p, **solvers}
                  for budget, target in variants]
    if "synthetic" in wanted:
        scale = args.synthetic_demand / 20_000
        extent = args.synthetic_extent_km or 40.0 * scale ** 0.5
        budget = args.synthetic_budget or 8_000_000.0 * args.synthetic_candidates / 2_000
        specs.append({"name": f"synthetic {args.synthetic_demand:,} x {args.synthetic_candidates:,}",
                      "kind": "synthetic",
                      "demand": args.synthetic_demand, "candidates": args.synthetic_candidates,
                      "existing": round(200 * scale), "extent_km": extent, "p": max(args.p, 50),
                      "areas": args.synthetic_areas or max(1, round(16 * scale)),
                      **solvers,
                      "config": {"mip_gap": 0.01, **base_cfg, "time_limit_seconds": args.synthetic_time_limit,
                                 "candidate_thinning_km": None, "budget_cad": budget,
                                 "max_upgrades_per_phase": round(20 * scale)}})
    print(f"machine: {platform.platform()}, {mp.cpu_count()} cores, python {platform.python_version()}", flush=True)
    results = run(specs)
    print()
    print(markdown(results))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2, default=str))
    tmp.cleanup()
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
