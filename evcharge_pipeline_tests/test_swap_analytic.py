"""Analytic swap model: Erlang C, pipeline means, fill rates and backorders against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from evcharge_pipeline.swap.analytic import (
    Dispersion,
    SingleHubInput,
    SwapInputError,
    TimeGrid,
    commuter_profile,
    erlang_c,
    erlang_c_mean_wait_hours,
    estimate_dispersion,
    hourly_rates,
    naive_single_hub,
    operating_profile,
    pipeline_mean_constant_delay,
    pipeline_mean_profile,
    port_load_capacity,
    required_level,
    service_table,
    size_ports,
    solve_single_hub,
)


def erlang_c_direct(c: int, a: float) -> float:
    """The textbook formula with factorials (fine for small c)."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_c_matches_the_published_call_centre_example():
    # 360 calls per half hour, 240 s handling -> 48 erlangs on 55 agents: P(wait) = 0.2387, ASA 8.18 s
    assert erlang_c(55, 48.0) == pytest.approx(0.2387, abs=5e-5)
    asa_seconds = erlang_c_mean_wait_hours(55, 360 * 2, 240 / 3600) * 3600
    assert asa_seconds == pytest.approx(8.18, abs=0.01)


def test_erlang_c_closed_forms_and_direct_sum():
    for rho in (0.1, 0.5, 0.9):
        assert erlang_c(1, rho) == pytest.approx(rho)  # M/M/1: P(wait) = rho
        assert erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho))  # M/M/2
    for c in range(1, 25):
        for a in np.linspace(0.1, c - 0.05, 7):
            assert erlang_c(c, a) == pytest.approx(erlang_c_direct(c, a), rel=1e-9)
    assert erlang_c(5, 5.0) == 1.0 and erlang_c(5, 7.0) == 1.0  # unstable


def test_size_ports_is_the_smallest_count_meeting_the_target():
    for lam, tc, p in [(25.0, 3.0, 0.2), (4.0, 1.5, 0.05), (60.0, 2.0, 0.5)]:
        sizing = size_ports(lam, tc, max_wait_probability=p)
        c = sizing.ports
        assert erlang_c(c, lam * tc) <= p
        assert c - 1 <= lam * tc or erlang_c(c - 1, lam * tc) > p
    sizing = size_ports(25.0, 3.0, max_wait_probability=None, max_mean_wait_hours=0.1)
    assert erlang_c_mean_wait_hours(sizing.ports, 25.0, 3.0) <= 0.1
    assert erlang_c_mean_wait_hours(sizing.ports - 1, 25.0, 3.0) > 0.1


def test_port_load_capacity_is_the_boundary_of_the_targets():
    ports = np.arange(1, 40)
    cap = port_load_capacity(ports, 3.0, 0.2, 0.25)
    assert np.all(np.diff(cap) > 0)
    ok_at = erlang_c(ports, cap * 0.999 * 3.0) <= 0.2
    ok_at &= erlang_c_mean_wait_hours(ports, cap * 0.999, 3.0) <= 0.25
    beyond = (erlang_c(ports, cap * 1.001 * 3.0) > 0.2) | (erlang_c_mean_wait_hours(ports, cap * 1.001, 3.0) > 0.25)
    assert ok_at.all() and beyond.all()


def test_pipeline_mean_constant_rate_is_rate_times_delay():
    grid = TimeGrid(10)
    rate = np.full(grid.steps, 7.0)
    for delta in (0.5, 4.2, 23.9, 30.0):  # also longer than a day
        assert np.allclose(pipeline_mean_profile(rate, delta, grid), 7.0 * delta)


def test_pipeline_mean_satisfies_littles_law_and_brute_force_window():
    grid = TimeGrid(10)
    rate = grid.from_hourly(hourly_rates(300.0, commuter_profile()))
    rng = np.random.default_rng(3)
    delta = rng.uniform(2.0, 6.0, grid.steps)  # the delay depends on the arrival step
    m = pipeline_mean_profile(rate, delta, grid)
    # Little: the time average of m equals arrivals per hour x their mean delay
    assert m.mean() == pytest.approx((rate * delta).sum() * grid.step_hours / 24.0, rel=1e-9)
    # brute force: fine sampling of the arrivals of the last two days still in the pipeline
    fine = 2000
    for t_index in (0, 50, 100, 130):
        t = (t_index + 0.5) * grid.step_hours
        s = (np.arange(-48 * fine, 0) + 0.5) / fine + t  # arrival times in (t - 48 h, t]
        step = (np.floor(s / grid.step_hours).astype(int)) % grid.steps
        inside = (t - s) < delta[step]
        assert m[t_index] == pytest.approx((rate[step] * inside).sum() / fine, rel=2e-3)


def test_constant_delay_shortcut_matches_general_profile():
    grid = TimeGrid(15)
    rate = grid.from_hourly(hourly_rates(np.array([120.0, 80.0]), commuter_profile()))
    delays = np.array([[3.5, 4.75], [26.0, 1.0]])
    fast = pipeline_mean_constant_delay(rate, delays, grid)
    for i in range(2):
        for j in range(2):
            assert np.allclose(fast[i, j], pipeline_mean_profile(rate[i], delays[i, j], grid))


