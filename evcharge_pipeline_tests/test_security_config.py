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


# --- every run config of the network, swap, placement and ingest assets --------------------------

from typing import get_args  # noqa: E402

from dagster import Config  # noqa: E402

from evcharge_pipeline.assets import network as network_assets  # noqa: E402
from evcharge_pipeline.assets import placement as placement_assets  # noqa: E402
from evcharge_pipeline.assets import swap as swap_assets  # noqa: E402
from evcharge_pipeline.charging.section import read_charging_section  # noqa: E402
from evcharge_pipeline.region import InputError, load_region  # noqa: E402

RANGED_CONFIGS = [
    (network_assets.NetworkPlanConfig, network_assets.NETWORK_PLAN_RANGES),
    (network_assets.SensitivityConfig, network_assets.NETWORK_PLAN_RANGES),
    (swap_assets.SwapPlanConfig, swap_assets.SIMULATION_RANGES),
    (swap_assets.SwapSensitivityConfig, swap_assets.SIMULATION_RANGES),
    (placement_assets.DemandForecastConfig, placement_assets.FORECAST_RANGES),
    (placement_assets.PlacementPlanConfig, placement_assets.PLACEMENT_RANGES),
    (placement_assets.ShellaiBenchmarkConfig, placement_assets.SHELLAI_RANGES),
]


def numeric_fields(config_class: type[Config]) -> set[str]:
    numeric = set()
    for name, info in config_class.model_fields.items():
        types = get_args(info.annotation) or (info.annotation,)
        if any(t in (int, float) for t in types):
            numeric.add(name)
    return numeric


@pytest.mark.parametrize("config_class, ranges", RANGED_CONFIGS, ids=lambda c: getattr(c, "__name__", ""))
def test_every_number_of_a_run_config_has_a_range_and_the_defaults_hold(config_class, ranges):
    assert numeric_fields(config_class) <= set(ranges), numeric_fields(config_class) - set(ranges)
    config_class()   # the defaults lie in their ranges


@pytest.mark.parametrize("config_class, field, value", [
    (network_assets.NetworkPlanConfig, "radius_l2_km", math.nan),
    (network_assets.NetworkPlanConfig, "radius_l3_km", math.inf),
    (network_assets.NetworkPlanConfig, "max_l3_distance_km", -5.0),
    (network_assets.NetworkPlanConfig, "budget_cad", -1.0),
    (network_assets.NetworkPlanConfig, "phases", 0),
    (network_assets.NetworkPlanConfig, "min_coverage_l3_share", 1.5),
    (network_assets.NetworkPlanConfig, "min_ports_per_100_ev", math.nan),
    (network_assets.NetworkPlanConfig, "mip_gap", 1.0),
    (network_assets.NetworkPlanConfig, "time_limit_seconds", 0.0),
    (network_assets.SensitivityConfig, "candidate_thinning_km", 0.0),
    (swap_assets.SwapPlanConfig, "sim_confidence", 1.0),
    (swap_assets.SwapPlanConfig, "sim_replications", 1),
    (swap_assets.SwapPlanConfig, "seed", -1),
    (swap_assets.SwapSensitivityConfig, "sim_days", 0),
    (placement_assets.DemandForecastConfig, "horizon_years", 0),
    (placement_assets.DemandForecastConfig, "no_history_relative_spread", -0.1),
    (placement_assets.PlacementPlanConfig, "slow_charger_evs", 0.0),
    (placement_assets.PlacementPlanConfig, "unserved_cost_cad_per_ev", -1.0),
    (placement_assets.PlacementPlanConfig, "max_distance_km", math.nan),
    (placement_assets.PlacementPlanConfig, "nearest_sites", 0),
    (placement_assets.ShellaiBenchmarkConfig, "mip_gap", math.nan),
    (ingest_assets.CandidateSitesConfig, "grid_spacing_m", 0.0),
])
def test_out_of_range_run_config_is_refused_naming_the_field(config_class, field, value):
    with pytest.raises(ValueError, match=rf"{field} = {value!r} must be"):
        config_class(**{field: value})


def test_simulation_warmup_must_leave_days_to_measure():
    with pytest.raises(ValueError, match="sim_warmup_days = 5 must be < sim_days = 5"):
        swap_assets.SwapPlanConfig(sim_days=5, sim_warmup_days=5)


def test_a_bad_run_config_fails_the_step_naming_the_field(resources: dict):
    result = materialize([ingest_assets.candidate_sites], resources=resources, raise_on_error=False,
                         run_config={"ops": {"candidate_sites": {"config": {"grid_spacing_m": math.nan}}}})
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "grid_spacing_m = nan must be a finite number" in str(failure.event_specific_data.error.cause.message)


@pytest.mark.parametrize("key, value, message", [
    ("site_limit_kw", "nan", "must be a finite positive number, got nan"),
    ("base_load_kw", "inf", "must be a finite non-negative number, got inf"),
    ("period_minutes", "7.5", "whole number of minutes dividing 60, got 7.5"),
    ("pilot_levels_kw", "[7.2, inf]", "list of positive numbers"),
])
def test_charging_section_numbers_are_finite_and_in_range(sample_region, key: str, value: str, message: str):
    toml = sample_region / "region.toml"
    lines = [line for line in toml.read_text().splitlines() if not line.startswith(f"{key} =")]
    at = lines.index("[charging_sessions]")
    lines.insert(at + 1, f"{key} = {value}")
    toml.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message) as error:
        read_charging_section(load_region(sample_region))
    assert error.value.field == f"charging_sessions.{key}"
