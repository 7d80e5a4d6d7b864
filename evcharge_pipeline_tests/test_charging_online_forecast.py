"""The online mode's forecast cars: built from the log's past only, never committed, and they keep
headroom free for a burst of arrivals that the plain rolling horizon meets with no room left."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evcharge_pipeline.charging.instance import SiteConfig
from evcharge_pipeline.charging.model import ChargingModelConfig
from evcharge_pipeline.charging.planner import forecast_days, forecast_sessions, plan_day
from evcharge_pipeline.charging.prices import Tariff, default_tou_prices
from evcharge_pipeline_tests.test_charging_edge_days import TZ, day, sessions

SITE = SiteConfig(period_minutes=15, site_limit_kw=10.0, evse_max_kw=7.2, base_load_kw=0.0)
TARIFF = Tariff(default_tou_prices(), 12.0, TZ)


def burst_log(days: list[str]) -> pd.DataFrame:
    """Each day: one long-stay car needing 55 kWh (08:00-18:00), then three short-stay cars at
    12:00-14:00 that together need the whole 10 kW limit."""
    rows = []
    for d in days:
        rows.append((f"{d} 08:00", f"{d} 18:00", 55.0))
        rows += [(f"{d} 12:00", f"{d} 14:00", 6.6)] * 3
    log = sessions(rows)
    log["session_id"] = [f"c{i}" for i in range(len(log))]
    return log


def test_forecast_uses_the_same_weekday_before_the_day_and_the_latest_like_day_in_the_first_week():
    log = burst_log(["2026-01-05", "2026-01-06", "2026-01-12"])  # Mon, Tue, Mon
    assert forecast_days(log, day("2026-01-12"), 2) == [7]  # 14 days back is before the log
    assert forecast_days(log, day("2026-01-06"), 2) == [1]  # first week: the Monday before
    assert forecast_days(log, day("2026-01-05"), 2) == []
    fc = forecast_sessions(log, day("2026-01-12"), 1, energy_factor=2.0)
    src = log[log["arrival"] < day("2026-01-06").tz_convert("UTC")]
    assert len(fc) == len(src) and fc["session_id"].str.startswith("forecast7:").all()
    assert (fc["arrival"].to_numpy() == (src["arrival"] + pd.Timedelta(days=7)).to_numpy()).all()
    assert np.allclose(fc["energy_kwh"].to_numpy(), 2.0 * src["energy_kwh"].to_numpy())
    # nothing from the day itself or later is used
    assert (fc["arrival"] - pd.Timedelta(days=7) < day("2026-01-12").tz_convert("UTC")).all()


def test_forecast_cars_keep_headroom_for_the_burst_and_are_never_committed():
    log = burst_log(["2026-01-05", "2026-01-12"])
    target = day("2026-01-12")
    plain = ChargingModelConfig(online_forecast_weeks=0)
    with_forecast = ChargingModelConfig(online_forecast_weeks=1)
    offline = plan_day(log, target, "milp_offline", SITE, TARIFF, plain, commit_all=True)
    online = plan_day(log, target, "milp_online", SITE, TARIFF, plain, commit_all=True)
    forecast = plan_day(log, target, "milp_online", SITE, TARIFF, with_forecast, commit_all=True)
    for res in (online, forecast):
        assert res.status == "optimal"
        assert set(res.committed["session_id"]) <= set(log["session_id"]), "a forecast car was scheduled"
        load = res.committed.groupby("period_start")["power_kw"].sum()
        assert load.max() <= SITE.site_limit_kw + 1e-6
    # without foresight the long-stay car is spread out and the burst leaves it short
    assert online.energy_planned_kwh < offline.energy_planned_kwh - 1.0
    # the forecast (last Monday's burst) front-loads it, so the day reaches the offline energy
    assert forecast.energy_planned_kwh == pytest.approx(offline.energy_planned_kwh, abs=1e-3)
