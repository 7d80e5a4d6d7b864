"""Ingest assets: one per source of the region bundle, each replacing a `raw.*` table atomically."""


import pandas as pd
import shapely
from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    Config,
    MaterializeResult,
)
from dagster_duckdb import DuckDBResource

from evcharge_pipeline import validation
from evcharge_pipeline.assets.common import problems_check, stored_boundary, warehouse_asset, warehouse_check, write_raw
from evcharge_pipeline.resources import RegionResource
from evcharge_pipeline.sources import bundle as sources
from evcharge_pipeline.sources import geojson
from evcharge_pipeline.sources.candidates import DEFAULT_GRID_SPACING_M
from evcharge_pipeline.warehouse import read_table, table_exists

INGEST = "ingest"


def table_with_boundary(warehouse: DuckDBResource, table: str) -> tuple[pd.DataFrame, shapely.Geometry]:
    """A stored table and the stored region boundary, for checks that locate rows against the region."""
    with warehouse.get_connection() as con:
        return read_table(con, table), stored_boundary(con)


def _geometry_frame(geo) -> pd.DataFrame:
    frame = pd.DataFrame(geo.drop(columns="geometry"))
    frame["area_km2"] = geo.to_crs(geo.estimate_utm_crs()).area.to_numpy() / 1e6
    frame["geometry_wkt"] = geo.geometry.to_wkt().to_numpy()
    return frame


def repair_report(context: AssetExecutionContext, geo, what: str) -> dict:
    """Metadata on the invalid polygons repaired (region.toml `repair = true`); a repair that changed an
    area by more than 1 % is logged as a warning naming the polygon and the change."""
    repairs = geojson.repairs_of(geo)
    large = geojson.large_repairs(repairs)
    for repair in large:
        context.log.warning(f"{what}: repairing an invalid polygon changed its area by more than "
                            f"{geojson.MAX_REPAIR_AREA_CHANGE:.0%}: {repair.describe()}")
    metadata = {"geometry_repairs": len(repairs), "repairs_changing_area_over_1pct": len(large)}
    if repairs:
        metadata["repaired_polygons"] = "\n".join(r.describe() for r in repairs[:20])
    return metadata


@warehouse_asset(group_name=INGEST,
                 description="Region boundary polygon (raw.region_boundary, WKT in WGS84); invalid polygons refused "
                             "unless [boundary] repair = true.")
def region_boundary(context: AssetExecutionContext, region: RegionResource, warehouse: DuckDBResource
                    ) -> MaterializeResult:
    boundary, origin = sources.load_boundary(region.bundle())
    frame = _geometry_frame(boundary)
    repairs = repair_report(context, boundary, "region boundary")
    with warehouse.get_connection() as con:
        metadata = write_raw(con, "raw.region_boundary", frame, origin)
    return MaterializeResult(metadata={**metadata, "area_km2": float(frame["area_km2"].iloc[0]),
                                       "region": region.bundle().name, **repairs})


@warehouse_asset(group_name=INGEST,
                 description="Reporting areas (FSAs, tracts) as polygons (raw.areas); invalid polygons refused "
                             "unless [areas] repair = true.")
def areas(context: AssetExecutionContext, region: RegionResource, warehouse: DuckDBResource) -> MaterializeResult:
    polygons, origin = sources.load_areas(region.bundle())
    repairs = repair_report(context, polygons, "areas")
    with warehouse.get_connection() as con:
        return MaterializeResult(metadata={**write_raw(con, "raw.areas", _geometry_frame(polygons), origin),
                                           **repairs})


@warehouse_asset(
    group_name=INGEST,
    description="EV registrations per area (raw.ev_ownership); suppressed blanks counted as 0 and reported.")
def ev_ownership(region: RegionResource, warehouse: DuckDBResource) -> MaterializeResult:
    bundle = region.bundle()
    counts, origin = sources.load_ev_ownership(bundle)
    frame = counts.frame.assign(as_of=sources.ev_as_of(bundle))
    with warehouse.get_connection() as con:
        metadata = write_raw(con, "raw.ev_ownership", frame, origin)
    return MaterializeResult(metadata={**metadata, "suppressed_cells_counted_as_zero": counts.suppressed_cells,
                                       "total_ev": float(frame["ev_count"].sum())})


@warehouse_asset(
    group_name=INGEST, description="Census population (and dwellings) per area (raw.population).")
def population(region: RegionResource, warehouse: DuckDBResource) -> MaterializeResult:
    frame, origin = sources.load_population(region.bundle())
    with warehouse.get_connection() as con:
        metadata = write_raw(con, "raw.population", frame, origin)
    return MaterializeResult(metadata={**metadata, "total_population": float(frame["population"].sum())})


@warehouse_asset(
    group_name=INGEST,
    description="Existing public chargers normalised to L1/L2/L3 with ports per station (raw.charging_stations).")
