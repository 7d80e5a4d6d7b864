"""The network plan's primal side: local search and the kernel MILP return only plans that the
independent verifier accepts, never better than the enumerated optimum, and the kernel over every
candidate is the exact model."""

from __future__ import annotations

import time

import numpy as np
import pytest

from evcharge_pipeline.network.benders import demand_clusters
from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.greedy import greedy_plan
from evcharge_pipeline.network.inputs import prepare_inputs, restrict_sites
from evcharge_pipeline.network.local_search import (
    _allowed,
    _batch,
    _current,
    _Gains,
    _neighbourhood,
    expand_decisions,
    improve_plan,
    kernel_search,
    min_capex_start,
    pack_into_phases,
    plan_value,
    restrict_decisions,
    with_action,
)
from evcharge_pipeline.network.model import build_model
from evcharge_pipeline.network.plan import plan_rows
from evcharge_pipeline.network.state import ACTIONS, Decisions, evaluate_state
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.network.verifier import verify_plan
from evcharge_pipeline_tests.test_network_model import CASES, EXACT, brute_force, tiny


def setup_instance(inst, cfg):
    """The instance's inputs and its projected model (the one `plan_value` evaluates plans on)."""
    inputs = prepare_inputs(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    model = build_model(inputs, cfg, coverage="projected", clusters=demand_clusters(inputs, 8))
    return inputs, model


def greedy_case(seed, changes):
    """A tiny brute-force case: the instance, config, enumerated optimum (-inf when no plan meets it),
    inputs, projected model, greedy start and the start's value (None when it breaks a constraint)."""
    inst = tiny(seed)
    cfg = NetworkConfig(**{**EXACT, **changes})
    best, _ = brute_force(inst, cfg)
    inputs, model = setup_instance(inst, cfg)
    start = greedy_plan(inputs, cfg)
    return inst, cfg, best, inputs, model, start, plan_value(model, inputs, cfg, start)


def _verified(inst, inputs, cfg, d, value):
    rows = plan_rows(inputs, d, evaluate_state(inputs, d, cfg), cfg)
    report = verify_plan(rows, {"objective": value}, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    return report


@pytest.mark.parametrize("seed,changes", CASES)
def test_local_search_and_kernel_against_brute_force(seed, changes):
    inst, cfg, best, inputs, model, start, value = greedy_case(seed, changes)
    if value is None:
        pytest.skip("no plan meets this case" if best == -np.inf
                    else "the greedy start breaks a constraint of this case (targets or service standard)")
    found = improve_plan(model, inputs, cfg, start, value, time.perf_counter() + 30)
    assert value - 1e-12 <= found.value <= best + 1e-9
    report = _verified(inst, inputs, cfg, found.decisions, found.value)
    assert report.ok, report.violations
    # the kernel holding every candidate is the full exact model: it reaches the optimum
    whole = kernel_search(model, inputs, cfg.with_changes(kernel_candidates=inputs.n_candidates), found.decisions,
                          found.value, 30)
    reached = whole.value if whole.decisions is not None else found.value
    assert reached == pytest.approx(best, abs=1e-7)


@pytest.fixture(scope="module")
def constrained():
    inst = make_instance(n_demand=400, n_candidates=60, n_existing=20, extent_km=18.0, seed=7)
    cfg = NetworkConfig(budget_cad=900_000, phases=3, phase_budget_cad=(300_000, 300_000, 300_000),
                        min_l3_spacing_km=3.0, site_grid_capacity_kw=120.0, area_grid_capacity_kw=400.0,
                        max_upgrades_per_phase=2, min_coverage_l2_share=0.05, time_limit_seconds=30)
    inputs, model = setup_instance(inst, cfg)
    return inst, cfg, inputs, model


def test_local_search_returns_a_verified_plan_under_tight_constraints(constrained):
    inst, cfg, inputs, model = constrained
    start = greedy_plan(inputs, cfg)
    value = plan_value(model, inputs, cfg, start)
    assert value is not None
    found = improve_plan(model, inputs, cfg, start, value, time.perf_counter() + 60)
    assert found.value >= value
    assert found.moves_taken > 0 and found.plans_evaluated >= found.moves_taken
    report = _verified(inst, inputs, cfg, found.decisions, found.value)
    assert report.ok, report.violations
    assert report.figures["objective"] == pytest.approx(found.value, abs=1e-7)


def test_plan_value_refuses_a_plan_that_breaks_a_constraint(constrained):
    _inst, cfg, inputs, model = constrained
    d = greedy_plan(inputs, cfg)
    over = d.open_level == 0
    over[: inputs.n_existing] = False
    d.open_level[over], d.open_phase[over] = 3, 1          # every candidate an L3 in phase 1: over budget
    assert plan_value(model, inputs, cfg, d) is None


def test_greedy_continues_from_a_partial_plan(constrained):
    inst, cfg, inputs, model = constrained
    full = greedy_plan(inputs, cfg)
    opened = np.flatnonzero(full.open_level > 0)
    partial = greedy_plan(inputs, cfg)
    partial.open_level[opened[1:]] = 0
    partial.open_phase[opened[1:]] = 0
    completed = greedy_plan(inputs, cfg, start=partial)
    assert completed.open_level[opened[0]] == full.open_level[opened[0]]      # the start is kept
    assert completed.open_phase[opened[0]] == full.open_phase[opened[0]]
    assert (completed.open_level > 0).sum() > 1
    value = plan_value(model, inputs, cfg, completed)
    assert value is not None
    assert _verified(inst, inputs, cfg, completed, value).ok


def test_restricted_instance_gives_the_same_value_to_a_plan_inside_it(constrained):
    _inst, cfg, inputs, model = constrained
    d = greedy_plan(inputs, cfg)
    keep = d.open_level > 0
    keep[inputs.n_existing + np.arange(0, inputs.n_candidates, 3)] = True
    sub, index = restrict_sites(inputs, keep)
    assert sub.n_existing == inputs.n_existing
    assert sub.n_sites == int(keep[inputs.n_existing:].sum()) + inputs.n_existing
    sub_model = build_model(sub, cfg, coverage="projected", clusters=demand_clusters(sub, 8))
    inside = restrict_decisions(d, index)
    assert plan_value(sub_model, sub, cfg, inside) == pytest.approx(plan_value(model, inputs, cfg, d), abs=1e-9)
    back = expand_decisions(inside, index, inputs.n_sites)
    for field in ("upgrade_phase", "retire_phase", "open_level", "open_phase", "ports_l2", "ports_l3"):
        assert np.array_equal(getattr(back, field), getattr(d, field))


def test_a_solve_without_a_plan_is_proven_infeasible_by_the_min_capex_bound(monkeypatch):
    """When the limit passes without a plan, the min-capex probe proves infeasibility if even its lower bound
    exceeds the budget; with a budget that suffices the row keeps time_limit_no_solution."""
    import evcharge_pipeline.network.plan as plan_module
    from evcharge_pipeline.network.benders import BendersOutcome

    def no_plan(inputs, config, incumbent, time_limit_seconds, verbose=False):
        return BendersOutcome("time_limit_no_solution", None, None, None, "benders_lp_relaxation", None)

    monkeypatch.setattr(plan_module, "solve_benders", no_plan)
    inst = make_instance(n_demand=150, n_candidates=25, n_existing=8, extent_km=15.0, seed=3)
    tight = NetworkConfig(budget_cad=150_000, min_coverage_l3_share=0.8, diagnosis_time_limit_seconds=30, mip_gap=0.0)
    result = plan_module.plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, tight)
    assert result.status == "infeasible"
    assert result.summary["bound_method"] == "min_capex_lower_bound"
    assert result.summary["min_budget_lower_cad"] > tight.budget_cad
    roomy = tight.with_changes(budget_cad=10_000_000, min_coverage_l3_share=0.0)
    result = plan_module.plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, roomy)
    assert result.status == "time_limit_no_solution"
    assert "no feasible plan found" in result.summary["diagnosis"]


