"""Window search (`network.windows`): a window's MILP is the full model over its free sites with the rest of
the plan fixed (checked by enumerating every action and phase of the free sites), a window holding every site
is the exact model (checked against brute force), and the search returns only plans the independent
verifier accepts."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from scipy.spatial import cKDTree

from evcharge_pipeline.network.benders import lp_support_sites
from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.greedy import greedy_plan
from evcharge_pipeline.network.inputs import restrict_groups, unit_vectors
from evcharge_pipeline.network.local_search import _allowed, _current, plan_value, with_action
from evcharge_pipeline.network.model import decision_sites
from evcharge_pipeline.network.plan import plan_rows
from evcharge_pipeline.network.solve import highs_problem
from evcharge_pipeline.network.state import ACTIONS, Decisions, evaluate_state
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.network.verifier import verify_plan
from evcharge_pipeline.network.windows import WINDOW_ABS_GAP, solve_window, window_search, windows
from evcharge_pipeline_tests.test_network_model import CASES
from evcharge_pipeline_tests.test_network_search import greedy_case, setup_instance


@pytest.fixture(scope="module")
def tight():
    """Two phases with their own budgets, spacing, site and area capacity, an upgrade limit and an L3 target
    set just under what the greedy plan reaches, so that dropping sites near the window can break it."""
    inst = make_instance(n_demand=300, n_candidates=40, n_existing=12, extent_km=14.0, seed=11)
    base = NetworkConfig(budget_cad=600_000, phases=2, phase_budget_cad=(250_000, 350_000), min_l3_spacing_km=3.0,
                         site_grid_capacity_kw=120.0, area_grid_capacity_kw=400.0, max_upgrades_per_phase=1,
                         max_added_ports_per_phase=0, time_limit_seconds=30, mip_gap=0.0)
    inputs, _ = setup_instance(inst, base)
    start = greedy_plan(inputs, base)
    st = evaluate_state(inputs, start, base)
    share = float(inputs.group_weight @ ((inputs.a_l3 @ st.has_l3[:, -1]) >= 1)) / inputs.total_weight
    cfg = base.with_changes(min_coverage_l3_share=round(share - 0.02, 3))
    inputs, model = setup_instance(inst, cfg)
    return inst, cfg, inputs, model


def _window_around(inputs, site: int, size: int) -> np.ndarray:
    xyz = unit_vectors(inputs.sites["lat"].to_numpy(float), inputs.sites["lon"].to_numpy(float))
    _, nearest = cKDTree(xyz).query(xyz[site], k=size)
    free = np.zeros(inputs.n_sites, bool)
    free[nearest] = True
    return free


def test_a_window_reaches_the_best_plan_over_its_free_sites(tight):
    """Every action and phase of four neighbouring sites enumerated with the rest of the plan fixed: the
    window's plan is worth the best of them (the start has those sites' actions dropped, so there is a gain)."""
    _inst, cfg, inputs, model = tight
    plan = greedy_plan(inputs, cfg)
    opened = np.flatnonzero(plan.open_level > 0)
    free = _window_around(inputs, int(opened[0]), 4)
    start = plan
    for site in np.flatnonzero(free):
        start = with_action(start, inputs, int(site), None, 0)
    start_value = plan_value(model, inputs, cfg, start)
    assert start_value is not None
    allowed = _allowed(inputs, cfg, start)
    options = [[(None, 0)] + [(ACTIONS[a], t) for a in np.flatnonzero(allowed[:, site])
                              for t in range(1, cfg.phases + 1)] for site in np.flatnonzero(free)]
    best = start_value
    for choice in itertools.product(*options):
        trial = start
        for site, (action, phase) in zip(np.flatnonzero(free), choice, strict=True):
            trial = with_action(trial, inputs, int(site), action, phase)
        value = plan_value(model, inputs, cfg, trial)
        if value is not None:
            best = max(best, value)
    assert best > start_value + 1e-6                    # the case has something to find
    found = solve_window(inputs, cfg, start, free, 30)
    assert found is not None
    kept = ~free
    for field in ("open_level", "open_phase"):          # nothing outside the window moved
        assert np.array_equal(getattr(found, field)[kept], getattr(start, field)[kept])
    kept_existing = kept[: inputs.n_existing]
    assert np.array_equal(found.upgrade_phase[kept_existing], start.upgrade_phase[kept_existing])
    assert np.array_equal(found.retire_phase[kept_existing], start.retire_phase[kept_existing])
    assert plan_value(model, inputs, cfg, found) == pytest.approx(best, abs=2 * WINDOW_ABS_GAP)


@pytest.mark.parametrize("seed,changes", CASES)
def test_a_window_over_every_site_is_the_exact_model(seed, changes):
    _inst, cfg, best, inputs, model, start, value = greedy_case(seed, changes)
    if value is None:           # the greedy breaks a target or the service standard: start from no actions
        start = Decisions.empty(inputs, cfg.phases)
    found = solve_window(inputs, cfg, start, np.ones(inputs.n_sites, bool), 30)
    if best == -np.inf:         # no plan meets the case: nor does the window find one
        assert found is None and value is None
        return
    assert found is not None
    assert plan_value(model, inputs, cfg, found) == pytest.approx(best, abs=2 * WINDOW_ABS_GAP)


def test_window_search_returns_a_verified_plan(tight):
    inst, cfg, inputs, model = tight
    start = greedy_plan(inputs, cfg)
    value = plan_value(model, inputs, cfg, start)
    found = window_search(model, inputs, cfg.with_changes(window_sites=15), start, value, time.perf_counter() + 60)
    assert found.windows_solved >= 1 and found.value >= value
    assert found.windows_improved > 0
    assert plan_value(model, inputs, cfg, found.decisions) == pytest.approx(found.value, abs=1e-12)
    rows = plan_rows(inputs, found.decisions, evaluate_state(inputs, found.decisions, cfg), cfg)
    report = verify_plan(rows, {"objective": found.value}, inst.stations, inst.candidates, inst.demand, inst.coverage,
                         cfg)
    assert report.ok, report.violations
    assert report.figures["objective"] == pytest.approx(found.value, abs=1e-7)


def test_windows_are_whole_areas_covering_every_site_in_one(tight):
    _inst, _cfg, inputs, _model = tight
    sets = windows(inputs, 15)
    in_area = inputs.area_of_site >= 0
    assert set(np.concatenate(sets)) == set(np.flatnonzero(in_area))
    for sites in sets:
        areas = np.unique(inputs.area_of_site[sites])
        assert np.array_equal(np.sort(sites), np.flatnonzero(np.isin(inputs.area_of_site, areas)))


def test_restrict_groups_keeps_the_total_weight_and_the_members(tight):
    _inst, _cfg, inputs, _model = tight
    groups = np.arange(0, inputs.n_groups, 2)
    sub = restrict_groups(inputs, groups)
    assert sub.total_weight == inputs.total_weight
    assert np.array_equal(sub.group_weight, inputs.group_weight[groups])
    assert (sub.a_l3 != inputs.a_l3[groups]).nnz == 0
    assert sorted(sub.demand["group"].unique()) == list(range(len(groups)))
    assert sub.demand["weight"].sum() == pytest.approx(inputs.group_weight[groups].sum())


def test_the_lp_support_holds_the_lp_optimum_and_its_milp_plan_stays_on_it(tight):
    """The master LP keeps its optimum with every site outside the support held at no action (nothing it uses
    was left out); the LP-support MILP (a window from the empty plan) acts only on support sites, meets the
    full model and passes the verifier."""
    inst, cfg, inputs, model = tight
    hprob = highs_problem(model.problem, 30, 0.0, objective_scale=model.objective_scale, relax_integrality=True)
    hprob.highs.run()
    lp_value = hprob.objective(hprob.highs.getInfo().objective_function_value)
    x = np.asarray(hprob.highs.getSolution().col_value)
    support = lp_support_sites(hprob, model, inputs, x)
    assert 0 < support.sum() < inputs.n_sites
    for name, site in decision_sites(model, inputs).items():
        cols = hprob.slice(model.variables[name])[~support[site]].ravel().astype(np.int32)
        hprob.highs.changeColsBounds(len(cols), cols, np.zeros(len(cols)), np.zeros(len(cols)))
    hprob.highs.run()
    assert hprob.objective(hprob.highs.getInfo().objective_function_value) == pytest.approx(lp_value, abs=1e-9)

    found = solve_window(inputs, cfg, Decisions.empty(inputs, cfg.phases), support, 30)
    assert found is not None
    acted = np.array([site for site, _, _ in _current(inputs, found)], np.int64)
    assert support[acted].all()
    value = plan_value(model, inputs, cfg, found)
    assert value is not None and value <= lp_value + 1e-9
    rows = plan_rows(inputs, found, evaluate_state(inputs, found, cfg), cfg)
    report = verify_plan(rows, {"objective": value}, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
