"""Equity floors in the network plan: the MILP against enumeration on tiny instances, the verifier's band
check, the Benders fallback, the need weighting in the model and the diagnosis of infeasible floors."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputError
from evcharge_pipeline.network.plan import plan_network
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.network.verifier import verify_plan

# One phase, no ports, spacing, service standard or grid limits, every candidate kept: the enumeration below
# needs only the budget, coverage and the floors.
SIMPLE = dict(phases=1, mip_gap=0.0, time_limit_seconds=60.0, max_added_ports_per_phase=0, min_l3_spacing_km=0.0,
              max_l3_distance_km=None, site_grid_capacity_kw=1e6, area_grid_capacity_kw=None,
              candidate_thinning_km=None, max_upgrades_per_phase=10,
              **({"method": "monolithic"} if "method" in NetworkConfig.__dataclass_fields__ else {}))


def instance(seed: int, n_existing=2, n_candidates=3, n_demand=30):
    inst = make_instance(n_demand=n_demand, n_candidates=n_candidates, n_existing=n_existing, extent_km=8.0,
                         n_areas=2, seed=seed, l3_share=0.3, clustered=False)
    rng = np.random.default_rng(seed + 100)
    band = rng.integers(1, 4, n_demand).astype(object)
    band[rng.random(n_demand) < 0.1] = pd.NA            # a few points without a band (suppressed income)
    inst.demand["income_band"] = pd.array(band, dtype="Int64")
    need = rng.uniform(0.5, 2.0, n_demand) * inst.demand["ev_count"]
    inst.demand["ev_need"] = need * inst.demand["ev_count"].sum() / need.sum()
    return inst


def enumerate_plans(inst, cfg: NetworkConfig):
    """Every decision combination, evaluated from the definitions: (objective, capex, band shares)."""
    st, cand, dem = inst.stations.reset_index(drop=True), inst.candidates.reset_index(drop=True), inst.demand
    e, c = len(st), len(cand)
    ids = list(st["site_id"]) + list(cand["site_id"])
    weight_column = {"ev": "ev_count", "population": "population", "ev_need": "ev_need"}[cfg.coverage_weight]
    weight = dem[weight_column].to_numpy(float)
    W = weight.sum()
    dist = np.full((len(dem), e + c), np.inf)
    pd_, ps_ = {d: i for i, d in enumerate(dem["demand_id"])}, {s: i for i, s in enumerate(ids)}
    for row in inst.coverage.itertuples(index=False):
        dist[pd_[row.demand_id], ps_[row.site_id]] = row.distance_km
    band = dem["income_band"].fillna(-1).to_numpy(int)
    bands = sorted(set(band[band > 0]))
    existing_options = [("keep", "retire", "upgrade") if lv == "L2" else ("keep", "retire") for lv in st["level"]]
    for combo in itertools.product(*existing_options, *[("none", "l2", "l3")] * c):
        l2 = np.zeros(e + c, bool)
        l3 = np.zeros(e + c, bool)
        capex, upgrades = 0.0, 0
        for i, act in enumerate(combo[:e]):
            alive = act != "retire"
            l2[i] = alive and st["level"].iat[i] == "L2"
            l3[i] = alive and (st["level"].iat[i] == "L3" or act == "upgrade")
            capex += {"keep": 0.0, "retire": cfg.retire_cad,
                      "upgrade": cfg.upgrade_l3_cad + cfg.upgrade_l3_ports * cfg.port_l3_cad}[act]
            upgrades += act == "upgrade"
        for j, act in enumerate(combo[e:]):
            l2[e + j], l3[e + j] = act == "l2", act == "l3"
            capex += {"none": 0.0, "l2": cfg.new_l2_station_cad + cfg.new_l2_station_ports * cfg.port_l2_cad,
                      "l3": cfg.new_l3_station_cad + cfg.new_l3_station_ports * cfg.port_l3_cad}[act]
        cov2 = (dist[:, l2] <= cfg.radius_l2_km).any(axis=1)
        cov3 = (dist[:, l3] <= cfg.radius_l3_km).any(axis=1)
        served = (dist[:, l2 | l3] <= max(cfg.radius_l2_km, cfg.radius_l3_km)).any(axis=1)
        alive = np.r_[[a != "retire" for a in combo[:e]], [a != "none" for a in combo[e:]]]
        opex = cfg.years_per_phase * (cfg.opex_l2_station_cad_per_year * (alive & ~l3).sum()
                                      + cfg.opex_l3_station_cad_per_year * l3.sum())
        objective = (cfg.weight_coverage * (weight[cov2].sum() + weight[cov3].sum()) / W
                     - cfg.weight_opex_per_mcad * opex / 1e6 + cfg.weight_upgrade * upgrades
                     - cfg.weight_underserved * (1 - weight[served].sum() / W)
                     - cfg.weight_capex_per_mcad * capex / 1e6)
        shares = {(lv, b): weight[(band == b) & cov].sum() / weight[band == b].sum()
                  for lv, cov in (("l2", cov2), ("l3", cov3)) for b in bands}
        yield objective, capex, shares


def meets(shares, cfg):
    return all(v >= {"l2": cfg.equity_min_coverage_l2_share, "l3": cfg.equity_min_coverage_l3_share}[lv] - 1e-9
               for (lv, _), v in shares.items())


CASES = [
    (1, dict(budget_cad=200_000, equity_min_coverage_l2_share=0.4)),
    (2, dict(budget_cad=300_000, equity_min_coverage_l3_share=0.5, coverage_weight="ev_need")),
    (3, dict(budget_cad=250_000, equity_min_coverage_l2_share=0.3, equity_min_coverage_l3_share=0.6,
             coverage_weight="population")),
]


@pytest.mark.parametrize("seed,changes", CASES)
def test_floors_match_enumeration_and_verify(seed, changes):
    inst = instance(seed)
    cfg = NetworkConfig(**{**SIMPLE, **changes})
    plans = list(enumerate_plans(inst, cfg))
    feasible = [obj for obj, capex, shares in plans if capex <= cfg.budget_cad + 1e-6 and meets(shares, cfg)]
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    if not feasible:
        assert result.status == "infeasible"
        return
    assert result.status == "optimal", result.summary["diagnosis"]
    assert result.summary["objective"] == pytest.approx(max(feasible), abs=1e-7)
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
    for key, floor in (("l2", cfg.equity_min_coverage_l2_share), ("l3", cfg.equity_min_coverage_l3_share)):
        band_shares = [v for k, v in report.figures.items()
                       if k.endswith(f"_coverage_{key}_after") and k.startswith("band_")]
        assert len(band_shares) == 3 and min(band_shares) >= floor - 1e-9


def test_floor_binds_somewhere_in_the_cases():
    """The floors are not vacuous: in at least one case the unconstrained optimum breaks them."""
    binding = 0
    for seed, changes in CASES:
        cfg = NetworkConfig(**{**SIMPLE, **changes})
        plans = [p for p in enumerate_plans(instance(seed), cfg) if p[1] <= cfg.budget_cad + 1e-6]
        best = max(plans, key=lambda p: p[0])
        binding += not meets(best[2], cfg)
    assert binding >= 1


def test_verifier_flags_a_band_below_the_floor():
    inst = instance(1)
    cfg = NetworkConfig(**{**SIMPLE, "budget_cad": 200_000})
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    lowest = min(v for k, v in verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand,
                                           inst.coverage, cfg).figures.items()
                 if k.startswith("band_") and k.endswith("_coverage_l2_after"))
    strict = cfg.with_changes(equity_min_coverage_l2_share=min(1.0, lowest + 0.05))
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage,
                         strict)
    assert not report.ok and any("equity floor" in v for v in report.violations)


def test_default_method_falls_back_to_the_monolithic_model_with_floors():
    inst = instance(2, n_existing=4, n_candidates=8, n_demand=80)
    cfg = NetworkConfig(budget_cad=400_000, equity_min_coverage_l2_share=0.3, time_limit_seconds=30)  # default method
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert result.feasible, result.summary["diagnosis"]
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
    assert result.summary.get("method") in (None, "monolithic")


def test_groups_do_not_span_bands_and_floors_need_bands():
    inst = instance(3)
    cfg = NetworkConfig(**{**SIMPLE, "budget_cad": 200_000, "equity_min_coverage_l2_share": 0.2})
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    dem = result.inputs.demand
    assert (dem.groupby("group")["income_band"].nunique() == 1).all()
    with pytest.raises(NetworkInputError, match="income_band"):
        plan_network(inst.stations, inst.candidates, inst.demand.drop(columns="income_band"), inst.coverage, cfg)
    with pytest.raises(NetworkInputError, match="ev_need"):
        plan_network(inst.stations, inst.candidates, inst.demand.drop(columns="ev_need"), inst.coverage,
                     cfg.with_changes(coverage_weight="ev_need"))


def test_infeasible_floor_is_diagnosed_with_the_budget_that_meets_it():
    inst = instance(1)
    cfg = NetworkConfig(**{**SIMPLE, "budget_cad": 20_000, "equity_min_coverage_l3_share": 0.6})
    plans = list(enumerate_plans(inst, cfg))
    cheapest = min((capex for _, capex, shares in plans if meets(shares, cfg)), default=None)
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert result.status == "infeasible"
    assert cheapest is not None and cheapest > cfg.budget_cad
    assert result.summary["min_budget_cad"] == pytest.approx(cheapest)
    assert "equity_floors" in result.summary["conflicting_constraints"]


def test_underserved_share_follows_the_need_weighting():
    inst = instance(2)
    cfg = NetworkConfig(**{**SIMPLE, "budget_cad": 150_000, "coverage_weight": "ev_need"})
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    for when in ("before", "after"):
        expected = report.figures[f"underserved_ev_need_{when}"]
        assert result.summary[f"underserved_share_{when}"] == pytest.approx(expected)
    # the need weighting moves the figure away from the plain EV share on this instance
    assert result.summary["underserved_share_before"] != pytest.approx(result.summary["underserved_ev_before"])
