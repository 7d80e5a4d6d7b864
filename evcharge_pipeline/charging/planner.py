"""Day-by-day planning of a session log with every method, carrying connected cars across midnight.

For each local day, the cars connected during that day (arrived that day, or earlier and still
plugged in with energy left) are scheduled from local midnight to their departures, taking off
what earlier days already delivered. Only the day's own steps are committed; the next day
re-plans the cars still connected. The month's committed peak is the demand-charge floor, so the
charge is paid once per month. Baselines run through the same loop (their state is the energy
still needed, so this equals one continuous simulation).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evcharge_pipeline.charging.baselines import BASELINES, simulate_baseline
from evcharge_pipeline.charging.instance import SiteConfig, build_instance
from evcharge_pipeline.charging.metrics import objective_terms, schedule_frame
from evcharge_pipeline.charging.model import ChargingModelConfig, ScheduleResult, solve_offline, solve_online
from evcharge_pipeline.charging.prices import Tariff

OPTIMISED = ("milp_offline", "milp_online")
ALL_METHODS = OPTIMISED + BASELINES


def local_days(sessions: pd.DataFrame, timezone: str) -> list[pd.Timestamp]:
    """Local calendar days (midnights, tz-aware) from the first arrival to the last arrival."""
    if sessions.empty:
        return []
    first = sessions["arrival"].min().tz_convert(timezone).normalize()
    last = sessions["arrival"].max().tz_convert(timezone).normalize()
    return list(pd.date_range(first.tz_localize(None), last.tz_localize(None), freq="D").tz_localize(timezone))


def forecast_days(sessions: pd.DataFrame, day: pd.Timestamp, weeks: int) -> list[int]:
    """How many days back the forecast of local day ``day`` looks: the same weekday of each of the
    ``weeks`` previous weeks that the log covers; when it covers none of them (the log's first week),
    the latest earlier day of the same kind (Monday-Friday or weekend) the log covers."""
    if sessions.empty or weeks <= 0:
        return []
    first = sessions["arrival"].min().tz_convert(day.tz).normalize().tz_localize(None)
    local = day.tz_localize(None)
    back = [7 * k for k in range(1, weeks + 1) if local - pd.Timedelta(days=7 * k) >= first]
    if back:
        return back
    weekend = local.weekday() >= 5
    for j in range(1, 7):
        other = local - pd.Timedelta(days=j)
        if other < first:
            break
        if (other.weekday() >= 5) == weekend:
            return [j]
    return []


def forecast_sessions(sessions: pd.DataFrame, day: pd.Timestamp, weeks: int,
                      energy_factor: float = 1.0) -> pd.DataFrame:
    """Forecast cars of local day ``day``: the sessions that arrived on the days of :func:`forecast_days`,
    moved forward to ``day`` (same clock time), energy times ``energy_factor`` divided by the number
    of those days (``energy_factor`` 1 = their average). Only sessions that arrived before ``day`` are used, so the
    forecast is causal. Ids are prefixed ``forecast<days back>:``; batteries are left unknown."""
    day_start = day.tz_convert("UTC")
    day_end = (day.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(day.tz).tz_convert("UTC")
    back = forecast_days(sessions, day, weeks)
    frames = []
    for j in back:
        shift = pd.Timedelta(days=j)
        past = sessions[(sessions["arrival"] >= day_start - shift) & (sessions["arrival"] < day_end - shift)
                        & (sessions["arrival"] < day_start)].copy()
        past["arrival"] += shift
        past["departure"] += shift
        past["energy_kwh"] = past["energy_kwh"] * energy_factor / len(back)
        past["session_id"] = f"forecast{j}:" + past["session_id"].astype(str)
        for col in ("battery_capacity_kwh", "soc_arrival", "soc_max"):
            past[col] = float("nan")
        frames.append(past)
    return pd.concat(frames, ignore_index=True) if frames else sessions.iloc[:0].copy()


def _online_with_forecast(sessions, sel, inst, site, tariff, model, done, day, day_end, demand_rate,
                          peak_floor_kw) -> ScheduleResult:
    """The rolling-horizon plan of ``inst`` with forecast cars appended (planned for, never committed)."""
    day_start = day.tz_convert("UTC")
    phantom = forecast_sessions(sessions, day, model.online_forecast_weeks, model.forecast_energy_factor)
    end = inst.period_start[-1] + pd.Timedelta(hours=inst.period_hours) if inst.n_steps else day_end
    phantom = phantom[phantom["arrival"] < end]
    if phantom.empty:
        return solve_online(inst, model, demand_rate, peak_floor_kw)
    phantom = phantom.assign(departure=phantom["departure"].where(phantom["departure"] < end, end))
    ext = build_instance(pd.concat([sel, phantom], ignore_index=True), site, tariff, day_start, end=end,
                         delivered_kwh=done)
    ext.forecast = np.r_[np.zeros(len(sel), bool), np.ones(len(phantom), bool)]
    res = solve_online(ext, model, demand_rate, peak_floor_kw)
    res.power_kw = res.power_kw[: inst.n_pairs]  # real sessions come first, so their pairs do too
    res.objective = objective_terms(inst, res.power_kw, model.cost, demand_rate, peak_floor_kw)["objective"]
    return res


def run_method(
    inst, method: str, model: ChargingModelConfig, demand_rate: float, peak_floor_kw: float
) -> ScheduleResult:
    if method == "milp_offline":
        return solve_offline(inst, model, demand_rate, peak_floor_kw)
    if method == "milp_online":
        return solve_online(inst, model, demand_rate, peak_floor_kw)
    return simulate_baseline(inst, method, model)


@dataclass
class DayResult:
    """One method's plan for one local day."""

    day: pd.Timestamp
    method: str
    committed: pd.DataFrame  # rows method, session_id, period_start, power_kw within the day
    planned: pd.DataFrame  # the whole plan (also beyond midnight) as seen that day
    status: str
    reason: str
    solve_seconds: float
    build_seconds: float
    peak_kw: float
    energy_cost: float
    demand_charge: float
    degradation_cost: float
    sessions: int
    energy_requested_kwh: float
    energy_planned_kwh: float
    mip_gap: float | None = None
    fallback: str = ""  # schedule kept when the solve gave none (see charging.model FALLBACK_*)


def plan_day(
    sessions: pd.DataFrame,
    day: pd.Timestamp,
    method: str,
    site: SiteConfig,
    tariff: Tariff,
    model: ChargingModelConfig,
    delivered_before_kwh: pd.Series | None = None,
    peak_floor_kw: float = 0.0,
    commit_all: bool = False,
) -> DayResult:
    """Plan local day ``day`` (a tz-aware midnight) with ``method``.

    ``sessions``: the whole log (common schema); the day's cars are selected here.
    ``delivered_before_kwh``: energy already delivered to cars, by session_id.
    ``peak_floor_kw``: highest site load already committed this month.
    ``commit_all``: commit the plan past midnight too (the last day of a run).

    A day without connected cars gives an empty schedule with status ``no_sessions``.
    """
    day_start = day.tz_convert("UTC")
    day_end = (day.tz_localize(None) + pd.Timedelta(days=1)).tz_localize(day.tz).tz_convert("UTC")
    done = delivered_before_kwh if delivered_before_kwh is not None else pd.Series(dtype=float)
    left = sessions["energy_kwh"] - sessions["session_id"].map(done).fillna(0.0)
    sel = sessions[(sessions["arrival"] < day_end) & (sessions["departure"] > day_start) & (left > 1e-9)]
    arriving = sessions[(sessions["arrival"] >= day_start) & (sessions["arrival"] < day_end)]
    inst = build_instance(sel, site, tariff, day_start,
                          end=max(day_end, sel["departure"].max() if len(sel) else day_end), delivered_kwh=done)
    # round the horizon end up to the grid (build_instance floors departures onto it)
    rate = tariff.demand_charge_cad_per_kw_month
    if method == "milp_online" and model.online_forecast_weeks > 0 and inst.n_pairs:
        result = _online_with_forecast(sessions, sel, inst, site, tariff, model, done, day, day_end, rate,
                                       peak_floor_kw)
    else:
        result = run_method(inst, method, model, rate, peak_floor_kw)
    day_steps = int(np.searchsorted(inst.period_start, day_end))
    keep = np.ones(inst.n_pairs, bool) if commit_all else inst.pair_step < day_steps
    committed_power = np.where(keep, result.power_kw, 0.0)
    terms = objective_terms(inst, committed_power, model.cost, rate, peak_floor_kw)
    total = inst.load_kw(committed_power) + inst.base_load_kw
    day_peak = float(total.max()) if len(total) else 0.0
    planned = schedule_frame(inst, result.power_kw, method)
    return DayResult(
        day=day, method=method,
        committed=schedule_frame(inst, committed_power, method),
        planned=planned,
        status=result.status, reason=result.reason,
        solve_seconds=result.solve_seconds, build_seconds=result.build_seconds,
        peak_kw=day_peak, energy_cost=terms["energy_cost"], demand_charge=terms["demand_charge"],
        degradation_cost=terms["degradation_cost"],
        sessions=len(arriving),
        energy_requested_kwh=float(arriving["energy_kwh"].sum()),
        energy_planned_kwh=float(planned[planned["session_id"].isin(arriving["session_id"])]["power_kw"].sum()
                                 * site.period_hours),
        mip_gap=result.mip_gap,
        fallback=result.fallback,
    )


@dataclass
class PeriodResult:
    schedule: pd.DataFrame  # committed rows of every method
    days: list[DayResult] = field(default_factory=list)

    def day_frame(self) -> pd.DataFrame:
        rows = [{k: getattr(d, k) for k in ("day", "method", "status", "reason", "solve_seconds", "build_seconds",
                                            "peak_kw", "energy_cost", "demand_charge", "degradation_cost",
                                            "sessions", "energy_requested_kwh", "energy_planned_kwh", "mip_gap",
                                            "fallback")}
                for d in self.days]
        return pd.DataFrame(rows)


def plan_period(
    sessions: pd.DataFrame,
    site: SiteConfig,
    tariff: Tariff,
    model: ChargingModelConfig,
    methods: tuple[str, ...] = ALL_METHODS,
    days: list[pd.Timestamp] | None = None,
    progress=None,
) -> PeriodResult:
    """Plan every local day of the log with every method (days in order, state carried over)."""
    days = days if days is not None else local_days(sessions, tariff.timezone)
    frames = []
    out = PeriodResult(schedule=pd.DataFrame())
    dt = site.period_hours
    for method in methods:
        delivered = pd.Series(dtype=float)
        month_peak: dict[int, float] = {}
        for i, day in enumerate(days):
            month = day.year * 100 + day.month
            res = plan_day(sessions, day, method, site, tariff, model, delivered, month_peak.get(month, 0.0),
                           commit_all=(i == len(days) - 1))
            out.days.append(res)
            frames.append(res.committed)
            if len(res.committed):
                add = res.committed.groupby("session_id")["power_kw"].sum() * dt
                delivered = delivered.add(add, fill_value=0.0)
            month_peak[month] = max(month_peak.get(month, 0.0), res.peak_kw)
            if progress is not None:
                progress(res)
    out.schedule = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["method", "session_id", "period_start", "power_kw"])
    return out
