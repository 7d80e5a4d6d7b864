"""Smart-charging schedule as a mixed-integer linear programme (CVXPY, HiGHS by default).

Variables exist only for (session, step) pairs where the car is connected. Per pair: power
``p >= 0`` up to the session's maximum; optionally a binary on/off with a minimum non-zero rate,
or binaries choosing one of the discrete pilot levels. Per session: delivered energy never above
the request (nor above the battery headroom when the battery is known); with a hard requirement
it must reach the request, with a soft one the shortfall is penalised. Per step: charging plus
base load within the transformer limit. Objective: time-of-use energy cost + demand charge on the
peak above the month's already-billed peak + battery degradation (convex piecewise-linear, see
``metrics``) + unmet-energy penalty.

Two modes:

* :func:`solve_offline` - perfect foresight over the instance (a day plan).
* :func:`solve_online` - rolling horizon: re-plans at every arrival with only the cars that have
  arrived (their requested energy and departure are known once they plug in) and commits the
  plan up to the next arrival.

:func:`max_deliverable_energy` is the LP upper bound on deliverable energy under the limit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from evcharge_pipeline.charging.instance import ChargingInstance
from evcharge_pipeline.charging.metrics import CostModel, objective_terms


@dataclass(frozen=True)
class ChargingModelConfig:
    """Options of the scheduling model.

    cost: objective weights (see :class:`CostModel`).
    min_power_kw: smallest non-zero charging power (J1772 EVSEs cannot pilot below 6 A, about
        1.25 kW at 208 V); 0 = continuous rates, no binaries.
    pilot_levels_kw: allowed non-zero powers (binaries choose one per step); empty = continuous.
        Levels above a session's maximum are not offered to it.
    energy_requirement: ``"soft"`` (penalised shortfall) or ``"hard"`` (must deliver the request;
        when infeasible under the limit, the status records it and the soft schedule is returned).
    solver: CVXPY solver name; HIGHS ships with CVXPY.
    mip_rel_gap: relative MIP gap at which HiGHS stops.
    time_limit_seconds: per solve.
    """

    cost: CostModel = field(default_factory=CostModel)
    min_power_kw: float = 0.0
    pilot_levels_kw: tuple[float, ...] = ()
    energy_requirement: str = "soft"
    solver: str = "HIGHS"
    mip_rel_gap: float = 1e-4
    time_limit_seconds: float = 60.0

    def __post_init__(self):
        if self.energy_requirement not in ("soft", "hard"):
            raise ValueError(f"energy_requirement must be 'soft' or 'hard', got {self.energy_requirement!r}")
        if self.min_power_kw < 0 or any(level <= 0 for level in self.pilot_levels_kw):
            raise ValueError("min_power_kw must be >= 0 and pilot levels > 0")

    @property
    def is_mixed_integer(self) -> bool:
        return bool(self.pilot_levels_kw) or self.min_power_kw > 0

    @property
    def granularity_kw(self) -> float:
        """Smallest controllable power step (for the hard-requirement tolerance)."""
        if self.pilot_levels_kw:
            return float(min(self.pilot_levels_kw))
        return float(self.min_power_kw)


@dataclass
class ScheduleResult:
    """A schedule: power (kW) per (session, step) pair of the instance, with how it was obtained."""

    method: str
    power_kw: np.ndarray
    status: str
    reason: str = ""
    objective: float | None = None
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    mip_gap: float | None = None
    solves: int = 1


_OK = {cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.USER_LIMIT}


def _snap(power: np.ndarray, pmax: np.ndarray, config: ChargingModelConfig) -> np.ndarray:
    power = np.clip(np.nan_to_num(power), 0.0, pmax)
    if config.pilot_levels_kw:
        levels = np.array(sorted(config.pilot_levels_kw) + [0.0])
        nearest = levels[np.abs(power[:, None] - levels[None, :]).argmin(axis=1)]
        power = np.minimum(nearest, pmax)
    power[power < 1e-7] = 0.0
    return power


def _solve_pairs(
    inst: ChargingInstance,
    config: ChargingModelConfig,
    idx: np.ndarray,
    request_kwh: np.ndarray,
    cap_kwh: np.ndarray,
    soc_start_kwh: np.ndarray,
    demand_rate: float,
    peak_floor_kw: float,
    hard: bool,
    maximise_energy_only: bool = False,
) -> tuple[np.ndarray, str, float | None, float, float, float | None]:
    """Solve over the pairs ``idx`` (sorted by session then step). Returns power for those pairs,
    status, objective, build and solve seconds, MIP gap."""
    t0 = time.perf_counter()
    dt = inst.period_hours
    m = len(idx)
    sess = inst.pair_session[idx]
    step = inst.pair_step[idx]
    pmax = inst.max_power_kw[sess]
    S = inst.n_sessions
    if m == 0:
        return np.zeros(0), cp.OPTIMAL, 0.0, time.perf_counter() - t0, 0.0, None
    used, local = np.unique(step, return_inverse=True)
    A = sp.csr_matrix((np.ones(m), (sess, np.arange(m))), shape=(S, m))
    B = sp.csr_matrix((np.ones(m), (local, np.arange(m))), shape=(len(used), m))
    headroom = inst.limit_kw[used] - inst.base_load_kw[used]

    p = cp.Variable(m, nonneg=True)
    cons = []
    mixed = config.is_mixed_integer and not maximise_energy_only
    if mixed and config.pilot_levels_kw:
        levels = np.array(sorted(config.pilot_levels_kw), dtype=float)
        allowed = (levels[None, :] <= pmax[:, None] + 1e-9).astype(float)
        z = cp.Variable((m, len(levels)), boolean=True)
        cons += [p == z @ levels, cp.sum(z, axis=1) <= 1, z <= allowed]
    elif mixed:
        u = cp.Variable(m, boolean=True)
        cons += [p <= cp.multiply(pmax, u), p >= cp.multiply(np.minimum(config.min_power_kw, pmax), u)]
    else:
        cons += [p <= pmax]
    load = B @ p
    cons += [load <= headroom]
    delivered = dt * (A @ p)
    cons += [delivered <= cap_kwh]
    if hard:
        tol = max(1e-6, config.granularity_kw * dt)
        cons += [delivered >= cap_kwh - tol]

    if maximise_energy_only:
        objective = -cp.sum(delivered)
    else:
        cost = config.cost
        terms = [dt * (inst.price_per_kwh[used] @ load)]
        if demand_rate > 0:
            floor = max(peak_floor_kw, float(inst.base_load_kw.max()) if inst.n_steps else 0.0)
            peak = cp.Variable()
            cons += [peak >= load + inst.base_load_kw[used], peak >= floor]
            terms.append(demand_rate * (peak - floor))
        if cost.degradation_cad_per_kwh_at_max_kw > 0:
            d = cp.Variable(m, nonneg=True)
            f = cost.breakpoints()
            cons += [d >= (f[k] + f[k + 1]) * p - f[k] * f[k + 1] * pmax for k in range(len(f) - 1)]
            terms.append(cost.degradation_cad_per_kwh_at_max_kw * dt * cp.sum(d))
        cap = inst.battery_capacity_kwh[sess]
        known = np.flatnonzero(~np.isnan(cap))
        if len(known) and cost.high_soc_cad_per_kwh_hour > 0:
            # cumulative-energy matrix over the pairs with a known battery (lower-triangular per session)
            ks = sess[known]
            new = np.r_[True, ks[1:] != ks[:-1]]
            start = np.maximum.accumulate(np.where(new, np.arange(len(ks)), 0))
            offset = np.arange(len(ks)) - start
            counts = offset + 1
            rows = np.repeat(np.arange(len(ks)), counts)
            first = np.cumsum(counts) - counts
            cols = rows - (np.arange(counts.sum()) - np.repeat(first, counts))
            C = sp.csr_matrix((np.ones(len(rows)), (rows, known[cols])), shape=(len(ks), m))
            soc = soc_start_kwh[ks] + inst.charging_efficiency * dt * (C @ p)
            excess = cp.Variable(len(ks), nonneg=True)
            cons += [excess >= soc - cost.high_soc_threshold * cap[known]]
            terms.append(cost.high_soc_cad_per_kwh_hour * dt * cp.sum(excess))
        terms.append(cost.unmet_penalty_cad_per_kwh * (float(request_kwh.sum()) - cp.sum(delivered)))
        objective = cp.sum(cp.hstack(terms)) if len(terms) > 1 else terms[0]
    problem = cp.Problem(cp.Minimize(objective), cons)
    options = {"time_limit": float(config.time_limit_seconds)}
    if mixed:
        options["mip_rel_gap"] = float(config.mip_rel_gap)
    t1 = time.perf_counter()
    try:
        problem.solve(solver=config.solver, **options)
    except cp.error.SolverError as exc:
        return np.zeros(m), f"solver_error: {exc}", None, t1 - t0, time.perf_counter() - t1, None
    t2 = time.perf_counter()
    gap = None
    stats = problem.solver_stats
    solver_seconds = float(stats.solve_time) if stats is not None and stats.solve_time is not None else t2 - t1
    # CVXPY compiles inside solve(): count compilation as build time, HiGHS time as solve time
    t1 = t2 - min(solver_seconds, t2 - t1)
    if mixed and stats is not None and isinstance(stats.extra_stats, dict):
        info = stats.extra_stats.get("info")
        gap = getattr(info, "mip_gap", None) if info is not None else None
    if problem.status not in _OK or p.value is None:
        return np.zeros(m), problem.status, None, t1 - t0, t2 - t1, gap
    power = _snap(p.value, pmax, config)
    # remove solver-tolerance excess so no session gets more than it may take
    got = dt * np.bincount(sess, weights=power, minlength=S)
    scale = np.where(got > cap_kwh + 1e-9, cap_kwh / np.maximum(got, 1e-12), 1.0)
    if (scale < 1).any() and not config.pilot_levels_kw:
        power = power * scale[sess]
    return power, problem.status, float(problem.value), t1 - t0, t2 - t1, gap


def _check_base_load(inst: ChargingInstance) -> str:
    over = inst.base_load_kw > inst.limit_kw + 1e-9
    if over.any():
        first = inst.period_start[np.flatnonzero(over)[0]]
        return f"base load exceeds the site limit in {int(over.sum())} steps (first at {first.isoformat()})"
    return ""


def solve_offline(
    inst: ChargingInstance,
    config: ChargingModelConfig,
    demand_charge_cad_per_kw: float = 0.0,
    peak_floor_kw: float = 0.0,
    method: str = "milp_offline",
) -> ScheduleResult:
    """Perfect-foresight schedule of every session in ``inst``."""
    reason = _check_base_load(inst)
    if reason:
        return ScheduleResult(method, np.zeros(inst.n_pairs), "infeasible", reason)
    idx = np.arange(inst.n_pairs)
    hard = config.energy_requirement == "hard"
    args = (inst, config, idx, inst.energy_kwh, inst.energy_cap_kwh, inst.soc_start_kwh,
            demand_charge_cad_per_kw, peak_floor_kw)
    power, status, obj, tb, ts, gap = _solve_pairs(*args, hard=hard)
    note = ""
    if hard and status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
        power, status2, obj, tb2, ts2, gap = _solve_pairs(*args, hard=False)
        tb, ts = tb + tb2, ts + ts2
        note = "hard energy requirement infeasible under the site limit; soft schedule returned"
        status = "infeasible_hard_requirement" if status2 in _OK else status2
    elif status not in _OK:
        note = f"solver status {status}"
    if obj is not None and status in _OK:
        obj = objective_terms(inst, power, config.cost, demand_charge_cad_per_kw, peak_floor_kw)["objective"]
    return ScheduleResult(method, power, str(status), note, obj, tb, ts, gap)


def solve_online(
    inst: ChargingInstance,
    config: ChargingModelConfig,
    demand_charge_cad_per_kw: float = 0.0,
    peak_floor_kw: float = 0.0,
    method: str = "milp_online",
) -> ScheduleResult:
    """Rolling-horizon schedule: at each arrival step re-plan the arrived cars, commit until the next arrival.

    Cars are known from their arrival on (energy request and departure as entered at plug-in);
    power already delivered is fixed, and the month's peak so far includes what was committed.
    """
    reason = _check_base_load(inst)
    if reason:
        return ScheduleResult(method, np.zeros(inst.n_pairs), "infeasible", reason)
    power = np.zeros(inst.n_pairs)
    active = inst.departure_step > inst.arrival_step
    events = np.unique(inst.arrival_step[active])
    hard = config.energy_requirement == "hard"
    build = solve = 0.0
    statuses: list[str] = []
    for i, tau in enumerate(events):  # one re-plan per arrival time, not per car or step
        nxt = events[i + 1] if i + 1 < len(events) else inst.n_steps
        arrived = inst.arrival_step <= tau
        mask = arrived[inst.pair_session] & (inst.pair_step >= tau)
        idx = np.flatnonzero(mask)
        delivered = inst.delivered_kwh(power)
        request = np.where(arrived, np.maximum(inst.energy_kwh - delivered, 0.0), 0.0)
        cap = np.where(arrived, np.maximum(inst.energy_cap_kwh - delivered, 0.0), 0.0)
        soc = inst.soc_start_kwh + inst.charging_efficiency * delivered
        past = inst.load_kw(power)[:tau] + inst.base_load_kw[:tau]
        floor = max(peak_floor_kw, float(past.max()) if tau > 0 else 0.0)
        sub, status, _, tb, ts, _ = _solve_pairs(inst, config, idx, request, cap, soc,
                                                 demand_charge_cad_per_kw, floor, hard=hard)
        if hard and status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE):
            sub, status2, _, tb2, ts2, _ = _solve_pairs(inst, config, idx, request, cap, soc,
                                                         demand_charge_cad_per_kw, floor, hard=False)
            tb, ts = tb + tb2, ts + ts2
            status = "infeasible_hard_requirement" if status2 in _OK else status2
        build += tb
        solve += ts
        statuses.append(str(status))
        commit = inst.pair_step[idx] < nxt
        power[idx[commit]] = sub[commit]
    bad = [s for s in statuses if s not in _OK]
    status = bad[0] if bad else (statuses[0] if statuses else cp.OPTIMAL)
    reason = f"{len(bad)} of {len(statuses)} re-plans ended with status {bad[0]}" if bad else ""
    obj = objective_terms(inst, power, config.cost, demand_charge_cad_per_kw, peak_floor_kw)["objective"]
    return ScheduleResult(method, power, str(status), reason, obj, build, solve, None, solves=len(statuses))


def max_deliverable_energy(inst: ChargingInstance, config: ChargingModelConfig | None = None) -> ScheduleResult:
    """LP upper bound: the most energy deliverable under the limit with continuous rates (perfect foresight)."""
    config = config or ChargingModelConfig()
    reason = _check_base_load(inst)
    if reason:
        return ScheduleResult("upper_bound", np.zeros(inst.n_pairs), "infeasible", reason)
    idx = np.arange(inst.n_pairs)
    power, status, obj, tb, ts, _ = _solve_pairs(inst, config, idx, inst.energy_kwh, inst.energy_cap_kwh,
                                                 inst.soc_start_kwh, 0.0, 0.0, hard=False, maximise_energy_only=True)
    return ScheduleResult("upper_bound", power, str(status), "", None if obj is None else -obj, tb, ts)
