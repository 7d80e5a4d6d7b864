"""Days that must plan without an exception: one car, every car at the same step, a car plugged in
across midnight, the month boundary, no cars at all, and a solver that returns no solution.

Every schedule is checked by the independent verifier of the model tests (limit, EVSE rate, only
while connected, never more than requested).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import evcharge_pipeline.charging.model as model_module
from evcharge_pipeline.charging.baselines import simulate_baseline
from evcharge_pipeline.charging.instance import SiteConfig, build_instance
from evcharge_pipeline.charging.metrics import CostModel
from evcharge_pipeline.charging.model import (
    FALLBACK_LLF,
    FALLBACK_RETRY,
    NO_SESSIONS,
    ChargingModelConfig,
    round_to_pilot_levels,
    solve_offline,
    solve_online,
    top_pilot_level,
)
from evcharge_pipeline.charging.planner import ALL_METHODS, plan_day, plan_period
from evcharge_pipeline.charging.prices import Tariff, default_tou_prices
from evcharge_pipeline.solving import NO_SOLUTION, SolveStats
from evcharge_pipeline_tests.test_charging_model import verify

TZ = "America/Toronto"
SITE = SiteConfig(period_minutes=15, site_limit_kw=20.0, evse_max_kw=7.2, base_load_kw=2.0)
TARIFF = Tariff(default_tou_prices(), 12.0, TZ)
MODEL = ChargingModelConfig(cost=CostModel(), time_limit_seconds=10.0)
MANAGED = [m for m in ALL_METHODS if m != "uncontrolled"]


def sessions(rows: list[tuple[str, str, float]], max_kw: float = 7.2) -> pd.DataFrame:
    """rows: (local arrival, local departure, kWh)."""
    frame = pd.DataFrame(rows, columns=["arrival", "departure", "energy_kwh"])
    n = len(frame)
    for col in ("arrival", "departure"):
        frame[col] = pd.to_datetime(frame[col]).dt.tz_localize(TZ).dt.tz_convert("UTC")
    frame.insert(0, "session_id", [f"s{i}" for i in range(n)])
    frame["station_id"] = [f"e{i}" for i in range(n)]
    frame["site_id"] = "t"
    frame["max_power_kw"] = max_kw
    frame["battery_capacity_kwh"] = np.nan
    frame["soc_arrival"] = np.nan
    frame["soc_max"] = np.nan
    frame["energy_delivered_kwh"] = np.nan
    return frame


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_localize(TZ)


def check_period(log: pd.DataFrame, days: list[str]):
    result = plan_period(log, SITE, TARIFF, MODEL, ALL_METHODS, [day(d) for d in days])
    frame = result.day_frame()
    assert len(frame) == len(days) * len(ALL_METHODS)
    assert set(frame["status"]) <= {"optimal", "ok", NO_SESSIONS}, frame[["day", "method", "status", "reason"]]
    dt = SITE.period_hours
    for method in MANAGED:
        rows = result.schedule[result.schedule["method"] == method]
        load = rows.groupby("period_start")["power_kw"].sum()
        assert (load + SITE.base_load_kw <= SITE.site_limit_kw + 1e-6).all(), method
        got = rows.groupby("session_id")["power_kw"].sum() * dt
        want = log.set_index("session_id")["energy_kwh"]
        assert (got <= want[got.index] + 1e-6).all(), method
        by_id = log.set_index("session_id")
        start = pd.DatetimeIndex(rows["period_start"])
        assert (start + pd.Timedelta(minutes=SITE.period_minutes)
                > pd.DatetimeIndex(by_id.loc[rows["session_id"], "arrival"])).all()
    return result, frame


def test_one_session_is_served_in_full_by_every_method():
    log = sessions([("2026-01-12 08:00", "2026-01-12 12:00", 10.0)])
    result, _frame = check_period(log, ["2026-01-12"])
    for method in ALL_METHODS:
        rows = result.schedule[result.schedule["method"] == method]
        assert rows["power_kw"].sum() * SITE.period_hours == pytest.approx(10.0, abs=1e-5), method


def test_every_session_arriving_at_the_same_step_shares_the_limit():
    log = sessions([("2026-01-12 09:00", "2026-01-12 11:00", 12.0)] * 5)
    log["session_id"] = [f"s{i}" for i in range(5)]
    result, frame = check_period(log, ["2026-01-12"])
    online = frame[frame["method"] == "milp_online"].iloc[0]
    assert online["status"] == "optimal"
    # 18 kW of headroom for 2 h is 36 kWh of the 60 requested: every managed method delivers that much
    for method in ("milp_offline", "milp_online", "llf"):
        got = result.schedule.loc[result.schedule["method"] == method, "power_kw"].sum() * SITE.period_hours
        assert got == pytest.approx(36.0, abs=1e-4), method


def test_session_plugged_in_across_midnight_is_finished_the_next_day():
    log = sessions([("2026-01-12 20:00", "2026-01-13 07:00", 30.0),
                    ("2026-01-13 08:00", "2026-01-13 10:00", 5.0)])
    result, _frame = check_period(log, ["2026-01-12", "2026-01-13"])
    for method in ("milp_offline", "milp_online", "llf"):
        rows = result.schedule[(result.schedule["method"] == method) & (result.schedule["session_id"] == "s0")]
        local = pd.DatetimeIndex(rows["period_start"]).tz_convert(TZ)
        assert rows["power_kw"].sum() * SITE.period_hours == pytest.approx(30.0, abs=1e-4), method
        # the cheapest price is after 23:00, so the optimiser charges into the second day
        if method.startswith("milp"):
            assert (local.date == pd.Timestamp("2026-01-13").date()).any(), method


def test_month_boundary_bills_each_month_and_carries_the_car():
    log = sessions([("2026-01-31 09:00", "2026-01-31 12:00", 15.0),
                    ("2026-01-31 21:00", "2026-02-01 08:00", 25.0),
                    ("2026-02-01 09:00", "2026-02-01 11:00", 8.0)])
    result, frame = check_period(log, ["2026-01-31", "2026-02-01"])
    offline = frame[frame["method"] == "milp_offline"].set_index(frame[frame["method"] == "milp_offline"]["day"])
    # February starts a new billing month: its first day pays a demand charge again
    assert offline["demand_charge"].iloc[1] > 0
    got = result.schedule[(result.schedule["method"] == "milp_offline")].groupby("session_id")["power_kw"].sum()
    assert got.sum() * SITE.period_hours == pytest.approx(48.0, abs=1e-4)


def test_day_without_sessions_is_an_empty_schedule_with_status_no_sessions():
    log = sessions([("2026-01-12 08:00", "2026-01-12 12:00", 10.0),
                    ("2026-01-14 08:00", "2026-01-14 12:00", 10.0)])
    result, frame = check_period(log, ["2026-01-12", "2026-01-13", "2026-01-14"])
    empty = frame[frame["day"] == day("2026-01-13")]
    assert set(empty["status"]) == {NO_SESSIONS}
    assert not (pd.DatetimeIndex(result.schedule["period_start"]).tz_convert(TZ).date
                == pd.Timestamp("2026-01-13").date()).any()
    for method in ALL_METHODS:
        res = plan_day(log.iloc[:0], day("2026-01-13"), method, SITE, TARIFF, MODEL)
        assert res.status == NO_SESSIONS and res.committed.empty and res.peak_kw == SITE.base_load_kw


def _busy_log() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 8
    arrive = np.sort(rng.uniform(7, 14, n))
    rows = [(str(pd.Timestamp("2026-01-12") + pd.to_timedelta(a, unit="h")),
             str(pd.Timestamp("2026-01-12") + pd.to_timedelta(a + rng.uniform(1, 5), unit="h")),
             float(rng.uniform(5, 25))) for a in arrive]
    return sessions(rows)


@pytest.mark.parametrize("solve", [solve_offline, solve_online])
def test_solver_without_solution_falls_back_to_llf_under_the_limit(monkeypatch, solve):
    log = _busy_log()
    calls = []

    def no_solution(problem, solver="HIGHS", **options):
        calls.append(options)
        return SolveStats(NO_SOLUTION, solver=str(solver), detail="no usable solution: Solution(status=UNKNOWN)")

    monkeypatch.setattr(model_module, "solve_cvxpy", no_solution)
    inst = build_instance(log, SITE, TARIFF, day("2026-01-12").tz_convert("UTC"))
    res = solve(inst, MODEL, 12.0)
    assert res.status == NO_SOLUTION and res.fallback == FALLBACK_LLF
    assert any(o.get("presolve") == "off" for o in calls)  # the re-solve without presolve was tried
    verify(inst, res.power_kw, SITE, log)
    # the fallback is LLF's schedule: same energy as the baseline
    llf = simulate_baseline(inst, "llf", MODEL)
    assert inst.delivered_kwh(res.power_kw).sum() == pytest.approx(inst.delivered_kwh(llf.power_kw).sum(), rel=1e-9)


def test_unknown_status_then_optimal_without_presolve_keeps_the_optimal_schedule(monkeypatch):
    log = _busy_log()
    real = model_module.solve_cvxpy
    state = {"failed": False}

    def first_fails(problem, solver="HIGHS", **options):
        if not state["failed"]:
            state["failed"] = True
            return SolveStats(NO_SOLUTION, solver=str(solver), detail="no usable solution")
        return real(problem, solver, **options)

    inst = build_instance(log, SITE, TARIFF, day("2026-01-12").tz_convert("UTC"))
    clean = solve_offline(inst, MODEL, 12.0)
    monkeypatch.setattr(model_module, "solve_cvxpy", first_fails)
    res = solve_offline(inst, MODEL, 12.0)
    assert res.status == "optimal" and res.fallback == FALLBACK_RETRY and "presolve" in res.reason
    assert res.objective == pytest.approx(clean.objective, rel=1e-6)


def test_planner_records_the_fallback_of_a_failed_day(monkeypatch):
    log = _busy_log()
    monkeypatch.setattr(model_module, "solve_cvxpy",
                        lambda problem, solver="HIGHS", **o: SolveStats(NO_SOLUTION, solver=str(solver)))
    for method in ("milp_offline", "milp_online"):
        res = plan_day(log, day("2026-01-12"), method, SITE, TARIFF, MODEL)
        assert res.status == NO_SOLUTION and res.fallback == FALLBACK_LLF and res.energy_planned_kwh > 0


LEVELS = (1.5, 3.0, 4.5, 6.0, 7.2)


@pytest.mark.parametrize("seed", range(3))
def test_pilot_level_rounding_is_feasible_under_the_limit_and_near_the_relaxation(seed):
    rng = np.random.default_rng(seed)
    n = 12
    arrive = np.sort(rng.uniform(7, 16, n))
    rows = [(str(pd.Timestamp("2026-01-12") + pd.to_timedelta(a, unit="h")),
             str(pd.Timestamp("2026-01-12") + pd.to_timedelta(a + rng.uniform(1, 6), unit="h")),
             float(rng.uniform(3, 30))) for a in arrive]
    log = sessions(rows)
    log["max_power_kw"] = rng.choice([3.7, 6.6, 7.2], n)
    inst = build_instance(log, SITE, TARIFF, day("2026-01-12").tz_convert("UTC"))
    config = ChargingModelConfig(cost=CostModel(), pilot_levels_kw=LEVELS, time_limit_seconds=2.0)
    # the relaxation over the levels' hull: each car capped at its highest allowed level
    hull = dataclasses.replace(inst, max_power_kw=top_pilot_level(inst.max_power_kw, LEVELS))
    relaxed = solve_offline(hull, MODEL, 12.0)
    rounded = round_to_pilot_levels(inst, relaxed.power_kw, LEVELS)
    for power in (rounded, solve_offline(inst, config, 12.0).power_kw):
        verify(inst, power, SITE, log)
        allowed = np.r_[0.0, LEVELS]
        assert np.all(np.min(np.abs(power[:, None] - allowed[None, :]), axis=1) < 1e-9), "power off the levels"
        # rounding down and filling loses less than one level-step of one step per session
        lost = inst.delivered_kwh(relaxed.power_kw).sum() - inst.delivered_kwh(power).sum()
        assert -1e-6 <= lost <= n * 1.5 * SITE.period_hours
    # and it never delivers less than LLF with the same levels
    llf = simulate_baseline(inst, "llf", config)
    assert inst.delivered_kwh(rounded).sum() >= inst.delivered_kwh(llf.power_kw).sum() - 1e-6
