"""region.toml cannot point outside its bundle (unless allowed), and errors never echo file content."""

from __future__ import annotations

from pathlib import Path

import pytest

from evcharge_pipeline.region import InputError, load_region
from evcharge_pipeline.sources import bundle as sources
from evcharge_pipeline.sources.common import numeric_column, read_csv

SECRET = "OCM_API_KEY=sk-0123456789abcdef"


def _point_population_at(region: Path, target: str, allow: bool = False) -> None:
    text = (region / "region.toml").read_text().replace('path = "population.csv"', f'path = "{target}"')
    if allow:
        text = "allow_external_paths = true\n" + text
    (region / "region.toml").write_text(text)


@pytest.mark.parametrize("kind", ["relative", "absolute"])
def test_paths_outside_the_bundle_are_refused(sample_region: Path, tmp_path: Path, kind: str):
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET + "\n")
    target = "../secret.env" if kind == "relative" else str(secret)
    _point_population_at(sample_region, target)
    with pytest.raises(InputError, match="outside the bundle folder") as error:
        load_region(sample_region)
    assert "sk-0123" not in str(error.value)


def test_a_symlink_out_of_the_bundle_is_refused(sample_region: Path, tmp_path: Path):
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET + "\n")
    (sample_region / "link.csv").symlink_to(secret)
    _point_population_at(sample_region, "link.csv")
    with pytest.raises(InputError, match="outside the bundle folder"):
        load_region(sample_region)


def test_allowed_external_path_is_read_but_its_content_is_not_echoed(sample_region: Path, tmp_path: Path):
    secret = tmp_path / "secret.env"
    secret.write_text(SECRET + "\n")
    _point_population_at(sample_region, str(secret), allow=True)
    bundle = load_region(sample_region)
    with pytest.raises(InputError, match="missing column") as error:
        sources.load_population(bundle)
    assert "sk-0123" not in str(error.value) and "OCM_API_KEY" not in str(error.value)


def test_swap_files_stay_in_the_bundle(sample_region: Path):
    from evcharge_pipeline.swap.inputs import load_swap_inputs

    bundle = load_region(sample_region)
    section = dict(bundle.section("swap"), stations="../../etc/passwd")
    with pytest.raises(InputError, match="outside the bundle folder"):
        load_swap_inputs(bundle.root, section)


def test_unparsable_cells_are_truncated(tmp_path: Path):
    path = tmp_path / "p.csv"
    path.write_text("area,pop\nA1," + "x" * 5000 + "\n")
    frame = read_csv(path, ["area", "pop"])
    with pytest.raises(InputError) as error:
        numeric_column(frame, "pop", path)
    assert len(str(error.value)) < 300 and "row 2" in str(error.value)


def _poi(**connections_and_points):
    return {"ID": 1, "AddressInfo": {"Latitude": 43.45, "Longitude": -80.49, "Title": "x"},
            **connections_and_points}


@pytest.mark.parametrize("poi, field", [
    (_poi(Connections=[{"LevelID": 2, "Quantity": 2}, {"LevelID": 3, "Quantity": -2}]), "Connections[1].Quantity"),
    (_poi(Connections=[{"LevelID": 2, "Quantity": 10**19}]), "Connections[0].Quantity"),
    (_poi(Connections=[{"LevelID": 2, "Quantity": "many"}]), "Connections[0].Quantity"),
    (_poi(Connections=[{"LevelID": 2, "Quantity": 1.5}]), "Connections[0].Quantity"),
    (_poi(Connections=[{"LevelID": 3, "PowerKW": "fast"}]), "Connections[0].PowerKW"),
    (_poi(Connections=[{"LevelID": 2}], NumberOfPoints=-3), "NumberOfPoints"),
    (_poi(Connections="none"), "Connections"),
])
def test_ocm_connector_quantities_must_be_sane_counts(poi: dict, field: str):
    from evcharge_pipeline.sources.stations import parse_openchargemap_pois

    with pytest.raises(InputError, match=r"row 0, field '" + field.replace("[", r"\[").replace("]", r"\]")):
        parse_openchargemap_pois([poi], "ocm.json")


def test_ocm_ports_are_never_negative():
    from evcharge_pipeline.sources.stations import parse_openchargemap_pois

    table = parse_openchargemap_pois([_poi(Connections=[{"LevelID": 2, "Quantity": 0}, {"LevelID": 3}])], "ocm.json")
    frame = table.frame if hasattr(table, "frame") else table
    ports = frame[["ports", "ports_l1", "ports_l2", "ports_l3"]]
    assert (ports >= 0).all().all() and int(frame["ports"].iloc[0]) == 2


def test_a_station_moved_far_away_is_refused_and_the_previous_table_kept(resources: dict, sample_region: Path,
                                                                         warehouse_path: Path):
    import gc
    import json

    import duckdb
    from dagster import materialize

    from evcharge_pipeline.assets import ingest

    selection = [ingest.region_boundary, ingest.charging_stations]
    assert materialize(selection, resources=resources).success
    with duckdb.connect(str(warehouse_path)) as con:
        before = con.execute("SELECT count(*), max(lat) FROM raw.charging_stations").fetchone()
    pois = json.loads((sample_region / "stations_ocm.json").read_text())
    pois[3]["AddressInfo"]["Latitude"], pois[3]["AddressInfo"]["Longitude"] = 35.68, 139.69   # Tokyo
    (sample_region / "stations_ocm.json").write_text(json.dumps(pois))
    result = materialize(selection, resources=resources, raise_on_error=False)
    assert not result.success
    message = "\n".join(e.event_specific_data.error.to_string() for e in result.all_events if e.is_step_failure)
    assert "raw.charging_stations refused" in message and "outside_boundary_by_2_km = 1" in message
    del result
    gc.collect()
    with duckdb.connect(str(warehouse_path)) as con:
        assert con.execute("SELECT count(*), max(lat) FROM raw.charging_stations").fetchone() == before
