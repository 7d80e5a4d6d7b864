"""The real Region of Waterloo bundle produces a verified network plan (skipped without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

KW = Path(__file__).resolve().parents[2] / "shared" / "data" / "kw_waterloo"


@pytest.mark.slow
def test_kw_region_produces_a_verified_plan(tmp_path):
    if not (KW / "region.toml").is_file():
        pytest.skip("Region of Waterloo bundle: ../shared/data not present")
    from evcharge_pipeline.benchmarks.network import build_region_warehouse
    from evcharge_pipeline.network.config import NetworkConfig
    from evcharge_pipeline.network.inputs import considered_candidates
    from evcharge_pipeline.network.plan import plan_network
    from evcharge_pipeline.network.verifier import verify_plan
    from evcharge_pipeline.warehouse import read_table

    database = str(tmp_path / "kw.duckdb")
    build_region_warehouse(str(KW), database)
    con = duckdb.connect(database, read_only=True)
    stations, candidates, demand, pairs = (read_table(con, t) for t in (
        "raw.charging_stations", "raw.candidate_sites", "core.demand_points", "core.coverage"))
    con.close()
    # Coarser candidate lattice and a looser gap keep the test short; the benchmark runs the defaults.
    cfg = NetworkConfig(candidate_thinning_km=2.0, mip_gap=0.01, time_limit_seconds=60)
    result = plan_network(stations, candidates, demand, pairs, cfg)
    assert result.status in ("optimal", "time_limit"), result.summary["diagnosis"]
    assert result.feasible
    report = verify_plan(result.plan, result.summary, stations, considered_candidates(candidates, pairs, demand, cfg),
                         demand, pairs, cfg)
    assert report.ok, report.violations
    assert result.summary["coverage_l3_ev_after"] >= result.summary["coverage_l3_ev_before"]
