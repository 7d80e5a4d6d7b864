"""The analytic fill rate agrees with the SimPy simulation within its confidence interval."""

from __future__ import annotations

import numpy as np
import pytest

from evcharge_pipeline.swap.analytic import (
    Dispersion,
    SingleHubInput,
    TimeGrid,
    commuter_profile,
    estimate_dispersion,
    hourly_rates,
    operating_profile,
    pipeline_mean_profile,
    required_level,
    service_table,
    solve_single_hub,
)
from evcharge_pipeline.swap.simulation import (
    LogArrivals,
    PlanToSimulate,
    ProfileArrivals,
    SimulationConfig,
    simulate_plan,
)

GRID = TimeGrid(10)
CHECK = SimulationConfig(days=26, warmup_days=2, replications=8, confidence=0.99, seed=11)


def analytic_fill(rate: np.ndarray, delta: np.ndarray, spares: np.ndarray, dispersion: Dispersion | None = None):
    """Per-station analytic fill rates at the given spares, and the swap-weighted network fill rate."""
    dispersion = dispersion or Dispersion()
    m = pipeline_mean_profile(rate, delta, GRID)
    table = service_table(rate, m, GRID, int(spares.max()) + 1, dispersion)
    per_station = table.fill_rate[np.arange(len(spares)), spares]
    weights = rate.sum(axis=1)
    return per_station, float((per_station * weights).sum() / weights.sum())


def spares_for(rate: np.ndarray, delta: np.ndarray, target: float, dispersion: Dispersion | None = None) -> np.ndarray:
    dispersion = dispersion or Dispersion()
    m = pipeline_mean_profile(rate, delta, GRID)
    table = service_table(rate, m, GRID, 400, dispersion)
    return required_level(table.fill_rate, target)


def ample_ports(rate: np.ndarray, charging_hours: float) -> int:
    load = rate.sum(axis=0).max() * charging_hours
    return int(load + 8 * np.sqrt(load) + 10)  # waits become negligible


@pytest.mark.parametrize("case", ["uniform_16h", "two_station_peaks", "short_charge_high_target"])
def test_analytic_fill_rate_inside_simulated_interval(case):
    if case == "uniform_16h":
        rate = GRID.from_hourly(hourly_rates(np.array([240.0]), operating_profile(6, 16)))
        tt, tc, target = np.array([0.5]), 2.0, 0.90
    elif case == "two_station_peaks":
        rate = GRID.from_hourly(hourly_rates(np.array([180.0, 110.0]), commuter_profile()))
        tt, tc, target = np.array([0.3, 0.8]), 3.0, 0.85
    else:
        rate = GRID.from_hourly(hourly_rates(np.array([90.0, 60.0, 150.0]), operating_profile(7, 14)))
        tt, tc, target = np.array([0.2, 0.4, 0.6]), 1.0, 0.97
    delta = (tc + 2 * tt)[:, None] * np.ones_like(rate)
    spares = spares_for(rate, delta, target)
    per_station, network = analytic_fill(rate, delta, spares)
    plan = PlanToSimulate([f"s{i}" for i in range(len(tt))], ["hub"], np.zeros(len(tt), dtype=int), spares, tt,
                          np.array([ample_ports(rate, tc)]), tc)
    result = simulate_plan(plan, ProfileArrivals(rate, GRID), CHECK)
    assert result.fill_rate_ci_low <= network <= result.fill_rate_ci_high, (
        network, result.fill_rate_ci_low, result.fill_rate_ci_high)
    assert result.fill_rate_ci_high - result.fill_rate_ci_low < 0.1  # the interval is informative
    lows = result.per_station["sim_fill_rate_ci_low"].to_numpy()
    highs = result.per_station["sim_fill_rate_ci_high"].to_numpy()
    assert np.all((lows <= per_station) & (per_station <= highs))


def test_negative_binomial_fill_rate_matches_log_resampling():
    rng = np.random.default_rng(21)
    profile = commuter_profile()
    days = 400
    multipliers = rng.gamma(30.0, 1 / 30.0, days)
    day_hours, day_stations = [], []
    for g in multipliers:
        counts = rng.poisson(300.0 * g * profile)
        hours = np.repeat(np.arange(24), counts) + rng.random(counts.sum())
        day_hours.append(np.sort(hours))
        day_stations.append(np.zeros(hours.size, dtype=int))
    daily = np.array([h.size for h in day_hours])
    dispersion = estimate_dispersion(daily)
    assert dispersion.overdispersed
    rate = GRID.from_hourly(hourly_rates(np.array([daily.mean()]), profile))
    tt, tc = np.array([0.5]), 3.0
    delta = np.full_like(rate, tc + 2 * 0.5)
    spares = spares_for(rate, delta, 0.9, dispersion)
    _, nb_fill = analytic_fill(rate, delta, spares, dispersion)
    _, poisson_fill = analytic_fill(rate, delta, spares)
    plan = PlanToSimulate(["s0"], ["hub"], np.array([0]), spares, tt, np.array([ample_ports(rate, tc)]), tc)
    result = simulate_plan(plan, LogArrivals(day_hours, day_stations),
                           SimulationConfig(days=32, warmup_days=2, replications=8, confidence=0.99, seed=5))
    assert result.fill_rate_ci_low <= nb_fill <= result.fill_rate_ci_high, (nb_fill, result.fill_rate_ci_low,
                                                                           result.fill_rate_ci_high)
    assert poisson_fill > nb_fill  # ignoring overdispersion overstates the service


