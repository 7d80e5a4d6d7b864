"""Geometry and demand derivation against independent computations on small inputs."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from evcharge_pipeline.demand import CoverageConfig, DemandConfig, build_demand_points, coverage_pairs
from evcharge_pipeline.geometry import pairs_within, project, utm_crs_for


def test_pairs_within_matches_brute_force():
    rng = np.random.default_rng(3)
    origins = rng.uniform(0, 20_000, size=(400, 2))
    targets = np.vstack([rng.uniform(0, 20_000, size=(150, 2)), origins[:3]])  # include zero distances
    pairs = pairs_within(origins, targets, 2_500)
    dense = np.linalg.norm(origins[:, None, :] - targets[None, :, :], axis=2)
    expected = np.argwhere(dense <= 2_500)
    assert len(pairs) == len(expected)
    assert set(zip(pairs["origin"], pairs["target"], strict=True)) == set(map(tuple, expected))
    np.testing.assert_allclose(pairs["distance_km"], dense[pairs["origin"], pairs["target"]] / 1000)
    assert (pairs["distance_km"] == 0).sum() >= 3


def test_utm_distance_agrees_with_geodesic():
    from pyproj import Geod

    lat, lon = np.array([43.45, 43.50]), np.array([-80.49, -80.40])
    x, y = project(lat, lon, utm_crs_for(-80.45, 43.47))
    planar = np.hypot(x[1] - x[0], y[1] - y[0])
    _, _, geodesic = Geod(ellps="WGS84").inv(lon[0], lat[0], lon[1], lat[1])
    assert planar == pytest.approx(geodesic, rel=2e-3)


def _square(lon0, lat0, size_deg):
    return shapely.box(lon0, lat0, lon0 + size_deg, lat0 + size_deg)


def test_demand_totals_conserved_and_outside_share_reported():
    boundary = gpd.GeoDataFrame(geometry=[_square(-80.5, 43.4, 0.1)], crs="EPSG:4326")
    areas = gpd.GeoDataFrame({
        "area_id": ["A", "B", "C"],
        "population": [1000.0, 3000.0, 500.0],
        "ev_count": [10.0, 60.0, 5.0],
    }, geometry=[_square(-80.5, 43.4, 0.05), _square(-80.45, 43.4, 0.05),
                 shapely.box(-80.5, 43.45, -80.35, 43.5)],  # C extends beyond the boundary by a third
        crs="EPSG:4326")
    result = build_demand_points(boundary, areas, "2024-09-30", DemandConfig(cell_size_m=400, horizon_year=2026,
                                                                            ev_growth_rate_per_year=0.1))
    totals = result.areas.set_index("area_id")
    assert totals.loc["A", "inside_share"] == pytest.approx(1, abs=1e-3)  # edges bend slightly in UTM
    assert totals.loc["C", "inside_share"] == pytest.approx(2 / 3, rel=0.01)
    assert result.points["population"].sum() == pytest.approx(totals["population_inside"].sum(), rel=1e-9)
    assert result.points["ev_count"].sum() == pytest.approx(totals["ev_count_inside"].sum(), rel=1e-9)
    assert result.points["ev_weight"].sum() == pytest.approx(result.points["ev_count"].sum() * 1.1 ** 2, rel=1e-9)
    assert result.points["demand_id"].is_unique
    by_area = result.points.groupby("area_id")["population"].sum()
    assert by_area["B"] > by_area["A"]


def test_coverage_pairs_are_sparse_and_labelled():
    points = pd.DataFrame({"demand_id": [1, 2], "lat": [43.45, 43.60], "lon": [-80.49, -80.49]})
    crs = utm_crs_for(-80.49, 43.5)
    x, y = project(points["lat"].to_numpy(), points["lon"].to_numpy(), crs)
    points = points.assign(x_m=x, y_m=y, utm_epsg=crs.to_epsg())
    sites = pd.DataFrame({"site_id": ["s1", "c1"], "site_kind": ["existing", "candidate"],
                          "lat": [43.46, 43.45], "lon": [-80.49, -80.60]})
    pairs = coverage_pairs(points, sites, CoverageConfig(max_radius_km=5))
    assert list(zip(pairs["demand_id"], pairs["site_id"], pairs["site_kind"], strict=True)) == [(1, "s1", "existing")]
    assert pairs["distance_km"].iloc[0] == pytest.approx(1.11, abs=0.01)
