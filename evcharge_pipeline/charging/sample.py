"""Deterministic synthetic session log for the sample region (a mixed workplace / residential garage).

Six weeks from Monday 2026-01-05, 24 EVSEs of 7.2 kW behind a 60 kW transformer. Each EVSE can
see a daytime (workplace) session, arriving 07:30-10:30 and leaving by 18:00, and an overnight
(residential) session arriving from 18:30 and leaving 06:00-07:30 the next morning, so sessions
on one EVSE never overlap. About 60 % of the cars report their battery and state of charge.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SAMPLE_START = "2026-01-05"
SAMPLE_DAYS = 42
SAMPLE_TIMEZONE = "America/Toronto"
SAMPLE_FILE = "charging_sessions.csv"


def sample_sessions(seed: int = 11, start: str = SAMPLE_START, days: int = SAMPLE_DAYS,
                    evses: int = 24, timezone: str = SAMPLE_TIMEZONE) -> pd.DataFrame:
    """The synthetic log as a flat-CSV frame (times as ISO 8601 with the local offset)."""
    rng = np.random.default_rng(seed)
    day = pd.date_range(start, periods=days, freq="D")
    n = days * evses
    day_idx = np.repeat(np.arange(days), evses)
    evse = np.tile(np.arange(evses), days)
    weekday = day[day_idx].weekday < 5
    midnight = day[day_idx]

    frames = []
    for kind, p_weekday, p_weekend in (("work", 0.75, 0.15), ("home", 0.35, 0.45)):
        present = rng.random(n) < np.where(weekday, p_weekday, p_weekend)
        if kind == "work":
            arrive_h = rng.uniform(7.5, 10.5, n)
            leave_h = np.minimum(arrive_h + rng.uniform(2.0, 9.5, n), 18.0)
        else:
            arrive_h = rng.uniform(18.5, 23.0, n)
            leave_h = 24.0 + rng.uniform(6.0, 7.5, n)
        stay_h = leave_h - arrive_h
        energy = np.minimum(rng.lognormal(np.log(11.0), 0.55, n), 0.85 * 7.2 * stay_h)
        frames.append(pd.DataFrame({
            "kind": kind, "present": present, "day": day_idx, "evse": evse,
            "arrival": midnight + pd.to_timedelta(np.round(arrive_h * 60), unit="min"),
            "departure": midnight + pd.to_timedelta(np.round(leave_h * 60), unit="min"),
            "energy_kwh": np.round(energy, 3),
        }))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["present"]].sort_values(["arrival", "evse"]).reset_index(drop=True)
    m = len(frame)
    frame["max_power_kw"] = rng.choice([7.2, 6.6, 11.0, 3.7], m, p=[0.5, 0.25, 0.15, 0.10])
    known = rng.random(m) < 0.6
    capacity = rng.choice([40.0, 60.0, 75.0, 82.0], m)
    soc = np.round(rng.uniform(0.15, 0.6, m), 3)
    headroom = (0.95 - soc) * capacity / 0.92
    frame["energy_kwh"] = np.where(known, np.minimum(frame["energy_kwh"], np.floor(headroom * 1000) / 1000),
                                   frame["energy_kwh"])
    frame["battery_capacity_kwh"] = np.where(known, capacity, np.nan)
    frame["soc_arrival"] = np.where(known, soc, np.nan)
    frame["soc_max"] = np.where(known, 0.95, np.nan)
    tz_arrival = frame["arrival"].dt.tz_localize(timezone)
    tz_departure = frame["departure"].dt.tz_localize(timezone)
    out = pd.DataFrame({
        "session_id": [f"S{d:02d}-{k[0].upper()}{e:02d}"
                       for d, k, e in zip(frame["day"], frame["kind"], frame["evse"], strict=True)],
        "station_id": [f"EVSE-{e:02d}" for e in frame["evse"]],
        "site_id": "sample_garage",
        "arrival": tz_arrival.map(lambda t: t.isoformat()),
        "departure": tz_departure.map(lambda t: t.isoformat()),
        "energy_kwh": frame["energy_kwh"],
        "max_power_kw": frame["max_power_kw"],
        "battery_capacity_kwh": frame["battery_capacity_kwh"],
        "soc_arrival": frame["soc_arrival"],
        "soc_max": frame["soc_max"],
    })
    return out


def write_sample_sessions(folder: Path, seed: int = 11) -> dict:
    """Write ``charging_sessions.csv`` into the region folder; returns the ``[charging_sessions]`` section."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sample_sessions(seed).to_csv(folder / SAMPLE_FILE, index=False, float_format="%.6g")
    return {
        "path": SAMPLE_FILE,
        "format": "flat_csv",
        "timezone": SAMPLE_TIMEZONE,
        "site_limit_kw": 60.0,
        "evse_max_kw": 7.2,
        "period_minutes": 15,
        "base_load_kw": 4.0,
        "charging_efficiency": 0.92,
        "min_power_kw": 0.0,
        "energy_requirement": "soft",
        "demand_charge_cad_per_kw_month": 12.0,
    }
