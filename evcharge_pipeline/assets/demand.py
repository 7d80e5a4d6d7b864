"""Derived assets: demand points, sparse coverage pairs and the baseline coverage summary."""


import geopandas as gpd
import pandas as pd
import shapely
from dagster import AssetCheckExecutionContext, AssetExecutionContext, Config, MaterializeResult
from dagster_duckdb import DuckDBResource
from pydantic import field_validator

from evcharge_pipeline import validation
from evcharge_pipeline.assets.common import (
    markdown_table,
    picture,
    problems_check,
    stored_boundary,
    summary_table,
    warehouse_asset,
    warehouse_check,
)
from evcharge_pipeline.assets.ingest import (
    areas,
    candidate_sites,
    charging_stations,
    ev_ownership,
    population,
    region_boundary,
)
from evcharge_pipeline.coverage_reports import coverage_by_area_map
from evcharge_pipeline.demand import (
    CoverageConfig,
    DemandConfig,
    baseline_coverage,
    baseline_coverage_by_area,
    build_demand_points,
    coverage_pairs,
)
from evcharge_pipeline.resources import RegionResource, ReportsResource
from evcharge_pipeline.sources.bundle import ev_as_of
from evcharge_pipeline.warehouse import read_table, replace_table, replace_tables

DERIVED = "demand"


class DemandPointsConfig(Config):
    cell_size_m: float = DemandConfig.cell_size_m                          # grid cell side
    ev_growth_rate_per_year: float = DemandConfig.ev_growth_rate_per_year  # EV fleet growth for ev_weight
    horizon_year: int = DemandConfig.horizon_year                          # year ev_weight is projected to
    # share of the areas the EV and population tables must match (else the run fails naming the ids)
    min_area_match_share: float = validation.DEFAULT_MIN_AREA_MATCH_SHARE

    @field_validator("cell_size_m")
    @classmethod
    def _cell(cls, v: float) -> float:
        return validation.check_range("cell_size_m", v, minimum=10.0, maximum=100_000.0)

    @field_validator("ev_growth_rate_per_year")
    @classmethod
    def _growth(cls, v: float) -> float:
        return validation.check_range("ev_growth_rate_per_year", v, minimum=0.0, maximum=10.0)

    @field_validator("horizon_year")
    @classmethod
    def _year(cls, v: int) -> int:
        return int(validation.check_range("horizon_year", v, minimum=2000, maximum=2100))

    @field_validator("min_area_match_share")
    @classmethod
    def _share(cls, v: float) -> float:
        return validation.check_range("min_area_match_share", v, minimum=0.0, maximum=1.0)


class CoveragePairsConfig(Config):
    max_radius_km: float = CoverageConfig.max_radius_km   # largest radius any model uses
    radius_l2_km: float = CoverageConfig.radius_l2_km     # baseline summary: L2 radius
    radius_l3_km: float = CoverageConfig.radius_l3_km     # baseline summary: L3 radius

    @field_validator("max_radius_km", "radius_l2_km", "radius_l3_km")
    @classmethod
    def _radius(cls, v: float, info) -> float:
        return validation.check_range(info.field_name, v, minimum=0.0, maximum=500.0, exclusive_minimum=True)


def area_statistics(area_polygons: pd.DataFrame, evs: pd.DataFrame, people: pd.DataFrame,
                    min_match_share: float = validation.DEFAULT_MIN_AREA_MATCH_SHARE) -> tuple[gpd.GeoDataFrame, dict]:
    """Join EV counts and population onto the area polygons; a table matching less than `min_match_share`
    of the areas raises (naming the ids); the few areas missing from a table count 0 and are listed."""
    validation.require_area_match(area_polygons["area_id"], {"raw.ev_ownership": evs["area_id"],
                                                             "raw.population": people["area_id"]}, min_match_share)
    joined = (area_polygons[["area_id", "geometry_wkt"]]
              .merge(evs[["area_id", "ev_count"]], on="area_id", how="left")
              .merge(people[["area_id", "population"]], on="area_id", how="left"))
    missing = {
        "areas_without_ev_data": sorted(joined.loc[joined["ev_count"].isna(), "area_id"]),
        "areas_without_population": sorted(joined.loc[joined["population"].isna(), "area_id"]),
    }
    joined[["ev_count", "population"]] = joined[["ev_count", "population"]].fillna(0.0)
    geo = gpd.GeoDataFrame(joined.drop(columns="geometry_wkt"),
                           geometry=shapely.from_wkt(joined["geometry_wkt"].to_numpy()), crs="EPSG:4326")
    return geo, missing


