"""Invalid boundary and area polygons are refused unless region.toml sets `repair = true`; a repair that
changes an area by more than 1 % is reported with the polygon's name and the change."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from evcharge_pipeline.assets.ingest import areas, region_boundary
from evcharge_pipeline.region import InputError, load_region
from evcharge_pipeline.sources import bundle as sources
from evcharge_pipeline.sources import geojson
from evcharge_pipeline_tests.conftest import make_resources

ORIGIN = (-78.25, 44.25)   # near the sample region, so the polygons below overlap it
UNIT = 0.01                # degrees per unit of the rings below (about 0.8 km x 1.1 km)

SQUARE = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0)]
# a bow tie with unequal lobes: 20 units^2 as drawn (the lobes' signed areas cancel), 42.5 once repaired
BOW_TIE = [(0, 0), (10, 10), (10, 0), (0, 6), (0, 0)]
# the square with a tiny loop at a corner: invalid, but the repair changes the area by ~0.04 %
SQUARE_WITH_LOOP = [(0, 0), (10, 0), (10, 10), (0, 10), (0, 10.2), (0.2, 10.1), (0, 10), (0, 0)]


def polygon(ring: list[tuple[float, float]]) -> dict:
    return {"type": "Polygon", "coordinates": [[[ORIGIN[0] + x * UNIT, ORIGIN[1] + y * UNIT] for x, y in ring]]}


def write_features(path: Path, rings: dict[str, list]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name, "CFSAUID": name}, "geometry": polygon(ring)}
        for name, ring in rings.items()]}))
    return path


def set_repair(region: Path, section: str, value: str = "true") -> None:
    toml = region / "region.toml"
    toml.write_text(toml.read_text().replace(f"[{section}]\n", f"[{section}]\nrepair = {value}\n", 1))


def test_a_self_intersecting_boundary_is_refused_naming_the_feature_and_the_fix(tmp_path: Path):
    path = write_features(tmp_path / "boundary.geojson", {"City": BOW_TIE})
    with pytest.raises(InputError, match=r"invalid polygon \(Self-intersection") as error:
        geojson.read_boundary(path)
    assert (error.value.row, error.value.field) == (0, "geometry")
    assert "set repair = true in [boundary] of region.toml" in str(error.value)


def test_an_invalid_area_is_refused_unless_repair_is_set(sample_region: Path):
    write_features(sample_region / "areas.geojson", {"A1": SQUARE, "B2": SQUARE_WITH_LOOP})
    with pytest.raises(InputError, match=r"invalid polygon .*\[areas\]") as error:
        sources.load_areas(load_region(sample_region))
    assert error.value.row == 1
    set_repair(sample_region, "areas")
    polygons, _ = sources.load_areas(load_region(sample_region))
    assert polygons.geometry.is_valid.all()
    (repair,) = geojson.repairs_of(polygons)
    assert repair.name == "B2" and repair.feature == 1
    assert repair.area_change < 0.001 and not geojson.large_repairs([repair])


def test_repair_must_be_a_boolean(sample_region: Path):
    set_repair(sample_region, "boundary", '"yes"')
    with pytest.raises(InputError, match="repair must be true or false") as error:
        sources.load_boundary(load_region(sample_region))
    assert error.value.field == "boundary.repair"


def test_a_repair_changing_the_area_by_more_than_1_percent_is_reported(sample_region: Path, tmp_path: Path):
    write_features(sample_region / "boundary.geojson", {"Sample City": BOW_TIE})
    set_repair(sample_region, "boundary")
    boundary, _ = sources.load_boundary(load_region(sample_region))
    (repair,) = geojson.repairs_of(boundary)
    # the lobes' areas: 20 units^2 as drawn, 42.5 repaired (the cosine of the latitude shrinks both alike)
    assert repair.area_km2_after / repair.area_km2_before == pytest.approx(42.5 / 20, rel=0.01)
    assert "'Sample City'" in repair.describe() and "112." in repair.describe()

    resources = make_resources(sample_region, tmp_path / "w.duckdb", tmp_path / "reports")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([region_boundary], resources=resources, instance=instance)
        warnings = [e.user_message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert result.success
    assert any("more than 1%" in w and "'Sample City'" in w and "112." in w for w in warnings), warnings
    metadata = result.asset_materializations_for_node("region_boundary")[0].metadata
    assert metadata["geometry_repairs"].value == 1
    assert metadata["repairs_changing_area_over_1pct"].value == 1
    assert "Sample City" in metadata["repaired_polygons"].value


def test_the_area_asset_reports_no_repair_for_valid_polygons(sample_region: Path, tmp_path: Path):
    resources = make_resources(sample_region, tmp_path / "w.duckdb", tmp_path / "reports")
    result = materialize([areas], resources=resources)
    metadata = result.asset_materializations_for_node("areas")[0].metadata
    assert metadata["geometry_repairs"].value == 0 and "repaired_polygons" not in metadata
