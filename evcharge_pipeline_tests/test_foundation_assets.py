"""Ingest and derived assets through `dagster.materialize` on a temporary warehouse, including the
guarantee that a failed materialization leaves the previous table untouched."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dagster import load_asset_checks_from_modules, load_assets_from_modules, materialize

from evcharge_pipeline.assets import demand as demand_assets
from evcharge_pipeline.assets import ingest as ingest_assets
from evcharge_pipeline.warehouse import table_row_counts

FOUNDATION = [ingest_assets, demand_assets]


def foundation_definitions():
    """Assets and checks of the ingest and demand modules."""
    return list(load_assets_from_modules(FOUNDATION)) + list(load_asset_checks_from_modules(FOUNDATION))


def run(resources: dict, selection: str | None = None, raise_on_error: bool = True):
    return materialize(foundation_definitions(), resources=resources, selection=selection,
                       raise_on_error=raise_on_error)


def query(path: Path, sql: str):
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_foundation_graph_materializes_with_passing_checks(resources: dict, warehouse_path: Path):
    result = run(resources)
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        counts = dict(table_row_counts(con).itertuples(index=False))
    for table in ("raw.region_boundary", "raw.areas", "raw.ev_ownership", "raw.population", "raw.charging_stations",
                  "raw.candidate_sites", "raw.transit_stops", "core.demand_points", "core.coverage",
                  "core.baseline_coverage", "core.area_totals"):
        assert counts.get(table, 0) > 0, table
    # provenance on raw tables
    source, sha, loaded = query(warehouse_path,
                                "SELECT source, sha256, loaded_at FROM raw.charging_stations LIMIT 1")[0]
    assert source.endswith("stations_ocm.json") and len(sha) == 64 and loaded is not None
    # totals conserved from areas (inside the boundary) to demand points
    (points_pop, points_ev), = query(warehouse_path, "SELECT sum(population), sum(ev_count) FROM core.demand_points")
    (areas_pop, areas_ev), = query(warehouse_path,
                                   "SELECT sum(population_inside), sum(ev_count_inside) FROM core.area_totals")
    assert points_pop == pytest.approx(areas_pop, rel=1e-9) and points_ev == pytest.approx(areas_ev, rel=1e-9)


def test_demand_point_config_changes_the_grid(resources: dict, warehouse_path: Path):
    selection = ["region_boundary", "areas", "ev_ownership", "population", "demand_points"]
    materialize(foundation_definitions(), resources=resources, selection=selection)
    (fine,), = query(warehouse_path, "SELECT count(*) FROM core.demand_points")
    materialize(foundation_definitions(), resources=resources, selection=["demand_points"],
                run_config={"ops": {"demand_points": {"config": {"cell_size_m": 1000.0}}}})
    (coarse,), = query(warehouse_path, "SELECT count(*) FROM core.demand_points")
    assert coarse < fine / 2.5


def _break_station_file(region: Path) -> None:
    path = region / "stations_ocm.json"
    pois = json.loads(path.read_text())
    pois[5]["AddressInfo"]["Latitude"] = "north"
    path.write_text(json.dumps(pois))


@pytest.mark.parametrize("breaker, message", [
    (_break_station_file, "stations_ocm.json, row 5, field 'AddressInfo.Latitude/Longitude'"),
    (lambda region: (region / "stations_ocm.json").write_text(""), "stations_ocm.json: file is empty"),
    (lambda region: (region / "stations_ocm.json").write_text(
        json.dumps(json.loads((region / "stations_ocm.json").read_text()) * 2)), "duplicate id 'ocm-900000'"),
])
def test_bad_input_fails_and_keeps_the_last_good_table(resources: dict, sample_region: Path, warehouse_path: Path,
                                                       breaker, message):
    run(resources, selection=["region_boundary", "charging_stations"])
    before = query(warehouse_path, "SELECT * FROM raw.charging_stations ORDER BY site_id")
    breaker(sample_region)
    result = run(resources, selection=["charging_stations"], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert message in str(failure.event_specific_data.error.message) + str(failure.event_specific_data.error.cause)
    assert query(warehouse_path, "SELECT * FROM raw.charging_stations ORDER BY site_id") == before


def test_missing_required_section_fails_the_run_without_touching_tables(resources: dict, sample_region: Path,
                                                                         warehouse_path: Path):
    run(resources, selection=["population"])
    before = query(warehouse_path, "SELECT * FROM raw.population ORDER BY area_id")
    toml = sample_region / "region.toml"
    toml.write_text(toml.read_text().replace("[ev_ownership]", "[ev_counts]"))
    result = run(resources, selection=["population"], raise_on_error=False)
    assert not result.success
    assert query(warehouse_path, "SELECT * FROM raw.population ORDER BY area_id") == before
