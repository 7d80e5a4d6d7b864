"""Benders decomposition of the network plan, after Cordeau, Furini & Ljubić (2019, EJOR, "Benders
decomposition for very large scale partial set covering and maximal covering location problems").

The coverage variables (one per demand group, level and phase in the monolithic model) are projected
out. The master problem keeps every other decision and constraint of the full model (phases, budgets,
upgrades, retirements, ports, spacing, grid capacity, port minimums, service standard) and has one
variable theta per cluster of demand groups, level and phase, bounded by Benders cuts. For a point hbar
of the site state (has_l2 / has_l3 / has_any per site and phase) the cut of cluster c is

    theta_c <= sum_{g in c, a_g.hbar >= 1} w_g  +  sum_{g in c, a_g.hbar < 1} w_g a_g.h

valid for every h >= 0 because min(1, a_g.h) is at most 1 and at most a_g.h, and tight at hbar (it is
the supergradient of the concave coverage function there). Cuts are separated combinatorially: one
sparse matrix product per level and phase, no LP per cut.

Bounds: every master is a relaxation of the full model (its theta over-estimate coverage), so the
optimum of its LP relaxation after any number of rounds, and the dual bound HiGHS reports for the master
MILP at any time, are valid upper bounds of the full model's optimum; the tightest one is reported.
Where the master LP does not converge in its share of the limit, or its rounds are too slow to (100,000 demand
points x 11,000 sites: 60-120 s per round), a third bound is computed: the Lagrangian dual
(`network.lagrangian`), valid at any multipliers and cheap at any scale.
Primal side: the greedy plan polished by local search (or, when it misses a coverage target and the
LP-support MILP finds no plan, the min-capex start), the Lagrangian heuristic where that bound runs, the
exact MILP over the sites the master LP uses (the LP-support MILP), the exact MILP on a kernel of sites
(the plan's and the best others; `network.local_search`), every integer master solution, and, where the
master is too large for its rounds, window MILPs over a few neighbouring areas at a time
(`network.windows`); each is evaluated exactly and only plans that meet every constraint of the full
model are kept.

The loop re-solves one HiGHS model with rows added (`highspy`), so CVXPY compiles the master once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
from scipy.cluster.vq import kmeans2

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.greedy import greedy_plan
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.lagrangian import lagrangian_bound
from evcharge_pipeline.network.local_search import improve_plan, kernel_search, min_capex_start, plan_value
from evcharge_pipeline.network.model import (
    BuiltModel,
    assign_decisions,
    build_model,
    cluster_matrix,
    decision_sites,
    decisions_from_values,
)
from evcharge_pipeline.network.solve import HighsProblem, highs_problem, set_run_time_limit
from evcharge_pipeline.network.state import Decisions
from evcharge_pipeline.network.windows import solve_window, window_search
from evcharge_pipeline.solving import relative_gap

log = logging.getLogger(__name__)

LEVELS = ("l2", "l3", "any")
LP_TIME_SHARE = 0.4     # the LP rounds stop after this share of the time limit (then LP-support, kernel, MILP)
LP_SUPPORT_TOLERANCE = 1e-6   # an LP value above this counts as using the site (the LP-support MILP)
REPAIR_TIME_SHARE = 0.25  # the min-capex start may use this share of the limit (when the greedy misses a target)
SLOW_ROUND_SHARE = 0.025  # ... or once a round would take more than this share of the limit and more than
SLOW_ROUND_SECONDS = 20.0  # SLOW_ROUND_SECONDS (it is cut off there): Kelley's rounds cannot converge in time
                           # (15-25 rounds are typical; 0.5-5 s each on Waterloo, 7 s for the first at
                           # 20,000 x 2,000, 64 s at 100,000 x 11,000); the Lagrangian bound then stands in


def demand_clusters(inputs: NetworkInputs, n_clusters: int, seed: int = 0) -> np.ndarray:
    """Cluster index per demand group: k-means (deterministic seed) on where each group is, taken as the
    centroid of the sites within its largest radius (groups no site reaches go to cluster 0)."""
    G = inputs.n_groups
    k = max(1, min(int(n_clusters), G))
    if k == 1 or G == 0:
        return np.zeros(G, np.int64)
    sites = inputs.sites
    lat = np.radians(sites["lat"].to_numpy(float))
    xy = np.column_stack([lat, np.radians(sites["lon"].to_numpy(float)) * np.cos(lat.mean())])
    reach = (inputs.a_any > 0).astype(float)
    count = np.asarray(reach.sum(axis=1)).ravel()
    where = (reach @ xy) / np.maximum(count, 1)[:, None]
    reachable = count > 0
    labels = np.zeros(G, np.int64)
    k = min(k, len(np.unique(where[reachable], axis=0)))    # no more clusters than distinct locations
    if reachable.sum() > k:
        _, found = kmeans2(where[reachable], k, seed=seed, minit="++")
        labels[reachable] = np.unique(found, return_inverse=True)[1]
    else:
        labels[reachable] = np.arange(int(reachable.sum()))
    return labels


@dataclass
class BendersOutcome:
    status: str                        # optimal | time_limit | infeasible | time_limit_no_solution
    decisions: Decisions | None
    objective: float | None            # exact objective of `decisions` in the full model
    bound: float | None                # valid upper bound of the full model's optimum
    bound_method: str
    lp_bound: float | None
    rounds_lp: int = 0
    rounds_mip: int = 0
    cuts: int = 0
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    primal_source: str = ""
    local_search_moves: int = 0
    kernel_candidates: int = 0
    lagrangian_evaluations: int = 0
    windows_improved: int = 0              # window MILPs whose plan was kept (network.windows)
    history_start_value: float | None = None   # exact objective of the start plan (None: infeasible or none)
    history: list[dict] = field(default_factory=list)

    @property
    def gap(self) -> float | None:
        return relative_gap(self.objective, self.bound)


class _CutSeparator:
    """Cut coefficients for the master's coverage variables, from the sparse coverage matrices."""

    def __init__(self, inputs: NetworkInputs, model, hprob: HighsProblem, config: NetworkConfig):
        self.T = config.phases
        v = model.variables
        clusters = model.rows["clusters"]
        self.K = v["theta_any"].shape[0]
        self.hprob = hprob
        w = inputs.group_weight
        self.parts = []
        for key, matrix in (("l2", inputs.a_l2), ("l3", inputs.a_l3), ("any", inputs.a_any)):
            sel = model.rows[key]
            C = cluster_matrix(clusters, sel, self.K).tocsr()
            theta_cols = hprob.slice(v[f"theta_{key}"])
            h_cols = hprob.slice(v["h2" if key == "l2" else "h3" if key == "l3" else "ha"])
            if theta_cols.ndim == 1:
                theta_cols, h_cols = theta_cols[:, None], h_cols[:, None]
            self.parts.append((key, matrix[sel].tocsr(), w[sel], C, theta_cols, h_cols))

    def separate(self, x: np.ndarray, tolerance: float) -> tuple[list[sp.csr_matrix], list[np.ndarray], float]:
        """Violated cuts at x as (rows over all columns, upper bounds); also the total violation."""
        blocks, uppers, violation = [], [], 0.0
        ncol = x.size
        for _key, A, w, C, theta_cols, h_cols in self.parts:
            for t in range(theta_cols.shape[1]):
                h = x[h_cols[:, t]]
                covered = (A @ h) >= 1.0 - 1e-9
                const = C @ (w * covered)
                coef = C @ sp.diags(w * ~covered) @ A           # clusters x sites
                theta = x[theta_cols[:, t]]
                excess = theta - (const + coef @ h)
                bad = np.flatnonzero(excess > tolerance)
                if not len(bad):
                    continue
                violation += float(excess[bad].sum())
                sub = coef[bad].tocoo()
                rows = np.concatenate([np.arange(len(bad)), sub.row])
                cols = np.concatenate([theta_cols[bad, t], h_cols[sub.col, t]])
                vals = np.concatenate([np.ones(len(bad)), -sub.data])
                blocks.append(sp.csr_matrix((vals, (rows, cols)), shape=(len(bad), ncol)))
                uppers.append(const[bad])
        return blocks, uppers, violation


