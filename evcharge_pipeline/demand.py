"""Demand points: area statistics spread over a regular grid clipped to the region boundary.

Each area's population and EV count is split over the grid cells it overlaps in proportion to the
overlap area (areal weighting). Transit-stop density was considered as a weight and rejected: stops
follow service corridors, not where people live and park overnight, and would pull residential EV
demand onto arterials. Areas that extend beyond the boundary contribute only the share of their
land inside it; that share is reported, and the totals inside are conserved exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from evcharge_pipeline.geometry import pairs_within, project, square_grid, unproject, utm_crs_of


@dataclass(frozen=True)
class DemandConfig:
    """How demand points are derived."""

    cell_size_m: float = 500.0               # side of a grid cell
    ev_growth_rate_per_year: float = 0.20    # annual growth of the EV fleet used to project ev_weight
    horizon_year: int = 2030                 # year ev_weight is projected to


@dataclass(frozen=True)
class CoverageConfig:
    """Radii of the coverage pairs and of the baseline summary."""

    max_radius_km: float = 5.0     # the largest radius any model uses; pairs beyond it are not stored
    radius_l2_km: float = 1.0      # walking distance to a destination L2 charger
    radius_l3_km: float = 3.0      # short detour to a DC fast charger


@dataclass(frozen=True)
class DemandResult:
    points: pd.DataFrame           # core.demand_points
    areas: pd.DataFrame            # per-area totals and the share inside the boundary
    empty_cells: int               # cells inside the boundary with no population and no EVs (not demand points)


def _year_of(as_of: object) -> int:
    return int(str(as_of)[:4])


def build_demand_points(boundary: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, ev_as_of: object,
                        config: DemandConfig = DemandConfig()) -> DemandResult:
    """`areas` carries area_id, population and ev_count (WGS84); returns demand points and area totals."""
    crs = utm_crs_of(boundary)
    region = boundary.to_crs(crs).union_all()
    zones = areas[["area_id", "population", "ev_count", "geometry"]].to_crs(crs)
    zones["area_m2"] = zones.area
    cells = square_grid(region, config.cell_size_m).set_crs(crs)
    pieces = gpd.overlay(cells, zones, how="intersection", keep_geom_type=True)
    pieces["piece_m2"] = pieces.area
    share = pieces["piece_m2"] / pieces["area_m2"]
    pieces["population"] = pieces["population"] * share
    pieces["ev_count"] = pieces["ev_count"] * share

    largest_first = pieces.sort_values("piece_m2", ascending=False)
    dominant = largest_first.drop_duplicates("cell_id").set_index("cell_id")["area_id"]
    totals = pieces.groupby("cell_id")[["population", "ev_count"]].sum()
    occupied = (totals["population"] > 0) | (totals["ev_count"] > 0)
    totals = totals[occupied]
    anchors = cells.set_index("cell_id").loc[totals.index].geometry.representative_point()
    lat, lon = unproject(anchors.x.to_numpy(), anchors.y.to_numpy(), crs)
    growth = (1.0 + config.ev_growth_rate_per_year) ** max(0, config.horizon_year - _year_of(ev_as_of))
    points = pd.DataFrame({
        "demand_id": np.arange(1, len(totals) + 1, dtype="int64"),
        "cell_id": totals.index.to_numpy(dtype="int64"),
        "lat": lat, "lon": lon,
        "x_m": anchors.x.to_numpy(), "y_m": anchors.y.to_numpy(),
        "area_id": dominant.loc[totals.index].to_numpy(),
        "population": totals["population"].to_numpy(),
        "ev_count": totals["ev_count"].to_numpy(),
    })
    points["ev_weight"] = points["ev_count"] * growth
    points["utm_epsg"] = crs.to_epsg()

    inside = pieces.groupby("area_id")["piece_m2"].sum()
    area_totals = pd.DataFrame({"area_id": zones["area_id"], "area_km2": zones["area_m2"] / 1e6,
                                "population": zones["population"], "ev_count": zones["ev_count"]})
    inside_m2 = area_totals["area_id"].map(inside).fillna(0.0)
    area_totals["inside_share"] = (inside_m2 / (area_totals["area_km2"] * 1e6)).clip(0, 1)
    area_totals["population_inside"] = area_totals["population"] * area_totals["inside_share"]
    area_totals["ev_count_inside"] = area_totals["ev_count"] * area_totals["inside_share"]
    return DemandResult(points=points, areas=area_totals, empty_cells=int((~occupied).sum()))


def coverage_pairs(points: pd.DataFrame, sites: pd.DataFrame,
                   config: CoverageConfig = CoverageConfig()) -> pd.DataFrame:
    """core.coverage: (demand_id, site_id, site_kind, distance_km) for pairs within `max_radius_km`.

    `sites` has site_id, site_kind, lat, lon; distances are straight-line on the demand points' UTM zone.
    """
    crs = int(points["utm_epsg"].iloc[0])
    sx, sy = project(sites["lat"].to_numpy(), sites["lon"].to_numpy(), f"EPSG:{crs}")
    pairs = pairs_within(points[["x_m", "y_m"]].to_numpy(), np.column_stack([sx, sy]), config.max_radius_km * 1000.0)
    return pd.DataFrame({
        "demand_id": points["demand_id"].to_numpy()[pairs["origin"].to_numpy()],
        "site_id": sites["site_id"].to_numpy()[pairs["target"].to_numpy()],
        "site_kind": sites["site_kind"].to_numpy()[pairs["target"].to_numpy()],
        "distance_km": pairs["distance_km"].to_numpy(),
    })


def _covered_by_level(points: pd.DataFrame, coverage: pd.DataFrame, stations: pd.DataFrame,
                      config: CoverageConfig) -> dict[str, pd.Series]:
    existing = coverage[coverage["site_kind"] == "existing"].merge(stations[["site_id", "level"]], on="site_id")
    out = {}
    for level, radius in (("L2", config.radius_l2_km), ("L3", config.radius_l3_km)):
        near = existing[(existing["level"] == level) & (existing["distance_km"] <= radius)]["demand_id"].unique()
        out[level] = points["demand_id"].isin(near)
    return out


def baseline_coverage_by_area(points: pd.DataFrame, coverage: pd.DataFrame, stations: pd.DataFrame,
                              config: CoverageConfig = CoverageConfig()) -> pd.DataFrame:
    """Per area (of the demand points) and level: EVs, EVs within the level's radius of an existing charger
    of that level, and their share (NaN for an area without EVs)."""
    rows = []
    for level, covered in _covered_by_level(points, coverage, stations, config).items():
        frame = points.assign(covered_evs=points["ev_count"].where(covered, 0.0))
        by_area = frame.groupby("area_id")[["ev_count", "covered_evs"]].sum().reset_index()
        by_area["level"] = level
        rows.append(by_area)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["area_id", "ev_count", "covered_evs", "level"])
    out["ev_share"] = out["covered_evs"] / out["ev_count"].where(out["ev_count"] > 0)
    return out[["level", "area_id", "ev_count", "covered_evs", "ev_share"]]


def baseline_coverage(points: pd.DataFrame, coverage: pd.DataFrame, stations: pd.DataFrame,
                      config: CoverageConfig = CoverageConfig()) -> pd.DataFrame:
    """Share of population and EVs within each level's radius of an existing charger of that level."""
    rows = []
    radii = {"L2": config.radius_l2_km, "L3": config.radius_l3_km}
    for level, covered in _covered_by_level(points, coverage, stations, config).items():
        radius = radii[level]
        rows.append({
            "level": level, "radius_km": radius,
            "stations": int((stations["level"] == level).sum()),
            "population_share": float(points.loc[covered, "population"].sum() / max(points["population"].sum(), 1e-12)),
            "ev_share": float(points.loc[covered, "ev_count"].sum() / max(points["ev_count"].sum(), 1e-12)),
            "demand_points_covered": int(covered.sum()),
        })
    return pd.DataFrame(rows)