@warehouse_asset(group_name=DERIVED, deps=[region_boundary, areas, ev_ownership, population],
                 description="Population and EVs spread over a grid clipped to the boundary "
                             "(core.demand_points, core.area_totals).")
def demand_points(context: AssetExecutionContext, config: DemandPointsConfig,
                  region: RegionResource, warehouse: DuckDBResource) -> MaterializeResult:
    with warehouse.get_connection() as con:
        boundary = gpd.GeoDataFrame(geometry=[stored_boundary(con)], crs="EPSG:4326")
        zones, missing = area_statistics(read_table(con, "raw.areas"), read_table(con, "raw.ev_ownership"),
                                         read_table(con, "raw.population"), config.min_area_match_share)
    for label, ids in missing.items():
        if ids:
            context.log.warning(f"{len(ids)} {label.replace('_', ' ')} (counted as 0): {ids}")
    result = build_demand_points(boundary, zones, ev_as_of(region.bundle()),
                                 DemandConfig(**config.model_dump(exclude={"min_area_match_share"})))
    validation.require_demand(result.points)   # before writing: the previous tables stay
    with warehouse.get_connection() as con:
        rows = replace_tables(con, {"core.area_totals": result.areas,   # one transaction: read together
                                    "core.demand_points": result.points})["core.demand_points"]
    points, totals = result.points, result.areas
    return MaterializeResult(metadata={
        "table": "core.demand_points",
        "dagster/row_count": rows,
        "population": float(points["population"].sum()),
        "ev_count": float(points["ev_count"].sum()),
        "ev_weight": float(points["ev_weight"].sum()),
        "population_outside_boundary": float(totals["population"].sum() - totals["population_inside"].sum()),
        "empty_cells_not_demand_points": result.empty_cells,
        **{label: len(ids) for label, ids in missing.items()},
        "areas": markdown_table(totals.sort_values("ev_count_inside", ascending=False), 30),
    })


@warehouse_asset(
    group_name=DERIVED, deps=[demand_points, charging_stations, candidate_sites],
    description="Sparse (demand point, site) pairs within the largest model radius, KD-tree on UTM (core.coverage).")
def coverage(context: AssetExecutionContext, config: CoveragePairsConfig,
             warehouse: DuckDBResource) -> MaterializeResult:
    with warehouse.get_connection() as con:
        points = read_table(con, "core.demand_points")
        sites = pd.concat([
            read_table(con, "raw.charging_stations")[["site_id", "lat", "lon"]].assign(site_kind="existing"),
            read_table(con, "raw.candidate_sites")[["site_id", "lat", "lon"]].assign(site_kind="candidate"),
        ], ignore_index=True)
    pairs = coverage_pairs(points, sites, CoverageConfig(**config.model_dump()))
    with warehouse.get_connection() as con:
        rows = replace_table(con, "core.coverage", pairs)
    uncovered = int((~points["demand_id"].isin(pairs["demand_id"])).sum())
    context.log.info(f"{rows} pairs for {len(points)} demand points x {len(sites)} sites")
    return MaterializeResult(metadata={
        "table": "core.coverage", "dagster/row_count": rows,
        "max_radius_km": config.max_radius_km,
        "pairs_per_demand_point": rows / max(len(points), 1),
        "demand_points_with_no_site_in_radius": uncovered,
        "density": rows / max(len(points) * len(sites), 1),
    })


