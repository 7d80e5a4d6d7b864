"""A full swap-network study: optimise the plan, simulate it, compare with the naive method, trace service vs cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from evcharge_pipeline.swap.analytic import (
    HOURS_PER_DAY,
    TimeGrid,
    max_level_for,
    pipeline_mean_profile,
    required_level,
    service_table,
)
from evcharge_pipeline.swap.inputs import SwapFleetConfig, SwapInputs, with_overrides
from evcharge_pipeline.swap.milp import DAYS_PER_YEAR, SwapNetworkConfig, SwapNetworkPlan, solve_network
from evcharge_pipeline.swap.simulation import (
    PlanToSimulate,
    ProfileArrivals,
    SimulationConfig,
    SimulationResult,
    simulate_plan,
)

SERVICE_CURVE_LEVELS = tuple(np.round(np.r_[np.arange(0.50, 0.95, 0.01), np.arange(0.95, 0.999, 0.002), 0.999], 4))


@dataclass
class SwapStudy:
    plan: SwapNetworkPlan
    simulation: SimulationResult | None
    naive_simulation: SimulationResult | None
    summary: pd.DataFrame  # one row
    stations: pd.DataFrame
    hubs: pd.DataFrame
    hourly: pd.DataFrame
    comparison: pd.DataFrame
    service_curve: pd.DataFrame


def _arrivals(inputs: SwapInputs, fleet: SwapFleetConfig, grid: TimeGrid, use_log: bool):
    if use_log and inputs.log is not None:
        return inputs.log_arrivals(scale=fleet.daily_swaps / inputs.fleet.daily_swaps), "log_resampled"
    return ProfileArrivals(inputs.station_rates(grid, fleet), grid), "poisson_profile"


def naive_network(inputs: SwapInputs, plan: SwapNetworkPlan, fleet: SwapFleetConfig, network: SwapNetworkConfig,
                  port_margin: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """The 24-hour-average method on the plan's assignment: (spares per station, ports per hub)."""
    daily = fleet.daily_swaps * inputs.hourly_shape.sum(axis=1)
    rate = daily / HOURS_PER_DAY
    tt = plan.stations["transport_hours_one_way"].to_numpy()
    mean = rate * (network.charging_hours + tt)
    z = stats.norm.ppf(network.service_level)
    spares = np.ceil(mean + z * np.sqrt(mean)).astype(int)
    hub_ids = plan.hubs["hub_id"].tolist()
    hub_idx = plan.stations["hub_id"].map({h: i for i, h in enumerate(hub_ids)}).to_numpy()
    load = np.bincount(hub_idx, weights=rate * network.charging_hours, minlength=len(hub_ids))
    ports = np.where(load > 0, np.ceil((1 + port_margin) * load), 0).astype(int)
    return spares, ports


def service_curve(inputs: SwapInputs, plan: SwapNetworkPlan, fleet: SwapFleetConfig, network: SwapNetworkConfig,
                  levels=SERVICE_CURVE_LEVELS) -> pd.DataFrame:
    """Spares and cost for a range of service targets on the plan's assignment and ports.

    Cost = spare battery capital + planning_years x stockout cost; the row with the lowest total is
    the cost-optimal service level for the configured stockout cost.
    """
    grid = TimeGrid(network.step_minutes)
    rate = inputs.station_rates(grid, fleet)
    delta = plan.stations["pipeline_hours_design"].to_numpy()[:, None]
    mean = pipeline_mean_profile(rate, np.broadcast_to(delta, rate.shape), grid)
    table = service_table(rate, mean, grid, max_level_for(mean, inputs.dispersion), inputs.dispersion)
    measure = table.worst_hour_fill_rate if network.service_basis == "worst_hour" else table.fill_rate
    annual = rate.sum(axis=1) * grid.step_hours * DAYS_PER_YEAR
    rows = []
    for alpha in levels:
        k = required_level(measure, float(alpha))
        k = np.where(k < 0, measure.shape[1] - 1, k)
        fill = table.fill_rate[np.arange(len(k)), k]
        battery = network.battery_cost_cad * float(k.sum())
        stockout = network.planning_years * float((annual * (1 - fill)).sum()) * network.stockout_cost_cad
        rows.append({"service_level_target": float(alpha), "spare_batteries": int(k.sum()),
                     "fill_rate": float((annual * fill).sum() / annual.sum()),
                     "battery_cost_cad": battery, "stockout_cost_cad": stockout,
                     "total_cost_cad": battery + stockout})
    curve = pd.DataFrame(rows)
    curve["is_cost_optimal"] = curve["total_cost_cad"] == curve["total_cost_cad"].min()
    curve["stockout_cost_cad_per_swap"] = network.stockout_cost_cad
    return curve


