"""Cost model and metrics of a charging schedule, computed with plain numpy/pandas.

This module is the independent check of the optimiser: it evaluates any schedule (optimised or
baseline) with the same documented cost model, without CVXPY.

Battery degradation (documented cost model)
-------------------------------------------
Degradation has two convex piecewise-linear terms:

* **power (cycle) term** - the cost of one kWh charged grows linearly with the charging power
  relative to the session's maximum: ``c * p / p_max`` per kWh at power ``p``, i.e. a quadratic
  ``c * p^2 / p_max`` per hour. The quadratic is replaced by its piecewise-linear interpolation on
  ``segments`` equal power intervals (exact at the breakpoints, convex, slightly above the
  quadratic between them), so the model stays a MILP.
* **SoC (calendar) term** - for sessions whose battery is known, every kWh stored above
  ``high_soc_threshold`` of capacity costs ``high_soc_cad_per_kwh_hour`` per hour it stays there
  (end-of-step SoC). Charging late in the session therefore ages the battery less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evcharge_pipeline.charging.instance import ChargingInstance


@dataclass(frozen=True)
class CostModel:
    """Weights of the schedule objective (currency of the tariff, CAD for the bundled region).

    unmet_penalty_cad_per_kwh: penalty per kWh of requested energy not delivered. The default
        (1000) exceeds the largest demand-charge increase one kWh can cause at any step length
        down to one minute (12 CAD/kW-month * 60 kW per kWh = 720), so delivering energy always
        comes first and cost is minimised among the schedules that deliver the most.
    degradation_cad_per_kwh_at_max_kw: power-term degradation cost of one kWh charged at full power.
    degradation_segments: pieces of the piecewise-linear fit of the power term.
    high_soc_threshold: SoC fraction above which stored energy costs calendar ageing.
    high_soc_cad_per_kwh_hour: calendar-ageing cost per kWh above the threshold per hour.
    """

    unmet_penalty_cad_per_kwh: float = 1000.0
    degradation_cad_per_kwh_at_max_kw: float = 0.02
    degradation_segments: int = 4
    high_soc_threshold: float = 0.8
    high_soc_cad_per_kwh_hour: float = 0.002

    def breakpoints(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, self.degradation_segments + 1)


def degradation_power_kw_equiv(power_kw: np.ndarray, max_kw: np.ndarray, cost: CostModel) -> np.ndarray:
    """The piecewise-linear fit of ``p^2 / p_max`` (kW), per pair: max over the secant lines."""
    f = cost.breakpoints()
    lines = [(f[k] + f[k + 1]) * power_kw - f[k] * f[k + 1] * max_kw for k in range(len(f) - 1)]
    return np.maximum(np.max(np.vstack(lines), axis=0), 0.0) if lines else np.zeros_like(power_kw)


def soc_end_kwh(inst: ChargingInstance, power_kw: np.ndarray) -> np.ndarray:
    """Battery energy at the end of each pair's step (NaN where the battery is unknown)."""
    energy = inst.charging_efficiency * inst.period_hours * power_kw
    total = np.cumsum(energy)
    # cumulative energy within the session: subtract the running total before the session's first pair
    first = np.flatnonzero(inst.pair_offset == 0)
    base = np.zeros(inst.n_sessions)
    sessions_with_pairs = inst.pair_session[first]
    base[sessions_with_pairs] = total[first] - energy[first]
    within = total - base[inst.pair_session]
    return inst.soc_start_kwh[inst.pair_session] + within


def objective_terms(
    inst: ChargingInstance,
    power_kw: np.ndarray,
    cost: CostModel,
    demand_charge_cad_per_kw: float,
    peak_floor_kw: float = 0.0,
) -> dict[str, float]:
    """Every term of the objective for a schedule (``power_kw`` per pair) of ``inst``.

    The demand charge is ``rate * (peak - peak_floor)`` where ``peak`` is the highest total load
    (charging + base load) over the instance, at least ``peak_floor`` (the peak already billed
    this month).
    """
    dt = inst.period_hours
    load = inst.load_kw(power_kw)
    total = load + inst.base_load_kw
    peak = max(float(total.max()) if len(total) else 0.0, peak_floor_kw)
    delivered = inst.delivered_kwh(power_kw)
    pmax = inst.max_power_kw[inst.pair_session]
    deg_power = (cost.degradation_cad_per_kwh_at_max_kw * dt
                 * float(degradation_power_kw_equiv(power_kw, pmax, cost).sum()))
    deg_soc = 0.0
    known = ~np.isnan(inst.battery_capacity_kwh[inst.pair_session])
    if known.any() and cost.high_soc_cad_per_kwh_hour > 0:
        soc = soc_end_kwh(inst, power_kw)[known]
        thr = cost.high_soc_threshold * inst.battery_capacity_kwh[inst.pair_session][known]
        deg_soc = cost.high_soc_cad_per_kwh_hour * dt * float(np.maximum(soc - thr, 0.0).sum())
    unmet = float(np.maximum(inst.energy_kwh - delivered, 0.0).sum())
    terms = {
        "energy_cost": float(dt * inst.price_per_kwh @ load),
        "demand_charge": float(demand_charge_cad_per_kw * (peak - peak_floor_kw)),
        "degradation_cost": deg_power + deg_soc,
        "unmet_kwh": unmet,
        "unmet_penalty": cost.unmet_penalty_cad_per_kwh * unmet,
        "peak_kw": peak,
    }
    terms["objective"] = (terms["energy_cost"] + terms["demand_charge"] + terms["degradation_cost"]
                          + terms["unmet_penalty"])
    return terms


