"""The phased network-enhancement MILP, built with CVXPY from sparse coverage matrices.

Decisions per phase t = 1..T (binary unless stated):
  U[s,t]  upgrade existing L2 station s to L3 (upgradeable stations only)
  R[s,t]  retire existing station s
  Y2/Y3[c,t]  open a new L2 / L3 station at candidate site c
  P2/P3[i,t]  integer L2 / L3 ports added at site i (only where that level is active)
  cov2/cov3[g,t] in [0,1]  share of demand group g covered by L2 / L3 in phase t
  u[g] in [0,1]  demand group g underserved (no L2/L3 within the larger radius) in the last phase
Capacity built in phase t counts from t on: the state of a site in phase t is the cumulative sum of
its decisions up to t (a right-multiplication by an upper-triangular matrix of ones).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.state import Decisions, NetworkState, active_from

MCAD = 1_000_000.0
OBJECTIVE_SCALE = 1000.0   # keeps the smallest objective coefficients well above solver tolerances


def _var(shape: tuple[int, ...], **kwargs) -> cp.Variable | cp.Constant:
    if int(np.prod(shape)) == 0:
        return cp.Constant(np.zeros(shape))
    return cp.Variable(shape, **kwargs)


def _selector(rows: int, index: np.ndarray) -> sp.csr_matrix:
    """rows x len(index) matrix with a one at (index[j], j)."""
    return sp.csr_matrix((np.ones(len(index)), (index, np.arange(len(index)))), shape=(rows, len(index)))


def _nested(inner: sp.csr_matrix, outer: sp.csr_matrix) -> bool:
    """True when every nonzero of `inner` is also a nonzero of `outer` (same shape)."""
    a, b = (inner > 0).astype(np.int8), (outer > 0).astype(np.int8)
    return (a - a.multiply(b)).nnz == 0


def site_objective_terms(state: NetworkState, d: Decisions, config: NetworkConfig) -> np.ndarray:
    """Per site, the objective of everything but coverage and underservice (`build_model`'s operating-cost,
    capex and upgrade-bonus terms): the objective is these summed over sites plus the coverage terms."""
    opex = config.years_per_phase * state.opex_by_site.sum(axis=1)
    upgraded = np.zeros(len(opex))
    upgraded[:len(d.upgrade_phase)] = d.upgrade_phase > 0
    return (-config.weight_opex_per_mcad * opex / MCAD - config.weight_capex_per_mcad * state.capex_by_site.sum(axis=1)
            / MCAD + config.weight_upgrade * upgraded)


def ports_useful(inputs: NetworkInputs, config: NetworkConfig, objective: str = "plan") -> bool:
    """Whether added ports can be part of an optimal plan. They add capex and load and nothing to coverage
    or opex, so they only pay off through the per-area port minimum (or a negative capex weight); otherwise
    the model fixes them at zero (exact, and 2 x sites x phases fewer integers)."""
    return ((config.min_ports_per_100_ev > 0 and "min_ports_per_area" not in config.relax
             and bool((inputs.area_min_ports > 0).any()))
            or (objective == "plan" and config.weight_capex_per_mcad < 0))


@dataclass
class BuiltModel:
    problem: cp.Problem
    variables: dict[str, Any]
    expressions: dict[str, Any]
    rows: dict[str, np.ndarray]            # group/area row selections used by the coverage variables
    build_seconds: float
    objective_kind: str
    constraint_groups: dict[str, list] = field(default_factory=dict)
    objective_scale: float = 1.0            # the problem's objective is this multiple of the documented one
    coverage: str = "exact"                 # "exact" coverage variables, or "projected" (Benders master)


def build_model(inputs: NetworkInputs, config: NetworkConfig, objective: str = "plan",
                coverage: str = "exact", clusters: np.ndarray | None = None) -> BuiltModel:
    """objective: 'plan' (the weighted objective), 'min_capex' (cheapest plan meeting every kept
    constraint, budgets dropped) or 'feasibility' (zero objective).

    coverage: 'exact' has a coverage variable per demand group and phase; 'projected' replaces them by one
    variable per cluster of groups (`clusters`: cluster index per group), level and phase, bounded by the
    cluster's weight and by the cuts a Benders loop adds (`network.benders`): the Benders master problem."""
    started = time.perf_counter()
    T, n, e = config.phases, inputs.n_sites, inputs.n_existing
    c = n - e
    relax = set(config.relax)
    if objective == "min_capex":
        relax |= {"total_budget", "phase_budget"}
    sites = inputs.sites
    up_idx = inputs.upgradeable_index()
    M = config.max_added_ports_per_phase
    tri = np.triu(np.ones((T, T)))          # X @ tri = cumulative sum over phases

    # Cumulative ("done by phase t") binaries: monotone in t; the decision in phase t is the difference.
    U = _var((len(up_idx), T), boolean=True)
    R = _var((e if config.allow_retire else 0, T), boolean=True)
    Y2 = _var((c, T), boolean=True)
    Y3 = _var((c, T), boolean=True)
    # Port variables are fixed at zero where no optimal plan adds ports (`ports_useful`).
    if not ports_useful(inputs, config, objective):
        M = 0
    P2 = _var((n, T), integer=True, bounds=[0, M]) if M > 0 else cp.Constant(np.zeros((n, T)))
    P3 = _var((n, T), integer=True, bounds=[0, M]) if M > 0 else cp.Constant(np.zeros((n, T)))
    step = np.eye(T) - np.eye(T, k=1)       # X @ step = per-phase increments of a cumulative X

    e_up = _selector(n, up_idx)
    e_ex = _selector(n, np.arange(e if config.allow_retire else 0))
    e_c = _selector(n, np.arange(e, n))

    def lift(selector: sp.csr_matrix, X) -> Any:
        if selector.shape[1] == 0:
            return cp.Constant(np.zeros((n, T)))
        return selector @ X

    up = lift(e_up, U)
    ret = lift(e_ex, R)
    new2 = lift(e_c, Y2)
    new3 = lift(e_c, Y3)

    is_existing = (sites["site_kind"].to_numpy() == "existing").astype(float)
    base_l2 = sites["l2_before"].to_numpy(bool).astype(float)   # a station with L2 and L3 ports has both
    base_l3 = sites["l3_before"].to_numpy(bool).astype(float)
    base_any = np.maximum(base_l2, base_l3)
    ones_t = np.ones((1, T))
    col = lambda v: v[:, None] @ ones_t  # noqa: E731  constant sites x phases
    diag = sp.diags

    alive = col(is_existing) - ret + new2 + new3
    has_l2 = col(base_l2) - diag(base_l2) @ ret + new2
    has_l3 = col(base_l3) - diag(base_l3) @ ret + up + new3
    has_any = col(base_any) - diag(base_any) @ ret + new2 + new3
    p1 = sites["ports_l1"].to_numpy(float)
    p2 = sites["ports_l2"].to_numpy(float)
    p3 = sites["ports_l3"].to_numpy(float)
    ports_l1 = col(p1) - diag(p1) @ ret
    ports_l2 = col(p2) - diag(p2) @ ret + config.new_l2_station_ports * new2 + P2 @ tri
    ports_l3 = col(p3) - diag(p3) @ ret + config.upgrade_l3_ports * up + config.new_l3_station_ports * new3 + P3 @ tri
    load = config.power_l1_kw * ports_l1 + config.power_l2_kw * ports_l2 + config.power_l3_kw * ports_l3

    count = lambda X: np.ones(X.shape[0]) @ X if X.shape[0] else np.zeros(T)  # noqa: E731  per-phase column sums
    taken = lambda X: count(X) @ step if X.shape[0] else np.zeros(T)  # noqa: E731  decisions taken in each phase
    capex = (
        config.upgrade_cost_cad * taken(U)
        + config.retire_cad * taken(R)
        + config.new_l2_cost_cad * taken(Y2)
        + config.new_l3_cost_cad * taken(Y3)
        + config.port_l2_cad * count(P2) + config.port_l3_cad * count(P3)
    )

    groups: dict[str, list] = {k: [] for k in ("logic", "total_budget", "phase_budget", "max_upgrades_per_phase",
                                               "coverage_target_l2", "coverage_target_l3", "max_l3_distance",
                                               "l3_spacing", "site_grid_capacity", "area_grid_capacity",
                                               "min_ports_per_area", "coverage_definition", "equity_floors")}
    logic = groups["logic"]
    for X in (U, R, Y2, Y3):
        if isinstance(X, cp.Variable) and T > 1:
            logic.append(X[:, 1:] >= X[:, :-1])          # once done, stays done
    if e and (len(up_idx) or config.allow_retire):
        # An existing station is upgraded or retired, not both.
        both = 0
        if len(up_idx):
            both = _selector(e, up_idx) @ U[:, T - 1]
        if config.allow_retire:
            both = both + R[:, T - 1]
        logic.append(both <= 1)
    if c:
        logic.append(Y2[:, T - 1] + Y3[:, T - 1] <= 1)
    if M > 0:
        logic.append(M * has_l2 >= P2)
        logic.append(M * has_l3 >= P3)
        if e and config.allow_retire:
            # no ports at a station that is retired at any time (ports would be stranded)
            ex_ports = (cp.sum(P2, axis=1) + cp.sum(P3, axis=1))[:e]
            logic.append(ex_ports <= 2 * M * T * (1 - R[:, T - 1]))

    # Budget rows in million CAD: keeps the matrix coefficients within a few orders of magnitude.
    if "total_budget" not in relax:
        groups["total_budget"].append(cp.sum(capex) / MCAD <= config.budget_cad / MCAD)
    if "phase_budget" not in relax:
        groups["phase_budget"].append(capex / MCAD <= np.array(config.phase_budgets()) / MCAD)
    if len(up_idx) and "max_upgrades_per_phase" not in relax:
        groups["max_upgrades_per_phase"].append(taken(U) <= config.max_upgrades_per_phase)

    # Coverage of groups, only for groups some site can reach at that level.
    rows2 = np.flatnonzero(np.diff(inputs.a_l2.indptr) > 0)
    rows3 = np.flatnonzero(np.diff(inputs.a_l3.indptr) > 0)
    rows_any = np.flatnonzero(np.diff(inputs.a_any.indptr) > 0)
    W = max(inputs.total_weight, 1e-12)
    rows = {"l2": rows2, "l3": rows3, "any": rows_any}
    if coverage == "projected":
        terms = _projected_coverage(inputs, config, rows, has_l2, has_l3, has_any, groups["coverage_definition"],
                                    clusters)
    elif coverage == "exact":
        terms = _exact_coverage(inputs, config, rows, has_l2, has_l3, has_any, groups["coverage_definition"])
    else:
        raise ValueError(f"unknown coverage formulation {coverage!r}")
    if config.min_coverage_l2_share > 0 and "coverage_target_l2" not in relax:
        groups["coverage_target_l2"].append(terms.covered_last["l2"] >= config.min_coverage_l2_share * W)
    if config.min_coverage_l3_share > 0 and "coverage_target_l3" not in relax:
        groups["coverage_target_l3"].append(terms.covered_last["l3"] >= config.min_coverage_l3_share * W)
    if "equity_floors" not in relax:
        groups["equity_floors"] += equity_floor_rows(inputs, config, terms, rows, coverage)
    req = np.flatnonzero(inputs.dmax_required)
    if len(req) and "max_l3_distance" not in relax:
        groups["max_l3_distance"].append(inputs.a_dmax[req] @ has_l3[:, T - 1] >= 1)
    if len(inputs.spacing_pairs) and "l3_spacing" not in relax:
        pairs = inputs.spacing_pairs
        k = len(pairs)
        conflict = sp.csr_matrix((np.ones(2 * k), (np.r_[np.arange(k), np.arange(k)], np.r_[pairs[:, 0], pairs[:, 1]])),
                                 shape=(k, n))
        new_l3_last = (up + new3)[:, T - 1]
        groups["l3_spacing"].append(conflict @ new_l3_last <= 1)
    if "site_grid_capacity" not in relax:
        cap = sites["capacity_kw"].to_numpy(float)
        # Rows only for sites whose largest possible load exceeds the capacity; the others can never bind.
        can_up = np.zeros(n, bool)
        can_up[up_idx] = True
        peak = (config.power_l1_kw * p1 + config.power_l2_kw * p2 + config.power_l3_kw * p3
                + can_up * config.upgrade_l3_ports * config.power_l3_kw
                + (sites["site_kind"].to_numpy() == "candidate") * max(config.new_l2_station_ports * config.power_l2_kw,
                                                                     config.new_l3_station_ports * config.power_l3_kw)
                + M * T * (config.power_l2_kw + config.power_l3_kw))
        tight = np.flatnonzero(peak > cap + 1e-9)
        if len(tight):
            groups["site_grid_capacity"].append(_selector(n, tight).T @ load <= col(cap[tight]))
    with_area = np.flatnonzero(inputs.area_of_site >= 0)
    area_matrix = sp.csr_matrix((np.ones(len(with_area)), (inputs.area_of_site[with_area], with_area)),
                                shape=(len(inputs.area_ids), n))
    finite = np.flatnonzero(np.isfinite(inputs.area_capacity_kw))
    if len(finite) and "area_grid_capacity" not in relax:
        groups["area_grid_capacity"].append(area_matrix[finite] @ load <= col(inputs.area_capacity_kw[finite]))
    need = np.flatnonzero(inputs.area_min_ports > 0)
    if len(need) and "min_ports_per_area" not in relax:
        total_ports = (ports_l1 + ports_l2 + ports_l3)[:, T - 1]
        groups["min_ports_per_area"].append(area_matrix[need] @ total_ports >= inputs.area_min_ports[need])

    cov_term, underserved = terms.coverage_term, terms.underserved
    opex_by_phase = config.opex_l2_station_cad_per_year * count(alive) + (
        config.opex_l3_station_cad_per_year - config.opex_l2_station_cad_per_year) * count(has_l3)
    opex_total = config.years_per_phase * cp.sum(opex_by_phase)
    n_upgrades = cp.sum(U[:, T - 1]) if len(up_idx) else 0.0
    if objective == "plan":
        goal = cp.Maximize(OBJECTIVE_SCALE * (
            config.weight_coverage * cov_term
            - config.weight_opex_per_mcad * opex_total / MCAD
            + config.weight_upgrade * n_upgrades
            - config.weight_underserved * underserved
            - config.weight_capex_per_mcad * cp.sum(capex) / MCAD
        ))
    elif objective == "min_capex":
        goal = cp.Minimize(cp.sum(capex) / MCAD)
    elif objective == "feasibility":
        goal = cp.Minimize(0)
    else:
        raise ValueError(f"unknown objective {objective!r}")
    constraints = [con for group in groups.values() for con in group]
    problem = cp.Problem(goal, constraints)
    return BuiltModel(
        problem=problem,
        variables={"U": U, "R": R, "Y2": Y2, "Y3": Y3, "P2": P2, "P3": P3, **terms.variables},
        expressions={"capex": capex, "has_l2": has_l2, "has_l3": has_l3, "has_any": has_any, "load": load,
                     "coverage_term": cov_term, "underserved": underserved, "opex_total": opex_total},
        rows={**rows, "upgradeable": up_idx, **terms.rows},
        build_seconds=time.perf_counter() - started,
        objective_kind=objective,
        constraint_groups=groups,
        objective_scale=OBJECTIVE_SCALE if objective == "plan" else 1.0,
        coverage=coverage,
    )


