"""Brute-force oracle for the swap network MILP (tests only): every station-to-hub assignment of a tiny
instance, priced from service tables and Erlang C computed here, independently of the model's own rows."""

from __future__ import annotations

import itertools

import numpy as np

from evcharge_pipeline.swap.analytic import (
    SwapInputError,
    TimeGrid,
    erlang_c,
    erlang_c_mean_wait_hours,
    max_level_for,
    pipeline_mean_profile,
    service_table,
)
from evcharge_pipeline.swap.milp import (
    DAYS_PER_YEAR,
    HOURS_PER_YEAR,
    SwapNetworkConfig,
    SwapNetworkInput,
)


def enumerate_network(data: SwapNetworkInput, config: SwapNetworkConfig) -> tuple[float, np.ndarray] | None:
    """Brute force over every station-to-hub assignment (tiny instances only; an independent check of the MILP).

    For each assignment: the hubs used are opened, each hub gets the fewest ports whose Erlang C
    waiting measures at its peak load meet the targets (within its grid limit), each station the
    cheapest spare level that meets the service target, from service tables computed here per pair.
    Returns (best cost, hub index per station) or None if no assignment is feasible.
    """
    config.validate()
    grid = TimeGrid(config.step_minutes)
    data.validate(grid)
    if config.max_spare_batteries is not None:
        raise SwapInputError("enumeration does not handle max_spare_batteries")
    n, m = len(data.station_ids), len(data.hubs)
    if m**n > 200_000:
        raise SwapInputError("instance too large to enumerate")
    rate = np.asarray(data.station_rate_per_hour, dtype=float)
    tt = np.asarray(data.transport_hours, dtype=float)
    best_pair = np.full((n, m), np.inf)
    for i in range(n):
        annual = rate[i].sum() * grid.step_hours * DAYS_PER_YEAR
        for j in range(m):
            if not np.isfinite(tt[i, j]):
                continue
            delta = config.charging_hours + 2 * tt[i, j] + config.max_mean_wait_hours
            mean = pipeline_mean_profile(rate[i], delta, grid)
            table = service_table(rate[i], mean, grid, max_level_for(mean, data.dispersion), data.dispersion)
            measure = table.worst_hour_fill_rate if config.service_basis == "worst_hour" else table.fill_rate
            k = np.arange(measure.size)
            cost = (config.battery_cost_cad * k + config.planning_years * (
                annual * (1 - table.fill_rate) * config.stockout_cost_cad
                + table.expected_backorders * HOURS_PER_YEAR * config.backorder_cost_cad_per_hour
                + annual * 2 * tt[i, j] * config.transport_cost_cad_per_battery_hour))
            feasible = measure >= config.service_level - 1e-12
            if feasible.any():
                best_pair[i, j] = cost[feasible].min()
    grid_limit = data.hubs["grid_limit_ports"].to_numpy(dtype=float)
    fixed = data.hubs["fixed_cost_cad"].to_numpy(dtype=float)
    port_cost = data.hubs["port_cost_cad"].to_numpy(dtype=float)

    def fewest_ports(peak: float, limit: float) -> int | None:
        for c in range(1, int(limit) + 1):
            a = peak * config.charging_hours
            if a >= c:
                continue
            ok = erlang_c_mean_wait_hours(c, peak, config.charging_hours) <= config.max_mean_wait_hours
            if config.max_wait_probability is not None:
                ok = ok and erlang_c(c, a) <= config.max_wait_probability
            if ok:
                return c
        return None

    best: tuple[float, np.ndarray] | None = None
    for assign in itertools.product(range(m), repeat=n):
        a = np.array(assign)
        cost = float(best_pair[np.arange(n), a].sum())
        if not np.isfinite(cost):
            continue
        for j in set(assign):
            load = np.zeros(grid.steps)
            for i in np.flatnonzero(a == j):
                load += np.roll(rate[i], int(np.rint(tt[i, j] / grid.step_hours)))
            ports = fewest_ports(float(load.max()), grid_limit[j])
            if ports is None:
                cost = np.inf
                break
            cost += fixed[j] + port_cost[j] * ports
        if np.isfinite(cost) and (best is None or cost < best[0] - 1e-9):
            best = (cost, a)
    return best
