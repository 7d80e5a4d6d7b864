"""Lagrangian dual bound of the network plan: a valid upper bound at any multipliers, cheap at any scale.

The coverage rows of the full model (`cov2[g,t] <= a2_g . has_l2[:,t]`, the same for L3, and the
last-phase service row `u_g >= 1 - a_g . has_any[:,T]`) are dualised with multipliers lambda, each in
[0, c] (c: the weight of that group, level and phase in the objective). What is left separates:

- the coverage variables, in closed form (`max(0, c - lambda)` per row);
- the site decisions, taken as options: a site does one thing (nothing, an upgrade, a retirement, a
  new L2 or L3 station) from one phase on. What an option does to a site (levels, ports, load, capex,
  operating cost) comes from `network.state.evaluate_state`, the one owner of that fact.

The rows over sites are kept exactly in a small LP over the options (one convexity row per site, the
phase and total budgets, upgrades per phase and area grid capacity); site grid capacity removes the
options that break it. L3 spacing, the service standard and the coverage targets are dropped. Dropping
rows of a maximisation can only raise its optimum, and the LP over the options contains every plan, so

    D(lambda) = sum max(0, c - lambda) - sum lambda_any - underserved weight no site reaches + LP(lambda)

is an upper bound of the full model's optimum for every lambda in range (weak duality), whatever the
method that chose lambda. Its minimum is the LP relaxation of the option formulation without the
dropped rows. The multipliers are improved by a projected subgradient method: Polyak steps towards the
value of the best plan known (Held, Wolfe & Crowder 1974), a direction deflected by the previous one
(Camerini, Fratta & Maffioli 1975), in the metric of the row weights c; the smallest D evaluated is the
bound. On the 100,000 x 10,000 benchmark this reaches in 100 evaluations what the earlier fixed per-row
steps reached in 900. Cost per evaluation: three sparse products and one warm-started LP re-solve
(0.15-0.5 s at 100,000 demand points x 11,000 sites).

The inner LP is built once in HiGHS (highspy) and only its costs change between evaluations: a CVXPY
parameterised LP would be recompiled per evaluation. `None` when added ports can pay off (per-area port
minimums): the options do not carry ports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.model import MCAD, ports_useful, site_objective_terms
from evcharge_pipeline.network.solve import set_run_time_limit
from evcharge_pipeline.network.state import Decisions, evaluate_state, in_phase, set_action

log = logging.getLogger(__name__)

STEP_START = 1.0         # Polyak step factor: the first step aims the linearised D at the target
STEP_DECAY = 0.7         # the factor shrinks by this much ...
STEP_PATIENCE = 60       # ... after this many evaluations without a better bound
STEP_FLOOR = 1e-4        # stop when the factor falls below this
MOMENTUM = 0.5           # share of the previous direction kept in the next (deflected subgradient)
TARGET_MARGIN = 0.05     # without a plan, the target lies this share below the best bound
STALL_EVALUATIONS = 200  # stop when the bound has improved by less than STALL_SHARE over this many evaluations
STALL_SHARE = 1e-4


@dataclass
class SiteOptions:
    """Every option other than "as is", one row each, and the "as is" state of every site."""

    site: np.ndarray            # site index of each option
    action: np.ndarray          # its action (state.ACTIONS: upgrade, retire, open_l2, open_l3)
    phase: np.ndarray           # the phase it is taken in (1-based)
    has_l2: np.ndarray          # options x phases (0/1)
    has_l3: np.ndarray
    has_any_last: np.ndarray    # options
    objective: np.ndarray       # the option's objective terms other than coverage and underservice
    capex: np.ndarray           # options x phases, CAD
    upgrades: np.ndarray        # options x phases (0/1)
    load_kw: np.ndarray         # options x phases
    allowed: np.ndarray         # bool per option: within the site's grid capacity in every phase
    keep: dict[str, np.ndarray] = field(default_factory=dict)   # the same fields per site, "as is"

    @property
    def n(self) -> int:
        return len(self.site)


def site_options(inputs: NetworkInputs, config: NetworkConfig) -> SiteOptions:
    """The option table: each action at every site that may take it, from each phase."""
    T, e = config.phases, inputs.n_existing
    none = Decisions.empty(inputs, T)
    keep_state = evaluate_state(inputs, none, config)
    parts = []
    kinds = [("upgrade", inputs.upgradeable_index()),
             ("retire", np.arange(e) if config.allow_retire else np.empty(0, np.int64)),
             ("open_l2", np.arange(e, inputs.n_sites)), ("open_l3", np.arange(e, inputs.n_sites))]
    for tau in range(1, T + 1):
        for kind, sites in kinds:
            if not len(sites):
                continue
            d = Decisions.empty(inputs, T)
            set_action(d, e, sites, kind, tau)
            st = evaluate_state(inputs, d, config)
            upgrades = np.zeros((inputs.n_sites, T))
            upgrades[:e] = in_phase(d.upgrade_phase, T)
            parts.append((sites, st, upgrades, site_objective_terms(st, d, config), kind, tau))
    cap = inputs.sites["capacity_kw"].to_numpy(float)
    check_capacity = "site_grid_capacity" not in config.relax

    def rows(field_of) -> np.ndarray:
        return np.concatenate([field_of(st, up, terms)[sites] for sites, st, up, terms, _, _ in parts])

    site = np.concatenate([sites for sites, *_ in parts])
    load = rows(lambda st, up, terms: st.load_kw.astype(float))
    allowed = (load <= cap[site, None] + 1e-9).all(axis=1) if check_capacity else np.ones(len(site), bool)
    return SiteOptions(
        site=site,
        action=np.concatenate([np.full(len(sites), kind) for sites, *_, kind, _ in parts]),
        phase=np.concatenate([np.full(len(sites), tau) for sites, *_, tau in parts]),
        has_l2=rows(lambda st, up, terms: st.has_l2.astype(float)),
        has_l3=rows(lambda st, up, terms: st.has_l3.astype(float)),
        has_any_last=rows(lambda st, up, terms: np.maximum(st.has_l2, st.has_l3)[:, -1].astype(float)),
        objective=rows(lambda st, up, terms: terms),
        capex=rows(lambda st, up, terms: st.capex_by_site),
        upgrades=rows(lambda st, up, terms: up),
        load_kw=load,
        allowed=allowed,
        keep={"has_l2": keep_state.has_l2.astype(float), "has_l3": keep_state.has_l3.astype(float),
              "has_any_last": np.maximum(keep_state.has_l2, keep_state.has_l3)[:, -1].astype(float),
              "objective": site_objective_terms(keep_state, none, config),
              "load_kw": keep_state.load_kw.astype(float)},
    )


class _OptionLP:
    """max sum_o (profit_o - profit of its site as is) x_o over the options, one convexity row per site and
    the kept rows over sites; loaded into HiGHS once, re-solved with new costs."""

    def __init__(self, inputs: NetworkInputs, config: NetworkConfig, opt: SiteOptions):
        import highspy as hp

        T, n = config.phases, inputs.n_sites
        relax = set(config.relax)
        cols = np.arange(opt.n)
        blocks = [sp.csr_matrix((np.ones(opt.n), (opt.site, cols)), shape=(n, opt.n))]
        upper = [np.ones(n)]
        if "phase_budget" not in relax:
            blocks.append(sp.csr_matrix(opt.capex.T / MCAD))
            upper.append(np.asarray(config.phase_budgets()) / MCAD)
        if "total_budget" not in relax and np.isfinite(config.budget_cad):
            blocks.append(sp.csr_matrix(opt.capex.sum(axis=1)[None, :] / MCAD))
            upper.append(np.array([config.budget_cad / MCAD]))
        if "max_upgrades_per_phase" not in relax and opt.upgrades.any():
            blocks.append(sp.csr_matrix(opt.upgrades.T))
            upper.append(np.full(T, float(config.max_upgrades_per_phase)))
        finite = np.flatnonzero(np.isfinite(inputs.area_capacity_kw))
        if "area_grid_capacity" not in relax and len(finite):
            area = inputs.area_of_site
            in_area = area[opt.site] >= 0
            keep_load = opt.keep["load_kw"]
            extra = opt.load_kw - keep_load[opt.site]
            for t in range(T):
                by_area = sp.csr_matrix((extra[in_area, t], (area[opt.site[in_area]], cols[in_area])),
                                        shape=(len(inputs.area_ids), opt.n))
                base = np.bincount(area[area >= 0], weights=keep_load[area >= 0, t], minlength=len(inputs.area_ids))
                blocks.append(by_area[finite])
                upper.append(inputs.area_capacity_kw[finite] - base[finite])
        matrix = sp.vstack(blocks).tocsr()
        rhs = np.concatenate(upper)
        self.highs = h = hp.Highs()
        h.setOptionValue("output_flag", False)
        h.addVars(opt.n, np.zeros(opt.n), np.where(opt.allowed, 1.0, 0.0))
        h.addRows(len(rhs), np.full(len(rhs), -np.inf), rhs, matrix.nnz, matrix.indptr[:-1].astype(np.int32),
                  matrix.indices.astype(np.int32), matrix.data)
        h.setOptionValue("solver", "simplex")
        h.setOptionValue("simplex_strategy", 1)     # dual simplex from the last basis: 0.5 s against 1.3 s for
                                                    # primal simplex per re-solve at 100,000 x 11,000
        self.all_columns = cols.astype(np.int32)

    def solve(self, gain: np.ndarray, seconds: float) -> tuple[float, np.ndarray] | None:
        """Optimal value and solution for the column gains; None when not solved to optimality in time."""
        h = self.highs
        h.changeColsCost(len(gain), self.all_columns, -gain)
        set_run_time_limit(h, max(0.1, seconds), mip=False)
        h.run()
        if h.getModelStatus().name != "kOptimal":
            return None
        return -float(h.getInfo().objective_function_value), np.asarray(h.getSolution().col_value)


@dataclass
class LagrangianOutcome:
    bound: float                   # smallest dual value evaluated: an upper bound of the full model's optimum
    evaluations: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    plan: Decisions | None = None  # the options chosen at the best multipliers (a start, not checked: the
                                   # caller judges it with the full model)


def rounded_plan(inputs: NetworkInputs, config: NetworkConfig, options: SiteOptions, x: np.ndarray) -> Decisions:
    """The options an LP solution takes (x > 0.5; at most one per site), with the L3 spacing it ignored
    restored by dropping the later site of every conflicting pair."""
    d = Decisions.empty(inputs, config.phases)
    e = inputs.n_existing
    for row in np.flatnonzero(x > 0.5):
        set_action(d, e, options.site[row:row + 1], str(options.action[row]), int(options.phase[row]))
    pairs = inputs.spacing_pairs
    if len(pairs) and "l3_spacing" not in config.relax:
        new_l3 = np.r_[d.upgrade_phase > 0, np.zeros(inputs.n_sites - e, bool)] | (d.open_level == 3)
        for i, j in pairs[new_l3[pairs[:, 0]] & new_l3[pairs[:, 1]]]:
            if new_l3[i] and new_l3[j]:
                set_action(d, e, np.array([j]), None, 0)
                new_l3[j] = False
    return d


class LagrangianDual:
    """D(lambda) of the module docstring for one instance, with its subgradient."""

    def __init__(self, inputs: NetworkInputs, config: NetworkConfig):
        self.inputs, self.config = inputs, config
        self.options = site_options(inputs, config)
        self.lp = _OptionLP(inputs, config, self.options)
        W = max(inputs.total_weight, 1e-12)
        w = inputs.group_weight / W
        reach_any = np.diff(inputs.a_any.indptr) > 0
        # objective weight of each coverage row: the discounted coverage share, and the underservice penalty
        self.c2 = config.weight_coverage * w[:, None] * config.phase_weights()[None, :]
        self.c3 = self.c2.copy()
        self.c_any = config.weight_underserved * w * reach_any
        self.unreachable = config.weight_underserved * float(w[~reach_any].sum())
        self.a2, self.a3, self.a_any = inputs.a_l2.tocsr(), inputs.a_l3.tocsr(), inputs.a_any.tocsr()
        self.a2t, self.a3t, self.a_anyt = self.a2.T.tocsr(), self.a3.T.tocsr(), self.a_any.T.tocsr()
        opt = self.options
        self.choice = sp.csr_matrix((np.ones(opt.n), (opt.site, np.arange(opt.n))), shape=(inputs.n_sites, opt.n))
        self.delta = {key: getattr(opt, key) - opt.keep[key][opt.site] for key in ("has_l2", "has_l3", "has_any_last")}
        self.last_solution = np.zeros(self.options.n)

    def start(self, d: Decisions | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Multipliers from a plan: a row covered once keeps its full weight (its site earns it), a row
        covered twice or more gets none, an uncovered row half."""
        if d is None:
            return self.c2 / 2, self.c3 / 2, self.c_any / 2
        st = evaluate_state(self.inputs, d, self.config)
        n2, n3 = self.a2 @ st.has_l2, self.a3 @ st.has_l3
        n_any = self.a_any @ np.maximum(st.has_l2, st.has_l3)[:, -1]

        def share(count, c):
            return np.where(count == 1, c, np.where(count == 0, c / 2, 0.0))

        return share(n2, self.c2), share(n3, self.c3), np.where(n_any <= 1, self.c_any, 0.0)

    def evaluate(self, lam: Sequence[np.ndarray], seconds: float) -> tuple[float, list[np.ndarray]] | None:
        """D at the multipliers (L2 rows, L3 rows, service rows) and its subgradient, or None when the inner
        LP was not solved in time."""
        lam2, lam3, lam_any = lam
        opt, keep = self.options, self.options.keep
        p2, p3, p_any = self.a2t @ lam2, self.a3t @ lam3, self.a_anyt @ lam_any
        site_value = (p2 * keep["has_l2"]).sum(axis=1) + (p3 * keep["has_l3"]).sum(axis=1) \
            + p_any * keep["has_any_last"] + keep["objective"]
        option_value = ((p2[opt.site] * opt.has_l2).sum(axis=1) + (p3[opt.site] * opt.has_l3).sum(axis=1)
                        + p_any[opt.site] * opt.has_any_last + opt.objective)
        solved = self.lp.solve(option_value - site_value[opt.site], seconds)
        if solved is None:
            return None
        lp_value, x = solved
        self.last_solution = x
        value = (lp_value + site_value.sum() + np.maximum(0.0, self.c2 - lam2).sum()
                 + np.maximum(0.0, self.c3 - lam3).sum() - lam_any.sum() - self.unreachable)
        chosen = self.choice.multiply(x[None, :]).tocsr()
        has_l2 = keep["has_l2"] + chosen @ self.delta["has_l2"]
        has_l3 = keep["has_l3"] + chosen @ self.delta["has_l3"]
        has_any = keep["has_any_last"] + chosen @ self.delta["has_any_last"]
        grad2 = self.a2 @ has_l2 - (self.c2 > lam2)
        grad3 = self.a3 @ has_l3 - (self.c3 > lam3)
        grad_any = self.a_any @ has_any - 1.0
        return float(value), [grad2, grad3, grad_any]