@dataclass
class CoverageTerms:
    """The coverage part of the model: last-phase covered weight per level, the objective's coverage and
    underservice terms, and the variables and row selections it created."""

    covered_last: dict[str, Any]
    coverage_term: Any
    underserved: Any
    variables: dict[str, Any]
    rows: dict[str, np.ndarray] = field(default_factory=dict)


def _exact_coverage(inputs: NetworkInputs, config: NetworkConfig, rows: dict[str, np.ndarray], has_l2, has_l3,
                    has_any, definition: list) -> CoverageTerms:
    """A coverage variable per reachable group and phase, at most the group's active cover."""
    T = config.phases
    rows2, rows3, rows_any = rows["l2"], rows["l3"], rows["any"]
    cov2 = _var((len(rows2), T), bounds=[0, 1])
    cov3 = _var((len(rows3), T), bounds=[0, 1])
    u = _var((len(rows_any),), bounds=[0, 1])
    w = inputs.group_weight
    W = max(inputs.total_weight, 1e-12)
    if len(rows2):
        definition.append(cov2 <= inputs.a_l2[rows2] @ has_l2)
    if len(rows3):
        definition.append(cov3 <= inputs.a_l3[rows3] @ has_l3)
    if len(rows_any):
        a_any = inputs.a_any[rows_any]
        nested = (len(rows3) > 0 and config.radius_l3_km >= config.radius_l2_km
                  and _nested(inputs.a_l3, inputs.a_any))
        if nested:
            # The L3 radius is the larger one and every L3 pair is also an "any" pair, so a group is served in
            # the last phase when it is L3-covered or a site within the larger radius is active without being
            # L3. The rows only need the non-L3 part of each site (one variable per candidate instead of two);
            # exact because cov3 is at most its L3 cover and is pushed to it by every objective and target.
            pos3 = np.full(inputs.n_groups, -1)
            pos3[rows3] = np.arange(len(rows3))
            at = pos3[rows_any]
            pick = sp.csr_matrix((np.ones(int((at >= 0).sum())), (np.flatnonzero(at >= 0), at[at >= 0])),
                                 shape=(len(rows_any), len(rows3)))
            definition.append(u >= 1 - pick @ cov3[:, T - 1] - a_any @ (has_any - has_l3)[:, T - 1])
        else:
            definition.append(u >= 1 - a_any @ has_any[:, T - 1])
    disc = config.phase_weights()
    cov_term = 0.0
    if len(rows2):
        cov_term = cov_term + (w[rows2] @ cov2 @ disc) / W
    if len(rows3):
        cov_term = cov_term + (w[rows3] @ cov3 @ disc) / W
    unreachable = W - (w[rows_any].sum() if len(rows_any) else 0.0)
    underserved = ((w[rows_any] @ u if len(rows_any) else 0.0) + unreachable) / W
    return CoverageTerms(
        covered_last={"l2": w[rows2] @ cov2[:, T - 1] if len(rows2) else 0.0,
                      "l3": w[rows3] @ cov3[:, T - 1] if len(rows3) else 0.0},
        coverage_term=cov_term, underserved=underserved, variables={"cov2": cov2, "cov3": cov3, "u": u})


