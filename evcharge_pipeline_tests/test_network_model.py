"""Network plan MILP against brute-force enumeration, the verifier, phasing and diagnosis."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from evcharge_pipeline.network.config import ConfigError, NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputError, haversine_km, prepare_inputs
from evcharge_pipeline.network.plan import plan_network, plan_rows
from evcharge_pipeline.network.state import evaluate_state
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.network.verifier import verify_plan

EXACT = dict(mip_gap=0.0, time_limit_seconds=60.0)


# ----------------------------------------------------------------------------------------------
# Brute force: an independent dense evaluation of every combination of decisions.
def brute_force(inst, cfg: NetworkConfig, port_options: int = 0):
    """Best objective over all decision combinations (ports per site/level/phase in 0..port_options)."""
    st, cand = inst.stations.reset_index(drop=True), inst.candidates.reset_index(drop=True)
    e, c, T = len(st), len(cand), cfg.phases
    n = e + c
    ids = list(st["site_id"]) + list(cand["site_id"])
    lat = np.r_[st["lat"], cand["lat"]]
    lon = np.r_[st["lon"], cand["lon"]]
    level = np.array(list(st["level"]) + [None] * c, dtype=object)
    base = np.r_[st["ports"], np.zeros(c)].astype(int)
    # ports per level, read here independently of the model: a per-level split when the row has one
    split = np.zeros((n, 3), int)
    for k, lv in enumerate(("L1", "L2", "L3")):
        col = f"ports_{lv.lower()}"
        split[:e, k] = st[col].fillna(0).astype(int) if col in st else 0
    no_split = np.r_[split[:e].sum(axis=1) == 0, np.zeros(c, bool)]
    for k, lv in enumerate(("L1", "L2", "L3")):
        split[no_split, k] = np.where(level[no_split] == lv, base[no_split], 0)
    had2 = (split[:, 1] > 0) | (level == "L2")
    had3 = (split[:, 2] > 0) | (level == "L3")
    dem = inst.demand.reset_index(drop=True)
    weight = (dem["ev_count"] if cfg.coverage_weight == "ev" else dem["population"]).to_numpy()
    W = weight.sum()
    dist = np.full((len(dem), n), np.inf)
    pos_d = {d: i for i, d in enumerate(dem["demand_id"])}
    pos_s = {s: i for i, s in enumerate(ids)}
    for row in inst.coverage.itertuples(index=False):
        dist[pos_d[row.demand_id], pos_s[row.site_id]] = row.distance_km
    nearest = np.where(np.isfinite(dist).any(axis=0), np.argmin(dist, axis=0), -1)
    area = np.array([dem["area_id"].iat[j] if j >= 0 else None for j in nearest], dtype=object)
    site_dist = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    upgradeable = np.array([lv == "L2" and split[i, 2] == 0 for i, lv in enumerate(level[:e])] + [False] * c)
    capable = had3 | upgradeable | (np.arange(n) >= e)
    if cfg.max_l3_distance_km:
        eligible = (dist[:, capable] <= cfg.max_l3_distance_km).any(axis=1)
    else:
        eligible = np.zeros(len(dem), bool)
    disc = cfg.phase_discount ** np.arange(T)
    disc = disc / disc.sum()
    power = {"L1": cfg.power_l1_kw, "L2": cfg.power_l2_kw, "L3": cfg.power_l3_kw}
    init_load = split @ np.array([power["L1"], power["L2"], power["L3"]], float)
    cap = np.maximum(cfg.site_grid_capacity_kw, init_load)
    areas = sorted(set(dem["area_id"]))
    ev_area = dem.groupby("area_id")["ev_count"].sum()
    need = {a: np.ceil(cfg.min_ports_per_100_ev * ev_area.get(a, 0) / 100 - 1e-9) for a in areas}
    area_cap = {a: (np.inf if cfg.area_grid_capacity_kw is None else
                    max(cfg.area_grid_capacity_kw, init_load[area == a].sum())) for a in set(area) if a is not None}

    options = []
    for i in range(e):
        opts = [("keep", 0)] + [("retire", t) for t in range(1, T + 1)]
        if upgradeable[i]:
            opts += [("upgrade", t) for t in range(1, T + 1)]
        options.append(opts)
    for _ in range(c):
        options.append([("none", 0)] + [(k, t) for k in ("l2", "l3") for t in range(1, T + 1)])
    port_space = list(itertools.product(range(port_options + 1), repeat=2 * n * T)) if port_options else [None]

    best, best_plan = -np.inf, None
    for combo in itertools.product(*options):
        ph = np.array([t for _, t in combo])
        act = [a for a, _ in combo]
        for ports in port_space:
            add = np.zeros((2, n, T), int) if ports is None else np.array(ports).reshape(2, n, T)
            alive, l2, l3, pt, load = (np.zeros((n, T)) for _ in range(5))
            capex = np.zeros(T)
            ok = True
            for i in range(n):
                for k in range(T):
                    done = ph[i] and ph[i] <= k + 1
                    if i < e:
                        a = 0 if (act[i] == "retire" and done) else 1
                        alive[i, k] = a
                        l2[i, k] = a * had2[i]
                        l3[i, k] = a * (had3[i] or (act[i] == "upgrade" and done))
                        p2 = split[i, 1] * a
                        p3 = split[i, 2] * a + cfg.upgrade_l3_ports * (act[i] == "upgrade" and done)
                        p1 = split[i, 0] * a
                    else:
                        alive[i, k] = bool(done)
                        l2[i, k] = bool(done) and act[i] == "l2"
                        l3[i, k] = bool(done) and act[i] == "l3"
                        p1, p2, p3 = 0, cfg.new_l2_station_ports * l2[i, k], cfg.new_l3_station_ports * l3[i, k]
                    p2 += add[0, i, : k + 1].sum()
                    p3 += add[1, i, : k + 1].sum()
                    if (add[0, i, k] and not l2[i, k]) or (add[1, i, k] and not l3[i, k]):
                        ok = False
                    pt[i, k] = p1 + p2 + p3
                    load[i, k] = p1 * cfg.power_l1_kw + p2 * cfg.power_l2_kw + p3 * cfg.power_l3_kw
                if i < e and act[i] == "retire" and add[:, i].sum():
                    ok = False
                if ph[i]:
                    capex[ph[i] - 1] += {"upgrade": cfg.upgrade_l3_cad + cfg.upgrade_l3_ports * cfg.port_l3_cad,
                                         "retire": cfg.retire_cad,
                                         "l2": cfg.new_l2_station_cad + cfg.new_l2_station_ports * cfg.port_l2_cad,
                                         "l3": cfg.new_l3_station_cad
                                               + cfg.new_l3_station_ports * cfg.port_l3_cad}[act[i]]
            if not ok:
                continue
            capex += add[0].sum(axis=0) * cfg.port_l2_cad + add[1].sum(axis=0) * cfg.port_l3_cad
            if capex.sum() > cfg.budget_cad + 1e-6 or (capex > np.array(cfg.phase_budgets()) + 1e-6).any():
                continue
            ups = np.array([sum(1 for i in range(e) if act[i] == "upgrade" and ph[i] == t) for t in range(1, T + 1)])
            if (ups > cfg.max_upgrades_per_phase).any():
                continue
            if (load > cap[:, None] + 1e-9).any():
                continue
            if any(load[area == a].sum(axis=0).max() > area_cap[a] + 1e-9 for a in area_cap):
                continue
            if any(pt[area == a, -1].sum() < need[a] for a in areas):
                continue
            new3 = np.array([act[i] in ("upgrade", "l3") for i in range(n)])
            idx = np.flatnonzero(new3)
            if any(site_dist[a, b] < cfg.min_l3_spacing_km for a, b in itertools.combinations(idx, 2)):
                continue
            cov2 = np.array([((dist <= cfg.radius_l2_km) & (l2[:, k] > 0)).any(axis=1) for k in range(T)])
            cov3 = np.array([((dist <= cfg.radius_l3_km) & (l3[:, k] > 0)).any(axis=1) for k in range(T)])
            if cfg.max_l3_distance_km:
                near_l3 = ((dist <= cfg.max_l3_distance_km) & (l3[:, -1] > 0)).any(axis=1)
                if (eligible & ~near_l3).any():
                    continue
            if weight[cov2[-1]].sum() < cfg.min_coverage_l2_share * W - 1e-9:
                continue
            if weight[cov3[-1]].sum() < cfg.min_coverage_l3_share * W - 1e-9:
                continue
            served = ((dist <= max(cfg.radius_l2_km, cfg.radius_l3_km)) & ((l2[:, -1] + l3[:, -1]) > 0)).any(axis=1)
            cov_term = sum(disc[k] * (weight[cov2[k]].sum() + weight[cov3[k]].sum()) / W for k in range(T))
            opex = (cfg.opex_l2_station_cad_per_year * np.clip(alive - l3, 0, None)
                    + cfg.opex_l3_station_cad_per_year * l3).sum()
            obj = (cfg.weight_coverage * cov_term - cfg.weight_opex_per_mcad * cfg.years_per_phase * opex / 1e6
                   + cfg.weight_upgrade * ups.sum() - cfg.weight_underserved * weight[~served].sum() / W
                   - cfg.weight_capex_per_mcad * capex.sum() / 1e6)
            if obj > best + 1e-12:
                best, best_plan = obj, (combo, ports)
    return best, best_plan


def tiny(seed: int, n_existing=2, n_candidates=3, n_demand=40, extent_km=8.0):
    inst = make_instance(n_demand=n_demand, n_candidates=n_candidates, n_existing=n_existing, extent_km=extent_km,
                         n_areas=2, seed=seed, l3_share=0.3, clustered=False)
    return inst


def solve(inst, cfg):
    return plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)


CASES = [
    # (seed, config changes)
    (1, dict(phases=2, budget_cad=260_000, min_l3_spacing_km=3.0, max_added_ports_per_phase=0,
             max_l3_distance_km=4.0)),
    (2, dict(phases=2, budget_cad=400_000, phase_budget_cad=(100_000, 300_000), max_added_ports_per_phase=0,
             max_l3_distance_km=None, weight_opex_per_mcad=2.0)),
    (3, dict(phases=2, budget_cad=300_000, min_coverage_l3_share=0.5, max_added_ports_per_phase=0,
             max_l3_distance_km=5.0, max_upgrades_per_phase=1, retire_cad=-5_000.0, weight_opex_per_mcad=5.0)),
    (4, dict(phases=1, budget_cad=500_000, min_l3_spacing_km=6.0, coverage_weight="population",
             max_added_ports_per_phase=0, site_grid_capacity_kw=90.0)),
]


@pytest.mark.parametrize("method", ["benders", "monolithic"])
@pytest.mark.parametrize("seed,changes", CASES)
def test_milp_equals_brute_force(seed, changes, method):
    """Both methods reach the enumerated optimum, and the bound each reports is never below it."""
    inst = tiny(seed)
    cfg = NetworkConfig(**{**EXACT, **changes, "method": method})
    result = solve(inst, cfg)
    best, _ = brute_force(inst, cfg)
    if not np.isfinite(best):
        assert result.status == "infeasible"
        return
    assert result.status == "optimal", result.summary["diagnosis"]
    assert result.summary["method"] == method
    assert result.summary["objective"] == pytest.approx(best, abs=1e-7)
    assert result.summary["bound"] >= best - 1e-7
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
    assert report.figures["objective"] == pytest.approx(best, abs=1e-7)


def test_milp_equals_brute_force_with_ports_and_area_minimum():
    inst = tiny(5, n_existing=1, n_candidates=1, n_demand=25, extent_km=4.0)
    inst.stations["level"] = "L2"
    inst.demand["area_id"] = "A"
    inst.demand["ev_count"] = inst.demand["ev_count"] * (700.0 / inst.demand["ev_count"].sum())   # 700 EVs: 7 ports
    cfg = NetworkConfig(**EXACT, phases=2, budget_cad=200_000, max_added_ports_per_phase=1,
                        min_ports_per_100_ev=1.0, area_grid_capacity_kw=None, max_l3_distance_km=None)
    best, _ = brute_force(inst, cfg, port_options=1)
    result = solve(inst, cfg)
    if not np.isfinite(best):
        assert result.status == "infeasible"
        return
    assert result.status == "optimal"
    assert result.summary["objective"] == pytest.approx(best, abs=1e-7)
    final = result.plan.sort_values("phase").groupby("site_id").last()
    assert (final[["l1_ports_after", "l2_ports_after", "l3_ports_after"]].to_numpy().sum()) >= 7
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations


# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def medium():
    inst = make_instance(n_demand=250, n_candidates=40, n_existing=15, extent_km=16.0, seed=11)
    cfg = NetworkConfig(budget_cad=700_000, phases=3, phase_budget_cad=(350_000, 150_000, 200_000),
                        min_ports_per_100_ev=2.0, mip_gap=0.0, time_limit_seconds=60)
    return inst, cfg, solve(inst, cfg)


def test_phases_respect_phase_budgets_and_plan_verifies(medium):
    inst, cfg, result = medium
    assert result.status == "optimal"
    spent = json.loads(result.summary["capex_by_phase_cad"])
    assert all(s <= b + 1e-6 for s, b in zip(spent, cfg.phase_budgets(), strict=True))
    by_phase = result.plan.dropna(subset=["phase"]).groupby("phase")["capex_cad"].sum()
    for phase, total in by_phase.items():
        assert total == pytest.approx(spent[int(phase) - 1])
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
    assert result.summary["bound"] >= result.summary["objective"] - 1e-9


def test_aggregation_does_not_change_the_optimum(medium):
    inst, cfg, result = medium
    plain = solve(inst, cfg.with_changes(aggregate_demand=False))
    assert result.summary["demand_groups"] < plain.summary["demand_groups"]
    assert plain.summary["objective"] == pytest.approx(result.summary["objective"], abs=1e-7)


def test_greedy_start_is_feasible_and_no_better_than_the_optimum(medium):
    inst, cfg, _ = medium
    cfg = cfg.with_changes(min_ports_per_100_ev=0.0, max_l3_distance_km=None)
    result = solve(inst, cfg)
    assert result.summary["warm_started"]
    assert result.extras["greedy_feasible"]
    greedy = result.extras["greedy"]
    state = evaluate_state(result.inputs, greedy, cfg)
    rows = plan_rows(result.inputs, greedy, state, cfg)
    summary = {"objective": result.summary["greedy_objective"]}
    report = verify_plan(rows, summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
    assert result.summary["greedy_objective"] <= result.summary["objective"] + 1e-9


def _mutated(result, change):
    plan = result.plan.copy()
    summary = dict(result.summary)
    change(plan, summary)
    return plan, summary


def test_verifier_catches_planted_violations(medium):
    inst, cfg, result = medium
    args = (inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert verify_plan(result.plan, result.summary, *args).ok

    def overspend(plan, summary):   # an extra new L3 station in phase 2 blows the phase budget
        unused = sorted(set(inst.candidates["site_id"]) - set(plan["site_id"]))[0]
        row = plan.iloc[[0]].assign(site_id=unused, site_kind="candidate", action="new_l3", phase=2, level_before=None,
                                    l1_ports_before=0, l2_ports_before=0, l3_ports_before=0, l1_ports_after=0,
                                    l2_ports_after=0, l3_ports_after=2, ports_added_l2=0, ports_added_l3=0,
                                    capex_cad=110_000.0)
        plan.loc[len(plan)] = row.iloc[0]

    def coverage_lie(plan, summary):
        summary["coverage_l3_ev_after"] = summary["coverage_l3_ev_after"] + 0.05

    def upgrade_l3_station(plan, summary):
        i = plan.index[(plan["level_before"] == "L3") & (plan["action"] == "keep")][0]
        plan.loc[i, ["action", "phase"]] = ["upgrade_l3", 1]

    def wrong_ports(plan, summary):
        i = plan.index[plan["action"] == "keep"][0]
        plan.loc[i, "l2_ports_after"] += 3

    cases = {"overspend": overspend, "coverage_lie": coverage_lie, "upgrade_l3": upgrade_l3_station,
             "ports": wrong_ports}
    for name, change in cases.items():
        plan, summary = _mutated(result, change)
        report = verify_plan(plan, summary, *args)
        assert not report.ok, name

    # spacing: re-label an unused candidate right next to a new L3 as another new L3
    l3 = result.plan[result.plan["action"].isin(["new_l3", "upgrade_l3"])].iloc[0]
    near = inst.candidates.copy()
    extra = pd.DataFrame({"site_id": ["PLANTED"], "lat": [l3["lat"] + 0.001], "lon": [l3["lon"]],
                          "source_kind": ["grid"]})
    near = pd.concat([near, extra], ignore_index=True)
    plan = result.plan.copy()
    plan.loc[len(plan)] = plan.iloc[0]
    plan.loc[len(plan) - 1, ["site_id", "site_kind", "action", "phase", "level_before", "l2_ports_after",
                             "l3_ports_after", "l2_ports_before", "l3_ports_before", "capex_cad"]] = [
        "PLANTED", "candidate", "new_l3", 1, None, 0, 2, 0, 0, 110_000.0]
    report = verify_plan(plan, result.summary, inst.stations, near, inst.demand, inst.coverage, cfg)
    assert any("apart" in v for v in report.violations), report.violations


# ----------------------------------------------------------------------------------------------
def test_infeasible_target_yields_diagnosis_with_smallest_budget():
    inst = make_instance(n_demand=150, n_candidates=25, n_existing=8, extent_km=15.0, seed=3)
    cfg = NetworkConfig(budget_cad=150_000, min_coverage_l3_share=0.8, time_limit_seconds=30,
                        diagnosis_time_limit_seconds=30, mip_gap=0.0)
    result = solve(inst, cfg)
    assert result.status == "infeasible"
    assert result.summary["bound_method"] in ("benders_master_lp_infeasible", "benders_master_mip_infeasible")
    assert result.summary["bound"] is None
    assert result.plan.empty
    assert "budget" in result.summary["diagnosis"]
    assert result.summary["min_budget_lower_cad"] <= result.summary["min_budget_cad"] + 1e-6
    assert "total_budget" not in (result.summary["conflicting_constraints"] or "")
    minimum = result.summary["min_budget_cad"]
    assert minimum > cfg.budget_cad
    # The reported minimum is honest: at that budget (no phase caps binding) the target is reachable ...
    roomy = cfg.with_changes(budget_cad=minimum, phase_budget_cad=(minimum,) * cfg.phases)
    ok = solve(inst, roomy)
    assert ok.status == "optimal"
    report = verify_plan(ok.plan, ok.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, roomy)
    assert report.ok, report.violations
    # ... and just below it, it is not.
    tight = roomy.with_changes(budget_cad=minimum - 1_000, phase_budget_cad=(minimum,) * cfg.phases,
                               diagnose_infeasible=False)
    assert solve(inst, tight).status == "infeasible"


@pytest.mark.parametrize("field,value", [("radius_l3_km", float("nan")), ("budget_cad", float("nan")),
                                         ("weight_opex_per_mcad", float("inf")),
                                         ("phase_budget_cad", (1e5, float("nan"), 1e5))])
def test_non_finite_numbers_are_refused_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        NetworkConfig(**{field: value})


def test_contradictory_settings_are_reported_not_raised():
    inst = tiny(7)
    cfg = NetworkConfig(budget_cad=5_000_000, min_coverage_l2_share=1.0, radius_l2_km=0.05, time_limit_seconds=10,
                        diagnosis_time_limit_seconds=10)
    result = solve(inst, cfg)
    assert result.status == "infeasible"
    assert "coverage_target_l2" in result.summary["conflicting_constraints"]
    assert "unlimited budget" in result.summary["diagnosis"]


def test_bad_inputs_name_table_row_and_field():
    inst = tiny(8)
    stations = inst.stations.copy()
    stations["lat"] = stations["lat"].astype(object)
    stations.loc[1, "lat"] = "north"
    with pytest.raises(NetworkInputError, match=r"raw.charging_stations: row 1 .*field 'lat'"):
        prepare_inputs(stations, inst.candidates, inst.demand, inst.coverage, NetworkConfig())
    demand = inst.demand.copy()
    demand.loc[4, "ev_count"] = -3
    with pytest.raises(NetworkInputError, match=r"core.demand_points: row 4 .*field 'ev_count'"):
        prepare_inputs(inst.stations, inst.candidates, demand, inst.coverage, NetworkConfig())
    with pytest.raises(ConfigError, match="min_coverage_l3_share"):
        NetworkConfig(min_coverage_l3_share=1.5)


def test_unknown_levels_are_counted_not_dropped_silently():
    inst = tiny(9)
    stations = inst.stations.copy()
    stations.loc[0, "level"] = "unknown"
    inputs = prepare_inputs(stations, inst.candidates, inst.demand, inst.coverage, NetworkConfig())
    assert inputs.skipped["stations_unknown_level"] == 1
    assert inputs.n_existing == len(stations) - 1


def test_mclp_core_equals_enumeration():
    from evcharge_pipeline.network.core import coverage_matrix, solve_mclp

    inst = make_instance(n_demand=120, n_candidates=9, n_existing=0, extent_km=10.0, seed=4, clustered=False)
    ids = inst.candidates["site_id"].to_numpy()
    a = coverage_matrix(inst.demand["demand_id"].to_numpy(), ids, inst.coverage, 2.5)
    w = inst.demand["ev_count"].to_numpy()
    dense = a.toarray() > 0
    best = max(w[dense[:, list(c)].any(axis=1)].sum() for c in itertools.combinations(range(len(ids)), 3))
    result = solve_mclp(a, w, 3)
    assert result.status == "optimal"
    assert result.objective == pytest.approx(best, rel=1e-9)
    assert w[dense[:, result.chosen].any(axis=1)].sum() == pytest.approx(best, rel=1e-9)
