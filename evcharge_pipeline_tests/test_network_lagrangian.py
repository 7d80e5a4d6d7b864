"""The Lagrangian dual bound of the network plan: never below the enumerated optimum (at the multipliers
it chooses and at random ones), its option table values a plan exactly as the full model does, and it
stays above every plan the Benders solve returns on a larger instance."""

from __future__ import annotations

import time

import numpy as np
import pytest

from evcharge_pipeline.network.benders import demand_clusters, solve_benders
from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.greedy import greedy_plan
from evcharge_pipeline.network.inputs import prepare_inputs
from evcharge_pipeline.network.lagrangian import LagrangianDual, lagrangian_bound, rounded_plan, site_options
from evcharge_pipeline.network.local_search import action_of, plan_value
from evcharge_pipeline.network.model import build_model
from evcharge_pipeline.network.plan import plan_rows
from evcharge_pipeline.network.state import Decisions, evaluate_state
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.network.verifier import verify_plan
from evcharge_pipeline_tests.test_network_model import CASES, EXACT, brute_force, tiny

# every case, plus one whose area grid capacity and retirements matter
LAGRANGIAN_CASES = [*CASES, (5, dict(phases=2, budget_cad=400_000, area_grid_capacity_kw=150.0,
                                      max_added_ports_per_phase=0, retire_cad=-1_000.0, weight_opex_per_mcad=3.0))]


def _inputs(inst, cfg):
    return prepare_inputs(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)


@pytest.mark.parametrize("seed,changes", LAGRANGIAN_CASES)
def test_bound_never_below_the_enumerated_optimum(seed, changes):
    inst = tiny(seed)
    cfg = NetworkConfig(**{**EXACT, **changes})
    best, _ = brute_force(inst, cfg)
    inputs = _inputs(inst, cfg)
    found = lagrangian_bound(inputs, cfg, greedy_plan(inputs, cfg), time.perf_counter() + 30)
    assert found is not None and found.evaluations > 0
    assert found.bound >= best - 1e-9
    # weak duality holds at any multipliers in range, not only at those the method picks
    dual = LagrangianDual(inputs, cfg)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        lam = [rng.uniform(0, 1, c.shape) * c for c in (dual.c2, dual.c3, dual.c_any)]
        value, _grads = dual.evaluate(lam, 10)
        assert value >= best - 1e-9


def _option_rows(inputs, d: Decisions, options) -> np.ndarray:
    """The option row of each site's action in plan d (-1: the site as is)."""
    table = {(int(site), str(action), int(phase)): row
             for row, (site, action, phase) in enumerate(zip(options.site, options.action, options.phase, strict=True))}
    rows = np.full(inputs.n_sites, -1)
    for site in range(inputs.n_sites):
        action, phase = action_of(d, inputs, site)
        if action is not None:
            rows[site] = table[(site, action, phase)]
    return rows


@pytest.mark.parametrize("seed,changes", LAGRANGIAN_CASES)
def test_option_table_values_a_plan_as_the_full_model(seed, changes):
    """Objective of a plan from the option table and exact coverage equals the full model's plan_value."""
    inst = tiny(seed, n_existing=4, n_candidates=6)
    cfg = NetworkConfig(**{**EXACT, **changes}).with_changes(relax=("total_budget", "phase_budget",
                                                                    "coverage_target_l3", "max_l3_distance",
                                                                    "l3_spacing", "site_grid_capacity",
                                                                    "area_grid_capacity", "max_upgrades_per_phase"))
    inputs = _inputs(inst, cfg)
    model = build_model(inputs, cfg, coverage="projected", clusters=demand_clusters(inputs, 3))
    options = site_options(inputs, cfg)
    dual = LagrangianDual(inputs, cfg)
    rng = np.random.default_rng(seed)
    e, T = inputs.n_existing, cfg.phases
    up = inputs.upgradeable_index()
    for _ in range(15):
        d = Decisions.empty(inputs, T)
        for site in range(inputs.n_sites):
            pick = rng.integers(0, 3)
            phase = int(rng.integers(1, T + 1))
            if site >= e:
                if pick:
                    d.open_level[site], d.open_phase[site] = (2 if pick == 1 else 3), phase
            elif pick == 1 and site in up:
                d.upgrade_phase[site] = phase
            elif pick == 2 and cfg.allow_retire:
                d.retire_phase[site] = phase
        expected = plan_value(model, inputs, cfg, d)
        rows = _option_rows(inputs, d, options)
        chosen = rows >= 0
        st = evaluate_state(inputs, d, cfg)
        cover2 = np.minimum(1.0, inputs.a_l2 @ st.has_l2)
        cover3 = np.minimum(1.0, inputs.a_l3 @ st.has_l3)
        reached = np.minimum(1.0, inputs.a_any @ np.maximum(st.has_l2, st.has_l3)[:, -1])
        value = ((dual.c2 * cover2).sum() + (dual.c3 * cover3).sum() - (dual.c_any * (1 - reached)).sum()
                 - dual.unreachable + options.objective[rows[chosen]].sum()
                 + options.keep["objective"][~chosen].sum())
        assert value == pytest.approx(expected, abs=1e-9)