def cluster_matrix(clusters: np.ndarray, rows: np.ndarray, n_clusters: int) -> sp.csr_matrix:
    """clusters x len(rows) indicator of which cluster each selected group belongs to."""
    return sp.csr_matrix((np.ones(len(rows)), (clusters[rows], np.arange(len(rows)))), shape=(n_clusters, len(rows)))


def _projected_coverage(inputs: NetworkInputs, config: NetworkConfig, rows: dict[str, np.ndarray], has_l2, has_l3,
                        has_any, definition: list, clusters: np.ndarray | None) -> CoverageTerms:
    """Coverage projected onto the site decisions: per cluster of groups, level and phase a variable
    theta <= the cluster's reachable weight, linked to the state through `h2, h3, ha` (copies of has_l2,
    has_l3 and the last phase of has_any, so that cuts address them as columns). Starts with the cut at the
    empty network (theta <= sum of w_g * cover_g, valid everywhere); `network.benders` adds the rest."""
    T, n = config.phases, inputs.n_sites
    if clusters is None:
        clusters = np.zeros(inputs.n_groups, np.int64)
    K = int(clusters.max()) + 1 if len(clusters) else 1
    w = inputs.group_weight
    W = max(inputs.total_weight, 1e-12)
    h2 = cp.Variable((n, T), name="h2")
    h3 = cp.Variable((n, T), name="h3")
    ha = cp.Variable(n, name="ha")
    definition += [h2 == has_l2, h3 == has_l3, ha == has_any[:, T - 1]]
    out: dict[str, Any] = {}
    for key, matrix, h, width in (("l2", inputs.a_l2, h2, T), ("l3", inputs.a_l3, h3, T), ("any", inputs.a_any, ha, 0)):
        sel = rows[key]
        C = cluster_matrix(clusters, sel, K)
        cap = C @ w[sel]
        theta = cp.Variable((K, width) if width else K, name=f"theta_{key}", nonneg=True)
        definition.append(theta <= (cap[:, None] @ np.ones((1, width))) if width else theta <= cap)
        if len(sel):
            definition.append(theta <= (C @ sp.diags(w[sel]) @ matrix[sel]) @ h)
        out[key] = theta
    disc = config.phase_weights()
    cov_term = (cp.sum(out["l2"] @ disc) + cp.sum(out["l3"] @ disc)) / W
    underserved = (W - cp.sum(out["any"])) / W
    return CoverageTerms(
        covered_last={"l2": cp.sum(out["l2"][:, T - 1]), "l3": cp.sum(out["l3"][:, T - 1])},
        coverage_term=cov_term, underserved=underserved,
        variables={"theta_l2": out["l2"], "theta_l3": out["l3"], "theta_any": out["any"], "h2": h2, "h3": h3, "ha": ha},
        rows={"clusters": clusters})