def test_pack_into_phases_spreads_a_plan_over_the_phase_budgets():
    inst = make_instance(n_demand=300, n_candidates=40, n_existing=10, extent_km=15.0, seed=3)
    cfg = NetworkConfig(budget_cad=600_000, phases=3, max_upgrades_per_phase=2, min_l3_spacing_km=0.0)
    inputs, model = setup_instance(inst, cfg)
    # a plan spending 450,000 CAD with no phase caps: the greedy puts it all in phase 1
    whole = greedy_plan(inputs, cfg.with_changes(budget_cad=450_000, relax=("phase_budget", "max_upgrades_per_phase")))
    assert evaluate_state(inputs, whole, cfg).capex_by_phase[0] > cfg.phase_budgets()[0]
    crowded = pack_into_phases(inputs, cfg, whole)
    assert crowded is not None
    state = evaluate_state(inputs, crowded, cfg)
    assert (state.capex_by_phase <= np.asarray(cfg.phase_budgets()) + 1e-6).all()
    assert (np.bincount(crowded.upgrade_phase, minlength=4)[1:] <= 2).all()
    # the same actions, and so the same last-phase network
    assert np.array_equal(state.has_l3[:, -1], evaluate_state(inputs, whole, cfg).has_l3[:, -1])
    assert plan_value(model, inputs, cfg, crowded) is not None
    # a plan dearer than the total budget does not fit
    assert pack_into_phases(inputs, cfg.with_changes(budget_cad=50_000), whole) is None


