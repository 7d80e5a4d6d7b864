"""Region bundle and source loaders: real formats parse, and every kind of bad input names file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evcharge_pipeline.region import InputError, load_region
from evcharge_pipeline.sources import bundle as sources
from evcharge_pipeline.sources.census import read_ontario_fsa_csv, read_population_csv
from evcharge_pipeline.sources.geojson import read_areas, read_boundary
from evcharge_pipeline.sources.stations import normalise_level, parse_openchargemap_pois, read_station_csv
from evcharge_pipeline.sources.transit import read_gtfs_stops

STATION_HEADER = "name,latitude,longitude,num_chargers,charger_type,operator\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_sample_region_loads_every_source(sample_region: Path):
    bundle = load_region(sample_region)
    boundary, _ = sources.load_boundary(bundle)
    areas, _ = sources.load_areas(bundle)
    evs, _ = sources.load_ev_ownership(bundle)
    people, _ = sources.load_population(bundle)
    stations, origin = sources.load_stations(bundle)
    candidates, _ = sources.load_candidate_sites(bundle)
    stops, _ = sources.load_transit_stops(bundle)
    assert len(boundary) == 1 and boundary.geometry.iloc[0].area > 0
    assert set(areas["area_id"]) <= set(evs.frame["area_id"])
    assert set(areas["area_id"]) == set(people["area_id"])
    assert evs.suppressed_cells == (evs.frame[["bev", "phev"]] == 0).to_numpy().sum()
    assert set(stations.frame["level"]) <= {"L1", "L2", "L3"}
    assert (stations.frame["ports"] == stations.frame[["ports_l1", "ports_l2", "ports_l3"]].sum(axis=1)).all()
    assert len(origin.sha256) == 64
    assert candidates["site_id"].is_unique and stops["stop_id"].is_unique


def test_ontario_csv_counts_suppressed_blanks(tmp_path: Path):
    path = write(tmp_path / "ev.csv", "FSA,BEV,PHEV,Total EV\r\nN2L,120,,125\r\nN2J,,,\r\nn2k,10,5,15\r\n")
    result = read_ontario_fsa_csv(path)
    assert result.suppressed_cells == 4  # one PHEV in N2L, all three cells of N2J
    assert result.frame.set_index("area_id").loc["N2J", "ev_count"] == 0
    assert result.frame.set_index("area_id").loc["N2L", "ev_count"] == 125
    assert "N2K" in set(result.frame["area_id"])  # ids normalised to upper case


def test_level_normalisation():
    assert normalise_level("Level 2") == "L2"
    assert normalise_level("DC Fast") == "L3"
    assert normalise_level("Level 3") == "L3"
    assert normalise_level("Unknown") is None


def test_station_csv_unknown_level_counted_as_l2(tmp_path: Path):
    path = write(tmp_path / "s.csv", STATION_HEADER + "A,43.4,-80.5,2,Level 2,X\nB,43.5,-80.4,1,Unknown,Y\n"
                 "C,43.45,-80.45,4,Level 3,Z\n")
    table = read_station_csv(path)
    assert table.unknown_level_as_l2 == 1
    assert list(table.frame["level"]) == ["L2", "L2", "L3"]
    assert list(table.frame["ports_l3"]) == [0, 0, 4]


def test_openchargemap_mixed_site_keeps_ports_per_level():
    pois = [{"ID": 7, "AddressInfo": {"Title": "Mall", "Latitude": 43.4, "Longitude": -80.5},
             "NumberOfPoints": 6, "StatusType": {"Title": "Operational", "IsOperational": True},
             "Connections": [{"LevelID": 2, "PowerKW": 7.2, "Quantity": 4},
                             {"LevelID": 3, "PowerKW": 150, "Quantity": 2, "CurrentTypeID": 30}]}]
    frame = parse_openchargemap_pois(pois, "api").frame
    row = frame.iloc[0]
    observed = (row.site_id, row.level, row.ports, row.ports_l2, row.ports_l3, row.power_kw)
    assert observed == ("ocm-7", "L3", 6, 4, 2, 150)


def test_gtfs_tolerates_padded_numbers(tmp_path: Path):
    path = write(tmp_path / "stops.txt", "stop_id,stop_name,stop_lat,stop_lon,location_type\n"
                 "1, A ,  43.449674, -80.487209,0\n2,B, 43.1 ,-80.2 ,\n")
    stops = read_gtfs_stops(path)
    assert stops["lat"].tolist() == [43.449674, 43.1] and stops["location_type"].tolist() == [0, 0]


# --- bad input: each names the file, the row (or feature) and the field -------------------------------

@pytest.mark.parametrize("body, row, field, words", [
    ("A,43.4,-80.5,2,Level 2,X\nB,abc,-80.4,1,Level 2,Y\n", 3, "latitude", "cannot parse 'abc'"),
    ("A,43.4,-80.5,2,Level 2,X\nB,95.0,-80.4,1,Level 2,Y\n", 3, "latitude", "out of range"),
    ("A,43.4,-80.5,0,Level 2,X\n", 2, "num_chargers", "below the minimum 1"),
    ("A,43.4,-80.5,2.5,Level 2,X\n", 2, "num_chargers", "not a whole number"),
])
def test_station_csv_bad_values(tmp_path: Path, body, row, field, words):
    path = write(tmp_path / "stations.csv", STATION_HEADER + body)
    with pytest.raises(InputError) as error:
        read_station_csv(path)
    assert error.value.row == row and error.value.field == field
    assert "stations.csv" in str(error.value) and words in str(error.value)


def test_swapped_coordinates_are_named(tmp_path: Path):
    path = write(tmp_path / "stations.csv", STATION_HEADER + "A,-100.5,43.4,2,Level 2,X\n")
    with pytest.raises(InputError, match="look swapped"):
        read_station_csv(path)


def test_swapped_coordinates_inside_range_are_caught_against_the_boundary(sample_region: Path):
    stations_json = sample_region / "stations_ocm.json"
    pois = json.loads(stations_json.read_text())
    address = pois[3]["AddressInfo"]
    address["Latitude"], address["Longitude"] = address["Longitude"], address["Latitude"]
    stations_json.write_text(json.dumps(pois))
    with pytest.raises(InputError, match="look swapped") as error:
        sources.load_stations(load_region(sample_region))
    assert (error.value.row, error.value.field) == (3, "AddressInfo.Latitude")


def test_missing_column(tmp_path: Path):
    path = write(tmp_path / "stations.csv", "name,latitude,num_chargers,charger_type,operator\nA,43.4,2,Level 2,X\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['longitude'\]") as error:
        read_station_csv(path)
    assert error.value.field == "longitude"


def test_empty_files(tmp_path: Path):
    with pytest.raises(InputError, match="file is empty"):
        read_station_csv(write(tmp_path / "stations.csv", ""))
    with pytest.raises(InputError, match="no data rows"):
        read_station_csv(write(tmp_path / "stations.csv", STATION_HEADER))
    with pytest.raises(InputError, match="file is empty"):
        read_boundary(write(tmp_path / "boundary.geojson", ""))


def test_duplicate_ids(tmp_path: Path):
    path = write(tmp_path / "pop.csv", "fsa,pop\nN2L,100\nN2J,200\nN2L,300\n")
    with pytest.raises(InputError, match="duplicate id 'N2L' \\(first at row 2\\)") as error:
        read_population_csv(path, "fsa", "pop")
    assert error.value.row == 4 and error.value.field == "fsa"


def test_wrong_geometry_type(tmp_path: Path):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "a"},
         "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
        {"type": "Feature", "properties": {"id": "b"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}]}
    path = write(tmp_path / "areas.geojson", json.dumps(doc))
    with pytest.raises(InputError) as error:
        read_areas(path, "id")
    assert (error.value.row, error.value.field) == (1, "geometry.type")
    assert "Point is not one of" in str(error.value)


def test_missing_section_and_missing_file(sample_region: Path):
    toml = sample_region / "region.toml"
    text = toml.read_text()
    toml.write_text(text.replace('[population]', '[population_renamed]'))
    with pytest.raises(InputError, match=r"required section \[population\] is missing"):
        load_region(sample_region)
    toml.write_text(text.replace('path = "stations_ocm.json"', 'path = "nowhere.json"'))
    with pytest.raises(InputError, match=r"names a file that does not exist: nowhere\.json") as error:
        load_region(sample_region)
    assert error.value.field == "stations.path"


def test_openchargemap_api_without_key_is_refused(sample_region: Path, monkeypatch):
    toml = sample_region / "region.toml"
    toml.write_text(toml.read_text().replace('format = "openchargemap_json"', 'format = "openchargemap_api"'))
    monkeypatch.delenv("OCM_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match="OCM_API_KEY"):
        sources.load_stations(load_region(sample_region))
