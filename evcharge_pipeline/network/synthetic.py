"""Synthetic instances shaped like the contracted tables (tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from evcharge_pipeline.network.inputs import EARTH_RADIUS_KM, haversine_km, unit_vectors

ORIGIN_LAT, ORIGIN_LON = 43.45, -80.49


@dataclass
class SyntheticInstance:
    stations: pd.DataFrame      # like raw.charging_stations
    candidates: pd.DataFrame    # like raw.candidate_sites
    demand: pd.DataFrame        # like core.demand_points
    coverage: pd.DataFrame      # like core.coverage


def _to_latlon(x_km: np.ndarray, y_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lat = ORIGIN_LAT + y_km / 111.32
    lon = ORIGIN_LON + x_km / (111.32 * np.cos(np.radians(ORIGIN_LAT)))
    return lat, lon


def coverage_pairs(demand: pd.DataFrame, sites: pd.DataFrame, radius_km: float) -> pd.DataFrame:
    """(demand_id, site_id, site_kind, distance_km) within `radius_km` (great-circle)."""
    if len(demand) == 0 or len(sites) == 0:
        return pd.DataFrame({"demand_id": [], "site_id": [], "site_kind": [], "distance_km": []})
    chord = 2 * EARTH_RADIUS_KM * np.sin(radius_km / (2 * EARTH_RADIUS_KM))
    tree_d = cKDTree(unit_vectors(demand["lat"], demand["lon"]))
    tree_s = cKDTree(unit_vectors(sites["lat"], sites["lon"]))
    pairs = tree_d.sparse_distance_matrix(tree_s, chord * 1.0000001, output_type="ndarray")
    i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    dist = haversine_km(demand["lat"].to_numpy()[i], demand["lon"].to_numpy()[i],
                        sites["lat"].to_numpy()[j], sites["lon"].to_numpy()[j])
    keep = dist <= radius_km
    frame = pd.DataFrame({
        "demand_id": demand["demand_id"].to_numpy()[i[keep]],
        "site_id": sites["site_id"].to_numpy()[j[keep]],
        "site_kind": sites["site_kind"].to_numpy()[j[keep]],
        "distance_km": dist[keep],
    })
    return frame.sort_values(["demand_id", "site_id"], ignore_index=True)


def make_instance(n_demand: int = 200, n_candidates: int = 30, n_existing: int = 10, extent_km: float = 20.0,
                  n_areas: int = 4, coverage_radius_km: float = 5.0, seed: int = 0,
                  l3_share: float = 0.15, clustered: bool = True) -> SyntheticInstance:
    rng = np.random.default_rng(seed)
    if clustered:
        centres = rng.uniform(0.15 * extent_km, 0.85 * extent_km, size=(max(2, n_demand // 2000 + 3), 2))
        which = rng.integers(0, len(centres), n_demand)
        xy = centres[which] + rng.normal(0, extent_km / 8, size=(n_demand, 2))
        xy = np.clip(xy, 0, extent_km)
    else:
        xy = rng.uniform(0, extent_km, size=(n_demand, 2))
    lat, lon = _to_latlon(xy[:, 0], xy[:, 1])
    side = int(np.ceil(np.sqrt(n_areas)))
    area = (np.minimum((xy[:, 0] / extent_km * side).astype(int), side - 1) * side
            + np.minimum((xy[:, 1] / extent_km * side).astype(int), side - 1))
    population = rng.gamma(2.0, 150.0, n_demand).round(1)
    ev = (population * rng.uniform(0.02, 0.08, n_demand)).round(2)
    demand = pd.DataFrame({
        "demand_id": np.arange(1, n_demand + 1, dtype=np.int64), "lat": lat, "lon": lon,
        "x_m": xy[:, 0] * 1000, "y_m": xy[:, 1] * 1000, "area_id": [f"A{a:02d}" for a in area],
        "population": population, "ev_count": ev, "ev_weight": ev / max(ev.sum(), 1e-12),
    })
    sxy = xy[rng.choice(n_demand, n_existing, replace=n_existing > n_demand)] + rng.normal(0, 0.3, (n_existing, 2))
    slat, slon = _to_latlon(sxy[:, 0], sxy[:, 1])
    level = np.where(rng.random(n_existing) < l3_share, "L3", "L2")
    stations = pd.DataFrame({
        "site_id": [f"S{i:04d}" for i in range(n_existing)], "name": [f"Station {i}" for i in range(n_existing)],
        "lat": slat, "lon": slon, "level": level, "ports": rng.integers(1, 4, n_existing),
        "power_kw": np.where(level == "L3", 50.0, 7.2), "operator": "synthetic", "status": "operational",
    })
    cxy = rng.uniform(0, extent_km, size=(n_candidates, 2))
    clat, clon = _to_latlon(cxy[:, 0], cxy[:, 1])
    candidates = pd.DataFrame({"site_id": [f"C{i:05d}" for i in range(n_candidates)], "lat": clat, "lon": clon,
                               "source_kind": "grid"})
    sites = pd.concat([stations[["site_id", "lat", "lon"]].assign(site_kind="existing"),
                       candidates[["site_id", "lat", "lon"]].assign(site_kind="candidate")], ignore_index=True)
    coverage = coverage_pairs(demand, sites, coverage_radius_km)
    return SyntheticInstance(stations, candidates, demand, coverage)