def schedule_frame(inst: ChargingInstance, power_kw: np.ndarray, method: str,
                   threshold_kw: float = 1e-6) -> pd.DataFrame:
    """Rows ``method, session_id, period_start, power_kw`` for every pair with power above ``threshold_kw``."""
    keep = power_kw > threshold_kw
    return pd.DataFrame({
        "method": method,
        "session_id": inst.session_id[inst.pair_session[keep]],
        "period_start": inst.period_start[inst.pair_step[keep]],
        "power_kw": power_kw[keep],
    })


METRIC_COLUMNS = [
    "method", "energy_requested_kwh", "energy_delivered_kwh", "energy_delivered_share", "sessions",
    "sessions_fully_served", "peak_kw", "energy_cost", "demand_charge", "degradation_cost", "solve_seconds",
]


def schedule_metrics(
    sessions: pd.DataFrame,
    schedule: pd.DataFrame,
    period_minutes: int,
    prices_for,
    months_of,
    demand_charge_cad_per_kw_month: float,
    cost: CostModel,
    base_load_kw: float = 0.0,
    served_tolerance_kwh: float = 1e-3,
) -> dict[str, float]:
    """Metrics of one method's committed schedule over a whole period, from the schedule rows alone.

    ``sessions``: common session schema (requested energy, battery); ``schedule``: rows
    ``session_id, period_start, power_kw`` of one method. ``prices_for``/``months_of`` map a
    DatetimeIndex to prices and billing months (see :class:`Tariff`). The demand charge is the
    rate times the peak of each billing month (charging + base load), summed over months.
    """
    dt = period_minutes / 60.0
    requested = float(sessions["energy_kwh"].sum())
    per_session = (schedule.groupby("session_id")["power_kw"].sum() * dt) if len(schedule) else pd.Series(dtype=float)
    delivered_by_session = sessions["session_id"].map(per_session).fillna(0.0).to_numpy()
    delivered = float(delivered_by_session.sum())
    fully = int((delivered_by_session >= sessions["energy_kwh"].to_numpy() - served_tolerance_kwh).sum())
    if len(schedule):
        load = schedule.groupby("period_start")["power_kw"].sum()
        idx = pd.DatetimeIndex(load.index)
        energy_cost = float((prices_for(idx) * load.to_numpy()).sum() * dt)
        total = load.to_numpy() + base_load_kw
        monthly = pd.Series(total).groupby(months_of(idx)).max()
        peak = float(total.max())
        demand = float(demand_charge_cad_per_kw_month * monthly.sum())
    else:
        energy_cost, peak, demand = 0.0, float(base_load_kw), 0.0
    deg = 0.0
    if len(schedule):
        merged = schedule.merge(sessions[["session_id", "max_power_kw", "battery_capacity_kwh"]], on="session_id",
                                how="left")
        p = merged["power_kw"].to_numpy()
        pmax = np.maximum(merged["max_power_kw"].to_numpy(dtype=float), p)
        deg = cost.degradation_cad_per_kwh_at_max_kw * dt * float(degradation_power_kw_equiv(p, pmax, cost).sum())
    return {
        "energy_requested_kwh": requested,
        "energy_delivered_kwh": delivered,
        "energy_delivered_share": delivered / requested if requested > 0 else 1.0,
        "sessions": len(sessions),
        "sessions_fully_served": fully,
        "peak_kw": peak,
        "energy_cost": energy_cost,
        "demand_charge": demand,
        "degradation_cost": deg,
    }
