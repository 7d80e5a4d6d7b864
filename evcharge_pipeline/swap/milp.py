"""Swap network design as a MILP (CVXPY + HiGHS): open hubs, assign stations, spares per station, ports per hub.

Decisions
  y_j   open candidate hub j (fixed cost)
  x_p   station i charges at hub j, for allowed pairs p = (i, j)
  w_t   station i assigned to hub j keeps k spares, for tabulated triples t = (i, j, k)
  u_q   hub j installs c ports, for port levels q = (j, c), c <= the hub's grid limit in ports

Spare levels come from service tables computed per pair (the pipeline time depends on the
round trip to the hub): fill rate, worst-hour fill rate and expected backorders for every k. Only
levels between the smallest one that meets the service target and the cost-minimising one are
kept: lower ones break the service constraint, higher ones cost more and use more batteries, so
they are dominated. Port levels carry the largest peak battery arrival rate that c ports serve
within the waiting targets (Erlang C); the hub's load is checked at every time step of the day,
with each station's profile shifted by its one-way transport time.

Objective: capital (hubs, ports, spare batteries) + planning_years x (stockout + backorder +
transport costs per year). Costs in CAD.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from evcharge_pipeline.solving import INFEASIBLE, NO_SOLUTION, has_solution, solve_cvxpy
from evcharge_pipeline.swap.analytic import (
    Dispersion,
    SwapInputError,
    TimeGrid,
    check_non_negative,
    check_positive,
    check_probability,
    erlang_c_mean_wait_hours,
    max_level_for,
    pipeline_mean_constant_delay,
    pipeline_mean_profile,
    port_load_capacity,
    required_level,
    service_table,
)

HOURS_PER_YEAR = 8760.0
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class SwapNetworkConfig:
    """Parameters of the network design model (units in the field names; costs in CAD)."""

    charging_hours: float = 3.0  # time on a charging port per battery
    service_level: float = 0.95  # per-station fill-rate target
    service_basis: str = "worst_hour"  # "worst_hour": target in every clock hour; "day": over the day
    max_wait_probability: float | None = 0.2  # Erlang C target P(battery waits for a port) at the peak
    max_mean_wait_hours: float = 0.25  # mean port wait bound at the peak; also the wait allowance in pipeline times
    battery_cost_cad: float = 1200.0  # per spare battery
    stockout_cost_cad: float = 5.0  # per swap not served from stock at once (rider waits)
    backorder_cost_cad_per_hour: float = 0.0  # per rider-hour waiting for a battery
    transport_cost_cad_per_battery_hour: float = 0.5  # per battery per hour of travel, both ways counted
    planning_years: float = 5.0  # operating costs are counted for this many years
    max_spare_batteries: int | None = None  # optional network-wide cap on spares
    port_levels_exact_until: int = 60  # every port count up to this is a candidate level
    port_level_growth: float = 0.02  # above it, candidate counts grow by this fraction (0: every count)
    step_minutes: int = 15  # time step of the service tables
    time_limit_seconds: float = 300.0
    mip_rel_gap: float = 1e-4

    def validate(self) -> None:
        check_positive("charging_hours", self.charging_hours)
        check_probability("service_level", self.service_level)
        if self.service_basis not in ("worst_hour", "day"):
            raise SwapInputError(f"service_basis must be 'worst_hour' or 'day', got {self.service_basis!r}")
        if self.max_wait_probability is not None:
            check_probability("max_wait_probability", self.max_wait_probability)
        check_positive("max_mean_wait_hours", self.max_mean_wait_hours)
        for name in ("battery_cost_cad", "stockout_cost_cad", "backorder_cost_cad_per_hour",
                     "transport_cost_cad_per_battery_hour", "planning_years"):
            check_non_negative(name, getattr(self, name))
        if self.max_spare_batteries is not None and self.max_spare_batteries < 0:
            raise SwapInputError("max_spare_batteries must be non-negative")


@dataclass(frozen=True)
class SwapNetworkInput:
    """Stations, candidate hubs and travel times.

    station_ids, station_rate_per_hour: (stations, steps) swap rates on the config's time grid;
    hubs: DataFrame hub_id, fixed_cost_cad, port_cost_cad, grid_limit_ports;
    transport_hours: (stations, hubs) ONE-WAY travel time; inf/NaN where a station cannot use a hub.
    """

    station_ids: list[str]
    station_rate_per_hour: np.ndarray
    hubs: pd.DataFrame
    transport_hours: np.ndarray
    dispersion: Dispersion = Dispersion()

    def validate(self, grid: TimeGrid) -> None:
        n, m = len(self.station_ids), len(self.hubs)
        rate = np.asarray(self.station_rate_per_hour)
        if rate.shape != (n, grid.steps):
            raise SwapInputError(f"station_rate_per_hour must be ({n}, {grid.steps}), got {rate.shape}")
        if np.any(~np.isfinite(rate)) or np.any(rate < 0):
            raise SwapInputError("swap rates must be finite and non-negative")
        if np.any(rate.sum(axis=1) <= 0):
            bad = [self.station_ids[i] for i in np.flatnonzero(rate.sum(axis=1) <= 0)]
            raise SwapInputError(f"stations with no swaps: {bad}")
        if np.asarray(self.transport_hours).shape != (n, m):
            raise SwapInputError(f"transport_hours must be ({n}, {m})")
        missing = {"hub_id", "fixed_cost_cad", "port_cost_cad", "grid_limit_ports"} - set(self.hubs.columns)
        if missing:
            raise SwapInputError(f"hubs lack columns {sorted(missing)}")


@dataclass
class SwapTables:
    """Everything the MILP (and the enumeration check) needs, precomputed."""

    pair_station: np.ndarray  # (pairs,)
    pair_hub: np.ndarray
    pair_transport_hours: np.ndarray
    pair_hub_rate: np.ndarray  # (pairs, steps): station rate as it arrives at the hub
    triple_pair: np.ndarray  # (triples,)
    triple_level: np.ndarray
    triple_fill: np.ndarray  # arrival-weighted fill rate over the day
    triple_service: np.ndarray  # the measure the target applies to
    triple_backorders: np.ndarray
    triple_cost_cad: np.ndarray  # battery capital + planning_years x (stockout + backorder + transport)
    level_hub: np.ndarray  # (levels,) port levels
    level_ports: np.ndarray
    level_capacity_per_hour: np.ndarray
    level_cost_cad: np.ndarray
    infeasible_reason: str | None


def build_tables(data: SwapNetworkInput, config: SwapNetworkConfig) -> SwapTables:
    config.validate()
    grid = TimeGrid(config.step_minutes)
    data.validate(grid)
    rate = np.asarray(data.station_rate_per_hour, dtype=float)
    tt = np.asarray(data.transport_hours, dtype=float)
    allowed = np.isfinite(tt)
    if np.any(tt[allowed] < 0):
        raise SwapInputError("transport_hours must be non-negative")
    reasons = []
    no_hub = ~allowed.any(axis=1)
    if no_hub.any():
        reasons.append(f"stations without any reachable hub: {[data.station_ids[i] for i in np.flatnonzero(no_hub)]}")
    pair_station, pair_hub = np.nonzero(allowed)
    pair_tt = tt[pair_station, pair_hub]
    # pipeline means per pair: (stations, hubs, steps) -> (pairs, steps)
    delay = config.charging_hours + 2.0 * np.where(allowed, tt, 0) + config.max_mean_wait_hours
    delta_matrix = np.where(allowed, delay, 0.0)
    m_all = pipeline_mean_constant_delay(rate, delta_matrix, grid)
    m_pairs = m_all[pair_station, pair_hub]
    top = max_level_for(m_pairs, data.dispersion)
    annual_swaps = rate.sum(axis=1) * grid.step_hours * DAYS_PER_YEAR  # (stations,)
    # service tables, chunked over pairs to bound memory
    n_pairs = pair_station.size
    fill = np.empty((n_pairs, top + 1))
    worst = np.empty((n_pairs, top + 1))
    ebo = np.empty((n_pairs, top + 1))
    chunk = max(1, int(4e6 // (grid.steps * (top + 1))))
    for start in range(0, n_pairs, chunk):
        sl = slice(start, start + chunk)
        table = service_table(rate[pair_station[sl]], m_pairs[sl], grid, top, data.dispersion)
        fill[sl], worst[sl], ebo[sl] = table.fill_rate, table.worst_hour_fill_rate, table.expected_backorders
    service = worst if config.service_basis == "worst_hour" else fill
    levels = np.arange(top + 1)
    cost = (
        config.battery_cost_cad * levels[None, :]
        + config.planning_years * (
            annual_swaps[pair_station, None] * (1.0 - fill) * config.stockout_cost_cad
            + ebo * HOURS_PER_YEAR * config.backorder_cost_cad_per_hour
            + (annual_swaps[pair_station] * 2.0 * pair_tt * config.transport_cost_cad_per_battery_hour)[:, None]
        )
    )
    kmin = required_level(service, config.service_level)  # -1: none in range (cannot happen with the tail bound)
    feasible_level = levels[None, :] >= np.where(kmin < 0, top + 1, kmin)[:, None]
    masked = np.where(feasible_level, cost, np.inf)
    kbest = np.argmin(masked, axis=1)
    if config.max_spare_batteries is None:
        # nothing couples the stations' spares: the cost-minimising feasible level is the only candidate
        keep = (levels[None, :] == kbest[:, None]) & (kmin[:, None] >= 0)
    else:
        keep = feasible_level & (levels[None, :] <= kbest[:, None]) & (kmin[:, None] >= 0)
    triple_pair, triple_level = np.nonzero(keep)
    # hub arrival profile of each pair: the station profile shifted by the one-way trip
    shift = np.rint(pair_tt / grid.step_hours).astype(int)
    idx = (np.arange(grid.steps)[None, :] - shift[:, None]) % grid.steps
    pair_hub_rate = rate[pair_station[:, None], idx]
    # port levels per hub up to its grid limit (or what the whole network could need)
    hubs = data.hubs.reset_index(drop=True)
    total_peak = float(rate.sum(axis=0).max())
    need_all = int(np.ceil(total_peak * config.charging_hours)) + 1
    while port_load_capacity(np.array([need_all]), config.charging_hours, config.max_wait_probability,
                             config.max_mean_wait_hours)[0] < total_peak:
        need_all = int(need_all * 1.2) + 1
    limits = np.minimum(hubs["grid_limit_ports"].to_numpy(dtype=float), need_all).astype(int)
    if np.any(hubs["grid_limit_ports"].to_numpy(dtype=float) < 0):
        raise SwapInputError("grid_limit_ports must be non-negative")
    per_hub = [port_levels(int(c), config.port_levels_exact_until, config.port_level_growth) for c in limits]
    level_hub = np.repeat(np.arange(len(hubs)), [lv.size for lv in per_hub])
    level_ports = np.concatenate(per_hub) if per_hub else np.zeros(0, int)
    capacity_by_ports = port_load_capacity(np.arange(0, max(limits.max(initial=0), 0) + 1), config.charging_hours,
                                           config.max_wait_probability, config.max_mean_wait_hours)
    level_capacity = capacity_by_ports[level_ports]
    level_cost = hubs["port_cost_cad"].to_numpy(dtype=float)[level_hub] * level_ports
    hub_capacity_max = np.zeros(len(hubs))
    hub_capacity_max[limits > 0] = capacity_by_ports[limits[limits > 0]]
    station_peak = rate.max(axis=1)
    reachable_capacity = np.where(allowed, hub_capacity_max[None, :], -np.inf).max(axis=1)
    too_big = reachable_capacity < station_peak - 1e-9
    if too_big.any():
        reasons.append("stations whose peak exceeds every reachable hub's grid limit: "
                       f"{[data.station_ids[i] for i in np.flatnonzero(too_big)]}")
    if hub_capacity_max.sum() < total_peak - 1e-9:
        reasons.append(f"network peak {total_peak:.1f} batteries/h exceeds all hubs' grid limits together "
                       f"({hub_capacity_max.sum():.1f}/h)")
    if config.max_spare_batteries is not None:
        min_spares = np.full(len(rate), 10**9)
        np.minimum.at(min_spares, pair_station, np.where(kmin >= 0, kmin, 10**9))
        if min_spares.sum() > config.max_spare_batteries:
            reasons.append(f"the service target needs at least {int(min_spares.sum())} spares, cap is "
                           f"{config.max_spare_batteries}")
    return SwapTables(
        pair_station=pair_station, pair_hub=pair_hub, pair_transport_hours=pair_tt, pair_hub_rate=pair_hub_rate,
        triple_pair=triple_pair, triple_level=triple_level, triple_fill=fill[triple_pair, triple_level],
        triple_service=service[triple_pair, triple_level], triple_backorders=ebo[triple_pair, triple_level],
        triple_cost_cad=cost[triple_pair, triple_level], level_hub=level_hub, level_ports=level_ports,
        level_capacity_per_hour=level_capacity, level_cost_cad=level_cost,
        infeasible_reason="; ".join(reasons) or None,
    )


def port_levels(limit: int, exact_until: int, growth: float) -> np.ndarray:
    """Candidate port counts 1..limit: every count up to `exact_until`, then a geometric grid, plus the limit.

    Each level carries the exact Erlang C capacity of its count, so a chosen level is always
    feasible; above `exact_until` the installed count is at most `growth` above the smallest
    sufficient one.
    """
    if limit <= 0:
        return np.zeros(0, dtype=int)
    if growth <= 0 or limit <= exact_until:
        return np.arange(1, limit + 1)
    counts = list(range(1, exact_until + 1))
    c = float(exact_until)
    while c < limit:
        c = max(c * (1 + growth), counts[-1] + 1)
        counts.append(int(min(np.ceil(c), limit)))
    return np.unique(np.asarray(counts, dtype=int))


@dataclass
class SwapNetworkPlan:
    status: str  # a `solving` status: optimal, time_limit, infeasible, no_solution, error
    reason: str | None
    objective_cad: float | None
    stations: pd.DataFrame  # station_id, hub_id, transport_hours, spare_batteries, fill rates, costs
    hubs: pd.DataFrame  # hub_id, is_open, charging_ports, peak load, capacity, costs
    cost_breakdown: dict
    build_seconds: float
    solve_seconds: float
    mip_gap: float | None
    variables: int
    constraints: int

    @property
    def solved(self) -> bool:
        return has_solution(self.status)


def _one_hot(rows: np.ndarray, n_rows: int, values: np.ndarray | None = None) -> sp.csr_matrix:
    """Sparse (n_rows x len(rows)) matrix with values[k] at (rows[k], k)."""
    cols = np.arange(rows.size)
    data = np.ones(rows.size) if values is None else np.asarray(values, dtype=float)
    return sp.csr_matrix((data, (rows, cols)), shape=(n_rows, rows.size))


def solve_network(data: SwapNetworkInput, config: SwapNetworkConfig = SwapNetworkConfig(),
                  tables: SwapTables | None = None) -> SwapNetworkPlan:
    """Build and solve the MILP; an infeasible instance returns status 'infeasible' with the reason."""
    started = time.perf_counter()
    grid = TimeGrid(config.step_minutes)
    tables = tables or build_tables(data, config)
    n, m = len(data.station_ids), len(data.hubs)
    if tables.infeasible_reason:
        return _empty_plan("infeasible", tables.infeasible_reason, data, time.perf_counter() - started)
    P, T, L = tables.pair_station.size, tables.triple_pair.size, tables.level_hub.size
    x = cp.Variable(P, boolean=True)
    w = cp.Variable(T, boolean=True)
    y = cp.Variable(m, boolean=True)
    u = cp.Variable(L, boolean=True)
    station_of_pair = _one_hot(tables.pair_station, n)  # (n, P)
    hub_of_pair = _one_hot(tables.pair_hub, m)  # (m, P)
    pair_of_triple = _one_hot(tables.triple_pair, P)  # (P, T)
    station_of_triple = station_of_pair @ pair_of_triple  # (n, T)
    hub_of_level = _one_hot(tables.level_hub, m)  # (m, L)
    steps = grid.steps
    # load rows (hub, step): sum over pairs of hub-arrival rate <= capacity of the chosen level
    rows = (tables.pair_hub[:, None] * steps + np.arange(steps)[None, :]).ravel()
    cols = np.repeat(np.arange(P), steps)
    load = sp.csr_matrix((tables.pair_hub_rate.ravel(), (rows, cols)), shape=(m * steps, P))
    level_rows = (tables.level_hub[:, None] * steps + np.arange(steps)[None, :]).ravel()
    level_cols = np.repeat(np.arange(L), steps)
    capacity = sp.csr_matrix((np.repeat(tables.level_capacity_per_hour, steps), (level_rows, level_cols)),
                             shape=(m * steps, L))
    fixed = data.hubs["fixed_cost_cad"].to_numpy(dtype=float)
    constraints = [
        station_of_pair @ x == 1,
        x <= hub_of_pair.T @ y,
        pair_of_triple @ w == x,
        station_of_triple @ sp.diags(tables.triple_service) @ w >= config.service_level,
        hub_of_level @ u == y,
        load @ x <= capacity @ u,
    ]
    if config.max_spare_batteries is not None:
        constraints.append(tables.triple_level @ w <= config.max_spare_batteries)
    objective = cp.Minimize(fixed @ y + tables.level_cost_cad @ u + tables.triple_cost_cad @ w)
    problem = cp.Problem(objective, constraints)
    build_seconds = time.perf_counter() - started
    stats = solve_cvxpy(problem, cp.HIGHS, build_seconds=build_seconds, mip_rel_gap=config.mip_rel_gap,
                        time_limit=float(config.time_limit_seconds))
    if stats.status == INFEASIBLE:
        return _empty_plan(INFEASIBLE, "the MILP has no solution meeting service level, grid limits and spare cap",
                           data, build_seconds, stats.solve_seconds)
    if not stats.has_solution or x.value is None:
        return _empty_plan(stats.status if not stats.has_solution else NO_SOLUTION,
                           f"the solver stopped without a feasible plan ({stats.detail})", data, build_seconds,
                           stats.solve_seconds)
    chosen_triples = np.flatnonzero(w.value > 0.5)
    chosen_levels = np.flatnonzero(u.value > 0.5)
    plan = _describe(data, config, tables, chosen_triples, chosen_levels, np.asarray(y.value) > 0.5, grid)
    plan.status = stats.status
    plan.objective_cad = stats.objective
    plan.build_seconds, plan.solve_seconds, plan.mip_gap = build_seconds, stats.solve_seconds, stats.gap
    plan.variables = P + T + m + L
    plan.constraints = sum(c.size for c in constraints)
    return plan


def _empty_plan(status: str, reason: str, data: SwapNetworkInput, build: float, solve: float = 0.0) -> SwapNetworkPlan:
    stations = pd.DataFrame({"station_id": data.station_ids})
    hubs = pd.DataFrame({"hub_id": data.hubs["hub_id"].astype(str)})
    return SwapNetworkPlan(status, reason, None, stations, hubs, {}, build, solve, None, 0, 0)


def _describe(data: SwapNetworkInput, config: SwapNetworkConfig, tables: SwapTables, triples: np.ndarray,
              levels: np.ndarray, open_hubs: np.ndarray, grid: TimeGrid) -> SwapNetworkPlan:
    """Per-station and per-hub frames of a chosen solution, with the analytic re-evaluation at actual waits."""
    m = len(data.hubs)
    hub_ids = data.hubs["hub_id"].astype(str).tolist()
    pair = tables.triple_pair[triples]
    station = tables.pair_station[pair]
    order = np.argsort(station)
    triples, pair, station = triples[order], pair[order], station[order]
    hub = tables.pair_hub[pair]
    spares = tables.triple_level[triples]
    ports = np.zeros(m, dtype=int)
    ports[tables.level_hub[levels]] = tables.level_ports[levels]
    hub_load = np.zeros((m, grid.steps))
    np.add.at(hub_load, hub, tables.pair_hub_rate[pair])
    hub_peak = hub_load.max(axis=1)
    # actual expected port wait at each step (pointwise-stationary Erlang C) and the re-evaluated service
    wait_at_hub = erlang_c_mean_wait_hours(ports[:, None], hub_load, config.charging_hours)  # (m, steps)
    shift = np.rint(tables.pair_transport_hours[pair] / grid.step_hours).astype(int)
    idx = (np.arange(grid.steps)[None, :] + shift[:, None]) % grid.steps
    wait_station = wait_at_hub[hub[:, None], idx]  # wait seen by the station's arrivals of each step
    rate = np.asarray(data.station_rate_per_hour, dtype=float)[station]
    delta = config.charging_hours + 2.0 * tables.pair_transport_hours[pair][:, None] + wait_station
    m_actual = pipeline_mean_profile(rate, delta, grid)
    table = service_table(rate, m_actual, grid, int(spares.max(initial=0)) + 1, data.dispersion)
    pick = spares[:, None]
    fill_actual = np.take_along_axis(table.fill_rate, pick, axis=1)[:, 0]
    worst_actual = np.take_along_axis(table.worst_hour_fill_rate, pick, axis=1)[:, 0]
    annual = rate.sum(axis=1) * grid.step_hours * DAYS_PER_YEAR
    stations = pd.DataFrame({
        "station_id": [data.station_ids[i] for i in station],
        "hub_id": [hub_ids[j] for j in hub],
        "transport_hours_one_way": tables.pair_transport_hours[pair],
        "swaps_per_day": annual / DAYS_PER_YEAR,
        "peak_swaps_per_hour": rate.max(axis=1),
        "pipeline_hours_design": (config.charging_hours + 2.0 * tables.pair_transport_hours[pair]
                                  + config.max_mean_wait_hours),
        "pipeline_mean_peak": m_actual.max(axis=1),
        "spare_batteries": spares.astype(int),
        "fill_rate_design": tables.triple_fill[triples],
        "service_measure_design": tables.triple_service[triples],
        "fill_rate": fill_actual,
        "worst_hour_fill_rate": worst_actual,
        "expected_backorders": tables.triple_backorders[triples],
        "cost_cad": tables.triple_cost_cad[triples],
    })
    fixed = data.hubs["fixed_cost_cad"].to_numpy(dtype=float)
    port_cost = data.hubs["port_cost_cad"].to_numpy(dtype=float)
    cap_by_hub = np.zeros(m)
    cap_by_hub[tables.level_hub[levels]] = tables.level_capacity_per_hour[levels]
    with np.errstate(invalid="ignore", divide="ignore"):
        hubs = pd.DataFrame({
            "hub_id": hub_ids,
            "is_open": open_hubs.astype(bool),
            "stations": np.bincount(hub, minlength=m),
            "charging_ports": ports,
            "grid_limit_ports": data.hubs["grid_limit_ports"].to_numpy(dtype=float),
            "peak_arrivals_per_hour": hub_peak,
            "capacity_arrivals_per_hour": cap_by_hub,
            "port_utilisation_peak": np.where(ports > 0, hub_peak * config.charging_hours / np.maximum(ports, 1), 0.0),
            "port_mean_wait_hours_peak": np.where(ports > 0, wait_at_hub.max(axis=1), 0.0),
            "fixed_cost_cad": np.where(open_hubs, fixed, 0.0),
            "port_cost_cad": port_cost * ports,
        })
    years = config.planning_years
    battery_capex = config.battery_cost_cad * float(spares.sum())
    stockout = years * float((annual * (1 - tables.triple_fill[triples])).sum()) * config.stockout_cost_cad
    backorder = (years * float(tables.triple_backorders[triples].sum()) * HOURS_PER_YEAR
                 * config.backorder_cost_cad_per_hour)
    transport = (years * float((annual * 2 * tables.pair_transport_hours[pair]).sum())
                 * config.transport_cost_cad_per_battery_hour)
    breakdown = {
        "hub_fixed_cost_cad": float(hubs["fixed_cost_cad"].sum()),
        "port_cost_cad": float(hubs["port_cost_cad"].sum()),
        "battery_cost_cad": battery_capex,
        "stockout_cost_cad": stockout,
        "backorder_cost_cad": backorder,
        "transport_cost_cad": transport,
    }
    breakdown["total_cost_cad"] = float(sum(breakdown.values()))
    return SwapNetworkPlan("optimal", None, None, stations, hubs, breakdown, 0.0, 0.0, None, 0, 0)