def pooled_spares(inputs: SwapInputs, plan: SwapNetworkPlan, fleet: SwapFleetConfig, network: SwapNetworkConfig) -> int:
    """Spares if all stations drew on one shared stock (a lower bound for what per-station stocks need)."""
    grid = TimeGrid(network.step_minutes)
    rate = inputs.station_rates(grid, fleet)
    delta = plan.stations["pipeline_hours_design"].to_numpy()[:, None]
    mean = pipeline_mean_profile(rate, np.broadcast_to(delta, rate.shape), grid).sum(axis=0)
    total = rate.sum(axis=0)
    table = service_table(total, mean, grid, max_level_for(mean, inputs.dispersion), inputs.dispersion)
    measure = table.worst_hour_fill_rate if network.service_basis == "worst_hour" else table.fill_rate
    return int(required_level(measure, network.service_level))


NAIVE_PIPELINE_BASIS = "charging + one-way trip, 24 h average"


def _comparison_row(method: str, spares: int, ports: int, basis: str, result: SimulationResult) -> dict:
    """One row of the plan-versus-naive comparison: the sizing and what the simulation measured."""
    return {"method": method, "spare_batteries": spares, "charging_ports": ports, "pipeline_hours_basis": basis,
            "sim_fill_rate": result.fill_rate, "sim_fill_rate_ci_low": result.fill_rate_ci_low,
            "sim_fill_rate_ci_high": result.fill_rate_ci_high,
            "sim_port_wait_probability": float(result.per_hub["sim_port_wait_probability"].max()),
            "sim_mean_rider_wait_hours": float(result.per_replication["mean_rider_wait_hours"].mean())}


def _plan_to_simulate(plan: SwapNetworkPlan, spares: np.ndarray, ports: np.ndarray,
                      charging_hours: float) -> PlanToSimulate:
    hub_ids = plan.hubs["hub_id"].tolist()
    return PlanToSimulate(
        station_ids=plan.stations["station_id"].tolist(),
        hub_ids=hub_ids,
        station_hub=plan.stations["hub_id"].map({h: i for i, h in enumerate(hub_ids)}).to_numpy(),
        spares=np.asarray(spares, dtype=int),
        transport_hours=plan.stations["transport_hours_one_way"].to_numpy(),
        hub_ports=np.asarray(ports, dtype=int),
        charging_hours=charging_hours,
    )


