"""Electricity tariff for a charging site: hourly time-of-use prices plus a monthly demand charge."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


def default_tou_prices() -> tuple[float, ...]:
    """The default time-of-use tariff, per kWh by local hour (0-23).

    off-peak 00-07 and 23-24: 0.09; mid-peak 07-11 and 17-23 (not peak): 0.14;
    on-peak 11-17: 0.21. Shaped after the Ontario TOU tariff (weekday schedule),
    rounded; currency of the region (CAD for the bundled region).
    """
    prices = np.full(24, 0.14)
    prices[0:7] = 0.09
    prices[23] = 0.09
    prices[11:17] = 0.21
    return tuple(float(p) for p in prices)


@dataclass(frozen=True)
class Tariff:
    """Energy prices per local hour and a demand charge on the monthly peak.

    price_cad_per_kwh_by_hour: 24 prices, index = local hour of the step start.
    demand_charge_cad_per_kw_month: charged on the highest site load (kW) of each calendar month.
    timezone: IANA zone in which hours and months are counted.
    """

    price_cad_per_kwh_by_hour: tuple[float, ...] = field(default_factory=default_tou_prices)
    demand_charge_cad_per_kw_month: float = 12.0
    timezone: str = "America/Toronto"

    def __post_init__(self):
        if len(self.price_cad_per_kwh_by_hour) != 24:
            raise ValueError(f"price_cad_per_kwh_by_hour needs 24 values, got {len(self.price_cad_per_kwh_by_hour)}")
        if self.demand_charge_cad_per_kw_month < 0:
            raise ValueError("demand_charge_cad_per_kw_month must be >= 0")

    def prices_for(self, period_start: pd.DatetimeIndex) -> np.ndarray:
        """Price per kWh for steps starting at ``period_start`` (tz-aware)."""
        hours = period_start.tz_convert(self.timezone).hour
        return np.asarray(self.price_cad_per_kwh_by_hour, dtype=float)[np.asarray(hours)]

    def month_of(self, period_start: pd.DatetimeIndex) -> np.ndarray:
        local = period_start.tz_convert(self.timezone)
        return np.asarray(local.year * 100 + local.month)


def load_prices_csv(path: Path) -> tuple[float, ...]:
    """Prices from a CSV with columns ``hour`` (0-23, site-local) and ``price_per_kwh``; all 24 hours required."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: price file not found")
    frame = pd.read_csv(path)
    missing = [c for c in ("hour", "price_per_kwh") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    hours = pd.to_numeric(frame["hour"], errors="coerce")
    prices = pd.to_numeric(frame["price_per_kwh"], errors="coerce")
    for i in range(len(frame)):
        if pd.isna(hours[i]) or hours[i] not in range(24):
            raise ValueError(f"{path}: row {i + 2}, field hour: expected an integer 0-23, got {frame['hour'][i]!r}")
        if pd.isna(prices[i]):
            raise ValueError(f"{path}: row {i + 2}, field price_per_kwh: not a number ({frame['price_per_kwh'][i]!r})")
    if hours.duplicated().any():
        raise ValueError(f"{path}: hour {int(hours[hours.duplicated()].iloc[0])} appears twice")
    if set(hours.astype(int)) != set(range(24)):
        absent = sorted(set(range(24)) - set(hours.astype(int)))
        raise ValueError(f"{path}: hours {absent} missing; all 24 hours are required")
    table = dict(zip(hours.astype(int), prices.astype(float), strict=True))
    return tuple(table[h] for h in range(24))
