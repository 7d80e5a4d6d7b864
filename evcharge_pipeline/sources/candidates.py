"""Candidate sites for new stations: GeoJSON points, or a regular grid inside the boundary."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from evcharge_pipeline.geometry import grid_points_inside, unproject, utm_crs_of
from evcharge_pipeline.sources.geojson import read_points

DEFAULT_GRID_SPACING_M = 500.0


def read_candidate_geojson(path: str | Path, id_field: str | None = None) -> pd.DataFrame:
    points = read_points(path, id_field=id_field)
    ids = points[id_field].astype(str) if id_field else pd.Series([f"cand-{i + 1:05d}" for i in range(len(points))])
    frame = pd.DataFrame({"site_id": ids.to_numpy(), "lat": points.geometry.y.to_numpy(),
                          "lon": points.geometry.x.to_numpy(), "source_kind": "geojson"})
    if "name" in points:
        frame["name"] = points["name"].astype(str).to_numpy()
    return frame


def grid_candidates(boundary: gpd.GeoDataFrame, spacing_m: float = DEFAULT_GRID_SPACING_M) -> pd.DataFrame:
    """Lattice points every `spacing_m` inside the boundary (used when the bundle names no candidate file)."""
    crs = utm_crs_of(boundary)
    xy = grid_points_inside(boundary.to_crs(crs).union_all(), spacing_m)
    lat, lon = unproject(xy[:, 0], xy[:, 1], crs)
    return pd.DataFrame({"site_id": [f"grid-{i + 1:05d}" for i in range(len(xy))], "lat": lat, "lon": lon,
                         "source_kind": "grid"})
