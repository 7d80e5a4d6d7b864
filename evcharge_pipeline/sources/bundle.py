"""Load each source a region bundle names, with its provenance (path or URL and sha256)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from evcharge_pipeline.region import InputError, RegionBundle
from evcharge_pipeline.sources import census, geojson, stations, transit
from evcharge_pipeline.sources.candidates import DEFAULT_GRID_SPACING_M, grid_candidates, read_candidate_geojson
from evcharge_pipeline.sources.common import sha256_of
from evcharge_pipeline.sources.openchargemap import OpenChargeMapConfig, api_key_from_env, fetch_pois
from evcharge_pipeline.validation import swapped_coordinate_rows


@dataclass(frozen=True)
class Provenance:
    source: str
    sha256: str


def refuse_swapped(frame: pd.DataFrame, bundle: RegionBundle, source: str, field: str, row_offset: int) -> None:
    """Fail on the first point that lies outside the region but inside it with latitude and longitude exchanged."""
    boundary, _ = load_boundary(bundle)
    rows = swapped_coordinate_rows(frame, boundary.geometry.iloc[0])
    if len(rows):
        i = int(rows[0])
        raise InputError(source, f"latitude and longitude look swapped: ({frame['lat'].iloc[i]}, "
                         f"{frame['lon'].iloc[i]}) is outside the region, the exchanged pair is inside "
                         f"({len(rows)} such row(s))", row=i + row_offset, field=field)


def _file(bundle: RegionBundle, section: str) -> tuple:
    path = bundle.source_path(section)
    return path, Provenance(str(path), sha256_of(path))


def repair_allowed(bundle: RegionBundle, section: str) -> bool:
    """`repair = true` in a geometry section: invalid polygons are repaired (and reported) instead of refused."""
    value = bundle.require(section).get("repair", False)
    if not isinstance(value, bool):
        raise InputError(bundle.toml_path, f"repair must be true or false, got {type(value).__name__}",
                         field=f"{section}.repair")
    return value


def load_boundary(bundle: RegionBundle) -> tuple[gpd.GeoDataFrame, Provenance]:
    """The boundary; its `attrs` list the geometry repairs made (see `geojson.repairs_of`)."""
    path, origin = _file(bundle, "boundary")
    return geojson.read_boundary(path, repair_allowed(bundle, "boundary")), origin


def load_areas(bundle: RegionBundle) -> tuple[gpd.GeoDataFrame, Provenance]:
    """The areas; their `attrs` list the geometry repairs made (see `geojson.repairs_of`)."""
    path, origin = _file(bundle, "areas")
    id_field = bundle.require("areas").get("id_field")
    if not id_field:
        raise InputError(bundle.toml_path, "[areas] needs id_field", field="areas.id_field")
    return geojson.read_areas(path, id_field, repair_allowed(bundle, "areas")), origin


def load_ev_ownership(bundle: RegionBundle) -> tuple[census.EvOwnership, Provenance]:
    section = bundle.require("ev_ownership")
    path, origin = _file(bundle, "ev_ownership")
    kind = section.get("format", "ontario_fsa_csv")
    if kind != "ontario_fsa_csv":
        raise InputError(bundle.toml_path, f"unknown ev_ownership format {kind!r} (supported: ontario_fsa_csv)",
                         field="ev_ownership.format")
    return census.read_ontario_fsa_csv(path), origin


def ev_as_of(bundle: RegionBundle) -> str:
    """The date EV counts refer to (`ev_ownership.as_of`), used to project EV weights forward."""
    value = bundle.require("ev_ownership").get("as_of")
    if value is None:
        raise InputError(bundle.toml_path, "[ev_ownership] needs as_of (YYYY-MM-DD)", field="ev_ownership.as_of")
    return str(value)


def load_population(bundle: RegionBundle) -> tuple[pd.DataFrame, Provenance]:
    section = bundle.require("population")
    path, origin = _file(bundle, "population")
    for key in ("id_field", "population_field"):
        if not section.get(key):
            raise InputError(bundle.toml_path, f"[population] needs {key}", field=f"population.{key}")
    frame = census.read_population_csv(path, section["id_field"], section["population_field"],
                                       section.get("dwellings_field"))
    return frame, origin


def load_stations(bundle: RegionBundle, api: OpenChargeMapConfig = OpenChargeMapConfig()
                  ) -> tuple[stations.StationTable, Provenance]:
    section = bundle.require("stations")
    kind = section.get("format", "csv")
    if kind == "csv":
        path, origin = _file(bundle, "stations")
        table = stations.read_station_csv(path)
        refuse_swapped(table.frame, bundle, origin.source, "latitude", row_offset=2)
        return table, origin
    if kind == "openchargemap_json":
        path, origin = _file(bundle, "stations")
        table = stations.read_openchargemap_json(path)
        refuse_swapped(table.frame, bundle, origin.source, "AddressInfo.Latitude", row_offset=0)
        return table, origin
    if kind == "openchargemap_api":
        key = api_key_from_env()
        boundary, _ = load_boundary(bundle)
        overrides = {k: section[k] for k in ("api_url", "timeout_seconds", "max_retries", "backoff_seconds")
                     if k in section}
        config = OpenChargeMapConfig(**{**api.__dict__, **overrides})
        url = config.api_url
        pois = fetch_pois(tuple(boundary.total_bounds), key, config)
        digest = hashlib.sha256(json.dumps(pois, sort_keys=True).encode()).hexdigest()
        table = stations.parse_openchargemap_pois(pois, url)
        refuse_swapped(table.frame, bundle, url, "AddressInfo.Latitude", row_offset=0)
        return table, Provenance(url, digest)
    raise InputError(bundle.toml_path, f"unknown stations format {kind!r} "
                     "(supported: csv, openchargemap_json, openchargemap_api)", field="stations.format")


def load_candidate_sites(bundle: RegionBundle, grid_spacing_m: float = DEFAULT_GRID_SPACING_M
                         ) -> tuple[pd.DataFrame, Provenance]:
    section = bundle.section("candidate_sites")
    if section is None:
        boundary, origin = load_boundary(bundle)
        frame = grid_candidates(boundary, grid_spacing_m)
        return frame, Provenance(f"grid every {grid_spacing_m:g} m inside {origin.source}", origin.sha256)
    path, origin = _file(bundle, "candidate_sites")
    frame = read_candidate_geojson(path, section.get("id_field"))
    refuse_swapped(frame, bundle, origin.source, "geometry.coordinates", row_offset=0)
    return frame, origin


def load_transit_stops(bundle: RegionBundle) -> tuple[pd.DataFrame, Provenance] | None:
    if bundle.section("transit_stops") is None:
        return None
    path, origin = _file(bundle, "transit_stops")
    frame = transit.read_gtfs_stops(path)
    refuse_swapped(frame, bundle, origin.source, "stop_lat", row_offset=2)
    return frame, origin
