"""Greedy construction of a starting plan (phase by phase, best objective gain per dollar).

It takes upgrades and new stations only (no retirements, no extra ports), respects the phase and total
budgets, upgrade limits, L3 spacing and grid capacity, and favours actions that meet the service standard
and coverage targets first. Gains are computed for all sites at once from the sparse coverage matrices.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.state import Decisions, evaluate_state

TARGET_BONUS = 10.0     # per unit of weighted share still missing from a coverage target
STANDARD_BONUS = 1.0    # per demand group still outside the service standard


def greedy_plan(inputs: NetworkInputs, config: NetworkConfig, max_steps: int = 5000,
                start: Decisions | None = None) -> Decisions:
    """A plan built greedily; from `start` (kept as it is, money and limits it uses counted) when given,
    which makes it the "recreate" step of the local search's ruin-and-recreate moves."""
    T, n, e = config.phases, inputs.n_sites, inputs.n_existing
    d = Decisions.empty(inputs, T) if start is None else replace(start, **{k: v.copy() for k, v in vars(start).items()})
    if n == 0:
        return d
    s = inputs.sites
    w = inputs.group_weight
    W = max(inputs.total_weight, 1e-12)
    a2t, a3t, aat, adt = inputs.a_l2.T.tocsr(), inputs.a_l3.T.tocsr(), inputs.a_any.T.tocsr(), inputs.a_dmax.T.tocsr()
    required = inputs.dmax_required.astype(float)

    up_cost = config.upgrade_cost_cad
    n2_cost = config.new_l2_cost_cad
    n3_cost = config.new_l3_cost_cad
    capacity = s["capacity_kw"].to_numpy(float)
    area = inputs.area_of_site
    with_area = area >= 0
    area_cap = inputs.area_capacity_kw

    can_up = np.zeros(n, bool)
    can_up[inputs.upgradeable_index()] = True
    can_up[:e] &= (d.upgrade_phase == 0) & (d.retire_phase == 0)
    is_cand = np.zeros(n, bool)
    is_cand[e:] = d.open_level[e:] == 0
    conflicts: list[list[int]] = [[] for _ in range(n)]
    for i, j in inputs.spacing_pairs:
        conflicts[int(i)].append(int(j))
        conflicts[int(j)].append(int(i))
    new_l3 = np.r_[d.upgrade_phase > 0, np.zeros(n - e, bool)] | (d.open_level == 3)
    blocked = new_l3.copy()
    for site in np.flatnonzero(new_l3):
        blocked[conflicts[site]] = True

    disc = config.phase_weights()
    spent_total = 0.0
    budgets, total_budget, max_upgrades = config.spending_limits()

    def room(site_extra_kw: float) -> np.ndarray:
        ok = load + site_extra_kw <= capacity + 1e-9
        if "area_grid_capacity" in config.relax:
            return ok
        ok[with_area] &= area_load[area[with_area]] + site_extra_kw <= area_cap[area[with_area]] + 1e-9
        return ok

    state = evaluate_state(inputs, d, config)
    phase_spent = state.capex_by_phase.copy()
    if start is None:
        load = state.load_kw[:, 0].astype(float)
        area_load = np.bincount(area[with_area], weights=load[with_area], minlength=len(inputs.area_ids))
        _minimum_ports_first(inputs, config, d, load, capacity, area_load, area_cap, budgets, total_budget,
                             phase_spent)
    spent_total = float(phase_spent.sum())

    for t in range(T):
        # the state in phase t of what is decided so far; load as the highest of phases t..T (it must fit in all)
        state = evaluate_state(inputs, d, config)
        has_l2 = state.has_l2[:, t].astype(float)
        has_l3 = state.has_l3[:, t].astype(float)
        load = state.load_kw[:, t:].max(axis=1).astype(float)
        area_load = np.zeros(len(inputs.area_ids))
        for tt in range(t, T):
            phase_load = np.bincount(area[with_area], weights=state.load_kw[with_area, tt], minlength=len(area_load))
            area_load = np.maximum(area_load, phase_load)
        spent = float(phase_spent[t])
        upgrades = int((d.upgrade_phase == t + 1).sum())
        future = disc[t:].sum()
        for _ in range(max_steps):
            limit = min(budgets[t] - spent, total_budget - spent_total)
            c2 = (inputs.a_l2 @ has_l2) > 0
            c3 = (inputs.a_l3 @ has_l3) > 0
            ca = (inputs.a_any @ np.maximum(has_l2, has_l3)) > 0
            cd = (inputs.a_dmax @ has_l3) > 0
            gap2 = max(0.0, config.min_coverage_l2_share * W - w[c2].sum()) / W
            gap3 = max(0.0, config.min_coverage_l3_share * W - w[c3].sum()) / W
            g2 = a2t @ (w * ~c2) / W
            g3 = a3t @ (w * ~c3) / W
            ga = aat @ (w * ~ca) / W
            gd = adt @ (required * ~cd)
            base = config.weight_underserved * ga
            gain_l3 = (config.weight_coverage * future * g3 + base + STANDARD_BONUS * gd
                       + TARGET_BONUS * np.minimum(g3, gap3))
            gain_l2 = config.weight_coverage * future * g2 + base + TARGET_BONUS * np.minimum(g2, gap2)
            years = config.years_per_phase * (T - t)
            opex2 = config.weight_opex_per_mcad * years * config.opex_l2_station_cad_per_year / 1e6
            opex3 = config.weight_opex_per_mcad * years * config.opex_l3_station_cad_per_year / 1e6
            score_up = np.where(
                can_up & ~blocked & room(config.upgrade_l3_ports * config.power_l3_kw) & (up_cost <= limit)
                & (upgrades < max_upgrades),
                (gain_l3 + config.weight_upgrade - (opex3 - opex2)) / up_cost, -np.inf)
            score_n3 = np.where(is_cand & ~blocked & room(config.new_l3_station_ports * config.power_l3_kw)
                                & (n3_cost <= limit), (gain_l3 - opex3) / n3_cost, -np.inf)
            score_n2 = np.where(is_cand & room(config.new_l2_station_ports * config.power_l2_kw) & (n2_cost <= limit),
                                (gain_l2 - opex2) / n2_cost, -np.inf)
            scores = np.vstack([score_up, score_n3, score_n2])
            kind, site = np.unravel_index(int(np.argmax(scores)), scores.shape)
            if not np.isfinite(scores[kind, site]) or scores[kind, site] <= 0:
                break
            if kind == 0:
                d.upgrade_phase[site] = t + 1
                has_l3[site] = 1.0
                cost, extra = up_cost, config.upgrade_l3_ports * config.power_l3_kw
                upgrades += 1
                can_up[site] = False
            else:
                d.open_level[site] = 3 if kind == 1 else 2
                d.open_phase[site] = t + 1
                if kind == 1:
                    has_l3[site] = 1.0
                    extra = config.new_l3_station_ports * config.power_l3_kw
                    cost = n3_cost
                else:
                    has_l2[site] = 1.0
                    extra = config.new_l2_station_ports * config.power_l2_kw
                    cost = n2_cost
                is_cand[site] = False
            if kind in (0, 1):
                blocked[conflicts[site]] = True
                blocked[site] = True
            load[site] += extra
            if area[site] >= 0:
                area_load[area[site]] += extra
            spent += cost
            spent_total += cost
    return d


