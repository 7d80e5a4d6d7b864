"""Deterministic generator of the bundled sample region: a synthetic mid-size city in real file formats.

    python -m evcharge_pipeline.sample_region --out data/sample_region [--seed 42] [--areas 30]
        [--population 250000] [--stations 150] [--candidates 300] [--transit-stops 400]

Boundary and areas are GeoJSON, EV counts follow the Ontario "EVs by FSA" CSV (with suppressed blanks),
population is a census-style CSV, stations are an OpenChargeMap API v3 `/poi` JSON response, candidate
sites are GeoJSON points and transit stops a GTFS `stops.txt` with space-padded coordinates.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping

from evcharge_pipeline.charging.sample import write_sample_sessions
from evcharge_pipeline.demand import build_demand_points
from evcharge_pipeline.geometry import project, unproject, utm_crs_for
from evcharge_pipeline.placement.regional import generate_sample_demand_history
from evcharge_pipeline.region import section_toml
from evcharge_pipeline.swap.sample import write_sample_swap


@dataclass(frozen=True)
class SampleRegionSpec:
    """Size and randomness of the synthetic city."""

    seed: int = 42
    center_lat: float = 44.30
    center_lon: float = -78.32
    radius_km: float = 11.0          # mean radius of the city boundary
    areas: int = 30                  # postal-code-like reporting areas
    population: int = 250_000
    ev_per_capita: float = 0.022     # EV registrations per resident (mean; varies by area)
    stations: int = 150
    candidates: int = 300
    transit_stops: int = 400
    as_of: str = "2024-09-30"


def _area_codes(count: int) -> list[str]:
    letters = "ABCEGHJKLMNPRSTVWXYZ"
    return [f"K{digit}{letter}" for digit in range(1, 10) for letter in letters][:count]


def _city(spec: SampleRegionSpec, rng: np.random.Generator):
    crs = utm_crs_for(spec.center_lon, spec.center_lat)
    cx, cy = project(np.array([spec.center_lat]), np.array([spec.center_lon]), crs)
    angles = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    wobble = 1 + 0.18 * np.sin(3 * angles + rng.uniform(0, 6)) + 0.08 * np.sin(7 * angles + rng.uniform(0, 6))
    radius = spec.radius_km * 1000 * wobble
    boundary = shapely.Polygon(np.column_stack([cx[0] + radius * np.cos(angles), cy[0] + radius * np.sin(angles)]))
    return crs, (cx[0], cy[0]), boundary


def _random_points_inside(polygon: shapely.Polygon, count: int, rng: np.random.Generator,
                          center: tuple[float, float], spread_m: float) -> np.ndarray:
    """Points inside `polygon`, denser towards `center` (Gaussian with `spread_m`)."""
    shapely.prepare(polygon)
    found: list[np.ndarray] = []
    while sum(len(f) for f in found) < count:
        xy = rng.normal(center, spread_m, size=(count * 2, 2))
        found.append(xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])])
    return np.concatenate(found)[:count]


def _to_wgs84_geometry(geometry: shapely.Geometry, crs) -> dict:
    def convert(xy: np.ndarray) -> np.ndarray:
        lat, lon = unproject(xy[:, 0], xy[:, 1], crs)
        return np.column_stack([np.round(lon, 6), np.round(lat, 6)])
    return mapping(shapely.transform(geometry, convert))


def _feature_collection(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1)


def _ocm_poi(index: int, lat: float, lon: float, level: int, ports: int, operator: str,
             rng: np.random.Generator) -> dict:
    power = {2: float(rng.choice([6.6, 7.2, 11.0])), 3: float(rng.choice([50.0, 100.0, 150.0]))}[level]
    connection_type = {2: 1036, 3: 33}[level]  # J1772-style Type 2 / CCS combo as OCM codes them
    return {
        "ID": 900000 + index,
        "UUID": f"00000000-0000-4000-8000-{index:012d}",
        "DataProviderID": 1,
        "OperatorInfo": {"ID": 3 + len(operator), "Title": operator},
        "UsageTypeID": 1,
        "StatusType": {"ID": 50, "Title": "Operational", "IsOperational": True},
        "AddressInfo": {"ID": 900000 + index, "Title": f"Sample station {index + 1}", "Town": "Sample City",
                        "StateOrProvince": "ON", "CountryID": 2, "Latitude": round(lat, 6),
                        "Longitude": round(lon, 6)},
        "Connections": [{"ID": 1_000_000 + index, "ConnectionTypeID": connection_type, "StatusTypeID": 50,
                         "LevelID": level, "Amps": 32 if level == 2 else 125, "Voltage": 240 if level == 2 else 400,
                         "PowerKW": power, "CurrentTypeID": 10 if level == 2 else 30, "Quantity": ports}],
        "NumberOfPoints": ports,
        "DateLastVerified": "2024-11-01T00:00:00Z",
    }


def generate(out: Path, spec: SampleRegionSpec = SampleRegionSpec()) -> dict[str, int]:
    """Write the bundle into `out` (created if needed); returns counts of what was written."""
    rng = np.random.default_rng(spec.seed)
    out.mkdir(parents=True, exist_ok=True)
    crs, center, boundary = _city(spec, rng)
    spread = spec.radius_km * 1000 * 0.55

    seeds = _random_points_inside(boundary, spec.areas, rng, center, spread)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=boundary.buffer(5000))
    polygons = [shapely.intersection(cell, boundary) for cell in shapely.get_parts(cells)]
    codes = _area_codes(len(polygons))
    centroid_distance = np.array([shapely.distance(shapely.Point(center), p.centroid) for p in polygons])
    area_km2 = np.array([p.area / 1e6 for p in polygons])
    density = np.exp(-centroid_distance / (spec.radius_km * 1000 * 0.5)) * rng.lognormal(0, 0.25, len(polygons))
    people = density * area_km2
    people = np.round(people / people.sum() * spec.population).astype(int)
    ev_rate = spec.ev_per_capita * rng.lognormal(0, 0.35, len(polygons))
    bev = np.round(people * ev_rate * 0.72).astype(int)
    phev = np.round(people * ev_rate * 0.28).astype(int)

    (out / "boundary.geojson").write_text(_feature_collection([{
        "type": "Feature", "properties": {"LongName": "Sample City (synthetic)", "ShortName": "Sample City"},
        "geometry": _to_wgs84_geometry(boundary, crs)}]))
    (out / "areas.geojson").write_text(_feature_collection([
        {"type": "Feature", "properties": {"CFSAUID": code, "PRNAME": "Ontario"},
         "geometry": _to_wgs84_geometry(polygon, crs)} for code, polygon in zip(codes, polygons, strict=True)]))

    # EV counts: every area of the city plus a few outside it, as the provincial file has; small counts suppressed.
    extra = [f"L{d}A" for d in range(1, 5)]
    ev = pd.DataFrame({"FSA": codes + extra,
                       "BEV": np.concatenate([bev, rng.integers(50, 500, len(extra))]),
                       "PHEV": np.concatenate([phev, rng.integers(20, 200, len(extra))])})
    ev["Total EV"] = ev["BEV"] + ev["PHEV"]
    text = ev.astype(str)
    for column in ("BEV", "PHEV"):
        text.loc[ev[column] < 10, column] = ""
    text.to_csv(out / "ev_by_area.csv", index=False, lineterminator="\r\n")

    dwellings = np.round(people / rng.uniform(2.2, 2.8, len(people))).astype(int)
    pd.DataFrame({"area": codes, "population_2021": people, "private_dwellings_2021": dwellings}).to_csv(
        out / "population.csv", index=False)

    station_xy = _random_points_inside(boundary, spec.stations, rng, center, spread * 0.8)
    slat, slon = unproject(station_xy[:, 0], station_xy[:, 1], crs)
    levels = np.where(rng.random(spec.stations) < 0.14, 3, 2)
    ports = np.where(levels == 3, rng.integers(2, 11, spec.stations), rng.integers(1, 5, spec.stations))
    operators = ["ChargePoint", "FLO", "Tesla", "Electrify Canada", "Petro-Canada", "Ivy"]
    pois = [_ocm_poi(i, slat[i], slon[i], int(levels[i]), int(ports[i]), str(rng.choice(operators)), rng)
            for i in range(spec.stations)]
    (out / "stations_ocm.json").write_text(json.dumps(pois, indent=1))

    cand_xy = _random_points_inside(boundary, spec.candidates, rng, center, spread)
    clat, clon = unproject(cand_xy[:, 0], cand_xy[:, 1], crs)
    kinds = rng.choice(["parking", "retail", "municipal", "fuel"], spec.candidates)
    (out / "candidate_sites.geojson").write_text(_feature_collection([
        {"type": "Feature", "properties": {"site_id": f"cand-{i + 1:04d}", "name": f"{kinds[i]} lot {i + 1}"},
         "geometry": {"type": "Point", "coordinates": [round(clon[i], 6), round(clat[i], 6)]}}
        for i in range(spec.candidates)]))

    # Transit stops along radial corridors.
    corridors = rng.uniform(0, 2 * np.pi, 8)
    per = spec.transit_stops // len(corridors)
    along = np.concatenate([np.linspace(200, spec.radius_km * 1000 * 0.95, per) for _ in corridors])
    angle = np.repeat(corridors, per) + rng.normal(0, 0.02, along.size)
    sx, sy = center[0] + along * np.cos(angle), center[1] + along * np.sin(angle)
    inside = shapely.contains_xy(boundary, sx, sy)
    tlat, tlon = unproject(sx[inside], sy[inside], crs)
    (out / "gtfs").mkdir(exist_ok=True)
    stops = pd.DataFrame({
        "stop_id": np.arange(1000, 1000 + inside.sum()), "stop_code": np.arange(1000, 1000 + inside.sum()),
        "stop_name": [f"Corridor stop {i}" for i in range(inside.sum())], "stop_desc": "",
        "stop_lat": [f"  {v:.6f}" for v in tlat], "stop_lon": [f" {v:.6f}" for v in tlon],
        "zone_id": "", "stop_url": "", "location_type": 0, "parent_station": "", "wheelchair_boarding": 1,
    })
    stops.to_csv(out / "gtfs" / "stops.txt", index=False)

    # Capability sections: demand history per default demand point, swap network, parking-site sessions.
    wgs84 = lambda geometry: shapely.geometry.shape(_to_wgs84_geometry(geometry, crs))  # noqa: E731
    city = gpd.GeoDataFrame(geometry=[wgs84(boundary)], crs="EPSG:4326")
    zones = gpd.GeoDataFrame({"area_id": codes, "population": people.astype(float),
                              "ev_count": (bev + phev).astype(float)},
                             geometry=[wgs84(p) for p in polygons], crs="EPSG:4326")
    points = build_demand_points(city, zones, spec.as_of).points
    generate_sample_demand_history(points, seed=spec.seed).to_csv(out / "demand_history.csv", index=False)
    sections = {
        "households": _write_households(out, codes, people, centroid_distance / (spec.radius_km * 1000), spec.seed),
        "demand_history": {"path": "demand_history.csv", "id_field": "demand_id"},
        "swap": write_sample_swap(out, center=(spec.center_lat, spec.center_lon)),
        "charging_sessions": write_sample_sessions(out),
    }
    text = REGION_TOML.format(as_of=spec.as_of, seed=spec.seed) + "".join(
        "\n" + section_toml(section, name) for name, section in sections.items())
    (out / "region.toml").write_text(text)
    return {"areas": len(codes), "population": int(people.sum()), "evs": int(ev["Total EV"][: len(codes)].sum()),
            "stations": spec.stations, "ports": int(ports.sum()), "candidates": spec.candidates,
            "transit_stops": int(inside.sum())}


def _write_households(out: Path, codes: list[str], people: np.ndarray, distance: np.ndarray, seed: int) -> dict:
    """Census-Profile-style dwellings by type and median household income per area (its own random stream, so
    the other files do not change): more apartments and lower incomes towards the centre; the smallest area's
    income is suppressed (blank), as StatCan does."""
    rng = np.random.default_rng(seed + 11)
    occupied = np.round(people / rng.uniform(2.3, 2.7, len(people)) / 5).astype(int) * 5
    apartments = np.clip(0.65 * np.exp(-distance / 0.45) + rng.normal(0, 0.04, len(people)), 0.02, 0.85)
    attached = np.clip(0.22 + rng.normal(0, 0.05, len(people)), 0.05, 0.4) * (1 - apartments)
    mix = np.column_stack([
        (1 - apartments - attached) * 0.96, attached * 0.35, attached * 0.63, apartments * 0.12,
        apartments * 0.48, apartments * 0.40, attached * 0.02, (1 - apartments - attached) * 0.04])
    counts = np.round(occupied[:, None] * mix / 5).astype(int) * 5
    income = np.round((55_000 + 70_000 * np.clip(distance, 0, 1.2) * rng.lognormal(0, 0.15, len(people))) / 100) * 100
    frame = pd.DataFrame(counts, columns=["single_detached", "semi_detached", "row_house", "apt_duplex", "apt_lt5",
                                          "apt_5plus", "other_single_attached", "movable"])
    frame.insert(0, "occupied_by_type_total", counts.sum(axis=1))
    frame.insert(0, "fsa", codes)
    frame["median_income"] = income.astype(int).astype(str)
    frame.loc[int(np.argmin(people)), "median_income"] = ""
    frame.to_csv(out / "households.csv", index=False)
    return {"path": "households.csv", "id_field": "fsa", "median_income_field": "median_income"}


REGION_TOML = """\
# Synthetic sample region written by `python -m evcharge_pipeline.sample_region` (seed {seed}).
name = "Sample City (synthetic)"

[boundary]
path = "boundary.geojson"

[areas]
path = "areas.geojson"
id_field = "CFSAUID"

[ev_ownership]
path = "ev_by_area.csv"
format = "ontario_fsa_csv"
as_of = "{as_of}"

[population]
path = "population.csv"
id_field = "area"
population_field = "population_2021"
dwellings_field = "private_dwellings_2021"

[stations]
path = "stations_ocm.json"
format = "openchargemap_json"

[candidate_sites]
path = "candidate_sites.geojson"
id_field = "site_id"

[transit_stops]
path = "gtfs/stops.txt"

# The demand history is keyed by the demand points of the default 500 m grid.
"""


def main(argv: list[str] | None = None) -> None:
    defaults = SampleRegionSpec()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("data/sample_region"))
    for name in ("seed", "areas", "population", "stations", "candidates", "transit_stops"):
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int, default=getattr(defaults, name))
    args = parser.parse_args(argv)
    spec = SampleRegionSpec(**{k: v for k, v in vars(args).items() if k != "out"})
    print(json.dumps(generate(args.out, spec), indent=1))


if __name__ == "__main__":
    main()