def _add_rows(hprob: HighsProblem, blocks: list[sp.csr_matrix], uppers: list[np.ndarray]) -> int:
    if not blocks:
        return 0
    M = sp.vstack(blocks).tocsr()
    M.sum_duplicates()
    upper = np.concatenate(uppers)
    lower = np.full(len(upper), -np.inf)
    hprob.highs.addRows(len(upper), lower, upper, M.nnz, M.indptr[:-1].astype(np.int32),
                        M.indices.astype(np.int32), M.data)
    return len(upper)


def lp_support_sites(hprob: HighsProblem, model: BuiltModel, inputs: NetworkInputs, x: np.ndarray) -> np.ndarray:
    """Bool per site: the sites where the master's LP solution `x` takes some decision in some phase."""
    used = np.zeros(inputs.n_sites, bool)
    for name, site in decision_sites(model, inputs).items():
        used[site[x[hprob.slice(model.variables[name])].max(axis=1) > LP_SUPPORT_TOLERANCE]] = True
    return used


def _master_state(hprob: HighsProblem, model, config: NetworkConfig, inputs: NetworkInputs,
                  x: np.ndarray) -> Decisions:
    hprob.set_values(x, list(model.variables.values()))
    return decisions_from_values(model, inputs, config)


def solve_benders(inputs: NetworkInputs, config: NetworkConfig, incumbent: Decisions | None,
                  time_limit_seconds: float, verbose: bool = False) -> BendersOutcome:
    """Bound and improve a plan with the Benders loop: LP rounds to the root bound, then MILP rounds."""
    started = time.perf_counter()
    deadline = started + time_limit_seconds
    clusters = demand_clusters(inputs, config.benders_clusters)
    model = build_model(inputs, config, objective="plan", coverage="projected", clusters=clusters)
    hprob = highs_problem(model.problem, time_limit_seconds, config.mip_gap, config.threads, verbose,
                          model.objective_scale, dict(config.highs_options), relax_integrality=False)
    h = hprob.highs
    separator = _CutSeparator(inputs, model, hprob, config)
    build_seconds = time.perf_counter() - started
    W = max(inputs.total_weight, 1e-12)
    tolerance = 1e-7 * W

    best, best_value, source = None, None, ""
    if incumbent is not None:
        value = plan_value(model, inputs, config, incumbent)
        if value is not None:
            best, best_value, source = incumbent, value, "greedy"

    out = BendersOutcome("time_limit", None, None, None, "", None, history_start_value=best_value)
    bound, bound_method = np.inf, ""
    cuts = 0

    def tighten(value: float, method: str) -> None:
        nonlocal bound, bound_method
        if value < bound:
            bound, bound_method = value, method
    search_seconds = config.local_search_time_share * time_limit_seconds

    def accept(plan: Decisions | None, label: str) -> bool:
        """Keep `plan` when the full model accepts it and it beats the plan so far."""
        nonlocal best, best_value, source
        value = None if plan is None else plan_value(model, inputs, config, plan)
        if value is None or (best_value is not None and value <= best_value + 1e-12):
            return False
        best, best_value, source = plan, value, label
        return True

    def polish(seconds: float) -> None:
        nonlocal best, best_value, source
        if best is None or seconds <= 0:
            return
        found = improve_plan(model, inputs, config, best, best_value, min(deadline, time.perf_counter() + seconds))
        out.local_search_moves += found.moves_taken
        if found.moves_taken:
            best, best_value, source = found.decisions, found.value, f"{source} + local search"
        out.history.append({"phase": "local search", "incumbent": best_value, "moves": found.moves_taken,
                            "plans_evaluated": found.plans_evaluated, "seconds": time.perf_counter() - started})

    polish(search_seconds / 2)

    # LP rounds: Kelley's cutting planes on the master's LP relaxation.
    # The first LP by interior point (3x faster than simplex on the KW master, where the 10,000 spacing rows
    # dominate), crossed over to a basis; the later rounds re-solve from that basis by dual simplex.
    hprob.set_integrality(False)
    h.setOptionValue("solver", "ipm")
    lp_deadline = started + LP_TIME_SHARE * time_limit_seconds
    x = None
    lp_converged = lp_too_slow = False
    for round_ in range(config.benders_lp_rounds):
        round_started = time.perf_counter()
        slow = max(SLOW_ROUND_SECONDS, SLOW_ROUND_SHARE * time_limit_seconds)
        set_run_time_limit(h, max(1.0, min(slow, deadline - time.perf_counter())), mip=False)
        h.run()
        status = h.getModelStatus().name
        if status == "kInfeasible":
            out.status, out.bound_method = "infeasible", "benders_master_lp_infeasible"
            out.build_seconds, out.solve_seconds = build_seconds, time.perf_counter() - started - build_seconds
            return out
        if status != "kOptimal":
            lp_too_slow = status == "kTimeLimit" and time.perf_counter() - round_started >= slow - 1.0
            break
        info = h.getInfo()
        value = hprob.objective(float(info.objective_function_value))
        tighten(value, "benders_lp_relaxation")
        out.lp_bound = value
        x = np.asarray(h.getSolution().col_value)
        blocks, uppers, violation = separator.separate(x, tolerance)
        added = _add_rows(hprob, blocks, uppers)
        cuts += added
        out.rounds_lp = round_ + 1
        h.setOptionValue("solver", "simplex")
        out.history.append({"phase": "lp", "round": round_ + 1, "bound": value, "cuts_added": added,
                            "seconds": time.perf_counter() - started})
        log.info("benders LP round %d: bound %.6f, %d cuts added", round_ + 1, value, added)
        if added == 0 or violation <= 1e-6 * W:
            lp_converged = True
            break
        if time.perf_counter() >= lp_deadline:
            break
        if time.perf_counter() - round_started > slow:
            lp_too_slow = True
            break

    # LP-support MILP: the exact model over the sites the master LP uses, every other site left as it is. Where a
    # coverage target takes most of the budget, the LP's nearly integral plan differs in structure from any
    # plan single moves reach from the min-capex start (KW, 2 M CAD, 90% L3: 1.2525 in 10 s against 1.1270);
    # it also finds a first plan where the greedy misses a target.
    if x is not None and out.status != "infeasible" and time.perf_counter() < deadline - 1.0:
        support = lp_support_sites(hprob, model, inputs, x)
        found = solve_window(inputs, config, Decisions.empty(inputs, config.phases), support,
                             min(config.kernel_time_share * time_limit_seconds, deadline - time.perf_counter()))
        gained = accept(found, "lp-support milp")
        out.history.append({"phase": "lp support", "incumbent": best_value, "sites": int(support.sum()),
                            "seconds": time.perf_counter() - started})
        log.info("LP-support MILP on %d sites: plan kept %s, best %s", int(support.sum()), gained, best_value)
        if gained:
            polish(search_seconds / 2)

    if best is None and (config.min_coverage_l2_share > 0 or config.min_coverage_l3_share > 0):
        # targets that neither the greedy nor the LP-support MILP met: start from the cheapest plan meeting
        # them, re-phased into the budgets
        repaired = min_capex_start(model, inputs, config, REPAIR_TIME_SHARE * time_limit_seconds)
        if repaired is not None:
            best, best_value = repaired
            source = "min-capex start"
        out.history.append({"phase": "min-capex start", "incumbent": best_value,
                            "seconds": time.perf_counter() - started})
        polish(search_seconds / 2)

    # Lagrangian dual bound, where the master LP did not converge: valid at any multipliers; it stops when it
    # meets the plan, stalls, or reaches its time share
    if not lp_converged and config.lagrangian_time_share > 0 and out.status != "infeasible":
        lagrangian_deadline = time.perf_counter() + config.lagrangian_time_share * time_limit_seconds
        lagrangian = lagrangian_bound(inputs, config, best, min(deadline, lagrangian_deadline), target=best_value)
        if lagrangian is not None:
            tighten(lagrangian.bound, "lagrangian_dual")
            out.lagrangian_evaluations = lagrangian.evaluations
            out.history.append({"phase": "lagrangian", "bound": lagrangian.bound, "evaluations": lagrangian.evaluations,
                                "seconds": time.perf_counter() - started})
            if lagrangian.plan is not None:
                # Lagrangian heuristic: the options priced best at the bound, completed greedily, if the full
                # model accepts the result and it beats the plan so far
                completed = greedy_plan(inputs, config, start=lagrangian.plan)
                for trial in (completed, lagrangian.plan):
                    accept(trial, "lagrangian heuristic")

    # Kernel MILP: the exact model on the plan's sites and the best others (pointless when the plan alone
    # has as many candidate sites as the kernel may hold).
    plan_sites = 0 if best is None else int((best.open_level > 0).sum())
    if (config.kernel_candidates > plan_sites and out.status != "infeasible"
            and time.perf_counter() < deadline - 1.0):
        kernel = kernel_search(model, inputs, config, best, best_value,
                               min(config.kernel_time_share * time_limit_seconds, deadline - time.perf_counter()))
        out.kernel_candidates = kernel.candidates
        if kernel.decisions is not None:
            best, best_value, source = kernel.decisions, kernel.value, "kernel milp"
        out.history.append({"phase": "kernel", "incumbent": best_value, "status": kernel.status,
                            "candidates": kernel.candidates, "seconds": time.perf_counter() - started})
        polish(search_seconds / 2)

    # A master too slow for its LP rounds is too slow for its MILP: the rest of the time goes to window MILPs
    # (several sites changed at once, where single moves stall), then to local search.
    if lp_too_slow and best is not None:
        found = window_search(model, inputs, config, best, best_value, deadline)
        out.windows_improved = found.windows_improved
        if found.windows_improved:
            best, best_value, source = found.decisions, found.value, f"{source} + window milp"
        out.history.append({"phase": "windows", "incumbent": best_value, "windows": found.windows_solved,
                            "improved": found.windows_improved, "seconds": time.perf_counter() - started})
        polish(deadline - time.perf_counter())

    # MILP rounds: the master with integrality, warm-started from the best plan; cuts at each master plan.
    hprob.set_integrality(True)
    h.setOptionValue("solver", "choose")
    while not lp_too_slow and time.perf_counter() < deadline - 0.5:
        if best is not None and bound < np.inf and (bound - best_value) / max(abs(best_value), 1e-9) <= config.mip_gap:
            break
        set_run_time_limit(h, max(1.0, deadline - time.perf_counter()), mip=True)
        if best is not None:
            assign_decisions(model, inputs, config, best)
            hprob.set_start(hprob.start_vector(
                {v: np.asarray(v.value, float) for v in model.variables.values() if isinstance(v, cp.Variable)}))
        h.run()
        info = h.getInfo()
        status = h.getModelStatus().name
        out.rounds_mip += 1
        if status == "kInfeasible":
            out.status = "infeasible"
            break
        dual = float(info.mip_dual_bound)
        if np.isfinite(dual):
            tighten(hprob.objective(dual), "benders_master_mip_dual_bound")
        has_primal = info.primal_solution_status == 2
        added = 0
        if has_primal:
            x = np.asarray(h.getSolution().col_value)
            accept(_master_state(hprob, model, config, inputs, x), "benders master")
            blocks, uppers, _ = separator.separate(x, tolerance)
            added = _add_rows(hprob, blocks, uppers)
            cuts += added
        out.history.append({"phase": "mip", "round": out.rounds_mip, "bound": bound, "incumbent": best_value,
                            "cuts_added": added, "status": status, "seconds": time.perf_counter() - started})
        log.info("benders MILP round %d: bound %.6f, best plan %s, %d cuts added", out.rounds_mip, bound,
                 best_value, added)
        if status == "kOptimal" and added == 0:
            # no cut is violated at the master's plan, so its master value is its true value, and the master's
            # dual bound (within mip_gap of it, not equal to it) is the bound: nothing more to gain
            break
        if added == 0 and status != "kOptimal":
            break
    out.decisions, out.objective, out.primal_source = best, best_value, source
    out.bound = None if not np.isfinite(bound) else max(bound, best_value if best_value is not None else -np.inf)
    if out.status == "infeasible":   # the master (a relaxation) has no integer point: nor has the full model
        out.bound, out.bound_method = None, "benders_master_mip_infeasible"
    else:
        out.bound_method = bound_method
    out.cuts = cuts
    if out.status != "infeasible":
        if best is None:
            out.status = "time_limit_no_solution"
        else:
            out.status = "optimal" if (out.gap or 0.0) <= config.mip_gap + 1e-12 else "time_limit"
    out.build_seconds = build_seconds
    out.solve_seconds = time.perf_counter() - started - build_seconds
    return out