@warehouse_asset(
    group_name=DERIVED, deps=[coverage],
    description="Share of population and EVs within the L2 / L3 radius of an existing charger of that level.")
def baseline_coverage_summary(config: CoveragePairsConfig, warehouse: DuckDBResource,
                              reports: ReportsResource) -> MaterializeResult:
    cfg = CoverageConfig(**config.model_dump())
    with warehouse.get_connection() as con:
        points, pairs = read_table(con, "core.demand_points"), read_table(con, "core.coverage")
        stations = read_table(con, "raw.charging_stations")
        summary = baseline_coverage(points, pairs, stations, cfg)
        replace_table(con, "core.baseline_coverage", summary)
        polygons = read_table(con, "raw.areas")[["area_id", "geometry_wkt"]]
    areas_geo = gpd.GeoDataFrame(polygons[["area_id"]], geometry=shapely.from_wkt(polygons["geometry_wkt"].to_numpy()),
                                 crs="EPSG:4326")
    by_area = baseline_coverage_by_area(points, pairs, stations, cfg)
    picture_md = coverage_by_area_map(areas_geo, by_area, stations, {"L2": cfg.radius_l2_km, "L3": cfg.radius_l3_km},
                                      path=reports.path_for("baseline_coverage_by_area.png"))
    return MaterializeResult(metadata={
        "table": "core.baseline_coverage",
        "summary": summary_table(summary, {"radius_km": "coverage radius, km",
                                           "stations": "existing stations of the level",
                                           "population_share": "population within the radius, %",
                                           "ev_share": "EVs within the radius, %",
                                           "demand_points_covered": "demand points within the radius"}),
        "coverage_by_area": picture(picture_md),
        **{f"{r.level}_ev_share": r.ev_share for r in summary.itertuples()}})


@warehouse_check(asset=demand_points, additional_deps=[region_boundary], blocking=True,
                 description="Unique ids, inside the boundary, population and EV totals conserved from the areas.")
def demand_points_conserve_totals(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        points = read_table(con, "core.demand_points")
        totals = read_table(con, "core.area_totals")
        boundary = stored_boundary(con)
    return problems_check(validation.demand_point_problems(points, totals, boundary),
                          population_points=float(points["population"].sum()),
                          population_areas_inside=float(totals["population_inside"].sum()),
                          ev_points=float(points["ev_count"].sum()),
                          ev_areas_inside=float(totals["ev_count_inside"].sum()))


@warehouse_check(asset=coverage, additional_deps=[charging_stations, candidate_sites, demand_points],
                 description="Unique pairs within the radius that reference known demand points and sites.")
def coverage_pairs_consistent(context: AssetCheckExecutionContext, config: CoveragePairsConfig,
                              warehouse: DuckDBResource):
    # the radius the coverage asset actually used (its metadata), not this check's own default config
    event = context.instance.get_latest_materialization_event(coverage.key)
    used = event.asset_materialization.metadata.get("max_radius_km") if event and event.asset_materialization else None
    max_radius_km = float(used.value) if used is not None else config.max_radius_km
    with warehouse.get_connection() as con:
        pairs = read_table(con, "core.coverage")
        demand_ids = read_table(con, "core.demand_points")["demand_id"]
        site_ids = pd.concat([read_table(con, "raw.charging_stations")["site_id"],
                              read_table(con, "raw.candidate_sites")["site_id"]])
    return problems_check(validation.coverage_problems(pairs, demand_ids, site_ids, max_radius_km),
                          max_radius_km_checked=max_radius_km)


@warehouse_check(asset=baseline_coverage_summary, description="Coverage shares lie in [0, 1].")
def baseline_shares_in_range(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        summary = read_table(con, "core.baseline_coverage")
    shares = summary[["population_share", "ev_share"]]
    return problems_check({"share_outside_0_1": int(((shares < 0) | (shares > 1)).to_numpy().sum())})