def run_study(inputs: SwapInputs, fleet: SwapFleetConfig | None = None, network: SwapNetworkConfig | None = None,
              sim: SimulationConfig | None = SimulationConfig(), use_log: bool = True, compare_naive: bool = True,
              curve: bool = True) -> SwapStudy:
    """Optimise, then (unless `sim` is None) simulate the plan and the naive plan on the same arrivals."""
    fleet = fleet or inputs.fleet
    network = network or inputs.network
    grid = TimeGrid(network.step_minutes)
    plan = solve_network(inputs.network_input(fleet, network), network)
    base = {
        "status": plan.status, "reason": plan.reason, "vehicles": int(fleet.vehicles),
        "swaps_per_vehicle_day": float(fleet.swaps_per_vehicle_day), "charging_hours": network.charging_hours,
        "service_level": network.service_level, "service_basis": network.service_basis,
        "pipeline_distribution": "negative_binomial" if inputs.dispersion.overdispersed else "poisson",
        "log_dispersion_index": inputs.dispersion.dispersion_index, "log_dispersion_p_value": inputs.dispersion.p_value,
        "objective_cad": plan.objective_cad, "build_seconds": plan.build_seconds, "solve_seconds": plan.solve_seconds,
        "mip_gap": plan.mip_gap,
    }
    if not plan.solved:
        summary = pd.DataFrame([base])
        return SwapStudy(plan, None, None, summary, plan.stations, plan.hubs,
                         pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    stations, hubs = plan.stations.copy(), plan.hubs.copy()
    base.update(plan.cost_breakdown)
    base.update({
        "hubs_open": int(hubs["is_open"].sum()), "charging_ports": int(hubs["charging_ports"].sum()),
        "spare_batteries": int(stations["spare_batteries"].sum()),
        "total_batteries": int(fleet.vehicles) + int(stations["spare_batteries"].sum()),
        "pooled_spare_batteries": pooled_spares(inputs, plan, fleet, network),
        "analytic_fill_rate": float((stations["fill_rate"] * stations["swaps_per_day"]).sum()
                                    / stations["swaps_per_day"].sum()),
    })
    result = naive_result = None
    comparison = pd.DataFrame()
    hourly = pd.DataFrame({"hour": np.arange(24),
                           "swaps_per_hour": fleet.daily_swaps * inputs.hourly_shape.sum(axis=0)})
    if sim is not None:
        arrivals, source = _arrivals(inputs, fleet, grid, use_log)
        result = simulate_plan(_plan_to_simulate(plan, stations["spare_batteries"], hubs["charging_ports"],
                                                 network.charging_hours), arrivals, sim)
        stations = stations.merge(result.per_station.drop(columns=["hub_id", "spare_batteries"]), on="station_id")
        hubs = hubs.merge(result.per_hub.drop(columns=["charging_ports"]), on="hub_id")
        base.update(result.summary())
        base["sim_arrivals"] = source
        base["sim_meets_target"] = bool(result.fill_rate_ci_low >= network.service_level)
        base["sim_worst_station_fill_rate_ci_low"] = float(result.per_station["sim_fill_rate_ci_low"].min())
        hourly["sim_fill_rate"] = result.hourly_fill_rate
        rows = [_comparison_row("stochastic_model", base["spare_batteries"], base["charging_ports"],
                                "charging + round trip + port wait", result)]
        if compare_naive:
            spares, ports = naive_network(inputs, plan, fleet, network)
            naive_result = simulate_plan(_plan_to_simulate(plan, spares, ports, network.charging_hours), arrivals, sim)
            rows.append(_comparison_row("naive_24h_average", int(spares.sum()), int(ports.sum()),
                                        NAIVE_PIPELINE_BASIS, naive_result))
            # the naive spares with correctly sized ports isolate the inventory error from the port error
            spares_only = simulate_plan(_plan_to_simulate(plan, spares, hubs["charging_ports"], network.charging_hours),
                                        arrivals, sim)
            rows.append(_comparison_row("naive_spares_model_ports", int(spares.sum()), base["charging_ports"],
                                        NAIVE_PIPELINE_BASIS, spares_only))
        comparison = pd.DataFrame(rows)
    curve_frame = service_curve(inputs, plan, fleet, network) if curve else pd.DataFrame()
    if curve:
        best = curve_frame.loc[curve_frame["is_cost_optimal"]].iloc[0]
        base["cost_optimal_service_level"] = float(best["service_level_target"])
        base["cost_optimal_spare_batteries"] = int(best["spare_batteries"])
    summary = pd.DataFrame([base])
    return SwapStudy(plan, result, naive_result, summary, stations, hubs, hourly, comparison, curve_frame)


# sensitivity partitions: "<parameter>=<value>", grouped by parameter so that --partition-range spans one dimension
SENSITIVITY_VALUES: dict[str, list[float]] = {
    "vehicles_scale": [1.0, 1.5, 2.0, 3.0, 4.0],  # fleet expansion: multiple of the region's fleet
    "swaps_per_vehicle_day": [1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
    "charging_hours": [1.0, 1.5, 2.0, 3.0, 4.0, 5.0],
    "service_level": [0.9, 0.95, 0.98, 0.99, 0.995],
}
SENSITIVITY_KEYS = [f"{name}={value:g}" for name, values in SENSITIVITY_VALUES.items() for value in values]


def parse_scenario(key: str) -> tuple[str, float]:
    """Split a sensitivity key `<parameter>=<value>`."""
    name, _, value = key.partition("=")
    if name not in SENSITIVITY_VALUES:
        raise ValueError(f"unknown sensitivity partition {key!r}")
    return name, float(value)


SENSITIVITY_COLUMNS = {
    "parameter": "string", "value": "float64", "status": "string", "reason": "string",
    "vehicles": "float64", "swaps_per_vehicle_day": "float64", "charging_hours": "float64", "service_level": "float64",
    "station_id": "string", "hub_id": "string", "spare_batteries": "float64", "station_fill_rate": "float64",
    "station_sim_fill_rate": "float64", "hub_charging_ports": "float64",
    "hubs_open": "float64", "total_charging_ports": "float64", "total_spare_batteries": "float64",
    "total_batteries": "float64", "pooled_spare_batteries": "float64", "total_cost_cad": "float64",
    "sim_fill_rate": "float64", "sim_fill_rate_ci_low": "float64", "sim_meets_target": "boolean",
}


def sensitivity_rows(inputs: SwapInputs, key: str, sim: SimulationConfig) -> pd.DataFrame:
    """One scenario: the plan re-optimised with one parameter changed, a row per station."""
    name, value = parse_scenario(key)
    if name == "vehicles_scale":
        overrides = {"vehicles": max(1, round(inputs.fleet.vehicles * value))}
    else:
        overrides = {name: value}
    fleet, network = with_overrides(inputs, **overrides)
    study = run_study(inputs, fleet=fleet, network=network, sim=sim, compare_naive=False, curve=False)
    s = study.summary.iloc[0]
    common = {"parameter": name, "value": value, "status": str(s["status"]), "reason": str(s.get("reason") or ""),
              "vehicles": fleet.vehicles, "swaps_per_vehicle_day": fleet.swaps_per_vehicle_day,
              "charging_hours": network.charging_hours, "service_level": network.service_level}
    for col in ("hubs_open", "pooled_spare_batteries", "total_cost_cad", "sim_fill_rate", "sim_fill_rate_ci_low",
                "sim_meets_target", "total_batteries"):
        common[col] = s.get(col, np.nan)
    common["total_charging_ports"] = s.get("charging_ports", np.nan)
    common["total_spare_batteries"] = s.get("spare_batteries", np.nan)
    if "spare_batteries" in study.stations:
        ports = study.hubs.set_index("hub_id")["charging_ports"]
        frame = pd.DataFrame({
            "station_id": study.stations["station_id"], "hub_id": study.stations["hub_id"],
            "spare_batteries": study.stations["spare_batteries"], "station_fill_rate": study.stations["fill_rate"],
            "station_sim_fill_rate": study.stations.get("sim_fill_rate", np.nan),
            "hub_charging_ports": study.stations["hub_id"].map(ports).to_numpy(),
        }).assign(**common)
    else:
        frame = pd.DataFrame([common])
    frame = frame.reindex(columns=list(SENSITIVITY_COLUMNS))
    return frame.astype(SENSITIVITY_COLUMNS)
