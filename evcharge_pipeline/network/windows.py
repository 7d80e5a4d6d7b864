"""Window search: the exact MILP on one spatial window of sites at a time, the rest of the plan fixed.

Single moves (`network.local_search`) stall where a better plan needs several sites changed together: an
area whose grid capacity is full takes a new L3 station only when L2 stations there are retired with it,
and money moves between sites only two at a time. A window frees every decision of a few hundred
neighbouring sites and solves the full model over them with everything else at the plan: a large
neighbourhood search whose moves are proven best within the window (up to its time limit).

The window instance is exact for the free sites. It keeps every site the plan spends on or loads (all
existing stations, every candidate the plan opens), so budgets, upgrade limits, area capacity, port
minimums and spacing are the full model's rows; only the demand groups some free site reaches are kept,
and the last-phase coverage the rest of the demand gets from the fixed plan is taken off the coverage
targets. Its objective then differs from the full objective by a constant. Every plan it returns is
judged again by `plan_value` on the full model and kept only when that accepts it and it gains.

The same exact MILP over a free set serves the Benders loop as the LP-support MILP: the sites the master's
LP relaxation uses, every other site left as it is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
from scipy.spatial import cKDTree

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import (
    NetworkInputs,
    equity_floors_on,
    restrict_groups,
    restrict_sites,
    unit_vectors,
)
from evcharge_pipeline.network.local_search import expand_decisions, plan_value, restrict_decisions
from evcharge_pipeline.network.model import (
    OBJECTIVE_SCALE,
    BuiltModel,
    assign_decisions,
    build_model,
    decision_sites,
    decisions_from_values,
)
from evcharge_pipeline.network.solve import highs_problem
from evcharge_pipeline.network.state import Decisions, evaluate_state

log = logging.getLogger(__name__)

WINDOW_ABS_GAP = 1e-5       # a window's MILP stops within this much (objective units) of its own optimum


@dataclass
class WindowSearchResult:
    decisions: Decisions
    value: float
    windows_solved: int
    windows_improved: int
    seconds: float


def windows(inputs: NetworkInputs, window_sites: int, seed: int = 0) -> list[np.ndarray]:
    """Site sets to free, in the order to try them: per area (in a shuffled order), that area and the areas
    with the nearest centres until the window holds `window_sites` sites. Whole areas, so that an area's
    grid capacity and port minimum are shared only among free sites. Sites in no area reach no demand and
    are never freed."""
    in_area = np.flatnonzero(inputs.area_of_site >= 0)
    if not len(in_area):
        return []
    area = inputs.area_of_site[in_area]
    areas, area, count = np.unique(area, return_inverse=True, return_counts=True)
    xyz = unit_vectors(inputs.sites["lat"].to_numpy(float)[in_area], inputs.sites["lon"].to_numpy(float)[in_area])
    centres = np.column_stack([np.bincount(area, weights=xyz[:, k]) for k in range(3)]) / count[:, None]
    tree = cKDTree(centres)
    out = []
    for seed_area in np.random.default_rng(seed).permutation(len(areas)):
        _, nearest = tree.query(centres[seed_area], k=len(areas))
        nearest = np.atleast_1d(nearest)
        taken = nearest[:int(np.searchsorted(np.cumsum(count[nearest]), window_sites)) + 1]
        out.append(in_area[np.isin(area, taken)])
    return out


def window_instance(inputs: NetworkInputs, config: NetworkConfig, d: Decisions,
                    free: np.ndarray) -> tuple[NetworkInputs, np.ndarray, NetworkConfig]:
    """The instance of one window (see the module docstring): its inputs, the full index of each of its
    sites, and the config with the coverage targets less what the fixed plan covers outside the window."""
    T, e = config.phases, inputs.n_existing
    keep = free.copy()
    keep[:e] = True
    keep[e:] |= d.open_level[e:] > 0
    sub, index = restrict_sites(inputs, keep)
    reached = (np.asarray(inputs.a_any[:, free].sum(axis=1)).ravel()
               + np.asarray(inputs.a_dmax[:, free].sum(axis=1)).ravel()) > 0
    sub = restrict_groups(sub, np.flatnonzero(reached))
    state = evaluate_state(inputs, d, config)
    outside = ~reached
    W = max(inputs.total_weight, 1e-12)

    def covered_outside(a, has) -> float:
        return float(inputs.group_weight[outside] @ ((a[outside] @ has[:, T - 1]) >= 1)) / W

    sub_config = config.with_changes(
        min_coverage_l2_share=max(0.0, config.min_coverage_l2_share - covered_outside(inputs.a_l2, state.has_l2)),
        min_coverage_l3_share=max(0.0, config.min_coverage_l3_share - covered_outside(inputs.a_l3, state.has_l3)))
    return sub, index, sub_config


def solve_window(inputs: NetworkInputs, config: NetworkConfig, d: Decisions, free: np.ndarray,
                 time_limit_seconds: float) -> Decisions | None:
    """The best plan HiGHS finds in time with the sites `free` (bool per site) free and the rest of `d`
    fixed, warm-started from `d`; on the full instance. None when it finds none. `d` need not meet the
    model (an empty plan frees exactly the `free` sites); callers judge the result with `plan_value`."""
    sub, index, sub_config = window_instance(inputs, config, d, free)
    model = build_model(sub, sub_config, objective="plan")
    options = {**dict(config.highs_options), "presolve": "on", "mip_abs_gap": WINDOW_ABS_GAP * OBJECTIVE_SCALE}
    hprob = highs_problem(model.problem, time_limit_seconds, 0.0, config.threads, False, model.objective_scale,
                          options)
    assign_decisions(model, sub, sub_config, restrict_decisions(d, index))
    free_here = free[index]
    for name, site in decision_sites(model, sub).items():
        hprob.fix_rows(model.variables[name], ~free_here[site])
    variables = [v for v in model.variables.values() if isinstance(v, cp.Variable)]
    hprob.set_start(hprob.start_vector({v: np.asarray(v.value, float) for v in variables}))
    hprob.highs.run()
    info = hprob.highs.getInfo()
    if info.primal_solution_status != 2:
        return None
    hprob.set_values(np.asarray(hprob.highs.getSolution().col_value), variables)
    return expand_decisions(decisions_from_values(model, sub, sub_config), index, inputs.n_sites)


def window_search(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig, d: Decisions, value: float,
                  deadline: float) -> WindowSearchResult:
    """Solve the windows (`windows`) in turn from a plan that meets the full model (its `plan_value` is
    `value`), keeping each window's plan when the full model accepts it and it gains; stops at the deadline
    or after a round of every window without a gain. Not run under equity floors (their rows read all demand
    of an area, which a window does not keep)."""
    started = time.perf_counter()
    solved = improved = 0
    if equity_floors_on(config):
        return WindowSearchResult(d, value, 0, 0, 0.0)
    sets = windows(inputs, config.window_sites)
    since_gain = 0
    while since_gain < len(sets):
        for sites in sets:
            left = deadline - time.perf_counter()
            if left < 1.0 or since_gain >= len(sets):
                return WindowSearchResult(d, value, solved, improved, time.perf_counter() - started)
            free = np.zeros(inputs.n_sites, bool)
            free[sites] = True
            found = solve_window(inputs, config, d, free, min(config.window_time_limit_seconds, left))
            solved += 1
            found_value = None if found is None else plan_value(model, inputs, config, found)
            if found_value is not None and found_value > value + 1e-9 * max(1.0, abs(value)):
                log.info("window %d (%d sites): objective %.6f -> %.6f", solved, len(sites), value, found_value)
                d, value, improved, since_gain = found, found_value, improved + 1, 0
            else:
                since_gain += 1
    return WindowSearchResult(d, value, solved, improved, time.perf_counter() - started)