def test_erlang_c_port_sizing_is_conservative_for_deterministic_charging():
    params = SingleHubInput(vehicles=150, swaps_per_vehicle_day=2, charging_hours=3, transport_hours=0.5,
                            operating_hours=16, service_level=0.9, max_wait_probability=0.2, service_basis="day")
    plan_values = solve_single_hub(params)
    rate = GRID.from_hourly(hourly_rates(np.array([300.0]), params.profile()))
    plan = PlanToSimulate(["s"], ["hub"], np.array([0]), np.array([plan_values.spare_batteries]), np.array([0.5]),
                          np.array([plan_values.charging_ports]), 3.0)
    result = simulate_plan(plan, ProfileArrivals(rate, GRID), CHECK)
    hub = result.per_hub.iloc[0]
    assert hub["sim_port_wait_probability"] <= plan_values.port_wait_probability
    assert hub["sim_port_mean_wait_hours"] <= plan_values.port_mean_wait_hours
    assert result.fill_rate_ci_high >= plan_values.fill_rate  # the model does not overstate the service


def test_extreme_stocks_and_port_utilisation():
    rate = GRID.from_hourly(hourly_rates(np.array([100.0]), operating_profile(0, 24)))
    short = SimulationConfig(days=6, warmup_days=1, replications=2, seed=3)
    none = simulate_plan(PlanToSimulate(["s"], ["h"], np.array([0]), np.array([0]), np.array([0.25]), np.array([20]),
                                        2.0),
                         ProfileArrivals(rate, GRID), short)
    assert none.fill_rate == 0.0
    plenty = simulate_plan(PlanToSimulate(["s"], ["h"], np.array([0]), np.array([200]), np.array([0.25]),
                                          np.array([20]), 2.0),
                           ProfileArrivals(rate, GRID), short)
    assert plenty.fill_rate == 1.0
    # offered load 100/24 per hour x 2 h on 20 ports
    assert plenty.per_hub["sim_port_utilisation"].iloc[0] == pytest.approx(100 / 24 * 2 / 20, rel=0.1)


def replay(times, stations, station_hub, spares, transport, ports, charging_hours):
    """Event-free replay of the same arrivals: FCFS ports by the free-time heap, stock by counting."""
    import heapq

    hub_arrival = times + transport[stations]
    start = np.empty(times.size)
    for hub in range(len(ports)):
        idx = np.flatnonzero(station_hub[stations] == hub)
        idx = idx[np.argsort(hub_arrival[idx], kind="stable")]
        free = [0.0] * int(ports[hub])
        for i in idx:
            begin = max(hub_arrival[i], heapq.heappop(free))
            start[i] = begin
            heapq.heappush(free, begin + charging_hours)
    back = start + charging_hours + transport[stations]
    filled = np.zeros(times.size, dtype=bool)
    for s in range(len(spares)):
        idx = np.flatnonzero(stations == s)
        returns = np.sort(back[idx])
        outstanding = np.arange(idx.size) - np.searchsorted(returns, times[idx], side="left")
        filled[idx] = outstanding <= spares[s] - 1
    return filled, start - hub_arrival


def test_simpy_matches_an_event_free_replay_of_the_same_arrivals():
    from evcharge_pipeline.swap.simulation import _replicate

    rate = GRID.from_hourly(hourly_rates(np.array([150.0, 90.0, 120.0]), commuter_profile()))
    spares = np.array([20, 12, 25])
    transport = np.array([0.3, 0.7, 0.5])
    station_hub = np.array([0, 1, 0])
    ports = np.array([60, 20])  # tight enough that batteries queue for ports at the peaks
    plan = PlanToSimulate(["a", "b", "c"], ["h0", "h1"], station_hub, spares, transport, ports, 2.5)
    times, stations = ProfileArrivals(rate, GRID).generate(8, np.random.default_rng(9))
    filled, _, port_wait, _ = _replicate(plan, times, stations, 0.0, 8 * 24.0 + 48.0)
    expected_filled, expected_wait = replay(times, stations, station_hub, spares, transport, ports, 2.5)
    assert np.array_equal(filled, expected_filled)
    assert not np.isnan(port_wait).any()
    assert np.allclose(port_wait, expected_wait, atol=1e-9)
    assert (expected_wait > 1e-6).mean() > 0.02 and 0.2 < filled.mean() < 1.0  # both mechanisms are exercised