@pytest.mark.parametrize("seed,changes", CASES)
def test_exact_move_gains_match_the_full_model(seed, changes):
    """`_Gains.moved` (which prunes the drop and phase moves) equals the change of `plan_value` for every
    action of random plans, moved to every phase or dropped, with retirements and mixed stations; so do the
    gains of adding an action where one was dropped (`_Gains.add(without=...)`, which prunes the swaps)."""
    inst = tiny(seed, n_existing=4, n_candidates=6)
    cfg = NetworkConfig(**{**EXACT, **changes}).with_changes(relax=("total_budget", "phase_budget",
                                                                    "coverage_target_l3", "coverage_target_l2",
                                                                    "max_l3_distance", "l3_spacing",
                                                                    "site_grid_capacity", "area_grid_capacity",
                                                                    "max_upgrades_per_phase"))
    inputs, model = setup_instance(inst, cfg)
    rng = np.random.default_rng(seed)
    e, T = inputs.n_existing, cfg.phases
    up = set(inputs.upgradeable_index().tolist())
    checked = 0
    for _ in range(6):
        d = Decisions.empty(inputs, T)
        for site in range(inputs.n_sites):
            pick, phase = int(rng.integers(0, 3)), int(rng.integers(1, T + 1))
            if site >= e and pick:
                d.open_level[site], d.open_phase[site] = (2 if pick == 1 else 3), phase
            elif site < e and pick == 1 and site in up:
                d.upgrade_phase[site] = phase
            elif site < e and pick == 2 and cfg.allow_retire:
                d.retire_phase[site] = phase
        value = plan_value(model, inputs, cfg, d)
        assert value is not None
        current = _current(inputs, d)
        gains = _Gains(inputs, cfg, d)
        for t in range(T + 1):
            change = gains.moved(current, t)
            for (site, action, _), expected in zip(current, change, strict=True):
                moved = with_action(d, inputs, site, action if t else None, t)
                assert plan_value(model, inputs, cfg, moved) - value == pytest.approx(expected, abs=1e-9)
                checked += 1
        # the gains of adding an action once one is dropped (the swaps), corrected locally, are exact too
        free = _allowed(inputs, cfg, d)
        for site, _, _ in current:
            dropped = with_action(d, inputs, site, None, 0)
            base = plan_value(model, inputs, cfg, dropped)
            after = gains.add(without=site)
            assert np.allclose(after, _Gains(inputs, cfg, dropped).add(), atol=1e-12)
            for a, other in zip(*np.nonzero(free), strict=True):
                if other != site and not (dropped.open_level[other] or (other < e and (
                        dropped.upgrade_phase[other] or dropped.retire_phase[other]))):
                    t = int(rng.integers(1, T + 1))
                    swapped = with_action(dropped, inputs, int(other), ACTIONS[a], t)
                    assert plan_value(model, inputs, cfg, swapped) - base == pytest.approx(after[a, other, t - 1],
                                                                                          abs=1e-9)
                    checked += 1
    assert checked > 0


