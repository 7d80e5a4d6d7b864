"""The swap network MILP against brute-force enumeration on tiny instances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evcharge_pipeline.swap.analytic import (
    TimeGrid,
    commuter_profile,
    erlang_c,
    hourly_rates,
)
from evcharge_pipeline.swap.milp import (
    SwapNetworkConfig,
    SwapNetworkInput,
    port_levels,
    solve_network,
)
from evcharge_pipeline_tests.swap_oracle import enumerate_network

EXACT = dict(step_minutes=30, port_level_growth=0.0)


def instance(seed: int, stations: int, hubs: int, limit_scale: float = 1.0,
             unreachable: bool = False) -> SwapNetworkInput:
    rng = np.random.default_rng(seed)
    grid = TimeGrid(EXACT["step_minutes"])
    daily = rng.uniform(15, 70, stations)
    rate = grid.from_hourly(hourly_rates(daily, commuter_profile()))
    tt = rng.uniform(0.1, 1.2, (stations, hubs))
    if unreachable:
        tt[0, 0] = np.inf
    frame = pd.DataFrame({
        "hub_id": [f"H{j}" for j in range(hubs)],
        "fixed_cost_cad": rng.uniform(20_000, 120_000, hubs).round(-3),
        "port_cost_cad": rng.uniform(1_500, 5_000, hubs).round(-2),
        "grid_limit_ports": (rng.uniform(12, 40, hubs) * limit_scale).astype(int),
    })
    return SwapNetworkInput([f"S{i}" for i in range(stations)], rate, frame, tt)


@pytest.mark.parametrize("seed,stations,hubs,unreachable,overrides", [
    (1, 3, 2, False, {}),
    (2, 4, 3, False, {}),
    (3, 4, 3, True, {"service_basis": "day", "service_level": 0.9}),
    (4, 5, 2, False, {"stockout_cost_cad": 40.0, "transport_cost_cad_per_battery_hour": 3.0}),
    (5, 3, 3, False, {"max_wait_probability": None, "max_mean_wait_hours": 0.1, "charging_hours": 1.5}),
])
def test_milp_matches_enumeration(seed, stations, hubs, unreachable, overrides):
    data = instance(seed, stations, hubs, limit_scale=3.0 if seed == 4 else 1.0, unreachable=unreachable)
    config = SwapNetworkConfig(**EXACT, **overrides)
    plan = solve_network(data, config)
    brute = enumerate_network(data, config)
    assert brute is not None, "instances are meant to be feasible"
    assert plan.status == "optimal", plan.reason
    assert plan.objective_cad == pytest.approx(brute[0], rel=1e-6)
    assert plan.cost_breakdown["total_cost_cad"] == pytest.approx(plan.objective_cad, rel=1e-6)
    # the plan itself is feasible: service per station, every station at an open hub within its grid limit
    assert (plan.stations["service_measure_design"] >= config.service_level - 1e-9).all()
    open_hubs = set(plan.hubs.loc[plan.hubs["is_open"], "hub_id"])
    assert set(plan.stations["hub_id"]) <= open_hubs
    hubs_frame = plan.hubs.set_index("hub_id")
    assert (hubs_frame["charging_ports"] <= hubs_frame["grid_limit_ports"]).all()
    for _, row in hubs_frame[hubs_frame["is_open"]].iterrows():
        a = row["peak_arrivals_per_hour"] * config.charging_hours
        if config.max_wait_probability is not None:
            assert erlang_c(int(row["charging_ports"]), a) <= config.max_wait_probability + 1e-9
        assert row["port_mean_wait_hours_peak"] <= config.max_mean_wait_hours + 1e-9


def test_tight_grid_limits_are_reported_infeasible_with_a_reason():
    data = instance(7, 4, 2, limit_scale=0.1)
    config = SwapNetworkConfig(**EXACT)
    plan = solve_network(data, config)
    assert plan.status == "infeasible" and plan.reason
    assert enumerate_network(data, config) is None


def test_packing_infeasibility_found_by_the_solver_agrees_with_enumeration():
    # capacity in total is enough but no assignment packs the stations into the hubs
    grid = TimeGrid(EXACT["step_minutes"])
    rate = grid.from_hourly(hourly_rates(np.array([100.0, 100.0, 100.0]), commuter_profile()))
    peak = rate.max()
    config = SwapNetworkConfig(**EXACT)
    from evcharge_pipeline.swap.analytic import size_ports
    one = size_ports(peak, config.charging_hours, config.max_wait_probability, config.max_mean_wait_hours).ports
    two = size_ports(2 * peak, config.charging_hours, config.max_wait_probability, config.max_mean_wait_hours).ports
    frame = pd.DataFrame({"hub_id": ["A", "B"], "fixed_cost_cad": [1.0, 1.0], "port_cost_cad": [1.0, 1.0],
                          "grid_limit_ports": [two - 1, two - 1]})
    assert one <= two - 1 and 2 * (two - 1) >= one * 3 * 0.9
    data = SwapNetworkInput(["a", "b", "c"], rate, frame, np.full((3, 2), 0.3))
    plan = solve_network(data, config)
    assert enumerate_network(data, config) is None
    assert plan.status == "infeasible"


def test_spare_cap_is_respected_and_costs_more():
    data = instance(2, 4, 3)
    free = solve_network(data, SwapNetworkConfig(**EXACT, stockout_cost_cad=200.0))
    total = int(free.stations["spare_batteries"].sum())
    capped = solve_network(data, SwapNetworkConfig(**EXACT, stockout_cost_cad=200.0, max_spare_batteries=total - 3))
    assert capped.status == "optimal"
    assert capped.stations["spare_batteries"].sum() <= total - 3
    assert (capped.stations["service_measure_design"] >= 0.95 - 1e-9).all()
    assert capped.objective_cad >= free.objective_cad - 1e-6


def test_port_level_grid_is_feasible_and_close_to_exact():
    levels = port_levels(500, 60, 0.02)
    assert levels[0] == 1 and levels[-1] == 500 and np.all(np.diff(levels) > 0)
    assert set(range(1, 61)) <= set(levels.tolist())
    gaps = levels[1:] / levels[:-1]
    assert gaps[levels[:-1] >= 60].max() <= 1.02 + 1 / 60
    assert port_levels(0, 60, 0.02).size == 0


def test_unreachable_station_and_impossible_spare_cap_are_explained():
    data = instance(2, 4, 3)
    tt = data.transport_hours.copy()
    tt[2, :] = np.inf
    cut_off = SwapNetworkInput(data.station_ids, data.station_rate_per_hour, data.hubs, tt)
    plan = solve_network(cut_off, SwapNetworkConfig(**EXACT))
    assert plan.status == "infeasible" and "S2" in plan.reason and "reachable" in plan.reason
    capped = solve_network(data, SwapNetworkConfig(**EXACT, max_spare_batteries=3))
    assert capped.status == "infeasible" and "cap" in capped.reason
