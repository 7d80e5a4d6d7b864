"""Local search on network plans: drop, add, swap and phase moves, each judged by the full model.

A plan is one action per site and the phase it is taken in: an upgrade or a retirement of an existing
station, or a new L2 or L3 station at a candidate site. The objective change of every move is computed
exactly for all sites at once from the sparse coverage matrices (the groups a site would be the first to
cover, or the only one covering, and its own cost terms); moves that would gain and fit the money left
are then judged by `plan_value`: the full model's objective, or None when the moved plan breaks any of
its constraints. Each step first tries a batch of gaining moves at sites whose reach does not overlap
(their gains add up), then the first improving single move in ranked order, and starts over, so every
plan it returns meets the full model; it stops at a local optimum, after `max_moves` moves, or at the
deadline. Sites that carry added ports are left as they are (their ports need the level to stay active).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.greedy import greedy_plan
from evcharge_pipeline.network.inputs import NetworkInputs, restrict_sites
from evcharge_pipeline.network.model import (
    MCAD,
    BuiltModel,
    assign_decisions,
    build_model,
    decisions_from_values,
    site_objective_terms,
)
from evcharge_pipeline.network.solve import highs_solve, solve_min_capex, solve_model
from evcharge_pipeline.network.state import (
    ACTIONS,
    Decisions,
    NetworkState,
    action_capex_cad,
    evaluate_state,
    in_phase,
    set_action,
)

log = logging.getLogger(__name__)



def plan_value(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig, d: Decisions) -> float | None:
    """The full model's objective of a plan, or None when it breaks any constraint of the full model.

    `model` is the exact model, or the projected one (`build_model(coverage="projected")`) with every
    cluster variable set to its true covered weight: then each of its constraints is the full model's (the
    cuts CVXPY knows are valid at true coverage) and its objective is the full objective."""
    assign_decisions(model, inputs, config, d)
    violation = max((float(np.max(c.violation())) for c in model.problem.constraints if c.size), default=0.0)
    if violation > 1e-6:
        return None
    return float(model.problem.objective.value) / model.objective_scale


@dataclass
class LocalSearchResult:
    decisions: Decisions
    value: float
    moves_taken: int
    plans_evaluated: int
    seconds: float


def _copy(d: Decisions) -> Decisions:
    return replace(d, **{k: v.copy() for k, v in vars(d).items()})


def action_of(d: Decisions, inputs: NetworkInputs, site: int) -> tuple[str | None, int]:
    """The action taken at a site and its phase (None, 0 when nothing is done there)."""
    if site < inputs.n_existing:
        if d.upgrade_phase[site] > 0:
            return "upgrade", int(d.upgrade_phase[site])
        if d.retire_phase[site] > 0:
            return "retire", int(d.retire_phase[site])
        return None, 0
    if d.open_level[site] > 0:
        return f"open_l{int(d.open_level[site])}", int(d.open_phase[site])
    return None, 0


def with_action(d: Decisions, inputs: NetworkInputs, site: int, action: str | None, phase: int) -> Decisions:
    """A copy of the plan with the site's action replaced (None clears it)."""
    out = _copy(d)
    set_action(out, inputs.n_existing, np.array([site]), action, phase)
    return out