def _minimum_ports_first(inputs: NetworkInputs, config: NetworkConfig, d: Decisions, load: np.ndarray,
                         capacity: np.ndarray, area_load: np.ndarray, area_cap: np.ndarray, budgets,
                         total_budget: float, phase_spent: np.ndarray) -> None:
    """Add L2 ports at existing L2 stations of areas short of their port minimum (earliest phase with money)."""
    if (config.min_ports_per_100_ev <= 0 or "min_ports_per_area" in config.relax
            or config.max_added_ports_per_phase <= 0):
        return
    s = inputs.sites
    ports = (s["ports_l1"] + s["ports_l2"] + s["ports_l3"]).to_numpy()
    area = inputs.area_of_site
    have = np.bincount(area[area >= 0], weights=ports[area >= 0], minlength=len(inputs.area_ids))
    short = inputs.area_min_ports - have
    l2_sites = np.flatnonzero(s["l2_before"].to_numpy(bool) & (area >= 0))
    for i in l2_sites:
        a = area[i]
        for t in range(config.phases):
            while (short[a] > 0 and d.ports_l2[i, t] < config.max_added_ports_per_phase
                   and load[i] + config.power_l2_kw <= capacity[i] + 1e-9
                   and area_load[a] + config.power_l2_kw <= area_cap[a] + 1e-9
                   and phase_spent[t] + config.port_l2_cad <= budgets[t] + 1e-9
                   and phase_spent.sum() + config.port_l2_cad <= total_budget + 1e-9):
                d.ports_l2[i, t] += 1
                short[a] -= 1
                load[i] += config.power_l2_kw
                area_load[a] += config.power_l2_kw
                phase_spent[t] += config.port_l2_cad
