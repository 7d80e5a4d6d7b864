"""Projection, grids and sparse distance pairs on projected (UTM) coordinates."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy.spatial import cKDTree


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS84 UTM zone containing (lon, lat)."""
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def utm_crs_of(geometry: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    centroid = geometry.to_crs("EPSG:4326").union_all().centroid
    return utm_crs_for(centroid.x, centroid.y)


def project(lat: np.ndarray, lon: np.ndarray, crs: CRS | str) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees to metres in `crs` (a CRS or a string such as "EPSG:32617")."""
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x), np.asarray(y)


def unproject(x: np.ndarray, y: np.ndarray, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """Metres in `crs` to WGS84 (lat, lon)."""
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lat), np.asarray(lon)


def square_grid(boundary_utm: shapely.Geometry, spacing_m: float) -> gpd.GeoDataFrame:
    """Square cells of `spacing_m` covering the boundary, clipped to it (empty cells removed)."""
    if spacing_m <= 0:
        raise ValueError(f"grid spacing must be positive, got {spacing_m} m")
    minx, miny, maxx, maxy = boundary_utm.bounds
    xs = np.arange(np.floor(minx / spacing_m) * spacing_m, maxx, spacing_m)
    ys = np.arange(np.floor(miny / spacing_m) * spacing_m, maxy, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + spacing_m, gy.ravel() + spacing_m)
    shapely.prepare(boundary_utm)
    touching = shapely.intersects(boundary_utm, cells)
    clipped = shapely.intersection(cells[touching], boundary_utm)
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 0)
    return gpd.GeoDataFrame({"cell_id": np.flatnonzero(touching)[keep]}, geometry=clipped[keep])


def grid_points_inside(boundary_utm: shapely.Geometry, spacing_m: float) -> np.ndarray:
    """Regular lattice points (cell centres) strictly inside the boundary, as an (n, 2) array of metres."""
    if spacing_m <= 0:
        raise ValueError(f"grid spacing must be positive, got {spacing_m} m")
    minx, miny, maxx, maxy = boundary_utm.bounds
    xs = np.arange(np.floor(minx / spacing_m) * spacing_m + spacing_m / 2, maxx, spacing_m)
    ys = np.arange(np.floor(miny / spacing_m) * spacing_m + spacing_m / 2, maxy, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    shapely.prepare(boundary_utm)
    inside = shapely.contains_xy(boundary_utm, gx.ravel(), gy.ravel())
    return np.column_stack([gx.ravel()[inside], gy.ravel()[inside]])


def pairs_within(origin_xy: np.ndarray, target_xy: np.ndarray, radius_m: float) -> pd.DataFrame:
    """Sparse (origin index, target index, distance_km) for every pair within `radius_m`, via KD-trees."""
    if len(origin_xy) == 0 or len(target_xy) == 0:
        return pd.DataFrame({"origin": np.array([], dtype="int64"), "target": np.array([], dtype="int64"),
                             "distance_km": np.array([], dtype=float)})
    origins, targets = cKDTree(origin_xy), cKDTree(target_xy)
    # "ndarray" output keeps zero-distance pairs (a site on a demand point), which sparse matrices drop.
    pairs = origins.sparse_distance_matrix(targets, radius_m, output_type="ndarray")
    pairs.sort(order=["i", "j"])
    return pd.DataFrame({"origin": pairs["i"].astype("int64"), "target": pairs["j"].astype("int64"),
                         "distance_km": pairs["v"] / 1000.0})
