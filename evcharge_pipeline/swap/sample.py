"""Deterministic sample data for the `[swap]` section of a region bundle.

A 200-vehicle e-motorcycle taxi fleet doing 2 swaps per vehicle-day at 4 swap stations, with 3
candidate charging hubs about half an hour away (one way), 3 h charging, and a 28-day swap log with
morning and evening peaks and mild day-to-day variation (so the log is overdispersed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evcharge_pipeline.swap.analytic import commuter_profile

SAMPLE_CENTER = (44.30, -78.32)  # lat, lon of the stations' centre: the bundled sample city's centre

_STATIONS = [
    # station_id, name, north km, east km, share
    ("SW1", "Uptown swap point", 0.8, -0.6, 0.34),
    ("SW2", "University swap point", 2.2, -2.0, 0.28),
    ("SW3", "Midtown swap point", -1.4, 1.6, 0.22),
    ("SW4", "Southside swap point", -2.6, -0.9, 0.16),
]
_HUBS = [
    # hub_id, name, north km, east km, fixed_cost_cad, port_cost_cad, grid_limit_ports
    ("HUB_N", "North industrial hub", 8.0, 0.5, 180_000.0, 2_500.0, 160),
    ("HUB_E", "East depot hub", -1.0, 8.2, 150_000.0, 3_000.0, 120),
    ("HUB_S", "South yard hub", -8.5, -1.5, 120_000.0, 2_800.0, 100),
]


def _latlon(north_km: float, east_km: float, center: tuple[float, float]) -> tuple[float, float]:
    lat0, lon0 = center
    lat = lat0 + north_km / 111.32
    lon = lon0 + east_km / (111.32 * np.cos(np.radians(lat0)))
    return round(lat, 6), round(lon, 6)


def write_sample_swap(folder: Path, seed: int = 7, center: tuple[float, float] = SAMPLE_CENTER) -> dict:
    """Write `swap/stations.csv`, `swap/hubs.csv`, `swap/swap_log.csv` into the bundle `folder`.

    Stations lie within 3 km of `center` (lat, lon), candidate hubs 8-9 km out.

    Returns the `[swap]` section (paths relative to `folder`) as a dict, ready to be written to region.toml.
    """
    folder = Path(folder)
    out = folder / "swap"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stations = pd.DataFrame(
        [(sid, name, *_latlon(n, e, center), share) for sid, name, n, e, share in _STATIONS],
        columns=["station_id", "name", "lat", "lon", "share"],
    )
    hubs = pd.DataFrame(
        [(hid, name, *_latlon(n, e, center), fixed, port, limit) for hid, name, n, e, fixed, port, limit in _HUBS],
        columns=["hub_id", "name", "lat", "lon", "fixed_cost_cad", "port_cost_cad", "grid_limit_ports"],
    )
    stations.to_csv(out / "stations.csv", index=False)
    hubs.to_csv(out / "hubs.csv", index=False)

    vehicles, swaps_per_vehicle_day, days = 200, 2.0, 28
    profile = commuter_profile(6, 22)
    gamma_shape = 60.0  # daily demand multiplier ~ Gamma(60, 1/60): CV about 13 %
    rows = []
    start = pd.Timestamp("2026-09-07")
    for d in range(days):
        multiplier = rng.gamma(gamma_shape, 1.0 / gamma_shape)
        share = stations["share"].to_numpy()[:, None]
        expected = vehicles * swaps_per_vehicle_day * multiplier * share * profile[None, :]
        counts = rng.poisson(expected)  # (stations, 24)
        st_idx, hour = np.nonzero(counts)
        reps = counts[st_idx, hour]
        st_idx, hour = np.repeat(st_idx, reps), np.repeat(hour, reps)
        seconds = (hour * 3600 + rng.integers(0, 3600, hour.size)).astype(int)
        stamps = start + pd.Timedelta(days=d) + pd.to_timedelta(seconds, unit="s")
        vehicle = rng.integers(1, vehicles + 1, hour.size)
        rows.append(pd.DataFrame({"timestamp": stamps, "station_id": stations["station_id"].to_numpy()[st_idx],
                                  "vehicle_id": [f"V{v:04d}" for v in vehicle]}))
    log = pd.concat(rows, ignore_index=True).sort_values("timestamp", kind="stable")
    log["timestamp"] = log["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    log.to_csv(out / "swap_log.csv", index=False)
    return {
        "stations": "swap/stations.csv",
        "hubs": "swap/hubs.csv",
        "log": "swap/swap_log.csv",
        "vehicles": vehicles,
        "swaps_per_vehicle_day": swaps_per_vehicle_day,
        "charging_hours": 3.0,
        "operating_start_hour": 6,
        "operating_end_hour": 22,
        "service_level": 0.95,
        "service_basis": "worst_hour",
        "max_wait_probability": 0.2,
        "max_mean_wait_hours": 0.25,
        "transport_speed_kmh": 20.0,
        "road_factor": 1.3,
        "handling_hours": 0.05,
        "max_transport_hours": 1.5,
        "battery_cost_cad": 1200.0,
        "stockout_cost_cad": 5.0,
        "backorder_cost_cad_per_hour": 0.0,
        "transport_cost_cad_per_battery_hour": 0.5,
        "planning_years": 5.0,
    }
