"""The foundation graph on the real Region of Waterloo bundle (skipped when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from dagster import materialize

from evcharge_pipeline_tests.conftest import make_resources, shared_data
from evcharge_pipeline_tests.test_foundation_assets import foundation_definitions


@pytest.mark.slow
def test_kw_waterloo_materializes_with_checks(tmp_path: Path):
    region = shared_data("kw_waterloo")
    warehouse = tmp_path / "kw.duckdb"
    result = materialize(foundation_definitions(), resources=make_resources(region, warehouse, tmp_path / "reports"))
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert not failed
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stations, ports, l3 = con.execute(
            "SELECT count(*), sum(ports), count(*) FILTER (level = 'L3') FROM raw.charging_stations").fetchone()
        areas_ev, = con.execute("SELECT sum(e.ev_count) FROM raw.areas a "
                                "JOIN raw.ev_ownership e USING (area_id)").fetchone()
        points_ev, inside_ev = con.execute(
            "SELECT (SELECT sum(ev_count) FROM core.demand_points), (SELECT sum(ev_count_inside) FROM core.area_totals)"
        ).fetchone()
        stops, = con.execute("SELECT count(*) FROM raw.transit_stops").fetchone()
    # Figures stated by the data's SOURCE.md: 183 stations, 490 ports, 16 Level 3; 25 FSAs with 9,881 EVs.
    assert (stations, ports, l3) == (183, 490, 16)
    assert areas_ev == 9881
    assert points_ev == pytest.approx(inside_ev, rel=1e-9) and points_ev < areas_ev  # N0B reaches past the Region
    assert stops == 2516
