"""Run config numbers are range-checked, and the coverage check uses the radius the asset used."""

from __future__ import annotations

import math

import pytest
from dagster import materialize

from evcharge_pipeline import validation
from evcharge_pipeline.assets import demand as demand_assets
from evcharge_pipeline.assets import ingest as ingest_assets
from evcharge_pipeline.assets.demand import CoveragePairsConfig, DemandPointsConfig


@pytest.mark.parametrize("field, value", [("max_radius_km", math.nan), ("max_radius_km", 0.0),
                                          ("radius_l2_km", -1.0), ("radius_l3_km", math.inf)])
def test_coverage_radii_must_be_positive_and_finite(field: str, value: float):
    with pytest.raises(ValueError, match=field):
        CoveragePairsConfig(**{field: value})


@pytest.mark.parametrize("field, value", [("ev_growth_rate_per_year", -0.1), ("cell_size_m", math.nan),
                                          ("min_area_match_share", 1.5), ("horizon_year", 1900)])
def test_demand_config_is_range_checked(field: str, value: float):
    with pytest.raises(ValueError, match=field):
        DemandPointsConfig(**{field: value})


def test_check_range_helper():
    assert validation.check_range("x", 0.5, minimum=0, maximum=1) == 0.5
    with pytest.raises(ValueError, match=r"x = nan must be a finite number >= 0 and <= 1"):
        validation.check_range("x", math.nan, minimum=0, maximum=1)
    with pytest.raises(ValueError, match=r"> 0"):
        validation.check_range("r", 0.0, minimum=0, exclusive_minimum=True)


def test_coverage_check_reads_the_radius_the_asset_used(resources: dict):
    wide = 2 * CoveragePairsConfig().max_radius_km
    assets = [ingest_assets.region_boundary, ingest_assets.areas, ingest_assets.ev_ownership,
              ingest_assets.population, ingest_assets.charging_stations, ingest_assets.candidate_sites,
              demand_assets.demand_points, demand_assets.coverage, demand_assets.coverage_pairs_consistent]
    result = materialize(assets, resources=resources,
                         run_config={"ops": {"coverage": {"config": {"max_radius_km": wide}}}})
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "coverage_pairs_consistent"]
    assert check.passed, check.description
    assert check.metadata["max_radius_km_checked"].value == wide
