"""Loader for the optional `[swap]` section of a region bundle.

```toml
[swap]
stations = "swap/stations.csv"   # station_id, name, lat, lon[, share]  (share of the fleet's swaps)
hubs = "swap/hubs.csv"           # hub_id, name, lat, lon, fixed_cost_cad, port_cost_cad, grid_limit_ports
log = "swap/swap_log.csv"        # optional: timestamp (ISO 8601, local time), station_id[, vehicle_id]
vehicles = 200                   # fleet size
swaps_per_vehicle_day = 2.0
charging_hours = 3.0
operating_start_hour = 6         # used when there is no log and no hourly_profile
operating_end_hour = 22
# hourly_profile = [24 weights]  # optional daily shape (overrides the built-in two-peak profile)
service_level = 0.95             # per-station fill-rate target
service_basis = "worst_hour"     # or "day"
max_wait_probability = 0.2       # Erlang C P(wait for a port) at the peak
max_mean_wait_hours = 0.25
transport_speed_kmh = 24.0       # one-way travel time = handling_hours + road_factor * distance / speed
road_factor = 1.3
handling_hours = 0.1
max_transport_hours = 2.0        # station-hub pairs further apart are not allowed
battery_cost_cad = 1200.0
stockout_cost_cad = 5.0
backorder_cost_cad_per_hour = 0.0
transport_cost_cad_per_battery_hour = 0.5
planning_years = 5.0
```

The fleet's daily swaps (vehicles x swaps_per_vehicle_day) set the level. The split over stations
and hours comes from the log when there is one (its counts by station and clock hour), else from
the stations' `share` column and the hourly profile. The log also decides between a Poisson and
a negative-binomial pipeline (day-to-day overdispersion test), and the simulation resamples its days.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evcharge_pipeline.region import InputError, allows_external_paths, bundle_file
from evcharge_pipeline.sources.common import read_csv, sha256_of
from evcharge_pipeline.swap.analytic import (
    Dispersion,
    SwapInputError,
    TimeGrid,
    check_non_negative,
    check_positive,
    check_vehicles,
    commuter_profile,
    estimate_dispersion,
)
from evcharge_pipeline.swap.milp import SwapNetworkConfig, SwapNetworkInput
from evcharge_pipeline.swap.simulation import LogArrivals

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class SwapFleetConfig:
    """Fleet and travel parameters of the `[swap]` section (network model parameters live in SwapNetworkConfig)."""

    vehicles: int = 200
    swaps_per_vehicle_day: float = 2.0
    operating_start_hour: int = 6
    operating_end_hour: int = 22
    hourly_profile: tuple[float, ...] | None = None
    transport_speed_kmh: float = 24.0
    road_factor: float = 1.3
    handling_hours: float = 0.1
    max_transport_hours: float = 2.0

    def validate(self) -> None:
        check_vehicles(self.vehicles)
        check_positive("swaps_per_vehicle_day", self.swaps_per_vehicle_day)
        for name in ("operating_start_hour", "operating_end_hour"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
                raise SwapInputError(f"{name} must be a whole hour, got {value!r}", name)
        if not (0 <= self.operating_start_hour < self.operating_end_hour <= 24):
            raise SwapInputError("operating hours need 0 <= operating_start_hour < operating_end_hour <= 24, got "
                                 f"{self.operating_start_hour!r} and {self.operating_end_hour!r}",
                                 "operating_start_hour")
        check_positive("transport_speed_kmh", self.transport_speed_kmh)
        if not math.isfinite(self.road_factor) or self.road_factor < 1:
            raise SwapInputError(f"road_factor must be a finite number >= 1, got {self.road_factor!r}", "road_factor")
        check_non_negative("handling_hours", self.handling_hours)
        check_positive("max_transport_hours", self.max_transport_hours)
        if self.hourly_profile is not None and not all(math.isfinite(float(v)) for v in self.hourly_profile):
            raise SwapInputError("hourly_profile must hold finite numbers", "hourly_profile")

    @property
    def daily_swaps(self) -> float:
        return float(self.vehicles) * float(self.swaps_per_vehicle_day)


@dataclass
class SwapInputs:
    """The parsed `[swap]` section."""

    stations: pd.DataFrame  # station_id, name, lat, lon, share
    hubs: pd.DataFrame  # hub_id, name, lat, lon, fixed_cost_cad, port_cost_cad, grid_limit_ports
    log: pd.DataFrame | None  # timestamp, station_id, vehicle_id (optional)
    fleet: SwapFleetConfig
    network: SwapNetworkConfig
    hourly_shape: np.ndarray  # (stations, 24): share of the daily swaps by station and hour, sums to 1
    dispersion: Dispersion
    log_daily_swaps: np.ndarray | None  # swaps per log day
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)  # table -> {source, sha256}

    @property
    def station_ids(self) -> list[str]:
        return self.stations["station_id"].tolist()

    def transport_hours(self) -> np.ndarray:
        """One-way travel time (stations, hubs); inf beyond max_transport_hours."""
        distance = haversine_km(self.stations["lat"].to_numpy(), self.stations["lon"].to_numpy(),
                                self.hubs["lat"].to_numpy(), self.hubs["lon"].to_numpy())
        hours = self.fleet.handling_hours + self.fleet.road_factor * distance / self.fleet.transport_speed_kmh
        return np.where(hours <= self.fleet.max_transport_hours, hours, np.inf)

    def station_rates(self, grid: TimeGrid, fleet: SwapFleetConfig | None = None) -> np.ndarray:
        """Swap rates per hour, (stations, steps), for the fleet (default: the section's fleet)."""
        fleet = fleet or self.fleet
        return grid.from_hourly(fleet.daily_swaps * self.hourly_shape)

    def network_input(self, fleet: SwapFleetConfig | None = None,
                      network: SwapNetworkConfig | None = None) -> SwapNetworkInput:
        network = network or self.network
        grid = TimeGrid(network.step_minutes)
        return SwapNetworkInput(
            station_ids=self.station_ids,
            station_rate_per_hour=self.station_rates(grid, fleet),
            hubs=self.hubs[["hub_id", "fixed_cost_cad", "port_cost_cad", "grid_limit_ports"]],
            transport_hours=self.transport_hours(),
            dispersion=self.dispersion,
        )

    def log_arrivals(self, scale: float = 1.0) -> LogArrivals | None:
        """The log's days for resampling, scaled to the fleet's daily swaps (None without a log)."""
        if self.log is None or self.log.empty:
            return None
        index = {s: i for i, s in enumerate(self.station_ids)}
        ts = self.log["timestamp"]
        day = ts.dt.normalize()
        hours = ((ts - day).dt.total_seconds() / 3600.0).to_numpy()
        stations = self.log["station_id"].map(index).to_numpy()
        all_days = pd.date_range(day.min(), day.max(), freq="D")
        codes = pd.Categorical(day, categories=all_days).codes
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(all_days) + 1))
        day_hours = [hours[order[a:b]] for a, b in itertools.pairwise(bounds)]
        day_stations = [stations[order[a:b]] for a, b in itertools.pairwise(bounds)]
        scale = scale * self.fleet.daily_swaps / float(np.mean([h.size for h in day_hours]))
        return LogArrivals(day_hours=day_hours, day_stations=day_stations, scale=scale)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distances (len(lat1), len(lat2)) in km."""
    p1, p2 = np.radians(lat1)[:, None], np.radians(lat2)[None, :]
    dl = np.radians(lon2)[None, :] - np.radians(lon1)[:, None]
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _numeric(path: Path, frame: pd.DataFrame, column: str, lo: float | None = None, hi: float | None = None,
             allow_blank: bool = False) -> pd.Series:
    """Parse a numeric column; the first bad value raises with its file row (header = row 1)."""
    raw = frame[column].astype(str).str.strip()
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & ~(allow_blank & (raw == ""))
    if lo is not None:
        bad |= values < lo
    if hi is not None:
        bad |= values > hi
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        bound = f" in [{lo}, {hi}]" if lo is not None or hi is not None else ""
        raise InputError(path, f"expected a number{bound}, got {frame[column].iloc[i]!r}", row=i + 2, field=column)
    return values


def _ids(path: Path, frame: pd.DataFrame, column: str) -> pd.Series:
    ids = frame[column].astype(str).str.strip()
    blank = ids == ""
    if blank.any():
        raise InputError(path, "empty id", row=int(np.flatnonzero(blank.to_numpy())[0]) + 2, field=column)
    dup = ids.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(path, f"duplicate id {ids.iloc[i]!r}", row=i + 2, field=column)
    return ids


def load_stations(path: Path) -> pd.DataFrame:
    frame = read_csv(path, ["station_id", "lat", "lon"])
    out = pd.DataFrame({
        "station_id": _ids(path, frame, "station_id"),
        "name": frame["name"].astype(str) if "name" in frame else frame["station_id"].astype(str),
        "lat": _numeric(path, frame, "lat", -90, 90),
        "lon": _numeric(path, frame, "lon", -180, 180),
    })
    if "share" in frame:
        share = _numeric(path, frame, "share", 0, None, allow_blank=False)
        if share.sum() <= 0:
            raise InputError(path, "shares sum to zero", field="share")
        out["share"] = share / share.sum()
    else:
        out["share"] = 1.0 / len(out)
    return out.reset_index(drop=True)


def load_hubs(path: Path) -> pd.DataFrame:
    frame = read_csv(path, ["hub_id", "lat", "lon", "fixed_cost_cad", "port_cost_cad", "grid_limit_ports"])
    limit = _numeric(path, frame, "grid_limit_ports", 0, None)
    if (limit != np.floor(limit)).any():
        i = int(np.flatnonzero((limit != np.floor(limit)).to_numpy())[0])
        raise InputError(path, "grid_limit_ports must be a whole number of ports", row=i + 2, field="grid_limit_ports")
    return pd.DataFrame({
        "hub_id": _ids(path, frame, "hub_id"),
        "name": frame["name"].astype(str) if "name" in frame else frame["hub_id"].astype(str),
        "lat": _numeric(path, frame, "lat", -90, 90),
        "lon": _numeric(path, frame, "lon", -180, 180),
        "fixed_cost_cad": _numeric(path, frame, "fixed_cost_cad", 0, None),
        "port_cost_cad": _numeric(path, frame, "port_cost_cad", 0, None),
        "grid_limit_ports": limit.astype(int),
    }).reset_index(drop=True)


def load_swap_log(path: Path, station_ids: list[str]) -> pd.DataFrame:
    """Parse a swap log; unparsable times and unknown stations raise with the file row."""
    frame = read_csv(path, ["timestamp", "station_id"])
    raw = frame["timestamp"].astype(str).str.strip()
    stamps = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    if stamps.isna().any():
        i = int(np.flatnonzero(stamps.isna().to_numpy())[0])
        raise InputError(path, f"unparsable time {frame['timestamp'].iloc[i]!r} (expected ISO 8601)", row=i + 2,
                         field="timestamp")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_localize(None)
    station = frame["station_id"].astype(str).str.strip()
    unknown = ~station.isin(set(station_ids))
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(path, f"station {station.iloc[i]!r} is not in the stations file", row=i + 2,
                         field="station_id")
    out = pd.DataFrame({"timestamp": stamps, "station_id": station})
    out["vehicle_id"] = frame["vehicle_id"].astype(str) if "vehicle_id" in frame else ""
    return out.sort_values("timestamp", kind="stable").reset_index(drop=True)


_FLEET_KEYS = {f.name for f in fields(SwapFleetConfig)}
_NETWORK_KEYS = {f.name for f in fields(SwapNetworkConfig)}
_FILE_KEYS = {"stations", "hubs", "log"}


def parse_section(section: dict[str, Any], toml_path: Path) -> tuple[SwapFleetConfig, SwapNetworkConfig]:
    unknown = set(section) - _FLEET_KEYS - _NETWORK_KEYS - _FILE_KEYS
    if unknown:
        raise InputError(toml_path, f"unknown key(s) in [swap]: {sorted(unknown)}", field=f"swap.{sorted(unknown)[0]}")
    fleet_kw = {k: v for k, v in section.items() if k in _FLEET_KEYS}
    if "hourly_profile" in fleet_kw:
        profile = fleet_kw["hourly_profile"]
        if not isinstance(profile, list) or len(profile) != 24:
            raise InputError(toml_path, "hourly_profile must be a list of 24 numbers", field="swap.hourly_profile")
        fleet_kw["hourly_profile"] = tuple(float(v) for v in profile)
    network_kw = {k: v for k, v in section.items() if k in _NETWORK_KEYS}
    try:
        fleet = SwapFleetConfig(**fleet_kw)
        fleet.validate()
        network = SwapNetworkConfig(**network_kw)
        network.validate()
    except SwapInputError as exc:
        field_name = f"swap.{exc.parameter}" if exc.parameter else "swap"
        raise InputError(toml_path, f"[swap]: {exc}", field=field_name) from exc
    except TypeError as exc:
        raise InputError(toml_path, f"[swap]: {exc}", field="swap") from exc
    return fleet, network


def load_swap_inputs(root: Path, section: dict[str, Any]) -> SwapInputs:
    """Read the `[swap]` section of the bundle in `root` and the files it names."""
    root = Path(root)
    toml_path = root / "region.toml"
    fleet, network = parse_section(section, toml_path)

    def resolve(key: str) -> Path:
        if key not in section:
            raise InputError(toml_path, f"[swap] has no '{key}'", field=f"swap.{key}")
        return bundle_file(root, str(section[key]), f"swap.{key}", allows_external_paths(root))  # inside the bundle

    stations_path, hubs_path = resolve("stations"), resolve("hubs")
    stations = load_stations(stations_path)
    hubs = load_hubs(hubs_path)
    provenance = {"stations": {"source": str(section["stations"]), "sha256": sha256_of(stations_path)},
                  "hubs": {"source": str(section["hubs"]), "sha256": sha256_of(hubs_path)}}
    log = None
    dispersion = Dispersion()
    log_daily = None
    if section.get("log"):
        log_path = resolve("log")
        log = load_swap_log(log_path, stations["station_id"].tolist())
        provenance["log"] = {"source": str(section["log"]), "sha256": sha256_of(log_path)}
        day = log["timestamp"].dt.normalize()
        all_days = pd.date_range(day.min(), day.max(), freq="D")
        log_daily = day.value_counts().reindex(all_days, fill_value=0).to_numpy()
        dispersion = estimate_dispersion(log_daily)
        index = {s: i for i, s in enumerate(stations["station_id"])}
        counts = np.zeros((len(stations), 24))
        np.add.at(counts, (log["station_id"].map(index).to_numpy(), log["timestamp"].dt.hour.to_numpy()), 1.0)
        shape = counts / counts.sum()
    else:
        if fleet.hourly_profile is not None:
            profile = np.asarray(fleet.hourly_profile, dtype=float)
            if np.any(profile < 0) or profile.sum() <= 0:
                raise InputError(toml_path, "hourly_profile needs non-negative weights with a positive sum",
                                 field="swap.hourly_profile")
            profile = profile / profile.sum()
        else:
            profile = commuter_profile(fleet.operating_start_hour, fleet.operating_end_hour)
        shape = stations["share"].to_numpy()[:, None] * profile[None, :]
    empty = shape.sum(axis=1) <= 0
    if empty.any():
        raise InputError(stations_path, f"stations with no swaps (zero share or absent from the log): "
                         f"{stations.loc[empty, 'station_id'].tolist()}", field="share")
    return SwapInputs(stations=stations, hubs=hubs, log=log, fleet=fleet, network=network, hourly_shape=shape,
                      dispersion=dispersion, log_daily_swaps=log_daily, provenance=provenance)


def with_overrides(inputs: SwapInputs, **overrides: Any) -> tuple[SwapFleetConfig, SwapNetworkConfig]:
    """Fleet and network configs with some parameters replaced (for sensitivity runs)."""
    fleet_kw = {k: v for k, v in overrides.items() if k in _FLEET_KEYS}
    network_kw = {k: v for k, v in overrides.items() if k in _NETWORK_KEYS}
    unknown = set(overrides) - set(fleet_kw) - set(network_kw)
    if unknown:
        raise SwapInputError(f"unknown parameters {sorted(unknown)}")
    fleet, network = replace(inputs.fleet, **fleet_kw), replace(inputs.network, **network_kw)
    fleet.validate()
    network.validate()
    return fleet, network
