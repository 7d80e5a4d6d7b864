"""Stations with ports at more than one level: their L2 ports give L2 coverage and L2 load (network plan)
and count as slow chargers (regional placement), through the one function that owns the fact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import prepare_inputs, station_ports_by_level
from evcharge_pipeline.network.plan import plan_network
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.network.verifier import verify_plan
from evcharge_pipeline.placement.regional import supply_points
from evcharge_pipeline_tests.test_network_model import EXACT, brute_force


def test_ports_by_level_uses_the_split_and_falls_back_to_the_level():
    frame = pd.DataFrame({"level": ["L3", "L2", "L3", "L1"], "ports": [5, 4, 2, 1],
                          "ports_l1": [0, 0, 0, 0], "ports_l2": [3, 0, 0, 0], "ports_l3": [2, 0, 0, 0]})
    got = station_ports_by_level(frame)
    assert got.to_numpy().tolist() == [[0, 3, 2], [0, 4, 0], [0, 0, 2], [1, 0, 0]]
    without = station_ports_by_level(frame[["level", "ports"]])
    assert without.to_numpy().tolist() == [[0, 0, 5], [0, 4, 0], [0, 0, 2], [1, 0, 0]]


def mixed_instance(seed: int):
    inst = make_instance(n_demand=40, n_candidates=3, n_existing=2, extent_km=8.0, n_areas=2, seed=seed,
                         l3_share=0.0, clustered=False)
    st = inst.stations.copy()
    st[["ports_l1", "ports_l2", "ports_l3"]] = 0
    st.loc[0, ["level", "ports", "ports_l2", "ports_l3"]] = ["L3", 3, 2, 1]   # mixed: 2 L2 + 1 L3 ports
    inst.stations = st
    return inst


def test_mixed_station_gives_l2_coverage_and_l2_load():
    inst = mixed_instance(5)
    cfg = NetworkConfig(**{**EXACT, "phases": 1, "budget_cad": 0.0})
    inputs = prepare_inputs(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    site = inputs.sites.iloc[0]
    assert (site["ports_l2"], site["ports_l3"], bool(site["l2_before"]), bool(site["l3_before"])) == (2, 1, True, True)
    assert not bool(site["upgradeable"])
    assert inputs.a_l2[:, 0].nnz > 0          # its L2 ports cover at the L2 radius
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    near = inst.coverage[(inst.coverage["site_id"] == "S0000") & (inst.coverage["distance_km"] <= cfg.radius_l2_km)]
    assert len(near) > 0
    assert result.summary["coverage_l2_ev_before"] > 0
    row = result.plan[result.plan["site_id"] == "S0000"].iloc[0]
    assert (row["l2_ports_before"], row["l3_ports_before"]) == (2, 1)
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
    slots = supply_points(inst.stations, inst.candidates).set_index("site_id")
    assert (slots.loc["S0000", "existing_slow"], slots.loc["S0000", "existing_fast"]) == (2, 1)


@pytest.mark.parametrize("seed", [5, 6])
def test_milp_equals_brute_force_with_a_mixed_station(seed):
    inst = mixed_instance(seed)
    cfg = NetworkConfig(**{**EXACT, "phases": 2, "budget_cad": 300_000, "max_added_ports_per_phase": 0,
                           "site_grid_capacity_kw": 160.0, "min_l3_spacing_km": 2.0})
    result = plan_network(inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    best, _ = brute_force(inst, cfg)
    assert np.isfinite(best)
    assert result.summary["objective"] == pytest.approx(best, abs=1e-7)
    report = verify_plan(result.plan, result.summary, inst.stations, inst.candidates, inst.demand, inst.coverage, cfg)
    assert report.ok, report.violations
    assert report.figures["objective"] == pytest.approx(best, abs=1e-7)
