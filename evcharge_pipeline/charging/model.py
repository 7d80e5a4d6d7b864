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

import dataclasses
import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from evcharge_pipeline.charging.instance import ChargingInstance
from evcharge_pipeline.charging.metrics import CostModel, objective_terms
from evcharge_pipeline.solving import ERROR, INFEASIBLE, NO_SOLUTION, OPTIMAL, has_solution, solve_cvxpy

# Schedule statuses beyond the solver vocabulary of ``evcharge_pipeline.solving``: a day without
# connected cars, a rounding heuristic kept over the MILP, a hard requirement the limit cannot meet.
NO_SESSIONS = "no_sessions"
HEURISTIC = "heuristic"
INFEASIBLE_HARD = "infeasible_hard_requirement"
# Fallbacks recorded on a schedule whose solve ended without a usable solution
FALLBACK_RETRY = "resolved_without_presolve"
FALLBACK_ROUNDING = "lp_rounding"
FALLBACK_LLF = "llf"


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
    online_urgency_cad_per_kwh: rolling-horizon mode only. Without foresight, deferring energy to
        cheap hours risks meeting later arrivals with no headroom left. Each kWh costs this much times
        the fraction of its car's connection window already elapsed, so cars with short windows are
        served first (as EDF/LLF do) and energy is shifted only for a larger price gain. 0 = pure
        cost minimisation over the cars present.
    online_regularizer: ``"elapsed"`` (the urgency above) or ``"quick_charge"`` (the Adaptive
        Scheduling Algorithm's regulariser, Lee, Li & Low 2021: each kWh costs the weight times the
        step's position in the horizon, so energy is front-loaded and headroom stays free for later
        arrivals).
    online_forecast_weeks: rolling-horizon mode only; > 0 adds the sessions of the same weekday of
        that many previous weeks, shifted to the day, as forecast ("phantom") cars: each re-plan
        reserves headroom and anticipates the day's peak for the forecast cars that have not yet
        arrived (their average, times ``forecast_energy_factor``); in the log's first week the latest
        earlier day of the same kind (weekday / weekend) stands in. Nothing is committed to them.
        0 = none.
    forecast_value_share: share of the unmet-energy penalty that a forecast car's kWh carries, so
        a real car always comes first.
    forecast_energy_factor: forecast cars' energy as a multiple of the history's average. Above 1
        is a hedge: headroom left unused now is lost for good, headroom reserved for cars that do
        not come only costs a higher peak (measured on ACN March 2019, see docs/charging.md).
    """

    cost: CostModel = field(default_factory=CostModel)
    min_power_kw: float = 0.0
    pilot_levels_kw: tuple[float, ...] = ()
    energy_requirement: str = "soft"
    solver: str = "HIGHS"
    mip_rel_gap: float = 1e-4
    time_limit_seconds: float = 60.0
    online_urgency_cad_per_kwh: float = 0.05
    online_regularizer: str = "elapsed"
    online_forecast_weeks: int = 1
    forecast_value_share: float = 0.5
    forecast_energy_factor: float = 2.0

    def __post_init__(self):
        if self.energy_requirement not in ("soft", "hard"):
            raise ValueError(f"energy_requirement must be 'soft' or 'hard', got {self.energy_requirement!r}")
        if self.online_regularizer not in ("elapsed", "quick_charge"):
            raise ValueError(f"online_regularizer must be 'elapsed' or 'quick_charge', got {self.online_regularizer!r}")
        if self.online_forecast_weeks < 0 or not 0 < self.forecast_value_share <= 1 or self.forecast_energy_factor < 0:
            raise ValueError("online_forecast_weeks must be >= 0, forecast_value_share in (0, 1] and "
                             "forecast_energy_factor >= 0")
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
    fallback: str = ""


def _usable(status: str) -> bool:
    return has_solution(status) or status in (HEURISTIC, INFEASIBLE_HARD)


def _snap(power: np.ndarray, pmax: np.ndarray, config: ChargingModelConfig) -> np.ndarray:
    power = np.clip(np.nan_to_num(power), 0.0, pmax)
    if config.pilot_levels_kw:
        levels = np.array([*sorted(config.pilot_levels_kw), 0.0])
        nearest = levels[np.abs(power[:, None] - levels[None, :]).argmin(axis=1)]
        power = np.minimum(nearest, pmax)
    power[power < 1e-7] = 0.0
    return power


class _Problem:
    """The CVXPY problem over the pairs ``idx`` (sorted by session then step).

    With ``parametric=True`` the per-session energy caps, the starting SoC, the demand-charge floor
    and a per-pair availability (0/1) are CVXPY parameters, so the rolling-horizon mode compiles
    the problem once per instance and only re-solves it at each arrival.
    """

    def __init__(self, inst: ChargingInstance, config: ChargingModelConfig, idx: np.ndarray, demand_rate: float,
                 hard: bool, maximise_energy_only: bool = False, parametric: bool = False,
                 fixed_on: np.ndarray | None = None):
        """``fixed_on`` (per pair, bool): solve the LP with the on/off decisions fixed (off pairs at
        zero, on pairs at least the minimum rate) instead of the MILP."""
        self.inst, self.config, self.idx = inst, config, idx
        dt = inst.period_hours
        m = len(idx)
        S = inst.n_sessions
        sess = inst.pair_session[idx]
        step = inst.pair_step[idx]
        pmax = inst.max_power_kw[sess]
        self.sess, self.pmax = sess, pmax
        used, local = np.unique(step, return_inverse=True)
        A = sp.csr_matrix((np.ones(m), (sess, np.arange(m))), shape=(S, m))
        B = sp.csr_matrix((np.ones(m), (local, np.arange(m))), shape=(len(used), m))
        headroom = inst.limit_kw[used] - inst.base_load_kw[used]
        self.cap = cp.Parameter(S, nonneg=True) if parametric else None
        self.soc_start = cp.Parameter(S) if parametric else None
        self.floor = cp.Parameter(nonneg=True) if parametric else None
        self.avail = cp.Parameter(m, nonneg=True) if parametric else None
        self.parametric = parametric
        cost = config.cost
        cons = []
        degrade = not maximise_energy_only and cost.degradation_cad_per_kwh_at_max_kw > 0
        if degrade:
            # power split into equal segments with increasing marginal degradation cost (convex, so
            # the optimum fills them in order and the sum is the piecewise-linear fit of p^2 / p_max)
            K = cost.degradation_segments
            width = pmax / K if fixed_on is None else np.where(fixed_on, pmax / K, 0.0)
            seg = cp.Variable((m, K), bounds=[np.zeros((m, K)), np.repeat(width[:, None], K, axis=1)])
            p = cp.sum(seg, axis=1)
            slopes = (2 * np.arange(K) + 1) / K
        else:
            p = cp.Variable(m, bounds=[np.zeros(m), pmax if fixed_on is None else np.where(fixed_on, pmax, 0.0)])
        self.p = p
        if parametric:
            cons += [p <= cp.multiply(self.avail, pmax)]
        self.mixed = config.is_mixed_integer and not maximise_energy_only and fixed_on is None
        if fixed_on is not None and fixed_on.any():
            on = np.flatnonzero(fixed_on)
            cons += [p[on] >= np.minimum(config.min_power_kw, pmax[on])]
        if self.mixed and config.pilot_levels_kw:
            levels = np.array(sorted(config.pilot_levels_kw), dtype=float)
            allowed = (levels[None, :] <= pmax[:, None] + 1e-9).astype(float)
            z = cp.Variable((m, len(levels)), boolean=True)
            cons += [p == z @ levels, cp.sum(z, axis=1) <= 1, z <= allowed]
        elif self.mixed:
            u = cp.Variable(m, boolean=True)
            cons += [p <= cp.multiply(pmax, u), p >= cp.multiply(np.minimum(config.min_power_kw, pmax), u)]
        load = B @ p
        cons += [load <= headroom]
        delivered = dt * (A @ p)
        cap = self.cap if parametric else self._cap_value
        cons += [delivered <= cap]
        if hard:
            tol = max(1e-6, config.granularity_kw * dt)
            cons += [delivered >= cap - tol]
        if maximise_energy_only:
            objective = -cp.sum(delivered)
        else:
            terms = [dt * (inst.price_per_kwh[used] @ load)]
            if demand_rate > 0:
                floor = self.floor if parametric else self._floor_value
                peak = cp.Variable()
                cons += [peak >= load + inst.base_load_kw[used], peak >= floor]
                terms.append(demand_rate * (peak - floor))
            if degrade:
                terms.append(cost.degradation_cad_per_kwh_at_max_kw * dt * cp.sum(seg @ slopes))
            if parametric and config.online_urgency_cad_per_kwh > 0:
                if config.online_regularizer == "quick_charge":
                    position = step / max(inst.n_steps, 1)
                else:
                    window = np.maximum(inst.departure_step - inst.arrival_step, 1)[sess]
                    position = (step - inst.arrival_step[sess]) / window
                terms.append(config.online_urgency_cad_per_kwh * dt * (position @ p))
            capacity = inst.battery_capacity_kwh[sess]
            known = np.flatnonzero(~np.isnan(capacity))
            if len(known) and cost.high_soc_cad_per_kwh_hour > 0:
                # cumulative energy over the pairs with a known battery (lower-triangular per session)
                ks = sess[known]
                new = np.r_[True, ks[1:] != ks[:-1]]
                start = np.maximum.accumulate(np.where(new, np.arange(len(ks)), 0))
                counts = np.arange(len(ks)) - start + 1
                rows = np.repeat(np.arange(len(ks)), counts)
                first = np.cumsum(counts) - counts
                cols = rows - (np.arange(counts.sum()) - np.repeat(first, counts))
                C = sp.csr_matrix((np.ones(len(rows)), (rows, known[cols])), shape=(len(ks), m))
                if parametric:
                    E = sp.csr_matrix((np.ones(len(ks)), (np.arange(len(ks)), ks)), shape=(len(ks), S))
                    soc0 = E @ self.soc_start
                else:
                    soc0 = self._soc_value[ks]
                soc = soc0 + inst.charging_efficiency * dt * (C @ p)
                excess = cp.Variable(len(ks), nonneg=True)
                cons += [excess >= soc - cost.high_soc_threshold * capacity[known]]
                terms.append(cost.high_soc_cad_per_kwh_hour * dt * cp.sum(excess))
            # the penalty on unmet energy
            value = np.ones(S)
            if inst.forecast is not None:
                value = np.where(inst.forecast, config.forecast_value_share, 1.0)
            terms.append(-cost.unmet_penalty_cad_per_kwh * (value @ delivered))
            if self.mixed and not parametric:
                # HiGHS does not see CVXPY's constant offset; a column fixed at 1 carries the penalty's
                # constant so the relative MIP gap refers to the real cost, not to -penalty * energy
                one = cp.Variable(bounds=[1.0, 1.0])
                terms.append(cost.unmet_penalty_cad_per_kwh * float(np.sum(self._cap_value)) * one)
            objective = cp.sum(cp.hstack(terms))
        self.problem = cp.Problem(cp.Minimize(objective), cons)

    _cap_value = None
    _floor_value = 0.0
    _soc_value = None

    @classmethod
    def constant(cls, inst, config, idx, cap_kwh, soc_start_kwh, demand_rate, peak_floor_kw, hard,
                 maximise_energy_only=False, fixed_on=None) -> _Problem:
        obj = cls.__new__(cls)
        obj._cap_value = np.asarray(cap_kwh, dtype=float)
        obj._soc_value = np.asarray(soc_start_kwh, dtype=float)
        floor_base = float(inst.base_load_kw.max()) if inst.n_steps else 0.0
        obj._floor_value = max(peak_floor_kw, floor_base)
        cls.__init__(obj, inst, config, idx, demand_rate, hard, maximise_energy_only, fixed_on=fixed_on)
        return obj

    def set(self, cap_kwh, soc_start_kwh, peak_floor_kw, available) -> None:
        self.cap.value = np.maximum(np.asarray(cap_kwh, dtype=float), 0.0)
        self.soc_start.value = np.nan_to_num(np.asarray(soc_start_kwh, dtype=float))
        floor_base = float(self.inst.base_load_kw.max()) if self.inst.n_steps else 0.0
        self.floor.value = max(float(peak_floor_kw), floor_base)
        self.avail.value = np.asarray(available, dtype=float)

    def solve(self) -> tuple[np.ndarray, str, float | None, float, float | None, str]:
        """Power per pair, status (``evcharge_pipeline.solving`` vocabulary), objective, seconds, MIP gap
        and a note. HiGHS sometimes ends an LP with status UNKNOWN after presolve (CVXPY then has no
        solution to unpack); that solve is repeated once without presolve and the note says so."""
        options = {"time_limit": float(self.config.time_limit_seconds)}
        gap_target = float(self.config.mip_rel_gap) if self.mixed else None
        m = len(self.idx)
        stats = solve_cvxpy(self.problem, self.config.solver, mip_rel_gap=gap_target, **options)
        seconds, note = stats.solve_seconds, ""
        if stats.status in (NO_SOLUTION, ERROR) and str(self.config.solver).upper() == "HIGHS":
            retry = solve_cvxpy(self.problem, self.config.solver, mip_rel_gap=gap_target, presolve="off", **options)
            seconds += retry.solve_seconds
            note = f"{stats.status} ({stats.detail[:120]}); {FALLBACK_RETRY}: {retry.status}"
            stats = retry
        status, gap = stats.status, stats.gap if self.mixed else None
        if not has_solution(status) or self.p.value is None:
            return np.zeros(m), status, None, seconds, gap, note
        power = _snap(np.asarray(self.p.value, dtype=float), self.pmax, self.config)
        if self.parametric:
            power = np.where(self.avail.value > 0, power, 0.0)
            cap = self.cap.value
        else:
            cap = self._cap_value
        # remove solver-tolerance excess so no session gets more than it may take
        dt = self.inst.period_hours
        got = dt * np.bincount(self.sess, weights=power, minlength=self.inst.n_sessions)
        scale = np.where(got > cap + 1e-9, cap / np.maximum(got, 1e-12), 1.0)
        if (scale < 1).any() and not self.config.pilot_levels_kw:
            power = power * scale[self.sess]
        return power, status, float(self.problem.value), seconds, gap, note


def _solve_pairs(inst, config, idx, request_kwh, cap_kwh, soc_start_kwh, demand_rate, peak_floor_kw, hard,
                 maximise_energy_only=False):
    """Build and solve once. Returns power for the pairs ``idx``, status, objective, build and
    solve seconds (CVXPY compilation counts as build time), MIP gap."""
    t0 = time.perf_counter()
    if len(idx) == 0:
        return np.zeros(0), OPTIMAL, 0.0, 0.0, 0.0, None, ""
    problem = _Problem.constant(inst, config, idx, cap_kwh, soc_start_kwh, demand_rate, peak_floor_kw, hard,
                                maximise_energy_only)
    power, status, obj, solver_seconds, gap, note = problem.solve()
    total = time.perf_counter() - t0
    return power, status, obj, total - solver_seconds, solver_seconds, gap, note


def _lp_rounding(inst, config, demand_rate, peak_floor_kw):
    """(schedule, its objective, the LP lower bound) from rounding the relaxation, or None."""
    idx = np.arange(inst.n_pairs)
    relaxed = ChargingModelConfig(config.cost, 0.0, (), "soft", config.solver, config.mip_rel_gap,
                                  config.time_limit_seconds)
    p_lp, status, *_ = _solve_pairs(inst, relaxed, idx, inst.energy_kwh, inst.energy_cap_kwh, inst.soc_start_kwh,
                                    demand_rate, peak_floor_kw, hard=False)
    if not has_solution(status):
        return None
    bound = objective_terms(inst, p_lp, config.cost, demand_rate, peak_floor_kw)["objective"]
    on = p_lp >= np.minimum(config.min_power_kw, inst.max_power_kw[inst.pair_session]) - 1e-9
    fixed = _Problem.constant(inst, config, idx, inst.energy_cap_kwh, inst.soc_start_kwh, demand_rate,
                              peak_floor_kw, False, fixed_on=on)
    p_h, status, *_ = fixed.solve()
    if not has_solution(status):
        return None
    return p_h, objective_terms(inst, p_h, config.cost, demand_rate, peak_floor_kw)["objective"], bound


def round_to_pilot_levels(inst: ChargingInstance, relaxed_kw: np.ndarray, levels_kw: tuple[float, ...],
                          peak_kw: float | None = None) -> np.ndarray:
    """Round a continuous schedule down to the allowed pilot levels and fill the freed headroom.

    Each pair gets the highest allowed level (at most the car's maximum) not above its relaxed power,
    so the limit, the EVSE rates and the energy caps still hold. Then pairs are raised one level at a
    time, where the LP had the most power cut off first and at cheap steps next, while the session
    still lacks at least that increment of energy and the step has headroom: first up to ``peak_kw``
    (the relaxation's peak, so the demand charge does not rise), then up to the site limit.
    """
    dt = inst.period_hours
    levels = np.array(sorted(set(float(x) for x in levels_kw)), dtype=float)
    sess, step = inst.pair_session, inst.pair_step
    pmax = inst.max_power_kw[sess]
    ladder = np.r_[0.0, levels]
    allowed = ladder[None, :] <= pmax[:, None] + 1e-9  # (pairs, levels + 1), zero always allowed
    top = allowed.sum(axis=1) - 1  # highest allowed position per pair
    pos = np.searchsorted(ladder, np.asarray(relaxed_kw, dtype=float) + 1e-7, side="right") - 1
    pos = np.clip(pos, 0, top)
    power = ladder[pos]
    deficit = inst.energy_cap_kwh - inst.delivered_kwh(power)
    load = inst.load_kw(power)
    site_room = inst.limit_kw - inst.base_load_kw
    excess = np.asarray(relaxed_kw, dtype=float) - power
    order = np.lexsort((inst.price_per_kwh[step], -np.round(excess, 6)))
    caps = [site_room] if peak_kw is None else [np.minimum(site_room, peak_kw - inst.base_load_kw), site_room]
    for room in caps:
        changed = True
        while changed:
            changed = False
            for j in order:
                if pos[j] >= top[j]:
                    continue
                inc = ladder[pos[j] + 1] - ladder[pos[j]]
                t, s = step[j], sess[j]
                if inc * dt <= deficit[s] + 1e-9 and load[t] + inc <= room[t] + 1e-9:
                    pos[j] += 1
                    power[j] += inc
                    load[t] += inc
                    deficit[s] -= inc * dt
                    changed = True
    return power


def top_pilot_level(max_power_kw: np.ndarray, levels_kw: tuple[float, ...]) -> np.ndarray:
    """Highest allowed level not above each car's maximum (0 when none is)."""
    ladder = np.r_[0.0, np.array(sorted(levels_kw), dtype=float)]
    return ladder[np.searchsorted(ladder, np.asarray(max_power_kw, dtype=float) + 1e-9, side="right") - 1]


def _pilot_rounding(inst, config, demand_rate, peak_floor_kw):
    """(schedule, its objective, the LP lower bound) from rounding the relaxation to the pilot levels, or None.

    The relaxation caps each car at its highest allowed level (the convex hull of {0} and the levels
    it may use), which is much tighter than its own maximum when that lies between two levels."""
    idx = np.arange(inst.n_pairs)
    relaxed = ChargingModelConfig(config.cost, 0.0, (), "soft", config.solver, config.mip_rel_gap,
                                  config.time_limit_seconds)
    hull = dataclasses.replace(inst, max_power_kw=top_pilot_level(inst.max_power_kw, config.pilot_levels_kw))
    p_lp, status, *_ = _solve_pairs(hull, relaxed, idx, inst.energy_kwh, inst.energy_cap_kwh, inst.soc_start_kwh,
                                    demand_rate, peak_floor_kw, hard=False)
    if not has_solution(status):
        return None
    bound = objective_terms(inst, p_lp, config.cost, demand_rate, peak_floor_kw)["objective"]
    total = inst.load_kw(p_lp) + inst.base_load_kw
    peak = max(float(total.max()), peak_floor_kw)
    p_h = round_to_pilot_levels(inst, p_lp, config.pilot_levels_kw, peak)
    return p_h, objective_terms(inst, p_h, config.cost, demand_rate, peak_floor_kw)["objective"], bound


def _check_base_load(inst: ChargingInstance) -> str:
    over = inst.base_load_kw > inst.limit_kw + 1e-9
    if over.any():
        first = inst.period_start[np.flatnonzero(over)[0]]
        return f"base load exceeds the site limit in {int(over.sum())} steps (first at {first.isoformat()})"
    return ""


def _llf_fallback(inst: ChargingInstance, config: ChargingModelConfig) -> np.ndarray:
    """LLF under the same limit, EVSE rates, caps and rate rules: the schedule of last resort."""
    from evcharge_pipeline.charging.baselines import sorted_allocation  # baselines build on this module

    return sorted_allocation(inst, "llf", config, inst.energy_cap_kwh.astype(float).copy())


def _empty(inst: ChargingInstance, method: str) -> ScheduleResult | None:
    if inst.n_pairs == 0:
        return ScheduleResult(method, np.zeros(0), NO_SESSIONS, "no sessions connected in the horizon", 0.0,
                              solves=0)
    return None


def solve_offline(
    inst: ChargingInstance,
    config: ChargingModelConfig,
    demand_charge_cad_per_kw: float = 0.0,
    peak_floor_kw: float = 0.0,
    method: str = "milp_offline",
) -> ScheduleResult:
    """Perfect-foresight schedule of every session in ``inst``.

    Never raises for solver trouble: when the solve ends without a usable schedule (HiGHS UNKNOWN,
    a time limit without incumbent, numerical trouble), the best feasible schedule available is
    returned instead (the LP relaxation rounded for minimum rates and pilot levels, else LLF under
    the same limit); ``status`` keeps the solver's status and ``fallback`` names the schedule kept.
    """
    empty = _empty(inst, method)
    if empty is not None:
        return empty
    reason = _check_base_load(inst)
    if reason:
        return ScheduleResult(method, np.zeros(inst.n_pairs), INFEASIBLE, reason)
    idx = np.arange(inst.n_pairs)
    hard = config.energy_requirement == "hard"
    rate = demand_charge_cad_per_kw
    args = (inst, config, idx, inst.energy_kwh, inst.energy_cap_kwh, inst.soc_start_kwh, rate, peak_floor_kw)
    notes: list[str] = []
    fallback = ""
    heuristic = None
    tb_h = 0.0
    if config.is_mixed_integer and not hard:
        # LP rounding first: solve the relaxation (a lower bound) and round it to the allowed rates
        # (minimum rate: switch off the pairs below it and re-solve the LP; pilot levels: round down
        # to a level and fill the freed headroom). When this is within the MIP gap of the bound it
        # is optimal and the MILP is skipped; otherwise the MILP runs (time-limited) and the better
        # of the two schedules is kept.
        t0 = time.perf_counter()
        heuristic = (_pilot_rounding(inst, config, rate, peak_floor_kw) if config.pilot_levels_kw
                     else _lp_rounding(inst, config, rate, peak_floor_kw))
        tb_h = time.perf_counter() - t0
        if heuristic is not None:
            p_h, obj_h, bound = heuristic
            if obj_h - bound <= config.mip_rel_gap * max(1.0, abs(bound)):
                gap = (obj_h - bound) / max(1.0, abs(bound))
                return ScheduleResult(method, p_h, OPTIMAL, "LP rounding within the MIP gap of the LP bound",
                                      obj_h, tb_h, 0.0, gap)
    power, status, obj, tb, ts, gap, note = _solve_pairs(*args, hard=hard)
    tb += tb_h
    if note:
        notes.append(note)
        fallback = FALLBACK_RETRY if has_solution(status) else ""
    if heuristic is not None:
        theirs = (objective_terms(inst, power, config.cost, rate, peak_floor_kw)["objective"]
                  if has_solution(status) else np.inf)
        if obj_h < theirs - 1e-7 * max(1.0, abs(obj_h)):
            notes.append(f"MILP ended with status {status}; the LP-rounding schedule is better and kept")
            gap = (obj_h - bound) / max(1.0, abs(bound))
            if has_solution(status):
                power, status, obj = p_h, HEURISTIC, obj_h
            else:
                power, obj, fallback = p_h, obj_h, FALLBACK_ROUNDING
    if hard and status == INFEASIBLE:
        power, status2, obj, tb2, ts2, gap, note2 = _solve_pairs(*args, hard=False)
        tb, ts = tb + tb2, ts + ts2
        notes.append("hard energy requirement infeasible under the site limit; soft schedule returned")
        if note2:
            notes.append(note2)
        status = INFEASIBLE_HARD if has_solution(status2) else status2
    if not _usable(status) and fallback not in (FALLBACK_ROUNDING,):
        notes.append(f"solver status {status}; LLF schedule under the same limit kept")
        power, fallback, gap = _llf_fallback(inst, config), FALLBACK_LLF, None
        obj = 0.0
    if obj is not None:  # report the full objective (with the penalty's constant) from the evaluator
        obj = objective_terms(inst, power, config.cost, rate, peak_floor_kw)["objective"]
    return ScheduleResult(method, power, str(status), "; ".join(notes), obj, tb, ts, gap, fallback=fallback)


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
    A re-plan without a usable solution commits LLF (under the same limit, from the energy still
    needed) until the next arrival; the result counts those re-plans in ``reason`` and ``fallback``.
    """
    from evcharge_pipeline.charging.baselines import sorted_allocation  # baselines build on this module

    empty = _empty(inst, method)
    if empty is not None:
        return empty
    reason = _check_base_load(inst)
    if reason:
        return ScheduleResult(method, np.zeros(inst.n_pairs), INFEASIBLE, reason)
    power = np.zeros(inst.n_pairs)
    phantom = inst.forecast if inst.forecast is not None else np.zeros(inst.n_sessions, bool)
    active = (inst.departure_step > inst.arrival_step) & ~phantom
    events = np.unique(inst.arrival_step[active])
    real_pair = ~phantom[inst.pair_session]
    hard = config.energy_requirement == "hard"
    statuses: list[str] = []
    notes: list[str] = []
    llf_windows = retried = 0
    t0 = time.perf_counter()
    all_pairs = np.arange(inst.n_pairs)
    problem = _Problem(inst, config, all_pairs, demand_charge_cad_per_kw, hard, parametric=True)
    fallback = _Problem(inst, config, all_pairs, demand_charge_cad_per_kw, False, parametric=True) if hard else None
    solve = 0.0
    for i, tau in enumerate(events):  # one re-plan per arrival time, not per car or step
        nxt = events[i + 1] if i + 1 < len(events) else inst.n_steps
        arrived = (inst.arrival_step <= tau) & ~phantom
        # forecast cars still to come are planned for (their pairs from their forecast arrival on)
        known = arrived | (phantom & (inst.arrival_step > tau))
        available = known[inst.pair_session] & (inst.pair_step >= tau)
        delivered = inst.delivered_kwh(power)
        cap = np.where(known, np.maximum(inst.energy_cap_kwh - delivered, 0.0), 0.0)
        soc = inst.soc_start_kwh + inst.charging_efficiency * delivered
        past = inst.load_kw(power)[:tau] + inst.base_load_kw[:tau]
        floor = max(peak_floor_kw, float(past.max()) if tau > 0 else 0.0)
        problem.set(cap, soc, floor, available)
        sub, status, _, ts, _, note = problem.solve()
        if hard and status == INFEASIBLE:
            fallback.set(cap, soc, floor, available)
            sub, status2, _, ts2, _, note = fallback.solve()
            ts += ts2
            status = INFEASIBLE_HARD if has_solution(status2) else status2
        solve += ts
        statuses.append(str(status))
        retried += bool(note) and _usable(status)
        if note and not notes:
            notes.append(f"re-plan at step {int(tau)}: {note}")
        commit = available & (inst.pair_step < nxt) & real_pair
        if _usable(status):
            power[commit] = sub[commit]
        else:
            llf_windows += 1
            power[commit] = sorted_allocation(inst, "llf", config, cap.copy(), available & real_pair, int(tau),
                                             int(nxt))[commit]
    build = time.perf_counter() - t0 - solve
    bad = [s for s in statuses if s != OPTIMAL]
    status = bad[0] if bad else OPTIMAL
    if bad:
        notes.insert(0, f"{len(bad)} of {len(statuses)} re-plans ended with status {bad[0]}")
    if llf_windows:
        notes.append(f"{llf_windows} re-plan(s) without a usable solution committed LLF until the next arrival")
    fallback_name = FALLBACK_LLF if llf_windows else (FALLBACK_RETRY if retried else "")
    obj = objective_terms(inst, power, config.cost, demand_charge_cad_per_kw, peak_floor_kw)["objective"]
    return ScheduleResult(method, power, str(status), "; ".join(notes), obj, build, solve, None,
                          solves=len(statuses), fallback=fallback_name)


def max_deliverable_energy(inst: ChargingInstance, config: ChargingModelConfig | None = None) -> ScheduleResult:
    """LP upper bound: the most energy deliverable under the limit with continuous rates (perfect foresight)."""
    config = config or ChargingModelConfig()
    empty = _empty(inst, "upper_bound")
    if empty is not None:
        return empty
    reason = _check_base_load(inst)
    if reason:
        return ScheduleResult("upper_bound", np.zeros(inst.n_pairs), INFEASIBLE, reason)
    idx = np.arange(inst.n_pairs)
    power, status, obj, tb, ts, _, note = _solve_pairs(inst, config, idx, inst.energy_kwh, inst.energy_cap_kwh,
                                                       inst.soc_start_kwh, 0.0, 0.0, hard=False,
                                                       maximise_energy_only=True)
    return ScheduleResult("upper_bound", power, str(status), note, None if obj is None else -obj, tb, ts)
