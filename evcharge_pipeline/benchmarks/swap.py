"""Battery-swap sizing from the command line, and the swap benchmarks.

Single hub (demand spread evenly over the operating hours, transport time one way):

    python -m evcharge_pipeline.benchmarks.swap --vehicles 200 --swaps-per-vehicle-day 2 \
        --charging-hours 3 --transport-hours 0.5 --operating-hours 16 --service-level 0.95 \
        [--max-wait-probability 0.2] [--simulate-days 60] --json

Benchmarks (print build/solve seconds, MIP gap, simulation throughput and peak memory):

    python -m evcharge_pipeline.benchmarks.swap --benchmark all [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import pandas as pd

from evcharge_pipeline.swap.analytic import (
    SingleHubInput,
    SwapInputError,
    TimeGrid,
    commuter_profile,
    hourly_rates,
    naive_single_hub,
    solve_single_hub,
)
from evcharge_pipeline.swap.milp import SwapNetworkConfig, SwapNetworkInput, solve_network
from evcharge_pipeline.swap.simulation import PlanToSimulate, ProfileArrivals, SimulationConfig, simulate_plan


def peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> dict:
    """CPU count and load averages, to judge timings taken on a shared machine."""
    load = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_average_1m": round(load[0], 2), "load_average_15m": round(load[2], 2)}


def _simulate_single(params: SingleHubInput, spares: int, ports: int, days: int, replications: int, seed: int) -> dict:
    grid = TimeGrid(params.step_minutes)
    rate = grid.from_hourly(hourly_rates(params.vehicles * params.swaps_per_vehicle_day, params.profile()))[None, :]
    plan = PlanToSimulate(["pooled"], ["hub"], np.array([0]), np.array([spares]), np.array([params.transport_hours]),
                          np.array([ports]), params.charging_hours)
    warmup = 2
    result = simulate_plan(plan, ProfileArrivals(rate, grid),
                           SimulationConfig(days=days + warmup, warmup_days=warmup, replications=replications,
                                            seed=seed))
    hub = result.per_hub.iloc[0]
    return {
        "sim_fill_rate": round(result.fill_rate, 6),
        "sim_fill_rate_ci_low": round(result.fill_rate_ci_low, 6),
        "sim_fill_rate_ci_high": round(result.fill_rate_ci_high, 6),
        "sim_port_wait_probability": round(float(hub["sim_port_wait_probability"]), 6),
        "sim_port_mean_wait_hours": round(float(hub["sim_port_mean_wait_hours"]), 6),
        "sim_port_utilisation_24h": round(float(hub["sim_port_utilisation"]), 6),
        "sim_swaps": result.swaps_simulated,
        "sim_seconds": round(result.seconds, 3),
    }


def single_hub(args: argparse.Namespace) -> dict:
    params = SingleHubInput(
        vehicles=args.vehicles,
        swaps_per_vehicle_day=args.swaps_per_vehicle_day,
        charging_hours=args.charging_hours,
        transport_hours=args.transport_hours,
        operating_hours=args.operating_hours,
        operating_start_hour=args.operating_start_hour,
        service_level=args.service_level,
        max_wait_probability=args.max_wait_probability,
        max_mean_wait_hours=args.max_mean_wait_hours,
        service_basis=args.service_basis,
    )
    result = solve_single_hub(params)
    out = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in result.as_dict().items()
           if not isinstance(v, list)}
    naive = naive_single_hub(params)
    out["naive_24h_average"] = {
        "swap_rate_per_hour": round(naive.swap_rate_per_hour, 6),
        "pipeline_hours": naive.pipeline_hours,
        "pipeline_mean": round(naive.pipeline_mean, 6),
        "spare_batteries": naive.spare_batteries,
        "charging_ports": naive.charging_ports,
    }
    if args.simulate_days:
        out["simulation"] = _simulate_single(params, result.spare_batteries, result.charging_ports, args.simulate_days,
                                             args.replications, args.seed)
        out["naive_24h_average"]["simulation"] = _simulate_single(
            params, naive.spare_batteries, naive.charging_ports, args.simulate_days, args.replications, args.seed)
    return out


def synthetic_network(stations: int, hubs: int, vehicles: int, seed: int, step_minutes: int = 15):
    """A random city: stations in a 30 km square with lognormal demand, hubs around it with grid limits."""
    rng = np.random.default_rng(seed)
    grid = TimeGrid(step_minutes)
    share = rng.lognormal(0.0, 0.5, stations)
    share /= share.sum()
    daily = vehicles * 2.0 * share
    rate = grid.from_hourly(hourly_rates(daily, commuter_profile()))
    st_xy = rng.uniform(0, 30, (stations, 2))
    hub_xy = rng.uniform(-5, 35, (hubs, 2))
    distance = np.linalg.norm(st_xy[:, None, :] - hub_xy[None, :, :], axis=2)
    transport = 0.05 + 1.3 * distance / 25.0
    transport = np.where(transport <= 1.5, transport, np.inf)
    peak_total = rate.sum(axis=0).max() * 3.0
    frame = pd.DataFrame({
        "hub_id": [f"H{j:02d}" for j in range(hubs)],
        "fixed_cost_cad": rng.uniform(100_000, 250_000, hubs).round(-3),
        "port_cost_cad": rng.uniform(2_000, 4_000, hubs).round(-2),
        "grid_limit_ports": np.ceil(rng.uniform(0.25, 0.6, hubs) * peak_total).astype(int),
    })
    return SwapNetworkInput([f"S{i:03d}" for i in range(stations)], rate, frame, transport)


def benchmark_milp(stations: int, hubs: int, vehicles: int, seed: int, time_limit: float) -> dict:
    data = synthetic_network(stations, hubs, vehicles, seed)
    config = SwapNetworkConfig(step_minutes=15, time_limit_seconds=time_limit)
    started, cpu_started = time.perf_counter(), time.process_time()
    plan = solve_network(data, config)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "case": f"milp_{stations}x{hubs}",
        "status": plan.status,
        "reason": plan.reason,
        "vehicles": vehicles,
        "variables": plan.variables,
        "constraints": plan.constraints,
        "build_seconds": round(plan.build_seconds, 3),
        "solve_seconds": round(plan.solve_seconds, 3),
        "total_seconds": round(total, 3),
        "cpu_seconds": round(cpu, 3),
        "mip_gap": plan.mip_gap,
        "objective_cad": plan.objective_cad,
        "hubs_open": int(plan.hubs["is_open"].sum()) if "is_open" in plan.hubs else None,
        "spare_batteries": int(plan.stations["spare_batteries"].sum()) if "spare_batteries" in plan.stations else None,
        "peak_memory_mib": round(peak_memory_mib(), 1),
        **machine(),
    }


def benchmark_simulation(vehicles: int, days: int, replications: int, seed: int) -> dict:
    params = SingleHubInput(vehicles=vehicles, swaps_per_vehicle_day=2.0, charging_hours=3.0, transport_hours=0.5,
                            operating_hours=16, service_level=0.95, max_wait_probability=0.2)
    result = solve_single_hub(params)
    per_rep = int(np.ceil(days / replications))
    cpu_started = time.process_time()
    sim = _simulate_single(params, result.spare_batteries, result.charging_ports, per_rep, replications, seed)
    cpu = time.process_time() - cpu_started
    return {
        "case": f"simulation_{vehicles}_vehicles_{per_rep * replications}_days",
        "spare_batteries": result.spare_batteries,
        "charging_ports": result.charging_ports,
        "analytic_fill_rate": round(result.fill_rate, 6),
        **sim,
        "swaps_per_second": round(sim["sim_swaps"] / sim["sim_seconds"], 1),
        "cpu_seconds": round(cpu, 3),
        "swaps_per_cpu_second": round(sim["sim_swaps"] / cpu, 1),
        "peak_memory_mib": round(peak_memory_mib(), 1),
        **machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--swaps-per-vehicle-day", type=float, default=2.0)
    parser.add_argument("--charging-hours", type=float, default=3.0)
    parser.add_argument("--transport-hours", type=float, default=0.5, help="one way")
    parser.add_argument("--operating-hours", type=float, default=16.0)
    parser.add_argument("--operating-start-hour", type=float, default=6.0)
    parser.add_argument("--service-level", type=float, default=0.95, help="fill-rate target in (0, 1)")
    parser.add_argument("--max-wait-probability", type=float, default=0.2, help="Erlang C target P(wait for a port)")
    parser.add_argument("--max-mean-wait-hours", type=float, default=None)
    parser.add_argument("--service-basis", choices=["worst_hour", "day"], default="worst_hour")
    parser.add_argument("--simulate-days", type=int, default=0, help="also simulate model and naive plans")
    parser.add_argument("--replications", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--benchmark", choices=["simulation", "milp", "all"], default=None)
    parser.add_argument("--milp-stations", type=int, default=50)
    parser.add_argument("--milp-hubs", type=int, default=10)
    parser.add_argument("--milp-vehicles", type=int, default=2000)
    parser.add_argument("--time-limit-seconds", type=float, default=600.0)
    parser.add_argument("--sim-vehicles", type=int, default=2000)
    parser.add_argument("--sim-days", type=int, default=365)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        if args.benchmark:
            out = {"benchmarks": []}
            if args.benchmark in ("simulation", "all"):
                out["benchmarks"].append(benchmark_simulation(args.sim_vehicles, args.sim_days, args.replications,
                                                              args.seed))
            if args.benchmark in ("milp", "all"):
                out["benchmarks"].append(benchmark_milp(args.milp_stations, args.milp_hubs, args.milp_vehicles,
                                                        args.seed, args.time_limit_seconds))
        else:
            out = single_hub(args)
    except SwapInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, default=float))
    else:
        for key, value in out.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