def group_bands(inputs: NetworkInputs) -> np.ndarray:
    """Income band of each demand group (-1: none). With floors on, groups never span two bands
    (`prepare_inputs` keys the aggregation by band), so any member's band is the group's."""
    if "income_band" not in inputs.demand:
        raise ValueError("equity floors need demand points with an 'income_band' column")
    band = np.full(inputs.n_groups, -1, dtype=np.int64)
    band[inputs.demand["group"].to_numpy()] = inputs.demand["income_band"].to_numpy(np.int64)
    return band


def equity_floor_rows(inputs: NetworkInputs, config: NetworkConfig, terms: CoverageTerms,
                      rows: dict[str, np.ndarray], coverage: str) -> list:
    """Equity floors (docs/equity.md): for every income band b and level k with a floor f_k > 0,
    sum over the band's reachable groups of w_g * cov_k[g, last phase] >= f_k * (total weight of band b),
    the band's total counting its unreachable points too. One row per band and level.

    Exact only with a coverage variable per group: the projected (Benders master) coverage bounds a
    cluster's coverage from above, so a floor on it would not guarantee the band's true coverage. That
    formulation refuses floors instead of dropping them (the plan falls back to the monolithic model)."""
    floors = {"l2": config.equity_min_coverage_l2_share, "l3": config.equity_min_coverage_l3_share}
    if not any(f > 0 for f in floors.values()):
        return []
    if coverage != "exact":
        raise ValueError("equity floors need the exact coverage formulation (method='monolithic')")
    band = group_bands(inputs)
    bands = np.unique(band[band > 0])
    dem = inputs.demand[inputs.demand["income_band"] > 0]
    band_weight = dem.groupby("income_band")["weight"].sum().reindex(bands).fillna(0.0).to_numpy()
    w, T = inputs.group_weight, config.phases
    out: list = []
    for key, name in (("l2", "cov2"), ("l3", "cov3")):
        if floors[key] <= 0 or not len(bands):
            continue
        need = floors[key] * band_weight
        sel = rows[key]
        banded = band[sel] > 0
        if not banded.any():       # no group of any band is reachable at this level: met only if no band needs it
            slack = cp.Variable(len(bands))
            out += [slack == 0, slack >= need]
            continue
        at = np.searchsorted(bands, band[sel][banded])
        matrix = sp.csr_matrix((w[sel][banded], (at, np.flatnonzero(banded))), shape=(len(bands), len(sel)))
        out.append(matrix @ terms.variables[name][:, T - 1] >= need)
    return out