def charging_stations(context: AssetExecutionContext, region: RegionResource,
                      warehouse: DuckDBResource) -> MaterializeResult:
    table, origin = sources.load_stations(region.bundle())
    if table.unknown_level_as_l2:
        context.log.warning(f"{table.unknown_level_as_l2} station(s) state no level and are counted as L2")
    frame = table.frame
    by_level = frame.groupby("level").agg(stations=("site_id", "size"), ports=("ports", "sum")).reset_index()
    with warehouse.get_connection() as con:
        # blocking before the write: bad coordinates or ports keep the previous table (plans read it)
        boundary = stored_boundary(con) if table_exists(con, "raw.region_boundary") else None
        if boundary is not None:
            validation.refuse_problems("raw.charging_stations", validation.station_problems(frame, boundary),
                                       [rule for rule in validation.station_problems(frame.head(0), boundary)
                                        if rule not in ("unknown_level", "duplicate_site_id")])
        metadata = write_raw(con, "raw.charging_stations", frame, origin)
    return MaterializeResult(metadata={**metadata, "unknown_level_counted_as_l2": table.unknown_level_as_l2,
                                       "total_ports": int(frame["ports"].sum()),
                                       "by_level": by_level.to_markdown(index=False)})


class CandidateSitesConfig(Config):
    grid_spacing_m: float = DEFAULT_GRID_SPACING_M  # lattice spacing when the bundle names no candidate file

    _ranges = validation.range_validator({"grid_spacing_m": validation.Range(10.0, 100_000.0)})


@warehouse_asset(group_name=INGEST,
                 description="Candidate sites for new stations (raw.candidate_sites): the bundle's points, or a grid.")
def candidate_sites(config: CandidateSitesConfig, region: RegionResource,
                    warehouse: DuckDBResource) -> MaterializeResult:
    frame, origin = sources.load_candidate_sites(region.bundle(), config.grid_spacing_m)
    with warehouse.get_connection() as con:
        metadata = write_raw(con, "raw.candidate_sites", frame, origin)
    return MaterializeResult(metadata={**metadata, "source_kind": str(frame["source_kind"].iloc[0])})


@warehouse_asset(
    group_name=INGEST,
    description="GTFS transit stops (raw.transit_stops); empty when the bundle has none.")
def transit_stops(region: RegionResource, warehouse: DuckDBResource) -> MaterializeResult:
    loaded = sources.load_transit_stops(region.bundle())
    if loaded is None:
        frame = pd.DataFrame({"stop_id": pd.Series(dtype=str), "stop_name": pd.Series(dtype=str),
                              "lat": pd.Series(dtype=float), "lon": pd.Series(dtype=float),
                              "location_type": pd.Series(dtype="int64")})
        origin = sources.Provenance("region bundle names no transit_stops", "")
    else:
        frame, origin = loaded
    with warehouse.get_connection() as con:
        return MaterializeResult(metadata=write_raw(con, "raw.transit_stops", frame, origin))


@warehouse_check(asset=region_boundary, blocking=True, description="One valid polygon of positive area.")
def boundary_is_valid_polygon(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        frame = read_table(con, "raw.region_boundary")
        geometry = stored_boundary(con)
    return problems_check({
        "not_one_row": int(len(frame) != 1),
        "invalid_geometry": int(not geometry.is_valid),
        "zero_area": int(float(frame["area_km2"].iloc[0]) <= 0),
    })


@warehouse_check(asset=areas, description="Unique area ids; every area overlaps the region boundary.")
def areas_overlap_boundary(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        frame = read_table(con, "raw.areas")
        boundary = stored_boundary(con)
    polygons = shapely.from_wkt(frame["geometry_wkt"].to_numpy())
    return problems_check({
        "duplicate_area_id": validation.duplicate_keys(frame, ["area_id"]),
        "outside_boundary": int((~shapely.intersects(polygons, boundary)).sum()),
    })


@warehouse_check(asset=ev_ownership, description="Unique area ids, no negative counts.")
def ev_counts_valid(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        frame = read_table(con, "raw.ev_ownership")
    return problems_check(validation.area_statistic_problems(frame, ["bev", "phev", "ev_count"]))


@warehouse_check(asset=population, description="Unique area ids, no negative population.")
def population_valid(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        frame = read_table(con, "raw.population")
    return problems_check(validation.area_statistic_problems(frame, ["population"]))


@warehouse_check(asset=charging_stations, additional_deps=[region_boundary], blocking=True,
                 description="Valid coordinates within 2 km of the boundary, ports >= 1, known levels, unique ids.")
def stations_valid(warehouse: DuckDBResource):
    frame, boundary = table_with_boundary(warehouse, "raw.charging_stations")
    return problems_check(validation.station_problems(frame, boundary))


@warehouse_check(asset=candidate_sites, additional_deps=[region_boundary],
                 description="Valid coordinates within 0.5 km of the boundary, unique ids.")
def candidate_sites_valid(warehouse: DuckDBResource):
    frame, boundary = table_with_boundary(warehouse, "raw.candidate_sites")
    return problems_check(validation.point_problems(frame, "site_id", boundary, 0.5))


@warehouse_check(asset=transit_stops, additional_deps=[region_boundary],
                 description="Valid coordinates near the boundary (warning: networks may run past it), unique ids.")
def transit_stops_valid(warehouse: DuckDBResource):
    frame, boundary = table_with_boundary(warehouse, "raw.transit_stops")
    return problems_check(validation.point_problems(frame, "stop_id", boundary, 5.0), severity=AssetCheckSeverity.WARN)
