"""Discretised scheduling instance: sessions on a time grid, stored sparsely as (session, step) pairs.

A car is connected in steps ``arrival_step <= t < departure_step`` where both are the floor of
the plug-in / plug-out time on the grid (the ACN-Sim convention). Only connected pairs exist:
a schedule is one power value (kW) per pair, so nothing can be scheduled for a parked-out car.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

from evcharge_pipeline.charging.prices import Tariff


@dataclass(frozen=True)
class SiteConfig:
    """The physical site and the grid.

    period_minutes: length of one schedule step (must divide 60).
    site_limit_kw: transformer limit on the total site load (charging + base load).
    evse_max_kw: per-EVSE maximum power; a session's rate is min(its own max, this).
    base_load_kw: other site load counted against the limit and the peak (constant).
    charging_efficiency: battery energy gained per kWh taken from the grid (SoC dynamics only;
        requested energy is metered on the grid side, as ACN-Data and the garage data are).
    default_soc_max: upper SoC bound (0..1) for sessions with a known battery but no own soc_max.
    """

    period_minutes: int = 5
    site_limit_kw: float = 50.0
    evse_max_kw: float = 6.6
    base_load_kw: float = 0.0
    charging_efficiency: float = 0.92
    default_soc_max: float = 1.0

    def __post_init__(self):
        if self.period_minutes <= 0 or 60 % self.period_minutes:
            raise ValueError(f"period_minutes must divide 60, got {self.period_minutes}")
        if self.site_limit_kw <= 0 or self.evse_max_kw <= 0:
            raise ValueError("site_limit_kw and evse_max_kw must be positive")
        if not 0 < self.charging_efficiency <= 1:
            raise ValueError("charging_efficiency must be in (0, 1]")

    @property
    def period_hours(self) -> float:
        return self.period_minutes / 60.0


@dataclass
class ChargingInstance:
    """Sessions on a grid of ``T`` steps from ``period_start[0]``; arrays are per session (S) or per step (T)."""

    period_start: pd.DatetimeIndex  # UTC, length T
    period_hours: float
    session_id: np.ndarray  # (S,) str
    arrival_step: np.ndarray  # (S,) int, first connected step
    departure_step: np.ndarray  # (S,) int, first step no longer connected
    energy_kwh: np.ndarray  # (S,) still requested (grid side)
    energy_cap_kwh: np.ndarray  # (S,) most that can be delivered (request, limited by battery headroom)
    max_power_kw: np.ndarray  # (S,)
    battery_capacity_kwh: np.ndarray  # (S,) NaN when unknown
    soc_start_kwh: np.ndarray  # (S,) battery energy at the start of the horizon (NaN when unknown)
    price_per_kwh: np.ndarray  # (T,)
    base_load_kw: np.ndarray  # (T,)
    limit_kw: np.ndarray  # (T,)
    charging_efficiency: float = 1.0
    forecast: np.ndarray | None = None  # (S,) bool: forecast car (rolling-horizon planning only), None = all real

    @property
    def n_sessions(self) -> int:
        return len(self.session_id)

    @property
    def n_steps(self) -> int:
        return len(self.period_start)

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        length = np.maximum(self.departure_step - self.arrival_step, 0).astype(np.int64)
        n = int(length.sum())
        session = np.repeat(np.arange(self.n_sessions), length)
        first = np.cumsum(length) - length
        offset = np.arange(n) - np.repeat(first, length)
        step = self.arrival_step[session] + offset
        return session, step.astype(np.int64), offset

    @property
    def pair_session(self) -> np.ndarray:
        return self._pairs[0]

    @property
    def pair_step(self) -> np.ndarray:
        return self._pairs[1]

    @property
    def pair_offset(self) -> np.ndarray:
        """Position of the pair within its session (0 = first connected step)."""
        return self._pairs[2]

    @property
    def n_pairs(self) -> int:
        return len(self.pair_session)

    @cached_property
    def session_matrix(self) -> sp.csr_matrix:
        """(S x n) 0/1: sums a pair vector per session."""
        n = self.n_pairs
        return sp.csr_matrix((np.ones(n), (self.pair_session, np.arange(n))), shape=(self.n_sessions, n))

    @cached_property
    def step_matrix(self) -> sp.csr_matrix:
        """(T x n) 0/1: sums a pair vector per step."""
        n = self.n_pairs
        return sp.csr_matrix((np.ones(n), (self.pair_step, np.arange(n))), shape=(self.n_steps, n))

    def delivered_kwh(self, power_kw: np.ndarray) -> np.ndarray:
        return self.period_hours * (self.session_matrix @ power_kw)

    def load_kw(self, power_kw: np.ndarray) -> np.ndarray:
        """Charging load per step (without base load)."""
        return self.step_matrix @ power_kw


def build_instance(
    sessions: pd.DataFrame,
    site: SiteConfig,
    tariff: Tariff,
    start: pd.Timestamp,
    end: pd.Timestamp | None = None,
    delivered_kwh: pd.Series | None = None,
) -> ChargingInstance:
    """The instance for ``sessions`` (common session schema) on the grid ``[start, end)``.

    ``end`` defaults to the last departure, rounded up to the grid. ``delivered_kwh`` (indexed by
    session_id) is energy already delivered before ``start``: it is taken off the request and added
    to the battery's state of charge. Arrivals before ``start`` are clipped to step 0.
    """
    dt = pd.Timedelta(minutes=site.period_minutes)
    start = pd.Timestamp(start).tz_convert("UTC")
    if end is None:
        last = sessions["departure"].max() if len(sessions) else start
        end = max(start + dt, start + np.ceil((last - start) / dt) * dt)
    end = pd.Timestamp(end).tz_convert("UTC")
    steps = pd.date_range(start, end, freq=dt, inclusive="left", tz="UTC")
    T = len(steps)
    arr = np.floor((sessions["arrival"] - start) / dt).to_numpy(dtype=float)
    dep = np.floor((sessions["departure"] - start) / dt).to_numpy(dtype=float)
    arr = np.clip(arr, 0, T).astype(np.int64)
    dep = np.clip(dep, 0, T).astype(np.int64)
    done = np.zeros(len(sessions))
    if delivered_kwh is not None and len(sessions):
        done = sessions["session_id"].map(delivered_kwh).fillna(0.0).to_numpy(dtype=float)
    request = np.maximum(sessions["energy_kwh"].to_numpy(dtype=float) - done, 0.0)
    cap = sessions["battery_capacity_kwh"].to_numpy(dtype=float)
    soc_arrival = sessions["soc_arrival"].to_numpy(dtype=float)
    soc_max = sessions["soc_max"].fillna(site.default_soc_max).to_numpy(dtype=float)
    eff = site.charging_efficiency
    soc_start = cap * np.where(np.isnan(soc_arrival), 0.0, soc_arrival) + eff * done
    headroom = np.where(np.isnan(cap), np.inf, np.maximum(soc_max * cap - soc_start, 0.0) / eff)
    power = np.minimum(sessions["max_power_kw"].to_numpy(dtype=float), site.evse_max_kw)
    return ChargingInstance(
        period_start=steps,
        period_hours=site.period_hours,
        session_id=sessions["session_id"].astype(str).to_numpy(),
        arrival_step=arr,
        departure_step=dep,
        energy_kwh=request,
        energy_cap_kwh=np.minimum(request, headroom),
        max_power_kw=power,
        battery_capacity_kwh=cap,
        soc_start_kwh=np.where(np.isnan(cap), np.nan, soc_start),
        price_per_kwh=tariff.prices_for(steps),
        base_load_kw=np.full(T, float(site.base_load_kw)),
        limit_kw=np.full(T, float(site.site_limit_kw)),
        charging_efficiency=eff,
    )