# ------------------------------------------------------------------------------------------------
def decisions_from_values(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig) -> Decisions:
    T = config.phases
    d = Decisions.empty(inputs, T)
    v = model.variables

    def val(name: str) -> np.ndarray:
        return np.rint(np.asarray(v[name].value, float)).astype(np.int64)

    def first_phase(x: np.ndarray) -> np.ndarray:   # x is cumulative (done by phase t)
        if x.size == 0:
            return np.zeros(x.shape[0], np.int64)
        return np.where(x.max(axis=1) > 0, x.argmax(axis=1) + 1, 0)

    up_idx = model.rows["upgradeable"]
    if len(up_idx):
        d.upgrade_phase[up_idx] = first_phase(val("U"))
    if config.allow_retire and inputs.n_existing:
        d.retire_phase[:] = first_phase(val("R"))
    e = inputs.n_existing
    if inputs.n_candidates:
        y2, y3 = first_phase(val("Y2")), first_phase(val("Y3"))
        d.open_level[e:] = np.where(y3 > 0, 3, np.where(y2 > 0, 2, 0))
        d.open_phase[e:] = np.maximum(y2, y3)
    if isinstance(v["P2"], cp.Variable):
        d.ports_l2[:] = val("P2")
        d.ports_l3[:] = val("P3")
    return d