@pytest.mark.parametrize("seed", [3, 5, 8])
def test_a_batch_of_independent_moves_gains_the_sum_of_their_gains(seed):
    """`_batch` takes moves at sites whose reach no other move of the batch touches: the full model's
    objective change equals the sum of their single-move gains, and the batch fits the budgets."""
    inst = make_instance(n_demand=400, n_candidates=80, n_existing=20, extent_km=20.0, seed=seed)
    cfg = NetworkConfig(budget_cad=900_000, phases=3, min_l3_spacing_km=0.0, max_upgrades_per_phase=3,
                        time_limit_seconds=30)
    inputs, model = setup_instance(inst, cfg)
    rng = np.random.default_rng(seed)
    full = greedy_plan(inputs, cfg)
    batches = 0
    for _ in range(4):
        d = full
        for site, _action, _phase in _current(inputs, full):
            if rng.random() < 0.6:
                d = with_action(d, inputs, site, None, 0)
        value = plan_value(model, inputs, cfg, d)
        assert value is not None
        batch = _batch(inputs, cfg, d, _neighbourhood(inputs, cfg, d))
        if batch is None:
            continue
        trial, count, gain = batch
        assert count >= 2 and gain > 0
        after = plan_value(model, inputs, cfg, trial)
        assert after is not None                                        # within the budgets
        assert after - value == pytest.approx(gain, abs=1e-9)
        batches += 1
    assert batches > 0


@pytest.mark.parametrize("budget", [540_000, 560_000, 600_000, 640_000, 660_000, 700_000, 800_000])
def test_pack_into_phases_finds_a_packing_whenever_one_exists(budget):
    """Against enumeration of every phase assignment of a plan's actions: a packing is returned exactly
    when one exists, and it keeps the phase budgets and upgrade limits."""
    import itertools

    inst = make_instance(n_demand=300, n_candidates=40, n_existing=12, extent_km=15.0, seed=3)
    cfg = NetworkConfig(budget_cad=budget, phases=3, max_upgrades_per_phase=2, min_l3_spacing_km=0.0,
                        allow_retire=False, new_l2_station_cad=400_000)     # upgrades and new L3 only
    inputs = prepare_inputs(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    whole = greedy_plan(inputs, cfg.with_changes(budget_cad=0.9 * budget,
                                                 relax=("phase_budget", "max_upgrades_per_phase")))
    e = inputs.n_existing
    sites = np.r_[np.flatnonzero(whole.upgrade_phase > 0), e + np.flatnonzero(whole.open_level[e:] > 0)]
    assert 4 <= len(sites) <= 9 and (whole.upgrade_phase > 0).sum() >= 2
    cost = evaluate_state(inputs, whole, cfg).capex_by_site.sum(axis=1)[sites]
    upgrade = sites < e
    caps = np.asarray(cfg.phase_budgets())
    exists = any(
        (np.bincount(assign, weights=cost, minlength=3) <= caps + 1e-6).all()
        and (np.bincount(assign, weights=upgrade, minlength=3) <= 2).all()
        for assign in map(np.array, itertools.product(range(3), repeat=len(sites))))
    packed = pack_into_phases(inputs, cfg, whole)
    assert (packed is not None) == exists
    if packed is not None:
        state = evaluate_state(inputs, packed, cfg)
        assert (state.capex_by_phase <= caps + 1e-6).all()
        assert (np.bincount(packed.upgrade_phase, minlength=4)[1:] <= 2).all()
        assert np.array_equal(state.has_l3[:, -1], evaluate_state(inputs, whole, cfg).has_l3[:, -1])


def test_min_capex_start_meets_a_target_the_greedy_misses():
    inst = make_instance(n_demand=400, n_candidates=60, n_existing=20, extent_km=18.0, seed=3)
    cfg = NetworkConfig(budget_cad=900_000, phases=3, min_coverage_l3_share=0.98, min_l3_spacing_km=2.0,
                        time_limit_seconds=30)
    inputs, model = setup_instance(inst, cfg)
    greedy = greedy_plan(inputs, cfg)
    assert plan_value(model, inputs, cfg, greedy) is None     # the greedy misses the 98% L3 target
    found = min_capex_start(model, inputs, cfg, 20)
    assert found is not None, "the target is reachable within the budget: a start must be found"
    plan, value = found
    report = _verified(inst, inputs, cfg, plan, value)
    assert report.ok, report.violations
    state = evaluate_state(inputs, plan, cfg)
    assert (state.capex_by_phase <= np.asarray(cfg.phase_budgets()) + 1e-6).all()
