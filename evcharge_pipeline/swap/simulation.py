"""Discrete-event simulation (SimPy) of a swap network plan, to check the analytic service level.

Riders arrive at swap stations (non-homogeneous Poisson from a daily rate profile, or whole days
resampled from a swap log). A rider takes a charged battery if the station has one, otherwise
waits for the next one to come back (backorder, first come first served). Every depleted battery
travels to the station's hub, queues FCFS for a charging port, charges, and travels back to the
same station. The first `warmup_days` of each replication are discarded; replications use
independent random streams, so the fill rate gets a t-based confidence interval.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy
from scipy import stats

from evcharge_pipeline.swap.analytic import HOURS_PER_DAY, SwapInputError, TimeGrid, check_probability


@dataclass(frozen=True)
class SimulationConfig:
    """Length and replication of a simulation run."""

    days: int = 60  # simulated days per replication, including warm-up
    warmup_days: int = 3  # discarded at the start of each replication
    replications: int = 5
    confidence: float = 0.95
    seed: int = 2024

    def validate(self) -> None:
        if self.days <= self.warmup_days or self.warmup_days < 0:
            raise SwapInputError(f"days ({self.days}) must exceed warmup_days ({self.warmup_days}) >= 0")
        if self.replications < 2:
            raise SwapInputError("at least 2 replications are needed for a confidence interval")
        check_probability("confidence", self.confidence)


@dataclass(frozen=True)
class PlanToSimulate:
    """The decisions and the physics of a swap network, by station index and hub index."""

    station_ids: list[str]
    hub_ids: list[str]
    station_hub: np.ndarray  # (stations,) hub index of each station
    spares: np.ndarray  # (stations,) spare batteries at each station
    transport_hours: np.ndarray  # (stations,) one-way transport time to its hub
    hub_ports: np.ndarray  # (hubs,) charging ports
    charging_hours: float

    def validate(self) -> None:
        n = len(self.station_ids)
        for name in ("station_hub", "spares", "transport_hours"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise SwapInputError(f"{name} must have one entry per station ({n})")
        if np.asarray(self.hub_ports).shape != (len(self.hub_ids),):
            raise SwapInputError("hub_ports must have one entry per hub")
        used = np.unique(self.station_hub)
        if np.any(np.asarray(self.hub_ports)[used] <= 0):
            raise SwapInputError("a hub that serves stations has no charging ports")
        if self.charging_hours <= 0:
            raise SwapInputError(f"charging_hours must be positive, got {self.charging_hours}")


class ArrivalSource:
    """Generates (times in hours from the start, station indices) for `days` days."""

    def generate(self, days: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


@dataclass(frozen=True)
class ProfileArrivals(ArrivalSource):
    """Poisson arrivals with a periodic daily rate profile per station (rates per hour, piecewise per step)."""

    rate_per_hour: np.ndarray  # (stations, steps)
    grid: TimeGrid

    def generate(self, days: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        rate = np.asarray(self.rate_per_hour, dtype=float)
        h = self.grid.step_hours
        counts = rng.poisson(np.broadcast_to(rate * h, (days, *rate.shape)))  # (days, stations, steps)
        day_idx, station_idx, step_idx = np.nonzero(counts)
        reps = counts[day_idx, station_idx, step_idx]
        day_idx, station_idx, step_idx = (np.repeat(a, reps) for a in (day_idx, station_idx, step_idx))
        times = day_idx * HOURS_PER_DAY + (step_idx + rng.random(step_idx.size)) * h
        order = np.argsort(times, kind="stable")
        return times[order], station_idx[order]


@dataclass(frozen=True)
class LogArrivals(ArrivalSource):
    """Whole days resampled (with replacement) from a swap log; times within the day are kept.

    `scale` adapts the log to another demand level: each logged swap appears floor(scale) times plus
    once more with probability frac(scale); copies are jittered by up to +-`jitter_hours`.
    """

    day_hours: list[np.ndarray]  # per log day: hour of day of each swap
    day_stations: list[np.ndarray]  # per log day: station index of each swap
    scale: float = 1.0
    jitter_hours: float = 1.0 / 12.0

    def generate(self, days: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if not self.day_hours:
            raise SwapInputError("the swap log has no days to resample")
        if not self.scale > 0:
            raise SwapInputError(f"log scale must be positive, got {self.scale}")
        picks = rng.integers(0, len(self.day_hours), size=days)
        times = np.concatenate([self.day_hours[p] + d * HOURS_PER_DAY for d, p in enumerate(picks)])
        stations = np.concatenate([self.day_stations[p] for p in picks]).astype(int)
        if abs(self.scale - 1.0) > 1e-9:
            copies = np.floor(self.scale).astype(int) + (rng.random(times.size) < self.scale - np.floor(self.scale))
            original = np.repeat(np.arange(times.size), copies)
            first = np.r_[True, original[1:] != original[:-1]] if original.size else np.zeros(0, bool)
            jitter = np.where(first, 0.0, rng.uniform(-self.jitter_hours, self.jitter_hours, original.size))
            times = np.clip(times[original] + jitter, 0.0, None)
            stations = stations[original]
        order = np.argsort(times, kind="stable")
        return times[order], stations[order]


@dataclass
class SimulationResult:
    fill_rate: float
    fill_rate_ci_low: float
    fill_rate_ci_high: float
    confidence: float
    swaps_simulated: int
    days_measured: int
    seconds: float
    per_station: pd.DataFrame
    per_hub: pd.DataFrame
    per_replication: pd.DataFrame
    hourly_fill_rate: np.ndarray = field(repr=False)

    def summary(self) -> dict:
        return {
            "sim_fill_rate": self.fill_rate,
            "sim_fill_rate_ci_low": self.fill_rate_ci_low,
            "sim_fill_rate_ci_high": self.fill_rate_ci_high,
            "sim_confidence": self.confidence,
            "sim_swaps": self.swaps_simulated,
            "sim_days_measured": self.days_measured,
            "sim_seconds": self.seconds,
        }


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean, mean - half, mean + half


def _replicate(plan: PlanToSimulate, times: np.ndarray, stations: np.ndarray, warmup_hours: float, horizon: float):
    """One replication; returns per-arrival filled flags and rider waits, per-trip port waits, port busy hours.

    Event callbacks instead of one generator process per battery keep the event count at about six
    per swap (arrival, outbound trip, port request, charge, port release, return trip).
    """
    env = simpy.Environment()
    ports = [simpy.Resource(env, capacity=max(int(c), 1)) for c in plan.hub_ports]
    hub_of = [int(h) for h in plan.station_hub]
    transport = [float(t) for t in plan.transport_hours]
    charge = float(plan.charging_hours)
    stock = [int(s) for s in plan.spares]
    waiting: list[deque] = [deque() for _ in plan.station_ids]
    time_list = times.tolist()
    station_list = [int(s) for s in stations]
    n = len(time_list)
    filled = np.zeros(n, dtype=bool)
    rider_wait = np.zeros(n)
    port_wait = np.full(n, np.nan)
    hub_busy = np.zeros(len(plan.hub_ids))

    def returned(s: int) -> None:
        if waiting[s]:
            j = waiting[s].popleft()
            rider_wait[j] = env.now - time_list[j]
        else:
            stock[s] += 1

    def charged(s: int, req, start: float) -> None:
        ports[hub_of[s]].release(req)
        if start >= warmup_hours:
            hub_busy[hub_of[s]] += min(charge, horizon - start)
        if transport[s] > 0:
            env.timeout(transport[s]).callbacks.append(lambda _e: returned(s))
        else:
            returned(s)

    def at_hub(i: int, s: int) -> None:
        req = ports[hub_of[s]].request()
        queued = env.now

        def granted(_e) -> None:
            port_wait[i] = env.now - queued
            start = env.now
            env.timeout(charge).callbacks.append(lambda _e2: charged(s, req, start))

        req.callbacks.append(granted)

    def arrive(i: int) -> None:
        s = station_list[i]
        if stock[s] > 0:  # stock is only positive when no rider is waiting
            stock[s] -= 1
            filled[i] = True
        else:
            waiting[s].append(i)
            rider_wait[i] = np.nan  # until served
        if transport[s] > 0:
            env.timeout(transport[s]).callbacks.append(lambda _e: at_hub(i, s))
        else:
            at_hub(i, s)
        if i + 1 < n:
            env.timeout(max(time_list[i + 1] - env.now, 0.0)).callbacks.append(lambda _e: arrive(i + 1))

    if n:
        env.timeout(max(time_list[0], 0.0)).callbacks.append(lambda _e: arrive(0))
    env.run(until=horizon)
    # riders still waiting at the horizon have waited at least this long
    for queue in waiting:
        for j in queue:
            rider_wait[j] = horizon - time_list[j]
    return filled, rider_wait, port_wait, hub_busy


def simulate_plan(plan: PlanToSimulate, arrivals: ArrivalSource,
                  config: SimulationConfig = SimulationConfig()) -> SimulationResult:
    """Simulate `plan` for `config.replications` independent replications and summarise service and ports."""
    plan.validate()
    config.validate()
    started = time.perf_counter()
    n_st, n_hub = len(plan.station_ids), len(plan.hub_ids)
    warmup_hours = config.warmup_days * HOURS_PER_DAY
    horizon = config.days * HOURS_PER_DAY
    measured_hours = horizon - warmup_hours
    seeds = np.random.SeedSequence(config.seed).spawn(config.replications)
    rep_rows, station_fill, station_arrivals, station_wait, hub_util, hub_pwait, hub_mwait = [], [], [], [], [], [], []
    hourly_num = np.zeros(24)
    hourly_den = np.zeros(24)
    total_swaps = 0
    for r, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        times, stations = arrivals.generate(config.days, rng)
        if stations.size and (stations.min() < 0 or stations.max() >= n_st):
            raise SwapInputError("arrival station index out of range")
        filled, rider_wait, port_wait, hub_busy = _replicate(plan, times, stations, warmup_hours, horizon)
        keep = times >= warmup_hours
        total_swaps += int(keep.sum())
        f, st, tw = filled[keep], stations[keep], times[keep]
        arr = np.bincount(st, minlength=n_st)
        fil = np.bincount(st, weights=f, minlength=n_st)
        wait_sum = np.bincount(st, weights=np.nan_to_num(rider_wait[keep]), minlength=n_st)
        station_arrivals.append(arr)
        with np.errstate(invalid="ignore", divide="ignore"):
            station_fill.append(np.where(arr > 0, fil / np.maximum(arr, 1), np.nan))
            station_wait.append(np.where(arr > 0, wait_sum / np.maximum(arr, 1), np.nan))
        hour = (tw % HOURS_PER_DAY).astype(int)
        hourly_num += np.bincount(hour, weights=f, minlength=24)
        hourly_den += np.bincount(hour, minlength=24)
        hub_of_arrival = plan.station_hub[st]
        pw = port_wait[keep]
        done = ~np.isnan(pw)
        cnt = np.bincount(hub_of_arrival[done], minlength=n_hub)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_hub = np.maximum(cnt, 1)
            hub_pwait.append(np.bincount(hub_of_arrival[done], weights=pw[done] > 1e-9, minlength=n_hub) / per_hub)
            hub_mwait.append(np.bincount(hub_of_arrival[done], weights=pw[done], minlength=n_hub) / per_hub)
            port_hours = np.maximum(plan.hub_ports, 1) * measured_hours
            hub_util.append(np.where(plan.hub_ports > 0, hub_busy / port_hours, np.nan))
        rep_rows.append({"replication": r, "swaps": int(keep.sum()), "fill_rate": float(f.mean()) if f.size else np.nan,
                         "mean_rider_wait_hours": float(np.nanmean(rider_wait[keep])) if f.size else np.nan})
    reps = pd.DataFrame(rep_rows)
    mean, lo, hi = _t_interval(reps["fill_rate"].to_numpy(), config.confidence)
    sf = np.vstack(station_fill)
    per_station_ci = np.array([_t_interval(sf[:, i], config.confidence) for i in range(n_st)]).reshape(n_st, 3)
    per_station = pd.DataFrame({
        "station_id": plan.station_ids,
        "hub_id": [plan.hub_ids[h] for h in plan.station_hub],
        "spare_batteries": np.asarray(plan.spares, dtype=int),
        "sim_swaps_per_day": (np.vstack(station_arrivals).sum(axis=0)
                              / (config.replications * (config.days - config.warmup_days))),
        "sim_fill_rate": per_station_ci[:, 0],
        "sim_fill_rate_ci_low": per_station_ci[:, 1],
        "sim_fill_rate_ci_high": per_station_ci[:, 2],
        "sim_mean_rider_wait_hours": np.vstack(station_wait).mean(axis=0),
    })
    per_hub = pd.DataFrame({
        "hub_id": plan.hub_ids,
        "charging_ports": np.asarray(plan.hub_ports, dtype=int),
        "sim_port_utilisation": np.vstack(hub_util).mean(axis=0),
        "sim_port_wait_probability": np.vstack(hub_pwait).mean(axis=0),
        "sim_port_mean_wait_hours": np.vstack(hub_mwait).mean(axis=0),
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        hourly = np.where(hourly_den > 0, hourly_num / np.maximum(hourly_den, 1), np.nan)
    return SimulationResult(
        fill_rate=mean, fill_rate_ci_low=lo, fill_rate_ci_high=hi, confidence=config.confidence,
        swaps_simulated=total_swaps, days_measured=config.replications * (config.days - config.warmup_days),
        seconds=time.perf_counter() - started, per_station=per_station, per_hub=per_hub,
        per_replication=reps, hourly_fill_rate=hourly,
    )