def decision_sites(model: BuiltModel, inputs: NetworkInputs) -> dict[str, np.ndarray]:
    """Per decision variable (U, R, Y2, Y3, P2, P3; those the model has), the site of each of its rows."""
    e, n = inputs.n_existing, inputs.n_sites
    rows = {"U": model.rows["upgradeable"], "R": np.arange(e), "Y2": np.arange(e, n), "Y3": np.arange(e, n),
            "P2": np.arange(n), "P3": np.arange(n)}
    return {name: site for name, site in rows.items() if isinstance(model.variables[name], cp.Variable)}


def assign_decisions(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig, d: Decisions) -> None:
    """Set every variable's value from decisions (coverage and underservice at their best values)."""
    T = config.phases
    v = model.variables
    up_idx = model.rows["upgradeable"]
    if isinstance(v["U"], cp.Variable):
        v["U"].value = active_from(d.upgrade_phase[up_idx], T).astype(float)
    if isinstance(v["R"], cp.Variable):
        v["R"].value = active_from(d.retire_phase, T).astype(float)
    e = inputs.n_existing
    if isinstance(v["Y2"], cp.Variable):
        v["Y2"].value = active_from(np.where(d.open_level[e:] == 2, d.open_phase[e:], 0), T).astype(float)
        v["Y3"].value = active_from(np.where(d.open_level[e:] == 3, d.open_phase[e:], 0), T).astype(float)
    if isinstance(v["P2"], cp.Variable):
        v["P2"].value = d.ports_l2.astype(float)
        v["P3"].value = d.ports_l3.astype(float)
    ex = model.expressions
    has_l2, has_l3, has_any = ex["has_l2"].value, ex["has_l3"].value, ex["has_any"].value
    if model.coverage == "projected":
        _assign_projected(model, inputs, config, has_l2, has_l3, has_any)
        return
    if isinstance(v["cov2"], cp.Variable):
        v["cov2"].value = np.minimum(1.0, inputs.a_l2[model.rows["l2"]] @ has_l2)
    if isinstance(v["cov3"], cp.Variable):
        v["cov3"].value = np.minimum(1.0, inputs.a_l3[model.rows["l3"]] @ has_l3)
    if isinstance(v["u"], cp.Variable):
        v["u"].value = np.maximum(0.0, 1.0 - inputs.a_any[model.rows["any"]] @ has_any[:, T - 1])


def _assign_projected(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig, has_l2, has_l3, has_any) -> None:
    """Master-problem values for a plan: state copies, and per cluster its true covered weight."""
    T = config.phases
    v = model.variables
    v["h2"].value, v["h3"].value, v["ha"].value = has_l2, has_l3, has_any[:, T - 1]
    clusters = model.rows["clusters"]
    K = v["theta_any"].shape[0]
    w = inputs.group_weight
    for key, matrix, h in (("l2", inputs.a_l2, has_l2), ("l3", inputs.a_l3, has_l3),
                           ("any", inputs.a_any, has_any[:, T - 1])):
        sel = model.rows[key]
        covered = np.minimum(1.0, matrix[sel] @ h)
        v[f"theta_{key}"].value = cluster_matrix(clusters, sel, K) @ (w[sel][:, None] * covered if h.ndim == 2
                                                                      else w[sel] * covered)