class _Gains:
    """Marginal objective of single actions at the current plan, per site and phase (exact for the
    coverage, underservice, operating-cost, upgrade-bonus and capex terms of the objective; constraints
    are left to `plan_value`)."""

    def __init__(self, inputs: NetworkInputs, config: NetworkConfig, d: Decisions):
        T = config.phases
        st = evaluate_state(inputs, d, config)
        self.inputs, self.config, self.T, self.d, self.state = inputs, config, T, d, st
        self.w = inputs.group_weight / max(inputs.total_weight, 1e-12)
        self.disc = config.phase_weights()
        self.n2 = inputs.a_l2 @ st.has_l2
        self.n3 = inputs.a_l3 @ st.has_l3
        self.na = inputs.a_any @ np.maximum(st.has_l2, st.has_l3)[:, T - 1]

    def moved(self, current: list[tuple[int, str, int]], phase: int) -> np.ndarray:
        """Objective change of moving each of the plan's actions (`_current`) to `phase` (0: dropping it),
        one at a time; exact, since with the coverage counts fixed the objective separates by site: a site
        switched on in a phase gains the groups nobody covers there, switched off it loses the groups only
        it covers, and its own operating-cost, capex and upgrade terms change (`site_objective_terms`)."""
        inputs, config, T = self.inputs, self.config, self.T
        sites = np.array([site for site, _, _ in current], np.int64)
        after = _copy(self.d)
        for kind in ACTIONS:
            taking = np.array([site for site, action, _ in current if action == kind], np.int64)
            set_action(after, inputs.n_existing, taking, kind if phase else None, phase)
        now, then = self.state, evaluate_state(inputs, after, config)

        def switched(reach: int, before: np.ndarray, later: np.ndarray) -> np.ndarray:
            *_, uncovered, sole = self._counted[reach]
            change = later[sites] - before[sites]
            return np.where(change > 0, uncovered[sites], 0.0) - np.where(change < 0, sole[sites], 0.0)

        coverage = (switched(0, now.has_l2, then.has_l2) + switched(1, now.has_l3, then.has_l3)) @ self.disc
        reach = switched(2, np.maximum(now.has_l2, now.has_l3)[:, T - 1],
                         np.maximum(then.has_l2, then.has_l3)[:, T - 1])
        own = site_objective_terms(then, after, config) - site_objective_terms(now, self.d, config)
        return config.weight_coverage * coverage + config.weight_underserved * reach + own[sites]

    def _from_phase(self, per_phase: np.ndarray) -> np.ndarray:
        """sites x phases: column t is the discounted sum over phases t..T of per-phase values."""
        weighted = per_phase * self.disc[None, :]
        return np.cumsum(weighted[:, ::-1], axis=1)[:, ::-1]

    @cached_property
    def _counted(self) -> list[tuple[sp.csr_matrix, sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray]]:
        """Per reach (L2, L3, any): the matrix, by row and by column, the coverage counts at the plan, and per
        site the weight of the groups nobody covers and of those only one site covers (phases, or the last)."""
        out = []
        for a, by_site, n in zip((self.inputs.a_l2, self.inputs.a_l3, self.inputs.a_any), self.inputs.reach_by_site,
                                 (self.n2, self.n3, self.na), strict=True):
            w = self.w.reshape((-1,) + (1,) * (n.ndim - 1))
            out.append((a, by_site, n, a.T @ (w * (n == 0)), a.T @ (w * (n == 1))))
        return out

    @cached_property
    def _bare(self) -> NetworkState:
        """The state of every site with its action dropped (the state separates by site)."""
        bare = _copy(self.d)
        set_action(bare, self.inputs.n_existing, np.arange(self.inputs.n_sites), None, 0)
        return evaluate_state(self.inputs, bare, self.config)

    def _uncovered_and_sole(self, without: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per reach (L2, L3, any): per site the weight of the groups nobody covers and of those only one site
        covers, at the plan or with the action of site `without` dropped: corrected on the groups that site
        reaches, where its coverage count changes."""
        out = []
        T, st, bare = self.T, self.state, self._bare
        levels = ((st.has_l2, bare.has_l2), (st.has_l3, bare.has_l3),
                  (np.maximum(st.has_l2, st.has_l3)[:, T - 1], np.maximum(bare.has_l2, bare.has_l3)[:, T - 1]))
        for (a, by_site, n, zero, one), (now, then) in zip(self._counted, levels, strict=True):
            if without is None or np.array_equal(now[without], then[without]):
                out.append((zero, one))
                continue
            rows = by_site.indices[by_site.indptr[without]:by_site.indptr[without + 1]]
            counts = n[rows]
            after = counts + (then[without] - now[without])
            w = self.w[rows].reshape((-1,) + (1,) * (n.ndim - 1))
            sub = a[rows].T
            out.append((zero + sub @ (w * ((after == 0).astype(float) - (counts == 0))),
                        one + sub @ (w * ((after == 1).astype(float) - (counts == 1)))))
        return out

    def add(self, without: int | None = None) -> np.ndarray:
        """4 x sites x phases: objective change of taking each action from phase t at a site without one, at
        the plan or, exactly, at the plan with the action of site `without` dropped (for swaps)."""
        c, inp, T = self.config, self.inputs, self.T
        (zero2, one2), (zero3, one3), (zero_any, one_any) = self._uncovered_and_sole(without)
        years_left = c.years_per_phase * (T - np.arange(T))[None, :]
        g2, g3, ga = self._from_phase(zero2), self._from_phase(zero3), zero_any[:, None]
        loss2, loss3, lossa = self._from_phase(one2), self._from_phase(one3), one_any[:, None]
        opex = c.weight_opex_per_mcad / MCAD * years_left
        capex_up, capex_retire, capex_l2, capex_l3 = c.weight_capex_per_mcad / MCAD * action_capex_cad(c)
        s = inp.sites
        l2_before = s["l2_before"].to_numpy(bool)[:, None]
        l3_before = s["l3_before"].to_numpy(bool)[:, None]
        station_opex = np.where(l3_before, c.opex_l3_station_cad_per_year, c.opex_l2_station_cad_per_year)
        cw = c.weight_coverage
        upgrade = (cw * g3 + c.weight_upgrade - capex_up
                   - opex * (c.opex_l3_station_cad_per_year - c.opex_l2_station_cad_per_year))
        retire = (-cw * (loss2 * l2_before + loss3 * l3_before) - c.weight_underserved * lossa
                  + opex * station_opex - capex_retire)
        open_l2 = (cw * g2 + c.weight_underserved * ga
                   - opex * c.opex_l2_station_cad_per_year - capex_l2)
        open_l3 = (cw * g3 + c.weight_underserved * ga
                   - opex * c.opex_l3_station_cad_per_year - capex_l3)
        return np.stack([upgrade, retire, open_l2, open_l3])


def _allowed(inputs: NetworkInputs, config: NetworkConfig, d: Decisions) -> np.ndarray:
    """4 x sites: which actions a site may take (kind of site, upgradeable, retirement allowed, no ports)."""
    n, e = inputs.n_sites, inputs.n_existing
    ok = np.zeros((len(ACTIONS), n), bool)
    up = np.zeros(n, bool)
    up[inputs.upgradeable_index()] = True
    ok[0] = up
    ok[1, :e] = config.allow_retire
    ok[2:, e:] = True
    return ok & ~_frozen(d)[None, :]


def _frozen(d: Decisions) -> np.ndarray:
    return (d.ports_l2.sum(axis=1) + d.ports_l3.sum(axis=1)) > 0


def _current(inputs: NetworkInputs, d: Decisions) -> list[tuple[int, str, int]]:
    """(site, action, phase) of every action in the plan, sites with added ports excluded."""
    frozen = _frozen(d)
    out = []
    changed = np.r_[(d.upgrade_phase > 0) | (d.retire_phase > 0), d.open_level[inputs.n_existing:] > 0]
    for site in np.flatnonzero(changed):
        if not frozen[site]:
            action, phase = action_of(d, inputs, int(site))
            out.append((int(site), str(action), phase))
    return out


def _ranked(score: np.ndarray, limit: int, floor: float) -> Iterator[tuple[int, ...]]:
    """Indices of the `limit` largest entries above `floor`, best first."""
    flat = score.ravel()
    keep = np.flatnonzero(flat > floor)
    if len(keep) > limit:
        keep = keep[np.argpartition(-flat[keep], limit - 1)[:limit]]
    for k in keep[np.argsort(-flat[keep], kind="stable")]:
        yield np.unravel_index(int(k), score.shape)


def _affordable(price: np.ndarray, upgrading: np.ndarray, room: np.ndarray, total_room: float,
                upgrade_room: np.ndarray) -> np.ndarray:
    """actions x phases: whether each action (its capex, CAD; whether it is an upgrade) fits the money left
    in a phase and in total, and the upgrades left in that phase."""
    fits = (price[:, None] <= np.minimum(room, total_room)[None, :]) | (price[:, None] <= 0)
    return fits & (~upgrading[:, None] | (upgrade_room > 0)[None, :])


@dataclass
class _Neighbourhood:
    """Exact objective changes of the single moves around a plan, those that do not fit set to -inf."""

    current: list[tuple[int, str, int]]   # the plan's actions (`_current`)
    gains: _Gains
    change: np.ndarray                    # actions x (drop, phase 1..T): drops and phase moves
    add: np.ndarray                       # 4 x sites x phases: single added actions
    cost: np.ndarray                      # capex of each current action, CAD
    room: np.ndarray                      # money left per phase (CAD), the total, and upgrades per phase
    total_room: float
    upgrade_room: np.ndarray
    open_to: np.ndarray                   # 4 x sites x 1: actions a site without one may take


def _neighbourhood(inputs: NetworkInputs, config: NetworkConfig, d: Decisions) -> _Neighbourhood:
    T = config.phases
    current = _current(inputs, d)
    gains = _Gains(inputs, config, d)
    phase_caps, total_cap, upgrade_cap = config.spending_limits()
    room = phase_caps - gains.state.capex_by_phase + 1e-6
    total_room = total_cap - gains.state.capex_by_phase.sum() + 1e-6
    upgrade_room = upgrade_cap - in_phase(d.upgrade_phase, T).sum(axis=0)
    cost = gains.state.capex_by_site.sum(axis=1)[[site for site, _, _ in current]]
    change = np.full((len(current), T + 1), -np.inf)
    if current:
        change = np.column_stack([gains.moved(current, t) for t in range(T + 1)])   # actions x (drop, 1..T)
        change[np.arange(len(current)), [phase for _, _, phase in current]] = -np.inf
        upgrading = np.array([action == "upgrade" for _, action, _ in current])
        change[:, 1:][~_affordable(cost, upgrading, room, np.inf, upgrade_room)] = -np.inf   # phase moves
    busy = np.zeros(inputs.n_sites, bool)
    busy[[s for s, _, _ in current]] = True
    open_to = (_allowed(inputs, config, d) & ~(busy | _frozen(d))[None, :])[:, :, None]
    price, is_upgrade = action_capex_cad(config), np.array([kind == "upgrade" for kind in ACTIONS])
    add = np.where(open_to & _affordable(price, is_upgrade, room, total_room, upgrade_room)[:, None, :],
                   gains.add(), -np.inf)
    return _Neighbourhood(current, gains, change, add, cost, room, total_room, upgrade_room, open_to)


def _moves(inputs: NetworkInputs, config: NetworkConfig, d: Decisions, width: int,
           near: _Neighbourhood) -> Iterator[tuple[str, Decisions]]:
    """Candidate plans around d, cheapest neighbourhoods first: drops and phase changes of current actions
    that gain (`_Gains.moved`), single added actions by marginal gain, swaps (drop one action, add one in its
    place) that gain, then ruin and recreate (drop one action, complete the plan greedily). Gains are exact
    for the objective, so only moves that fit the money left and would gain are judged by the full model."""
    current = near.current
    for i, t in _ranked(near.change, near.change.size, 1e-12):
        site, action, _ = current[i]
        yield ("phase" if t else "drop"), with_action(d, inputs, site, action if t else None, int(t))
    for a in range(len(ACTIONS)):
        for site, t in _ranked(near.add[a], width, 1e-12):
            yield "add", with_action(d, inputs, int(site), ACTIONS[a], int(t) + 1)
    price, is_upgrade = action_capex_cad(config), np.array([kind == "upgrade" for kind in ACTIONS])
    for i in np.argsort(-near.change[:, 0], kind="stable"):          # the cheapest drops first
        site, action, phase = current[i]
        freed, freed_upgrades = near.room.copy(), near.upgrade_room.copy()
        freed[phase - 1] += near.cost[i]
        freed_upgrades[phase - 1] += action == "upgrade"
        fits_after = _affordable(price, is_upgrade, freed, near.total_room + near.cost[i], freed_upgrades)[:, None, :]
        swap = near.change[i, 0] + np.where(near.open_to & fits_after, near.gains.add(without=site), -np.inf)
        for a, other, t in _ranked(swap, max(2, width // 4), 1e-12):
            yield "swap", with_action(with_action(d, inputs, site, None, 0), inputs, int(other), ACTIONS[a],
                                      int(t) + 1)
    for site, _action, _phase in current:
        yield "ruin and recreate", greedy_plan(inputs, config, start=with_action(d, inputs, site, None, 0))


def _batch(inputs: NetworkInputs, config: NetworkConfig, d: Decisions, near: _Neighbourhood,
           limit: int = 2000) -> tuple[Decisions, int, float] | None:
    """Several gaining drops, phase moves and adds taken at once, best first, at sites whose reach (the
    groups within the largest radius) no other move of the batch touches: their objective changes then add
    up exactly. Each must fit the money and upgrades the batch has left (money a drop frees is not counted).
    Constraints the gains do not see (spacing, capacity, targets) are left to `plan_value`. Returns the plan,
    the number of moves and their summed gain (the batch's exact objective change); None when fewer than two
    moves combine."""
    kinds = [(g, i, t, False) for (i, t), g in zip(np.argwhere(near.change > 1e-12),
                                                   near.change[near.change > 1e-12], strict=True)]
    flat = near.add.ravel()
    good = np.flatnonzero(flat > 1e-12)
    good = good[np.argsort(-flat[good], kind="stable")[:limit]]
    kinds += [(flat[k], *np.unravel_index(int(k), near.add.shape), True) for k in good]
    kinds.sort(key=lambda move: -move[0])
    reach = inputs.reach_by_site[2]
    touched = np.zeros(inputs.n_groups, bool)
    used = np.zeros(inputs.n_sites, bool)
    room, total_room, upgrade_room = near.room.copy(), near.total_room, near.upgrade_room.copy()
    price = action_capex_cad(config)
    out, count, gain = _copy(d), 0, 0.0
    for move in kinds:
        if move[-1]:
            _, a, site, t, _ = move
            action, phase, spend = ACTIONS[a], int(t) + 1, price[a]
        else:
            _, i, t, _ = move
            site, action, _ = near.current[i]
            action, phase, spend = (action if t else None), int(t), (near.cost[i] if t else 0.0)
        groups = reach.indices[reach.indptr[site]:reach.indptr[site + 1]]
        upgrade = action == "upgrade"
        if used[site] or touched[groups].any():
            continue
        if phase and (spend > min(room[phase - 1], total_room) or (upgrade and upgrade_room[phase - 1] < 1)):
            continue
        if phase:
            room[phase - 1] -= spend
            total_room -= spend
            upgrade_room[phase - 1] -= upgrade
        used[site] = True
        touched[groups] = True
        set_action(out, inputs.n_existing, np.array([site]), action, phase)
        count, gain = count + 1, gain + move[0]
    return (out, count, gain) if count >= 2 else None


def improve_plan(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig, d: Decisions, value: float,
                 deadline: float, width: int = 40, max_moves: int = 10_000) -> LocalSearchResult:
    """First-improvement local search from a plan that meets the full model (its `plan_value` is `value`),
    taking a batch of independent gaining moves (`_batch`) at once when the full model accepts it."""
    started = time.perf_counter()
    evaluated = taken = 0
    while taken < max_moves and time.perf_counter() < deadline:
        near = _neighbourhood(inputs, config, d)
        batch = _batch(inputs, config, d, near)
        if batch is not None:
            evaluated += 1
            trial, count, _ = batch
            trial_value = plan_value(model, inputs, config, trial)
            if trial_value is not None and trial_value > value + 1e-9 * max(1.0, abs(value)):
                log.info("local search: %d moves at once, objective %.6f -> %.6f", count, value, trial_value)
                d, value, taken = trial, trial_value, taken + count
                continue
        for kind, trial in _moves(inputs, config, d, width, near):
            if time.perf_counter() >= deadline:
                break
            evaluated += 1
            trial_value = plan_value(model, inputs, config, trial)
            if trial_value is not None and trial_value > value + 1e-9 * max(1.0, abs(value)):
                log.info("local search: %s move, objective %.6f -> %.6f", kind, value, trial_value)
                d, value, taken = trial, trial_value, taken + 1
                break
        else:
            break
    return LocalSearchResult(d, value, taken, evaluated, time.perf_counter() - started)


def expand_decisions(d: Decisions, index: np.ndarray, n_sites: int) -> Decisions:
    """Decisions of a site-restricted instance (`inputs.restrict_sites`) on the full instance's sites."""
    full = Decisions.empty_sized(len(d.upgrade_phase), n_sites, d.ports_l2.shape[1])
    full.upgrade_phase[:], full.retire_phase[:] = d.upgrade_phase, d.retire_phase
    full.open_level[index], full.open_phase[index] = d.open_level, d.open_phase
    full.ports_l2[index], full.ports_l3[index] = d.ports_l2, d.ports_l3
    return full


def restrict_decisions(d: Decisions, index: np.ndarray) -> Decisions:
    """A full plan on a site-restricted instance (the plan's sites must be among `index`)."""
    return replace(d, upgrade_phase=d.upgrade_phase.copy(), retire_phase=d.retire_phase.copy(),
                   open_level=d.open_level[index].copy(), open_phase=d.open_phase[index].copy(),
                   ports_l2=d.ports_l2[index].copy(), ports_l3=d.ports_l3[index].copy())


@dataclass
class KernelResult:
    decisions: Decisions | None     # on the full instance; None when the kernel MILP found nothing better
    value: float | None             # full model objective (plan_value)
    candidates: int                 # candidate sites in the kernel
    status: str
    seconds: float


def kernel_search(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig, d: Decisions | None,
                  value: float | None, time_limit_seconds: float) -> KernelResult:
    """The exact monolithic MILP on a kernel of sites (`kernel_sites`), warm-started from the plan `d` when
    there is one (value: its `plan_value`): a primal heuristic (its bound holds for the kernel only and is
    not reported). The plan it returns is re-evaluated on the full instance with `plan_value` and kept only
    when it meets the full model and improves the objective."""
    started = time.perf_counter()
    around = d if d is not None else Decisions.empty(inputs, config.phases)
    keep = kernel_sites(inputs, config, around, config.kernel_candidates)
    sub, index = restrict_sites(inputs, keep)
    sub_model = build_model(sub, config, objective="plan")
    outcome = solve_model(sub_model, sub, config, warm=restrict_decisions(d, index) if d is not None else None,
                          time_limit_seconds=time_limit_seconds)
    found, found_value = None, None
    floor = -np.inf if value is None else value + 1e-9 * max(1.0, abs(value))
    if outcome.has_solution:
        plan = expand_decisions(decisions_from_values(sub_model, sub, config), index, inputs.n_sites)
        plan_objective = plan_value(model, inputs, config, plan)
        if plan_objective is not None and plan_objective > floor:
            found, found_value = plan, plan_objective
    log.info("kernel MILP on %d candidate sites: %s, objective %s (start %s)", sub.n_candidates, outcome.status,
             found_value, value)
    return KernelResult(found, found_value, sub.n_candidates, outcome.status, time.perf_counter() - started)


def kernel_sites(inputs: NetworkInputs, config: NetworkConfig, d: Decisions, size: int) -> np.ndarray:
    """Bool per site: the existing stations, the plan's candidate sites, and the candidates with the best
    marginal gain per CAD of a new station at the plan, up to `size` candidates in all."""
    e = inputs.n_existing
    keep = np.zeros(inputs.n_sites, bool)
    keep[:e] = True
    keep[e:] = d.open_level[e:] > 0
    gains = _Gains(inputs, config, d).add().max(axis=2)          # actions x sites, best phase
    cost = np.array([config.new_l2_cost_cad, config.new_l3_cost_cad])[:, None]
    ratio = (gains[[ACTIONS.index("open_l2"), ACTIONS.index("open_l3")]] / cost).max(axis=0)
    ratio[keep] = -np.inf
    room = max(0, size - int(keep[e:].sum()))
    if room:
        keep[np.argsort(-ratio, kind="stable")[:room]] = True
    return keep


def pack_into_phases(inputs: NetworkInputs, config: NetworkConfig, d: Decisions,
                     time_limit_seconds: float = 5.0) -> Decisions | None:
    """The plan's actions re-phased to fit the phase budgets, the total budget and the upgrades per phase,
    money spent as early as it fits: a small assignment MILP (actions x phases). First fit, dearest first,
    misses packings that exist, e.g. when the upgrade limit binds in the last phase that still has money.
    Sites with added ports stay as they are. The last phase's network (what coverage targets, spacing and
    the service standard read) is unchanged. None when no packing exists or none is found in time."""
    T = config.phases
    budgets, total, max_upgrades = config.spending_limits()
    cost = evaluate_state(inputs, d, config).capex_by_site.sum(axis=1)     # per site: its action (and ports)
    movable = _current(inputs, d)
    out = _copy(d)
    sites = np.array([site for site, _, _ in movable], np.int64)
    set_action(out, inputs.n_existing, sites, None, 0)
    fixed = evaluate_state(inputs, out, config).capex_by_phase
    if fixed.sum() + cost[sites].sum() > total + 1e-6:
        return None
    if not len(sites):
        return out if (fixed <= budgets + 1e-6).all() else None
    price = cost[sites] / MCAD
    upgrade = np.array([action == "upgrade" for _, action, _ in movable], float)
    take = cp.Variable((len(sites), T), boolean=True)
    rows = [cp.sum(take, axis=1) == 1]
    finite = np.isfinite(budgets)
    if finite.any():
        rows.append((price @ take)[finite] <= (budgets[finite] - fixed[finite]) / MCAD + 1e-9)
    if upgrade.any() and np.isfinite(max_upgrades):
        rows.append(upgrade @ take <= max_upgrades - in_phase(out.upgrade_phase, T).sum(axis=0))
    packing = cp.Problem(cp.Minimize(price @ take @ np.arange(T)), rows)
    outcome = highs_solve(packing, [take], time_limit_seconds, mip_gap=0.01)
    if outcome.objective is None:
        return None
    phase = np.argmax(np.asarray(take.value), axis=1) + 1
    for site, (_, action, _), t in zip(sites, movable, phase, strict=True):
        set_action(out, inputs.n_existing, np.array([site]), action, int(t))
    return out


def min_capex_start(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig,
                    time_limit_seconds: float) -> tuple[Decisions, float] | None:
    """A start for targets the greedy cannot meet: the cheapest last-phase network meeting every constraint
    but the budgets (the min-capex MILP in one phase with the upgrades of all phases: a third of the
    variables, and on Waterloo at 2 M CAD and a 90% L3 target a 1.85-1.96 M CAD network in 10 s where
    the three-phase MILP had none under 5.8 M CAD in 15 s), packed into the phase budgets (`pack_into_phases`),
    then completed greedily with the money left. Returned with its `plan_value` when it meets the full
    model; otherwise None."""
    T = config.phases
    one_phase = config.with_changes(phases=1, phase_budget_cad=None,
                                    max_upgrades_per_phase=config.max_upgrades_per_phase * T)
    cheapest, outcome = solve_min_capex(inputs, one_phase, time_limit_seconds)
    if not outcome.has_solution:
        return None
    network = decisions_from_values(cheapest, inputs, one_phase)
    ports = [np.pad(p, ((0, 0), (0, T - 1))) for p in (network.ports_l2, network.ports_l3)]   # in phase 1
    packed = pack_into_phases(inputs, config, replace(network, ports_l2=ports[0], ports_l3=ports[1]))
    if packed is None:
        return None
    value = plan_value(model, inputs, config, packed)
    if value is None:
        return None
    completed = greedy_plan(inputs, config, start=packed)
    completed_value = plan_value(model, inputs, config, completed)
    if completed_value is not None and completed_value > value:
        packed, value = completed, completed_value
    log.info("min-capex start: %d actions packed into the phase budgets, objective %.6f",
             len(_current(inputs, packed)), value)
    return packed, value