def test_fill_rate_for_stationary_poisson_pipeline_is_the_poisson_cdf():
    grid = TimeGrid(30)
    rate = np.full(grid.steps, 12.0)
    m = pipeline_mean_profile(rate, 4.0, grid)
    table = service_table(rate, m, grid, 80)
    k = np.arange(81)
    assert np.allclose(table.fill_rate, stats.poisson.cdf(k - 1, 48.0))
    assert np.allclose(table.ready_rate, stats.poisson.cdf(k, 48.0))
    d = np.arange(200)
    direct_ebo = [float(np.sum(np.clip(d - s, 0, None) * stats.poisson.pmf(d, 48.0))) for s in k]
    assert np.allclose(table.expected_backorders, direct_ebo, atol=1e-9)


def test_negative_binomial_fill_rate_is_the_size_biased_gamma_mixture():
    r, m, grid = 20.0, 30.0, TimeGrid(60)
    rate = np.full(grid.steps, m / 3.0)
    mean = pipeline_mean_profile(rate, 3.0, grid)
    table = service_table(rate, mean, grid, 70, Dispersion(gamma_shape=r))
    gamma = stats.gamma(r, scale=1.0 / r)
    d = np.arange(250)
    for k in (10, 30, 45):
        # a rider arrives at rate proportional to the day's multiplier G
        num = integrate.quad(lambda g, k=k: g * gamma.pdf(g) * stats.poisson.cdf(k - 1, g * m), 0, 6)[0]
        assert table.fill_rate[k] == pytest.approx(num, abs=1e-7)
        ebo = integrate.quad(
            lambda g, k=k: gamma.pdf(g) * float(np.sum(np.clip(d - k, 0, None) * stats.poisson.pmf(d, g * m))), 0, 6)[0]
        assert table.expected_backorders[k] == pytest.approx(ebo, abs=1e-6)


def test_overdispersion_test_separates_poisson_from_gamma_mixed_days():
    rng = np.random.default_rng(5)
    poisson_days = rng.poisson(400, 60)
    assert not estimate_dispersion(poisson_days).overdispersed
    mixed = rng.poisson(400 * rng.gamma(25.0, 1 / 25.0, 400))
    fitted = estimate_dispersion(mixed)
    assert fitted.overdispersed and 15 < fitted.gamma_shape < 40


def test_single_hub_uses_round_trip_and_the_smallest_sufficient_stock():
    params = SingleHubInput(vehicles=200, swaps_per_vehicle_day=2, charging_hours=3, transport_hours=0.5,
                            operating_hours=16, service_level=0.95, max_wait_probability=0.2, service_basis="day")
    result = solve_single_hub(params)
    assert result.swap_rate_per_hour == pytest.approx(25.0)
    sizing = size_ports(25.0, 3.0, 0.2)
    assert result.charging_ports == sizing.ports
    assert result.pipeline_hours == pytest.approx(3.0 + 2 * 0.5 + sizing.mean_wait_hours, rel=1e-6)
    assert result.pipeline_mean == pytest.approx(25.0 * result.pipeline_hours, rel=1e-6)
    assert result.total_batteries == 200 + result.spare_batteries
    # minimality against an independent evaluation of the daily fill rate
    grid = TimeGrid(10)
    rate = grid.from_hourly(hourly_rates(400.0, operating_profile(6, 16)))
    m = pipeline_mean_profile(rate, result.pipeline_hours, grid)

    def fill(k):
        return float((rate * stats.poisson.cdf(k - 1, m)).sum() / rate.sum())

    assert fill(result.spare_batteries) >= 0.95 > fill(result.spare_batteries - 1)


def test_worst_hour_basis_needs_at_least_the_daily_basis_and_naive_needs_less():
    base = dict(vehicles=300, swaps_per_vehicle_day=2.5, charging_hours=2.5, transport_hours=0.4, operating_hours=14,
                service_level=0.9, max_wait_probability=0.2)
    day = solve_single_hub(SingleHubInput(**base, service_basis="day"))
    worst = solve_single_hub(SingleHubInput(**base, service_basis="worst_hour"))
    assert worst.spare_batteries >= day.spare_batteries
    naive = naive_single_hub(SingleHubInput(**base))
    assert naive.spare_batteries < day.spare_batteries and naive.charging_ports < day.charging_ports


def test_required_level_picks_first_reaching_target():
    table = np.array([[0.1, 0.5, 0.95, 0.99], [0.2, 0.3, 0.4, 0.5]])
    assert required_level(table, 0.95).tolist() == [2, -1]


@pytest.mark.parametrize("field,value,needle", [
    ("swaps_per_vehicle_day", 0.0, "swaps_per_vehicle_day"),
    ("swaps_per_vehicle_day", -2.0, "swaps_per_vehicle_day"),
    ("vehicles", 0, "vehicles"),
    ("service_level", 1.0, "service_level"),
    ("service_level", 0.0, "service_level"),
    ("service_level", 1.7, "service_level"),
    ("charging_hours", 0.0, "charging_hours"),
    ("charging_hours", -3.0, "charging_hours"),
    ("transport_hours", -0.5, "transport_hours"),
    ("operating_hours", 30.0, "operating_hours"),
    ("max_wait_probability", 1.2, "max_wait_probability"),
])
def test_bad_parameters_raise_clear_errors(field, value, needle):
    with pytest.raises(SwapInputError, match=needle):
        solve_single_hub(SingleHubInput(**{field: value}))


def test_zero_or_negative_daily_rates_are_refused():
    with pytest.raises(SwapInputError, match="positive"):
        hourly_rates(np.array([10.0, 0.0]), commuter_profile())
    with pytest.raises(SwapInputError, match="positive"):
        hourly_rates(-5.0, commuter_profile())
