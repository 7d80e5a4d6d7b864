"""Multi-year capacity-constrained charger placement as a CVXPY MILP (HiGHS by default).

Supply points j have parking slots PS_j and an existing stock of slow/fast chargers. For every planning
year t the model chooses integer totals SCS[j, t], FCS[j, t] (never below the existing stock, never
decreasing from year to year, SCS + FCS <= PS) and flows x[i, j, t] >= 0 from demand point i to supply
point j on a sparse arc set (the k nearest supply points and/or those within a radius; all pairs by
default), with sum_i x[i, j, t] <= cap_slow * SCS[j, t] + cap_fast * FCS[j, t].

Demand is given as scenarios D[k, t, i] with weights p_k (one scenario = a point forecast).
Three service modes:

- ``hard``: served demand equals the probability-weighted mean demand exactly.
- ``chosen`` (default): one flow plan whose served demand s[i, t] = sum_j x[i, j, t] is chosen by the
  model; it pays ``mismatch_cost_cad_per_unit * sum_k p_k |s - D_k|`` (the Shell.ai forecast-mismatch
  term; with several quantile scenarios this picks the cost-optimal quantile per point).
- ``recourse``: the robust variant. One build plan (SCS, FCS) shared by all scenarios, a separate flow
  plan per scenario with unmet demand at ``mismatch_cost_cad_per_unit``; the objective is the expected
  (``robust_objective="expected"``) or the worst-case (``"worst_case"``) operating cost.

Objective (summed over years): distance cost * flow * distance + mismatch/unmet term + yearly cost of
the whole stock (``slow_charger_cost_cad_per_year`` per slow, ``fast_charger_cost_cad_per_year`` per
fast charger), which is exactly the Shell.ai cost with the defaults below.

All constraints are built from sparse incidence matrices over the arc list; there are no Python loops
over demand points or arcs. When the arc set is restricted, the returned flows are checked against all
pairs by LP reduced costs (with the build plan fixed) and any improving arcs are added and the model
re-solved (``price_rounds``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from evcharge_pipeline import solving


@dataclass(frozen=True)
class PlacementConfig:
    """Model settings. Defaults reproduce the Shell.ai 2022 cost function (score units read as CAD)."""

    slow_capacity_units: float = 200.0  # demand units one slow charger serves per year
    fast_capacity_units: float = 400.0  # demand units one fast charger serves per year
    slow_charger_cost_cad_per_year: float = 600.0  # cost of holding one slow charger for a year
    fast_charger_cost_cad_per_year: float = 900.0  # cost of holding one fast charger for a year
    distance_cost_cad_per_unit_km: float = 1.0  # cost of serving one demand unit one km away
    mismatch_cost_cad_per_unit: float = 25.0  # cost per unit of |served - demand| (chosen / recourse)
    service: str = "chosen"  # "hard" | "chosen" | "recourse"
    robust_objective: str = "expected"  # recourse only: "expected" | "worst_case"
    nearest_supply_points: int | None = None  # k nearest supply points per demand point; None = all
    max_distance_km: float | None = None  # drop arcs longer than this (None = no limit)
    capacity_margin_fraction: float = 1e-6  # share of each site's capacity kept free (rounding safety)
    mip_rel_gap: float = 1e-4  # relative MIP gap at which HiGHS stops (1e-4 = 0.01 %)
    time_limit_seconds: float = 300.0
    mip_heuristic_effort: float | None = None  # HiGHS primal-heuristic effort (its default is 0.05)
    rounding_heuristic: bool = False  # solve the LP relaxation, round, keep it if within mip_rel_gap
    price_rounds: int = 3  # reduced-cost rounds that add missing arcs (restricted arc sets only)
    certify_bound: bool = True  # restricted arcs: LP bound over all pairs by pricing (a global lower bound)
    solver: str = "HIGHS"
    verbose: bool = False


@dataclass(frozen=True)
class Arcs:
    """Sparse demand-supply pairs with their distances."""

    demand_idx: np.ndarray
    supply_idx: np.ndarray
    distance_km: np.ndarray

    @property
    def size(self) -> int:
        return int(self.demand_idx.size)


def all_arcs(demand_xy: np.ndarray, supply_xy: np.ndarray) -> Arcs:
    n, m = len(demand_xy), len(supply_xy)
    ii, jj = np.divmod(np.arange(n * m), m)
    d = np.sqrt(((demand_xy[ii] - supply_xy[jj]) ** 2).sum(axis=1))
    return Arcs(ii, jj, d)


def nearest_arcs(demand_xy: np.ndarray, supply_xy: np.ndarray, k: int | None = None,
                 max_distance_km: float | None = None) -> Arcs:
    """Arcs to the k nearest supply points of each demand point, optionally within a radius (planar xy)."""
    n, m = len(demand_xy), len(supply_xy)
    if k is None or k >= m:
        arcs = all_arcs(demand_xy, supply_xy)
    else:
        dist, idx = cKDTree(supply_xy).query(demand_xy, k=k)
        arcs = Arcs(np.repeat(np.arange(n), k), idx.ravel(), dist.ravel())
    if max_distance_km is not None:
        keep = arcs.distance_km <= max_distance_km
        arcs = Arcs(arcs.demand_idx[keep], arcs.supply_idx[keep], arcs.distance_km[keep])
    return arcs


def arcs_from_pairs(demand_idx, supply_idx, distance_km) -> Arcs:
    return Arcs(np.asarray(demand_idx, int), np.asarray(supply_idx, int), np.asarray(distance_km, float))


@dataclass(frozen=True)
class PlacementProblem:
    arcs: Arcs
    n_demand: int
    parking_slots: np.ndarray  # (m,) int
    existing_slow: np.ndarray  # (m,) int
    existing_fast: np.ndarray  # (m,) int
    demand: np.ndarray  # (K, T, n) scenarios, or (T, n) for one scenario
    years: list[int]
    scenario_weights: np.ndarray | None = None  # (K,), default uniform
    all_pairs: Arcs | None = None  # full arc set used for pricing when `arcs` is restricted

    @property
    def n_supply(self) -> int:
        return len(self.parking_slots)

    def scenarios(self) -> tuple[np.ndarray, np.ndarray]:
        demand = np.asarray(self.demand, float)
        if demand.ndim == 2:
            demand = demand[None]
        if demand.shape[1:] != (len(self.years), self.n_demand):
            raise ValueError(f"demand has shape {demand.shape}, expected (K, {len(self.years)}, {self.n_demand})")
        if (demand < 0).any() or not np.isfinite(demand).all():
            raise ValueError("demand must be finite and non-negative")
        k = demand.shape[0]
        w = np.full(k, 1.0 / k) if self.scenario_weights is None else np.asarray(self.scenario_weights, float)
        if w.shape != (k,) or (w < 0).any() or abs(w.sum() - 1) > 1e-9:
            raise ValueError("scenario_weights must be K non-negative weights summing to 1")
        return demand, w


@dataclass
class PlacementResult:
    status: str  # a `solving` status: optimal | time_limit (gap target not reached) | infeasible | no_solution | error
    reason: str
    years: list[int]
    slow: np.ndarray | None = None  # (m, T) int totals
    fast: np.ndarray | None = None
    flows: list[sp.csr_matrix] = field(default_factory=list)  # per year (n, m); scenario-weighted in recourse
    scenario_flows: list[list[sp.csr_matrix]] | None = None  # recourse: [k][t]
    served: np.ndarray | None = None  # (T, n)
    objective: float | None = None
    best_bound: float | None = None
    mip_gap: float | None = None
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    n_arcs: int = 0
    price_rounds_used: int = 0
    arcs_added: int = 0
    global_bound: float | None = None  # lower bound valid for all pairs (MILP bound, or all-pairs LP bound)
    global_gap: float | None = None
    cost_distance: np.ndarray | None = None  # (T,)
    cost_mismatch: np.ndarray | None = None  # (T,) expected over scenarios
    cost_infrastructure: np.ndarray | None = None  # (T,)
    relaxed_build: tuple[np.ndarray, np.ndarray] | None = None  # LP relaxation only: fractional stock
    duals: tuple[np.ndarray, np.ndarray] | None = None  # fixed-build LP only: demand-row and capacity duals

    @property
    def ok(self) -> bool:
        return solving.has_solution(self.status)


def _incidence(arcs: Arcs, n: int, m: int) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    a = arcs.size
    cols = np.arange(a)
    ones = np.ones(a)
    demand = sp.csr_matrix((ones, (arcs.demand_idx, cols)), shape=(n, a))
    supply = sp.csr_matrix((ones, (arcs.supply_idx, cols)), shape=(m, a))
    return demand, supply


def _check_inputs(problem: PlacementProblem) -> str | None:
    slots, s0, f0 = (np.asarray(v) for v in (problem.parking_slots, problem.existing_slow, problem.existing_fast))
    if (s0 + f0 > slots).any():
        j = int(np.flatnonzero(s0 + f0 > slots)[0])
        return f"supply point {j}: existing chargers {int(s0[j] + f0[j])} exceed parking slots {int(slots[j])}"
    return None


def solve_placement(problem: PlacementProblem, config: PlacementConfig = PlacementConfig()) -> PlacementResult:
    """Solve the placement MILP; restricted arc sets are priced out against `problem.all_pairs`."""
    problem_error = _check_inputs(problem)
    if problem_error:
        return PlacementResult(solving.INFEASIBLE, problem_error, list(problem.years))
    arcs = problem.arcs
    rounded = _lp_rounding(problem, arcs, config) if config.rounding_heuristic else None
    if rounded is not None and rounded.ok and rounded.mip_gap is not None and rounded.mip_gap <= config.mip_rel_gap:
        if problem.all_pairs is None:
            rounded.global_bound, rounded.global_gap = rounded.best_bound, rounded.mip_gap
        return rounded
    result = _solve_once(problem, arcs, config)
    if rounded is not None and rounded.ok and (not result.ok or result.objective > rounded.objective):
        rounded.best_bound = max(rounded.best_bound, result.best_bound or -np.inf)
        rounded.mip_gap = (rounded.objective - rounded.best_bound) / max(abs(rounded.objective), 1e-9)
        rounded.status = solving.TIME_LIMIT
        rounded.reason = f"LP rounding kept (gap {rounded.mip_gap:.4%}); MILP: {result.reason}"
        rounded.solve_seconds += result.solve_seconds
        return rounded
    pool = problem.all_pairs
    rounds = 0
    total_build, total_solve = result.build_seconds, result.solve_seconds
    while (result.ok and pool is not None and pool.size > arcs.size and rounds < config.price_rounds
           and config.service != "recourse"):
        missing = _improving_arcs(problem, arcs, pool, result, config)
        if missing.size == 0:
            break
        rounds += 1
        keep = np.unique(np.concatenate([arcs.demand_idx * problem.n_supply + arcs.supply_idx,
                                         pool.demand_idx[missing] * problem.n_supply + pool.supply_idx[missing]]))
        added = keep.size - arcs.size
        ii, jj = np.divmod(keep, problem.n_supply)
        pool_keys = pool.demand_idx * problem.n_supply + pool.supply_idx
        order = np.argsort(pool_keys)
        dist = pool.distance_km[order][np.minimum(np.searchsorted(pool_keys[order], keep), pool.size - 1)]
        old_keys = arcs.demand_idx * problem.n_supply + arcs.supply_idx
        known = np.isin(keep, old_keys)  # arcs given by the caller keep their own distances
        if known.any():
            old_order = np.argsort(old_keys)
            dist[known] = arcs.distance_km[old_order][np.searchsorted(old_keys[old_order], keep[known])]
        arcs = Arcs(ii, jj, dist)
        result = _solve_once(problem, arcs, config)
        result.arcs_added = added
        total_build += result.build_seconds
        total_solve += result.solve_seconds
    result.price_rounds_used = rounds
    result.build_seconds, result.solve_seconds = total_build, total_solve
    if result.ok and result.best_bound is not None:
        if pool is None or pool.size <= arcs.size:
            result.global_bound = result.best_bound
        elif config.certify_bound and config.service != "recourse":
            lp_bound = all_pairs_lp_bound(problem, arcs, pool, config)
            if lp_bound is not None:
                result.global_bound = lp_bound
        if result.global_bound is not None:
            result.global_gap = max(result.objective - result.global_bound, 0.0) / max(abs(result.objective), 1e-9)
    return result


def all_pairs_lp_bound(problem: PlacementProblem, arcs: Arcs, pool: Arcs, config: PlacementConfig,
                       max_rounds: int = 10) -> float | None:
    """LP-relaxation optimum over every pair in `pool`, by column generation from the arc set `arcs`.

    Once no pair has a negative reduced cost under the restricted LP's duals, its optimum is the LP
    optimum over all pairs, which bounds the MILP over all pairs from below. Solved without the
    capacity safety margin so the bound is valid for the unmargined problem. None if not converged.
    """
    cfg = replace(config, capacity_margin_fraction=0.0)
    n_supply = problem.n_supply
    pool_keys = pool.demand_idx * n_supply + pool.supply_idx
    for _ in range(max_rounds):
        lp = _solve_once(problem, arcs, cfg, relax=True)
        if not lp.ok or lp.duals is None:
            return None
        nu, lam = lp.duals
        reduced = (cfg.distance_cost_cad_per_unit_km * pool.distance_km[:, None]
                   - nu[pool.demand_idx] + lam[pool.supply_idx])
        present = np.isin(pool_keys, arcs.demand_idx * n_supply + arcs.supply_idx)
        add = np.flatnonzero((reduced.min(axis=1) < -1e-7) & ~present)
        if add.size == 0:
            return float(lp.objective)
        arcs = Arcs(np.concatenate([arcs.demand_idx, pool.demand_idx[add]]),
                    np.concatenate([arcs.supply_idx, pool.supply_idx[add]]),
                    np.concatenate([arcs.distance_km, pool.distance_km[add]]))
    return None


def _lp_rounding(problem: PlacementProblem, arcs: Arcs, config: PlacementConfig) -> PlacementResult | None:
    """LP relaxation, rounded to the nearest feasible integer stock, then the flows re-optimised.

    Floors of the relaxed stock always satisfy the slot, existing-stock and monotonicity constraints;
    rounding up is kept per site only where it keeps all of them.
    """
    lp = _solve_once(problem, arcs, config, relax=True)
    if not lp.ok or lp.relaxed_build is None:
        return None
    s_lp, f_lp = lp.relaxed_build
    s_lo, f_lo = np.floor(s_lp + 1e-7), np.floor(f_lp + 1e-7)
    s_r = np.maximum.accumulate(np.rint(s_lp), axis=1)
    f_r = np.maximum.accumulate(np.rint(f_lp), axis=1)
    over = ((s_r + f_r) > np.asarray(problem.parking_slots)[:, None]).any(axis=1)
    s_r[over], f_r[over] = s_lo[over], f_lo[over]
    fixed = _solve_once(problem, arcs, config, fixed_build=(s_r.astype(int), f_r.astype(int)))
    if not fixed.ok:
        return None
    fixed.best_bound = lp.objective
    fixed.mip_gap = (fixed.objective - lp.objective) / max(abs(fixed.objective), 1e-9)
    fixed.status = solving.OPTIMAL if fixed.mip_gap <= config.mip_rel_gap else solving.TIME_LIMIT
    fixed.reason = f"LP relaxation rounded (gap {fixed.mip_gap:.4%})"
    fixed.build_seconds += lp.build_seconds
    fixed.solve_seconds += lp.solve_seconds
    fixed.duals = None
    return fixed


def _improving_arcs(problem: PlacementProblem, arcs: Arcs, pool: Arcs, result: PlacementResult,
                    config: PlacementConfig) -> np.ndarray:
    """Indices into `pool` of arcs with a negative reduced cost for the transport LP at the fixed build."""
    fixed = replace(config, price_rounds=0)
    lp = _solve_once(problem, arcs, fixed, fixed_build=(result.slow, result.fast))
    if not lp.ok or lp.duals is None:
        return np.array([], dtype=int)
    nu, lam = lp.duals  # (n, T) demand-row duals, (m, T) capacity duals (>= 0)
    reduced = (config.distance_cost_cad_per_unit_km * pool.distance_km[:, None]
               - nu[pool.demand_idx] + lam[pool.supply_idx])
    present = np.isin(pool.demand_idx * problem.n_supply + pool.supply_idx,
                      arcs.demand_idx * problem.n_supply + arcs.supply_idx)
    bad = (reduced.min(axis=1) < -1e-6) & ~present
    return np.flatnonzero(bad)


def _solve_once(problem: PlacementProblem, arcs: Arcs, config: PlacementConfig,
                fixed_build: tuple[np.ndarray, np.ndarray] | None = None, relax: bool = False) -> PlacementResult:
    t0 = time.perf_counter()
    demand, weights = problem.scenarios()
    n_scen, n_years, n = demand.shape
    m = problem.n_supply
    years = list(problem.years)
    a_dem, a_sup = _incidence(arcs, n, m)
    dist = arcs.distance_km * config.distance_cost_cad_per_unit_km
    slots = np.asarray(problem.parking_slots, float)[:, None]

    if fixed_build is None:
        slow = cp.Variable((m, n_years), integer=not relax)
        fast = cp.Variable((m, n_years), integer=not relax)
        cons = [slow[:, 0] >= problem.existing_slow, fast[:, 0] >= problem.existing_fast, slow + fast <= slots]
        if n_years > 1:
            cons += [slow[:, 1:] >= slow[:, :-1], fast[:, 1:] >= fast[:, :-1]]
        capacity = config.slow_capacity_units * slow + config.fast_capacity_units * fast
        infra_by_year = (config.slow_charger_cost_cad_per_year * cp.sum(slow, axis=0)
                         + config.fast_charger_cost_cad_per_year * cp.sum(fast, axis=0))
    else:
        fs, ff = (np.asarray(v, float) for v in fixed_build)
        cons = []
        capacity = config.slow_capacity_units * fs + config.fast_capacity_units * ff
        infra_by_year = (config.slow_charger_cost_cad_per_year * fs.sum(axis=0)
                         + config.fast_charger_cost_cad_per_year * ff.sum(axis=0))
    cap_rhs = capacity * (1.0 - config.capacity_margin_fraction)

    if config.service == "recourse":
        flows = [cp.Variable((arcs.size, n_years), nonneg=True) for _ in range(n_scen)]
        unmet = [cp.Variable((n, n_years), nonneg=True) for _ in range(n_scen)]
        op_cost = []
        for k in range(n_scen):  # scenarios are few; every constraint inside is vectorised
            cons += [a_dem @ flows[k] + unmet[k] == demand[k].T, a_sup @ flows[k] <= cap_rhs]
            op_cost.append(dist @ flows[k] @ np.ones(n_years)
                           + config.mismatch_cost_cad_per_unit * cp.sum(unmet[k]))
        if config.robust_objective == "worst_case":
            eta = cp.Variable()
            cons += [eta >= c for c in op_cost]
            op_total = eta
        elif config.robust_objective == "expected":
            op_total = sum(w * c for w, c in zip(weights, op_cost, strict=True))
        else:
            raise ValueError(f"robust_objective must be 'expected' or 'worst_case', got {config.robust_objective!r}")
        objective = op_total + cp.sum(infra_by_year)
        demand_cons = cap_cons = None
    else:
        flow = cp.Variable((arcs.size, n_years), nonneg=True)
        served = cp.Variable((n, n_years))
        demand_cons = served == a_dem @ flow
        cap_cons = a_sup @ flow <= cap_rhs
        cons += [demand_cons, cap_cons]
        objective = dist @ flow @ np.ones(n_years) + cp.sum(infra_by_year)
        if config.service == "hard":
            cons.append(served == (weights[:, None, None] * demand).sum(axis=0).T)
        elif config.service == "chosen":
            cons.append(served >= 0)
            mismatch = [cp.Variable((n, n_years), nonneg=True) for _ in range(n_scen)]
            for k in range(n_scen):
                cons += [mismatch[k] >= served - demand[k].T, mismatch[k] >= demand[k].T - served]
            objective = objective + config.mismatch_cost_cad_per_unit * sum(
                w * cp.sum(e) for w, e in zip(weights, mismatch, strict=True))
        else:
            raise ValueError(f"service must be 'hard', 'chosen' or 'recourse', got {config.service!r}")

    prob = cp.Problem(cp.Minimize(objective), cons)
    opts = {"time_limit": float(config.time_limit_seconds)}
    if fixed_build is None and not relax:
        opts["mip_rel_gap"] = float(config.mip_rel_gap)
        if config.mip_heuristic_effort is not None:
            opts["mip_heuristic_effort"] = float(config.mip_heuristic_effort)
    model_seconds = time.perf_counter() - t0
    stats = solving.solve_cvxpy(prob, config.solver, build_seconds=model_seconds, verbose=config.verbose,
                                **(opts if config.solver == "HIGHS" else {}))
    solve = float(prob.solver_stats.solve_time or stats.solve_seconds) if prob.solver_stats else stats.solve_seconds
    build = model_seconds + max(stats.solve_seconds - solve, 0.0)  # expression building + CVXPY compilation
    res = PlacementResult("", "", years, n_arcs=arcs.size, build_seconds=build, solve_seconds=solve)
    if stats.status == solving.INFEASIBLE:
        total = demand.sum(axis=2).max()
        per_slot = max(config.slow_capacity_units, config.fast_capacity_units)
        cap_max = (np.asarray(problem.parking_slots) * per_slot).sum()
        res.status, res.reason = solving.INFEASIBLE, (
            f"no plan serves the demand: largest yearly demand {total:.6g} vs capacity with every slot "
            f"fast {cap_max:.6g}, or some demand point has no supply point within reach")
        return res
    if not stats.has_solution:
        res.status, res.reason = stats.status, stats.detail
        return res
    res.objective = stats.objective
    if fixed_build is None and not relax and stats.bound is not None:
        res.best_bound, res.mip_gap = stats.bound, stats.gap
    gap_met = res.mip_gap is None or res.mip_gap <= config.mip_rel_gap + 1e-9
    res.status = solving.OPTIMAL if gap_met else solving.TIME_LIMIT
    res.reason = "" if gap_met else f"stopped at gap {res.mip_gap:.4%} ({prob.status})"

    if relax:
        res.relaxed_build = (np.asarray(slow.value, float), np.asarray(fast.value, float))
    if fixed_build is None:
        res.slow = np.rint(slow.value).astype(int)
        res.fast = np.rint(fast.value).astype(int)
    else:
        res.slow, res.fast = (np.asarray(v, int) for v in fixed_build)
    infra = (config.slow_charger_cost_cad_per_year * res.slow.sum(axis=0)
             + config.fast_charger_cost_cad_per_year * res.fast.sum(axis=0))
    res.cost_infrastructure = infra.astype(float)

    def to_matrices(values: np.ndarray) -> list[sp.csr_matrix]:
        values = np.maximum(values, 0.0)
        return [sp.csr_matrix((values[:, t], (arcs.demand_idx, arcs.supply_idx)), shape=(n, m))
                for t in range(n_years)]

    if config.service == "recourse":
        res.scenario_flows = [to_matrices(f.value) for f in flows]
        res.flows = [sum(w * res.scenario_flows[k][t] for k, w in enumerate(weights)).tocsr()
                     for t in range(n_years)]
        res.served = np.vstack([np.asarray(f.sum(axis=1)).ravel() for f in res.flows])
        res.cost_distance = np.array([sum(w * (dist @ np.maximum(flows[k].value[:, t], 0))
                                          for k, w in enumerate(weights)) for t in range(n_years)])
        res.cost_mismatch = np.array([sum(w * config.mismatch_cost_cad_per_unit * unmet[k].value[:, t].sum()
                                          for k, w in enumerate(weights)) for t in range(n_years)])
    else:
        fv = np.maximum(flow.value, 0.0)
        res.flows = to_matrices(fv)
        res.served = np.asarray(a_dem @ fv).T
        res.cost_distance = dist @ fv
        dev = np.abs(res.served[None] - demand)  # (K, T, n)
        res.cost_mismatch = config.mismatch_cost_cad_per_unit * (weights[:, None] * dev.sum(axis=2)).sum(axis=0)
        if config.service == "hard":
            res.cost_mismatch = np.zeros(n_years)
        if fixed_build is not None or relax:
            # duals of `served == A_dem x` and `A_sup x <= capacity`: reduced cost d_ij - nu_i + lam_j
            res.duals = (np.asarray(demand_cons.dual_value), np.asarray(cap_cons.dual_value))
    return res

