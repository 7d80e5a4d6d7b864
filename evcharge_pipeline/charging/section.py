"""The optional ``[charging_sessions]`` section of a region bundle.

```toml
[charging_sessions]
path = "charging_sessions.csv"        # required, relative to the bundle folder
format = "flat_csv"                   # required: "flat_csv" | "acn_json" | "norway_csv"
timezone = "America/Toronto"          # required: site time zone (days, tariff hours)
site_limit_kw = 60.0                  # required: transformer limit on the site load
evse_max_kw = 7.2                     # required: EVSE maximum power
period_minutes = 15                   # schedule step, divides 60 (default 15)
base_load_kw = 0.0                    # other site load counted against the limit (default 0)
charging_efficiency = 0.92            # battery kWh per grid kWh (default 0.92)
min_power_kw = 0.0                    # minimum non-zero rate; > 0 adds binaries (default 0)
pilot_levels_kw = []                  # discrete allowed powers (binaries; default continuous)
energy_requirement = "soft"           # "soft" | "hard" (default soft)
prices_path = "tou_prices.csv"        # optional: hour (0-23 local), price_per_kwh; default built-in TOU
demand_charge_cad_per_kw_month = 12.0 # demand charge on the monthly peak (default 12)
site_id = "..."                       # optional: only sessions of this site (e.g. one garage)
energy_field = "kWhDelivered"         # acn_json only: or "kWhRequested"
departure_field = "disconnectTime"    # acn_json only: or "requestedDeparture"
exclude_stations = []                 # acn_json only: stationIDs to skip (e.g. a DC fast charger)
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evcharge_pipeline.charging.instance import SiteConfig
from evcharge_pipeline.charging.metrics import CostModel
from evcharge_pipeline.charging.model import ChargingModelConfig
from evcharge_pipeline.charging.prices import Tariff, default_tou_prices, load_prices_csv
from evcharge_pipeline.charging.sessions import FORMATS, SessionLog, check_timezone, load_sessions
from evcharge_pipeline.region import InputError, RegionBundle

SECTION = "charging_sessions"
_KNOWN = {
    "path", "format", "timezone", "site_limit_kw", "evse_max_kw", "period_minutes", "base_load_kw",
    "charging_efficiency", "min_power_kw", "pilot_levels_kw", "energy_requirement", "prices_path",
    "demand_charge_cad_per_kw_month", "site_id", "energy_field", "departure_field", "exclude_stations",
}


@dataclass(frozen=True)
class ChargingSessionsSection:
    """The parsed section; paths are resolved against the bundle folder."""

    path: Path
    format: str
    timezone: str
    site_limit_kw: float
    evse_max_kw: float
    period_minutes: int = 15
    base_load_kw: float = 0.0
    charging_efficiency: float = 0.92
    min_power_kw: float = 0.0
    pilot_levels_kw: tuple[float, ...] = ()
    energy_requirement: str = "soft"
    prices_path: Path | None = None
    demand_charge_cad_per_kw_month: float = 12.0
    site_id: str | None = None
    acn_options: dict[str, Any] = field(default_factory=dict)

    def site(self) -> SiteConfig:
        return SiteConfig(self.period_minutes, self.site_limit_kw, self.evse_max_kw, self.base_load_kw,
                          self.charging_efficiency)

    def tariff(self) -> Tariff:
        prices = load_prices_csv(self.prices_path) if self.prices_path else default_tou_prices()
        return Tariff(prices, self.demand_charge_cad_per_kw_month, self.timezone)

    def model(self) -> ChargingModelConfig:
        return ChargingModelConfig(cost=CostModel(), min_power_kw=self.min_power_kw,
                                   pilot_levels_kw=self.pilot_levels_kw, energy_requirement=self.energy_requirement)

    def load(self) -> SessionLog:
        log = load_sessions(self.path, self.format, self.timezone, self.evse_max_kw, **self.acn_options)
        if self.site_id is not None:
            log.sessions = log.sessions[log.sessions["site_id"] == self.site_id].reset_index(drop=True)
        return log


def read_charging_section(bundle: RegionBundle) -> ChargingSessionsSection | None:
    """The section of ``bundle``, or None when the bundle has none; errors name region.toml and the field."""
    raw = bundle.section(SECTION)
    if raw is None:
        return None
    where = bundle.toml_path

    def need(key: str):
        if key not in raw:
            raise InputError(where, f"[{SECTION}] needs '{key}'", field=f"{SECTION}.{key}")
        return raw[key]

    def number(key: str, default=None, positive=False):
        value = raw.get(key, default) if default is not None else need(key)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InputError(where, f"expected a number, got {value!r}", field=f"{SECTION}.{key}") from None
        if not math.isfinite(value) or value < 0 or (positive and value == 0):
            raise InputError(where, f"must be a finite {'positive' if positive else 'non-negative'} number, "
                             f"got {value}", field=f"{SECTION}.{key}")
        return value

    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise InputError(where, f"unknown key(s) {', '.join(unknown)} in [{SECTION}]", field=f"{SECTION}.{unknown[0]}")
    fmt = str(need("format"))
    if fmt not in FORMATS:
        raise InputError(where, f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}",
                         field=f"{SECTION}.format")
    tz = str(need("timezone"))
    try:
        check_timezone(tz, str(where))
    except ValueError as exc:
        raise InputError(where, str(exc), field=f"{SECTION}.timezone") from None
    period_value = number("period_minutes", 15, positive=True)
    period = int(period_value)
    if period != period_value or 60 % period:
        raise InputError(where, f"must be a whole number of minutes dividing 60, got {period_value:g}",
                         field=f"{SECTION}.period_minutes")
    requirement = str(raw.get("energy_requirement", "soft"))
    if requirement not in ("soft", "hard"):
        raise InputError(where, f"must be 'soft' or 'hard', got {requirement!r}", field=f"{SECTION}.energy_requirement")
    efficiency = number("charging_efficiency", 0.92, positive=True)
    if efficiency > 1:
        raise InputError(where, f"must be at most 1, got {efficiency}", field=f"{SECTION}.charging_efficiency")
    levels = raw.get("pilot_levels_kw", [])
    if not isinstance(levels, list) or not all(isinstance(x, (int, float)) and math.isfinite(x) and x > 0
                                               for x in levels):
        raise InputError(where, f"must be a list of positive numbers, got {levels!r}",
                         field=f"{SECTION}.pilot_levels_kw")
    acn = {k: raw[k] for k in ("energy_field", "departure_field") if k in raw}
    if "exclude_stations" in raw:
        acn["exclude_stations"] = tuple(str(s) for s in raw["exclude_stations"])
    if acn and fmt != "acn_json":
        raise InputError(where, f"{', '.join(acn)} only apply to format acn_json", field=f"{SECTION}.{next(iter(acn))}")
    prices = raw.get("prices_path")
    return ChargingSessionsSection(
        path=bundle.resolve(str(need("path")), SECTION),
        format=fmt,
        timezone=tz,
        site_limit_kw=number("site_limit_kw", positive=True),
        evse_max_kw=number("evse_max_kw", positive=True),
        period_minutes=period,
        base_load_kw=number("base_load_kw", 0.0),
        charging_efficiency=efficiency,
        min_power_kw=number("min_power_kw", 0.0),
        pilot_levels_kw=tuple(float(x) for x in levels),
        energy_requirement=requirement,
        prices_path=bundle.resolve(str(prices), SECTION) if prices else None,
        demand_charge_cad_per_kw_month=number("demand_charge_cad_per_kw_month", 12.0),
        site_id=str(raw["site_id"]) if "site_id" in raw else None,
        acn_options=acn,
    )