def lagrangian_bound(inputs: NetworkInputs, config: NetworkConfig, start: Decisions | None, deadline: float,
                     target: float | None = None, max_evaluations: int = 5000) -> LagrangianOutcome | None:
    """Minimise D over the multipliers until the deadline; None when the method does not apply or no
    evaluation finished in time. `target`: the value of the best plan known (a lower bound of the optimum),
    which sets the Polyak steps; without it the steps aim a share below the best bound."""
    if ports_useful(inputs, config, "plan"):
        return None
    started = time.perf_counter()
    dual = LagrangianDual(inputs, config)
    lam = list(dual.start(start))
    ranges = (dual.c2, dual.c3, dual.c_any)
    factor, since, best = STEP_START, 0, np.inf
    direction: list[np.ndarray] | None = None
    best_solution: np.ndarray | None = None
    trail: list[float] = []                         # best bound after each evaluation
    out = LagrangianOutcome(np.inf, 0, 0.0)
    while out.evaluations < max_evaluations and factor >= STEP_FLOOR:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        result = dual.evaluate(lam, left)
        if result is None:
            break
        value, grads = result
        out.evaluations += 1
        if value < best - 1e-12 * max(1.0, abs(value)):
            best, since = value, 0
            best_solution = dual.last_solution
        else:
            since += 1
            if since >= STEP_PATIENCE:
                factor, since = factor * STEP_DECAY, 0
        trail.append(best)
        if len(trail) > STALL_EVALUATIONS and trail[-STALL_EVALUATIONS - 1] - best <= STALL_SHARE * abs(best):
            break                                   # converged for practical purposes: the time goes elsewhere
        aim = target if target is not None else best - TARGET_MARGIN * abs(best)
        if value <= aim + 1e-12 * max(1.0, abs(aim)):
            break                                   # the bound meets the plan: nothing left to prove
        # projected subgradient (components pushing a multiplier out of its range dropped), deflected by the
        # previous direction, in the metric of the row weights; Polyak step towards the target
        projected = [np.where(((x <= 0.0) & (g > 0)) | ((x >= c) & (g < 0)), 0.0, g)
                     for x, g, c in zip(lam, grads, ranges, strict=True)]
        if not any(g.any() for g in projected):
            break                                   # a zero subgradient: this D is the minimum
        direction = projected if direction is None else [
            g + MOMENTUM * d for g, d in zip(projected, direction, strict=True)]
        norm = sum(float((c * d * d).sum()) for c, d in zip(ranges, direction, strict=True))
        step = factor * (value - aim) / norm
        lam = [np.clip(x - step * c * d, 0.0, c) for x, d, c in zip(lam, direction, ranges, strict=True)]
        if out.evaluations % 20 == 1:
            out.history.append({"evaluation": out.evaluations, "bound": best, "step_factor": factor,
                                "seconds": time.perf_counter() - started})
            log.info("lagrangian dual: evaluation %d, bound %.6f, step factor %.3g", out.evaluations, best, factor)
    out.bound, out.seconds = best, time.perf_counter() - started
    if best_solution is not None:
        out.plan = rounded_plan(inputs, config, dual.options, best_solution)
    return out if np.isfinite(best) else None