def test_bound_above_the_benders_plan_on_a_larger_instance():
    inst = make_instance(n_demand=1500, n_candidates=150, n_existing=40, extent_km=25.0, n_areas=4, seed=11)
    cfg = NetworkConfig(budget_cad=1_500_000, candidate_thinning_km=None, area_grid_capacity_kw=600.0,
                        time_limit_seconds=40, mip_gap=0.0, lagrangian_time_share=0.0)
    inputs = _inputs(inst, cfg)
    start = greedy_plan(inputs, cfg)
    found = lagrangian_bound(inputs, cfg, start, time.perf_counter() + 20)
    exact = solve_benders(inputs, cfg, start, 40)
    assert exact.objective is not None and found is not None
    assert found.bound >= exact.objective - 1e-9
    if exact.status == "optimal":
        # the LP-quality bound of this covering model lies within a few percent of the optimum
        assert found.bound <= exact.objective * 1.05


def test_not_applicable_when_ports_can_pay_off():
    inst = tiny(1)
    cfg = NetworkConfig(min_ports_per_100_ev=20.0, max_added_ports_per_phase=2)
    inputs = _inputs(inst, cfg)
    assert lagrangian_bound(inputs, cfg, None, time.perf_counter() + 5) is None


@pytest.mark.parametrize("seed,changes", LAGRANGIAN_CASES[:3])
def test_benders_with_an_unconverged_master_reports_a_valid_bound(seed, changes):
    """No LP rounds: the master LP has not converged, the Lagrangian bound is computed, and whichever
    bound is reported lies at or above the enumerated optimum (and at or above the plan)."""
    inst = tiny(seed)
    cfg = NetworkConfig(**{**EXACT, **changes, "benders_lp_rounds": 0, "kernel_candidates": 0})
    best, _ = brute_force(inst, cfg)
    inputs = _inputs(inst, cfg)
    out = solve_benders(inputs, cfg, greedy_plan(inputs, cfg), 20)
    assert out.lagrangian_evaluations > 0
    if best == -np.inf:     # enumerated infeasible: so must the solve end, with how it was proven
        assert out.status == "infeasible" and out.bound_method.endswith("_infeasible")
        return
    assert out.bound is not None and out.bound >= best - 1e-9
    assert out.bound_method in ("lagrangian_dual", "benders_lp_relaxation", "benders_master_mip_dual_bound")
    if out.objective is not None:
        assert out.objective <= best + 1e-9 <= out.bound + 2e-9


def test_rounded_plan_restores_l3_spacing():
    inst = make_instance(n_demand=800, n_candidates=120, n_existing=30, extent_km=15.0, n_areas=4, seed=4)
    cfg = NetworkConfig(budget_cad=3_000_000, candidate_thinning_km=None, min_l3_spacing_km=3.0)
    inputs = _inputs(inst, cfg)
    dual = LagrangianDual(inputs, cfg)
    assert dual.evaluate(dual.start(None), 10) is not None
    plan = rounded_plan(inputs, cfg, dual.options, dual.last_solution)
    e = inputs.n_existing
    new_l3 = np.r_[plan.upgrade_phase > 0, np.zeros(inputs.n_sites - e, bool)] | (plan.open_level == 3)
    pairs = inputs.spacing_pairs
    assert len(pairs) and not (new_l3[pairs[:, 0]] & new_l3[pairs[:, 1]]).any()


def test_plan_from_a_lagrangian_solve_passes_the_verifier():
    """Where the area grid capacity binds, the solve with an unconverged master (Lagrangian bound and
    heuristic on) returns a plan the independent verifier accepts, below its bound."""
    inst = make_instance(n_demand=1500, n_candidates=150, n_existing=60, extent_km=25.0, n_areas=2, seed=5)
    cfg = NetworkConfig(budget_cad=2_000_000, candidate_thinning_km=None, area_grid_capacity_kw=300.0,
                        benders_lp_rounds=0, kernel_candidates=0, time_limit_seconds=30)
    inputs = _inputs(inst, cfg)
    out = solve_benders(inputs, cfg, greedy_plan(inputs, cfg), 30)
    assert out.decisions is not None and out.lagrangian_evaluations > 0
    assert out.objective <= out.bound + 1e-12
    rows = plan_rows(inputs, out.decisions, evaluate_state(inputs, out.decisions, cfg), cfg)
    report = verify_plan(rows, {"objective": out.objective}, inst.stations, inst.candidates, inst.demand,
                         inst.coverage, cfg)
    assert report.ok, report.violations


def test_run_time_limit_counts_from_each_re_solve():
    """HiGHS's run clock keeps counting across LP re-solves: after more than a second of re-solves, a
    one-second limit set by `set_run_time_limit` still lets the next quick re-solve finish."""
    import highspy as hp
    import scipy.sparse as sp

    from evcharge_pipeline.network.solve import set_run_time_limit

    rng = np.random.default_rng(0)
    n, m = 4000, 600
    a = sp.random(m, n, density=0.005, random_state=0, format="csr")
    h = hp.Highs()
    h.setOptionValue("output_flag", False)
    h.addVars(n, np.zeros(n), np.ones(n))
    h.addRows(m, np.full(m, -np.inf), np.ones(m), a.nnz, a.indptr[:-1].astype(np.int32),
              a.indices.astype(np.int32), a.data)
    columns = np.arange(n, dtype=np.int32)
    while h.getRunTime() < 1.2:
        h.changeColsCost(n, columns, -rng.random(n))
        set_run_time_limit(h, 1.0, mip=False)
        h.run()
        assert h.getModelStatus().name == "kOptimal"
