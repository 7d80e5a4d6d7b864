"""Plan a region's charging network: prepare inputs, warm-start, solve, diagnose, tabulate.

`plan_network` is the one entry point the assets, the benchmark and the tests call. Infeasible and
unbounded instances are answers, not exceptions: the result carries the status and a diagnosis.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from evcharge_pipeline.network.benders import solve_benders
from evcharge_pipeline.network.config import CONSTRAINT_GROUPS, NetworkConfig
from evcharge_pipeline.network.greedy import greedy_plan
from evcharge_pipeline.network.inputs import (
    NetworkInputs,
    equity_floors_on,
    prepare_inputs,
)
from evcharge_pipeline.network.local_search import plan_value
from evcharge_pipeline.network.model import (
    MCAD,
    build_model,
    decisions_from_values,
)
from evcharge_pipeline.network.solve import SolveOutcome, solve_min_capex, solve_model
from evcharge_pipeline.network.state import (
    Decisions,
    NetworkState,
    coverage_shares,
    evaluate_state,
)

PLAN_COLUMNS = [
    "site_id", "site_kind", "name", "lat", "lon", "area_id", "level_before", "action", "phase",
    "l1_ports_before", "l2_ports_before", "l3_ports_before", "l1_ports_after", "l2_ports_after", "l3_ports_after",
    "ports_added_l2", "ports_added_l3", "capex_cad", "annual_opex_cad",
]


# How the summary's bound was obtained, the same columns for every method (None where a method has no such figure).
SOLVE_FACTS: dict[str, str | float | None] = {
    "method": None, "bound_method": None, "primal_source": None,
    "lp_bound": None, "benders_lp_rounds": None, "benders_mip_rounds": None, "benders_cuts": None,
    "local_search_moves": None, "kernel_candidates": None, "lagrangian_evaluations": None, "windows_improved": None,
}
SOLVE_FACT_TEXT = ("method", "bound_method", "primal_source")

PLAN_TEXT_COLUMNS = ("site_id", "site_kind", "name", "area_id", "level_before", "action")


def empty_plan_frame(**key_columns: str) -> pd.DataFrame:
    """A typed, empty plan table (plus string key columns), so an infeasible first write fixes the schema."""
    columns = {c: pd.Series(dtype="string") for c in key_columns}
    for column in PLAN_COLUMNS:
        if column in PLAN_TEXT_COLUMNS:
            columns[column] = pd.Series(dtype="string")
        elif column == "phase":
            columns[column] = pd.Series(dtype="Int64")
        elif column in ("lat", "lon", "capex_cad", "annual_opex_cad"):
            columns[column] = pd.Series(dtype="float64")
        else:
            columns[column] = pd.Series(dtype="int64")
    return pd.DataFrame(columns)


@dataclass
class NetworkPlanResult:
    status: str
    plan: pd.DataFrame              # plan.network_plan rows (empty when no solution)
    summary: dict                   # one plan.network_plan_summary row
    inputs: NetworkInputs
    config: NetworkConfig
    decisions: Decisions | None = None
    state: NetworkState | None = None
    outcome: SolveOutcome | None = None
    diagnosis: str = ""
    extras: dict = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.decisions is not None


def plan_rows(inputs: NetworkInputs, d: Decisions, st: NetworkState, config: NetworkConfig) -> pd.DataFrame:
    """One row per site and decision (see the module docs of the asset); untouched existing stations keep."""
    s = inputs.sites
    e = inputs.n_existing
    opex = st.opex_by_site
    init_l1, init_l2, init_l3 = (s[c].to_numpy() for c in ("ports_l1", "ports_l2", "ports_l3"))
    init_opex = evaluate_state(inputs, Decisions.empty(inputs, config.phases), config).opex_by_site[:, 0]
    rows = []
    touched = (d.ports_l2.sum(axis=1) + d.ports_l3.sum(axis=1) > 0) | (d.open_level > 0)
    touched[:e] |= (d.upgrade_phase > 0) | (d.retire_phase > 0)
    for i in np.flatnonzero(touched | (np.arange(len(s)) < e)):
        base = {"site_id": s["site_id"].iat[i], "site_kind": s["site_kind"].iat[i], "name": s["name"].iat[i],
                "lat": float(s["lat"].iat[i]), "lon": float(s["lon"].iat[i]), "area_id": s["area_id"].iat[i],
                "level_before": s["level"].iat[i] if i < e else None}
        if not touched[i]:
            rows.append({**base, "action": "keep", "phase": None,
                         "l1_ports_before": init_l1[i], "l2_ports_before": init_l2[i], "l3_ports_before": init_l3[i],
                         "l1_ports_after": init_l1[i], "l2_ports_after": init_l2[i], "l3_ports_after": init_l3[i],
                         "ports_added_l2": 0, "ports_added_l3": 0, "capex_cad": 0.0, "annual_opex_cad": init_opex[i]})
            continue
        action_phase, action = 0, "keep"
        if i < e and d.upgrade_phase[i] > 0:
            action_phase, action = int(d.upgrade_phase[i]), "upgrade_l3"
        elif i < e and d.retire_phase[i] > 0:
            action_phase, action = int(d.retire_phase[i]), "retire"
        elif d.open_level[i] > 0:
            action_phase, action = int(d.open_phase[i]), "new_l3" if d.open_level[i] == 3 else "new_l2"
        phases = set(np.flatnonzero(d.ports_l2[i] + d.ports_l3[i] > 0) + 1)
        if action_phase:
            phases.add(action_phase)
        for t in sorted(phases):
            k = t - 1
            before = ((init_l1[i], init_l2[i], init_l3[i]) if k == 0 else
                      (st.ports_l1[i, k - 1], st.ports_l2[i, k - 1], st.ports_l3[i, k - 1]))
            rows.append({**base, "action": action if t == action_phase else "keep", "phase": int(t),
                         "l1_ports_before": before[0], "l2_ports_before": before[1], "l3_ports_before": before[2],
                         "l1_ports_after": st.ports_l1[i, k], "l2_ports_after": st.ports_l2[i, k],
                         "l3_ports_after": st.ports_l3[i, k],
                         "ports_added_l2": d.ports_l2[i, k], "ports_added_l3": d.ports_l3[i, k],
                         "capex_cad": float(st.capex_by_site[i, k]), "annual_opex_cad": float(opex[i, k])})
    frame = pd.DataFrame(rows, columns=PLAN_COLUMNS)
    for column in PLAN_COLUMNS[9:17]:
        frame[column] = frame[column].astype("int64")
    frame["phase"] = frame["phase"].astype("Int64")
    frame["level_before"] = frame["level_before"].astype(object)
    return frame


def _parameters(config: NetworkConfig) -> dict:
    return {
        "budget_cad": float(config.budget_cad), "radius_l2_km": config.radius_l2_km,
        "radius_l3_km": config.radius_l3_km, "min_l3_spacing_km": config.min_l3_spacing_km,
        "max_l3_distance_km": config.max_l3_distance_km, "phases": config.phases, "solver": config.solver.upper(),
        "min_coverage_l2_share": config.min_coverage_l2_share, "min_coverage_l3_share": config.min_coverage_l3_share,
        "coverage_weight": config.coverage_weight, "mip_gap_target": config.mip_gap,
        "time_limit_seconds": config.time_limit_seconds,
        "config_json": json.dumps(config.as_dict(), sort_keys=True, default=list),
    }


def _coverage_figures(inputs: NetworkInputs, state: NetworkState | None, config: NetworkConfig) -> dict:
    before = coverage_shares(inputs, inputs.sites["l2_before"].to_numpy(bool).astype(float),
                             inputs.sites["l3_before"].to_numpy(bool).astype(float))
    out = {}
    for key in ("coverage_l2_population", "coverage_l2_ev", "coverage_l3_population", "coverage_l3_ev",
                "underserved_population", "underserved_ev"):
        out[f"{key}_before"] = before[key]
    if state is not None:
        after = coverage_shares(inputs, state.has_l2[:, -1].astype(float), state.has_l3[:, -1].astype(float))
        for key, value in after.items():
            out[f"{key}_after"] = value
    else:
        for key in before:
            out[f"{key}_after"] = None
    weight = config.coverage_weight
    if weight == "ev_need":   # shares of the need-weighted EVs (the group weights), docs/equity.md
        total = max(float(inputs.group_weight.sum()), 1e-12)

        def underserved(has_l2, has_l3) -> float:
            reached = (inputs.a_any @ np.maximum(has_l2, has_l3)) > 0
            return float(1 - inputs.group_weight[reached].sum() / total)

        out["underserved_share_before"] = underserved(inputs.sites["l2_before"].to_numpy(bool).astype(float),
                                                      inputs.sites["l3_before"].to_numpy(bool).astype(float))
        out["underserved_share_after"] = (underserved(state.has_l2[:, -1].astype(float),
                                                      state.has_l3[:, -1].astype(float)) if state is not None else None)
        return out
    out["underserved_share_before"] = out[f"underserved_{'ev' if weight == 'ev' else 'population'}_before"]
    out["underserved_share_after"] = out[f"underserved_{'ev' if weight == 'ev' else 'population'}_after"]
    return out


def min_budget(inputs: NetworkInputs, config: NetworkConfig) -> tuple[list[str], dict]:
    """The cheapest plan meeting every constraint but the budgets: its capex (`min_budget_cad`, best found)
    and the solver's lower bound on it (`min_budget_lower_cad`: above the budget, infeasibility is proven)."""
    facts: dict = {}
    parts = []
    min_capex, outcome = solve_min_capex(inputs, config, config.diagnosis_time_limit_seconds)
    if outcome.bound is not None:
        facts["min_budget_lower_cad"] = float(outcome.bound) * MCAD    # the min-capex objective is in MCAD
    if outcome.has_solution:
        cheapest = float(min_capex.expressions["capex"].value.sum())
        facts["min_budget_cad"] = cheapest
        per_phase = min_capex.expressions["capex"].value
        parts.append(
            f"budget too small: the other constraints need at least {cheapest:,.0f} CAD in total "
            f"(budget {config.budget_cad:,.0f} CAD); the cheapest such plan spends "
            + ", ".join(f"phase {t + 1}: {v:,.0f}" for t, v in enumerate(per_phase))
            + (" (proven minimum)" if outcome.status == "optimal" else f" (best found, status {outcome.status})")
        )
        if cheapest <= config.budget_cad + 1e-6:
            parts[-1] = (f"the total budget suffices ({cheapest:,.0f} CAD needed) but the per-phase caps "
                         f"{[round(b) for b in config.phase_budgets()]} do not fit the spending profile")
    elif outcome.status == "infeasible":
        parts.append(f"infeasible even with unlimited budget (status {outcome.status})")
    elif "min_budget_lower_cad" in facts:
        parts.append(f"no plan found within {config.diagnosis_time_limit_seconds:g} s that meets the other "
                     f"constraints; any such plan costs at least {facts['min_budget_lower_cad']:,.0f} CAD")
    return parts, facts


