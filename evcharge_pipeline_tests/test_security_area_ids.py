"""Area ids are matched by one rule in every source (trimmed, case-insensitive, Unicode NFC), a join
that matches too few areas fails naming the ids, and zero demand is never a success."""

from __future__ import annotations

import gc
import json
import unicodedata
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from dagster import materialize

from evcharge_pipeline import validation
from evcharge_pipeline.assets import demand as demand_assets
from evcharge_pipeline.assets import ingest as ingest_assets
from evcharge_pipeline.region import InputError
from evcharge_pipeline.sources.census import read_ontario_fsa_csv, read_population_csv
from evcharge_pipeline.sources.common import normalize_area_id, normalize_area_ids
from evcharge_pipeline.sources.geojson import read_areas

SELECTION = [ingest_assets.region_boundary, ingest_assets.areas, ingest_assets.ev_ownership,
             ingest_assets.population, demand_assets.demand_points]


def test_one_rule_for_area_ids():
    composed, decomposed = "Montréal-Nord", unicodedata.normalize("NFD", "Montréal-Nord")
    assert composed != decomposed
    assert normalize_area_id(f"  {decomposed}\t") == normalize_area_id(composed.lower()) == normalize_area_id(
        composed.upper())
    assert normalize_area_id(composed) == unicodedata.normalize("NFC", "MONTRÉAL-NORD")
    assert list(normalize_area_ids(pd.Series([" n2l ", "N2L", "n2L"]))) == ["N2L"] * 3


def _rewrite_ids(region: Path, transform) -> None:
    """Apply `transform` to the area ids of the GeoJSON and of both CSVs (differently per file)."""
    areas = json.loads((region / "areas.geojson").read_text())
    for feature in areas["features"]:
        feature["properties"]["CFSAUID"] = transform(feature["properties"]["CFSAUID"], "geojson")
    (region / "areas.geojson").write_text(json.dumps(areas))
    for name, column in (("ev_by_area.csv", "FSA"), ("population.csv", "area")):
        frame = pd.read_csv(region / name, dtype=str, keep_default_na=False)
        frame[column] = [transform(v, name) for v in frame[column]]
        frame.to_csv(region / name, index=False)


def _demand(warehouse: Path) -> tuple[int, float, float]:
    with duckdb.connect(str(warehouse)) as con:
        return con.execute("SELECT count(*), sum(population), sum(ev_count) FROM core.demand_points").fetchone()


def test_ids_differing_in_case_space_and_unicode_form_still_join(resources: dict, sample_region: Path,
                                                                 warehouse_path: Path, tmp_path: Path):
    assert materialize(SELECTION, resources=resources).success
    expected = _demand(warehouse_path)
    assert expected[0] > 0

    def spell(value: str, source: str) -> str:   # the same ids, spelled differently in each file
        name = f"{value}-Montréal"
        if source == "geojson":
            return name.lower()
        if source == "ev_by_area.csv":
            return f" {unicodedata.normalize('NFD', name).upper()} "
        return unicodedata.normalize("NFD", name)

    _rewrite_ids(sample_region, spell)
    assert materialize(SELECTION, resources=resources).success
    count, population, evs = _demand(warehouse_path)
    assert count == expected[0]
    assert population == pytest.approx(expected[1]) and evs == pytest.approx(expected[2])


def test_a_join_matching_too_few_areas_fails_naming_them_and_keeps_the_tables(resources: dict, sample_region: Path,
                                                                             warehouse_path: Path):
    assert materialize(SELECTION, resources=resources).success
    before = _demand(warehouse_path)
    frame = pd.read_csv(sample_region / "population.csv", dtype=str, keep_default_na=False)
    frame.loc[: len(frame) // 2, "area"] = [f"X{i:02d}" for i in range(len(frame) // 2 + 1)]  # half renamed
    frame.to_csv(sample_region / "population.csv", index=False)
    result = materialize(SELECTION, resources=resources, raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.event_specific_data.error.to_string()
    assert "raw.population matches 14 of 30 areas" in message and "below the required 95%" in message
    assert "areas without a row: ['K1A'" in message and "no area: ['X00'" in message
    del result, failure
    gc.collect()   # the failure's traceback holds the step's frames (and its DuckDB connection)
    assert _demand(warehouse_path) == before          # the previous demand points are kept


def test_the_match_share_is_configurable():
    areas = pd.Series(["A", "B", "C", "D"])
    assert validation.require_area_match(areas, {"t": pd.Series(["A", "B", "C"])}, 0.75) == {"t": ["D"]}
    with pytest.raises(validation.DataCheckError, match=r"3 of 4 areas \(75.0%.*\['D'\]"):
        validation.require_area_match(areas, {"t": pd.Series(["A", "B", "C"])}, 0.95)
    many = pd.Series([f"A{i:03d}" for i in range(100)])
    with pytest.raises(validation.DataCheckError, match=r"'A019', \.\.\. and 80 more\]"):
        validation.require_area_match(many, {"t": pd.Series(["B"])})


def test_zero_demand_is_never_a_success():
    with pytest.raises(validation.DataCheckError, match="no demand points"):
        validation.require_demand(pd.DataFrame({"population": [], "ev_count": []}))
    with pytest.raises(validation.DataCheckError, match="total ev_count"):
        validation.require_demand(pd.DataFrame({"population": [10.0], "ev_count": [0.0]}))


def test_duplicate_ids_after_normalisation_are_refused(tmp_path: Path):
    square = {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": square, "properties": {"id": "n2l"}},
        {"type": "Feature", "geometry": square, "properties": {"id": "N2L "}}]}))
    with pytest.raises(InputError, match="duplicate id 'N2L'"):
        read_areas(path, "id")
    csv = tmp_path / "pop.csv"
    csv.write_text("area,pop\nn2l,1\nN2L,2\n")
    with pytest.raises(InputError, match="duplicate id 'N2L'"):
        read_population_csv(csv, "area", "pop")
    ev = tmp_path / "ev.csv"
    ev.write_text("FSA,BEV,PHEV,Total EV\nn2l,1,1,2\n")
    assert list(read_ontario_fsa_csv(ev).frame["area_id"]) == ["N2L"]