def diagnose(inputs: NetworkInputs, config: NetworkConfig) -> tuple[str, dict]:
    """Name the constraints that make an instance infeasible and the smallest budget that would do."""
    limit = config.diagnosis_time_limit_seconds
    probe = config.with_changes(warm_start=False)
    parts, facts = min_budget(inputs, config)
    culprits = []
    present = build_model(inputs, probe, objective="feasibility").constraint_groups
    for group in CONSTRAINT_GROUPS:
        if group in config.relax or not present.get(group):
            continue
        relaxed = probe.with_changes(relax=tuple(set(config.relax) | {group}))
        model = build_model(inputs, relaxed, objective="feasibility")
        result = solve_model(model, inputs, relaxed, time_limit_seconds=limit)
        if result.has_solution:
            culprits.append(group)
    facts["conflicting_groups"] = culprits
    if culprits:
        parts.append("dropping any one of these constraint groups restores feasibility: " + ", ".join(culprits))
    else:
        parts.append("no single constraint group explains it (several conflict together)")
    exempt = int((~inputs.dmax_required & (np.diff(inputs.a_any.indptr) >= 0)).sum())
    facts["groups_outside_service_standard"] = exempt
    return "; ".join(parts), facts


def plan_network(stations: pd.DataFrame, candidates: pd.DataFrame, demand: pd.DataFrame, coverage: pd.DataFrame,
                 config: NetworkConfig | None = None, inputs: NetworkInputs | None = None,
                 verbose: bool = False) -> NetworkPlanResult:
    if config is None:
        config = NetworkConfig()
    started = time.perf_counter()
    if inputs is None:
        inputs = prepare_inputs(stations, candidates, demand, coverage, config)
    prepare_seconds = time.perf_counter() - started

    greedy_started = time.perf_counter()
    warm = greedy_plan(inputs, config) if config.warm_start else None
    greedy_seconds = time.perf_counter() - greedy_started

    # equity floors need per-group coverage variables, which the Benders master projects out
    if config.method == "benders" and config.solver.upper() == "HIGHS" and not equity_floors_on(config):
        outcome, build_seconds, greedy_objective, greedy_feasible, facts_solve, decisions = _solve_by_benders(
            inputs, config, warm, verbose)
    else:
        model = build_model(inputs, config, objective="plan")
        build_seconds = model.build_seconds
        greedy_objective = plan_value(model, inputs, config, warm) if warm is not None else None
        greedy_feasible = greedy_objective is not None
        outcome = solve_model(model, inputs, config, warm=warm if greedy_feasible else None, verbose=verbose)
        decisions = decisions_from_values(model, inputs, config) if outcome.has_solution else None
        facts_solve = {"bound_method": ("highs_mip_dual_bound" if outcome.bound is not None
                                        else "highs_proven_infeasible" if outcome.status == "infeasible" else None),
                       "method": "monolithic"}

    state = None
    plan = empty_plan_frame()
    diagnosis, facts = "", {}
    if outcome.has_solution and decisions is not None:
        state = evaluate_state(inputs, decisions, config)
        plan = plan_rows(inputs, decisions, state, config)
    elif outcome.status in ("infeasible", "infeasible_or_unbounded") and config.diagnose_infeasible:
        diagnosis, facts = diagnose(inputs, config)
    elif outcome.status == "time_limit_no_solution":
        diagnosis = (f"no feasible plan found within {config.time_limit_seconds:g} s; the greedy start was "
                     f"{'feasible' if greedy_feasible else 'infeasible'}; raise time_limit_seconds or relax targets")
        if config.diagnose_infeasible:
            parts, facts = min_budget(inputs, config)
            lower = facts.get("min_budget_lower_cad")
            if lower is not None and lower > config.budget_cad * (1 + 1e-9) + 1e-6:
                # proven: every plan meeting the other constraints costs more than the budget
                outcome = replace(outcome, status="infeasible", bound=None, gap=None)
                facts_solve["bound_method"] = "min_capex_lower_bound"
                diagnosis = (f"infeasible: every plan meeting the other constraints costs at least {lower:,.0f} CAD "
                             f"(lower bound of the min-capex MILP), above the budget {config.budget_cad:,.0f} CAD")
            elif parts:
                diagnosis += "; " + "; ".join(parts)
    elif outcome.status == "unbounded":
        diagnosis = "objective unbounded: check negative costs (retire_cad resale larger than the budget scale)"
    else:
        diagnosis = outcome.message

    summary = {
        "status": outcome.status,
        "objective": outcome.objective, "bound": outcome.bound, "gap": outcome.gap,
        **SOLVE_FACTS, **facts_solve,
        "solve_seconds": outcome.solve_seconds, "build_seconds": build_seconds,
        "prepare_seconds": prepare_seconds, "greedy_seconds": greedy_seconds,
        "warm_started": bool(outcome.warm_started), "greedy_objective": greedy_objective,
        "capex_by_phase_cad": json.dumps([round(float(v), 2) for v in state.capex_by_phase]) if state else None,
        "capex_total_cad": float(state.capex_by_phase.sum()) if state else None,
        "budget_used_share": (float(state.capex_by_phase.sum()) / config.budget_cad if state and config.budget_cad > 0
                              else None),
        "annual_opex_after_cad": float(state.opex_by_phase[-1]) if state else None,
        "upgrades": int((decisions.upgrade_phase > 0).sum()) if decisions else None,
        "retirements": int((decisions.retire_phase > 0).sum()) if decisions else None,
        "new_l2": int((decisions.open_level == 2).sum()) if decisions else None,
        "new_l3": int((decisions.open_level == 3).sum()) if decisions else None,
        "ports_added_l2": int(decisions.ports_l2.sum()) if decisions else None,
        "ports_added_l3": int(decisions.ports_l3.sum()) if decisions else None,
        **_coverage_figures(inputs, state, config),
        "demand_points": len(inputs.demand), "demand_groups": inputs.n_groups,
        "existing_stations": inputs.n_existing, "candidate_sites": inputs.n_candidates,
        "service_standard_exempt_points": int((~inputs.dmax_required[inputs.demand["group"].to_numpy()]).sum())
        if config.max_l3_distance_km is not None else None,
        "skipped_json": json.dumps(inputs.skipped, sort_keys=True),
        "diagnosis": diagnosis or None,
        "min_budget_cad": facts.get("min_budget_cad"),
        "min_budget_lower_cad": facts.get("min_budget_lower_cad"),
        "conflicting_constraints": ", ".join(facts.get("conflicting_groups", [])) or None,
        **_parameters(config),
    }
    return NetworkPlanResult(outcome.status, plan, summary, inputs, config, decisions, state, outcome, diagnosis,
                             {"greedy": warm, "greedy_feasible": greedy_feasible})


def _solve_by_benders(inputs: NetworkInputs, config: NetworkConfig, warm: Decisions | None, verbose: bool):
    """The Benders path: exact value of the start plan, the cut loop, and the outcome in the common shape."""
    result = solve_benders(inputs, config, warm, config.time_limit_seconds, verbose=verbose)
    greedy_objective = result.history_start_value
    outcome = SolveOutcome(result.status, result.objective, result.bound, result.gap, result.solve_seconds,
                           warm is not None and greedy_objective is not None, "HIGHS",
                           f"benders: {result.rounds_lp} LP rounds, {result.rounds_mip} MILP rounds, "
                           f"{result.cuts} cuts")
    facts = {"bound_method": result.bound_method, "method": "benders", "lp_bound": result.lp_bound,
             "benders_lp_rounds": result.rounds_lp, "benders_mip_rounds": result.rounds_mip,
             "benders_cuts": result.cuts, "primal_source": result.primal_source,
             "local_search_moves": result.local_search_moves, "kernel_candidates": result.kernel_candidates,
             "lagrangian_evaluations": result.lagrangian_evaluations, "windows_improved": result.windows_improved}
    return outcome, result.build_seconds, greedy_objective, greedy_objective is not None, facts, result.decisions
