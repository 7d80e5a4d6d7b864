"""Classic online charging baselines, simulated step by step under the same constraints as the model.

* ``uncontrolled`` - every car charges at its maximum until full; the site limit is ignored
  (this is what a site without management does, and shows the peak it would reach).
* ``fcfs`` - first come, first served: earliest arrival first.
* ``edf`` - earliest deadline (departure) first.
* ``llf`` - least laxity first: laxity = time left before departure - time still needed at full power.

The sorted policies hand out the site headroom in priority order, each car taking
``min(its max power, what it still needs this step)`` (the ACN-Sim "sorted scheduling" rule).
With a minimum non-zero rate, an allocation below it becomes zero; with pilot levels it is rounded
down to the nearest level. No car gets more than its request, and only while connected.
"""

from __future__ import annotations

import time

import numpy as np

from evcharge_pipeline.charging.instance import ChargingInstance
from evcharge_pipeline.charging.model import NO_SESSIONS, ChargingModelConfig, ScheduleResult

BASELINES = ("uncontrolled", "fcfs", "edf", "llf")


def _discretise(alloc: np.ndarray, config: ChargingModelConfig) -> np.ndarray:
    if config.pilot_levels_kw:
        levels = np.array(sorted(config.pilot_levels_kw), dtype=float)
        pos = np.searchsorted(levels, alloc + 1e-9, side="right") - 1
        return np.where(pos >= 0, levels[np.maximum(pos, 0)], 0.0)
    if config.min_power_kw > 0:
        return np.where(alloc + 1e-9 >= config.min_power_kw, alloc, 0.0)
    return alloc


def sorted_allocation(inst: ChargingInstance, rule: str, config: ChargingModelConfig, remaining_kwh: np.ndarray,
                      available: np.ndarray | None = None, start: int = 0, end: int | None = None) -> np.ndarray:
    """Power per pair from ``rule`` over the steps ``start <= t < end``, starting from ``remaining_kwh``
    per session (updated in place); pairs outside the window or not ``available`` get zero.

    This is the simulation core of every baseline and the fallback of the optimiser when a solve
    returns no usable schedule (LLF under the same limit)."""
    if rule not in BASELINES:
        raise ValueError(f"unknown baseline {rule!r}; expected one of {', '.join(BASELINES)}")
    end = inst.n_steps if end is None else end
    dt = inst.period_hours
    power = np.zeros(inst.n_pairs)
    mask = (inst.pair_step >= start) & (inst.pair_step < end)
    if available is not None:
        mask &= available
    chosen = np.flatnonzero(mask)
    if len(chosen) == 0:
        return power
    order = chosen[np.argsort(inst.pair_step[chosen], kind="stable")]
    steps = inst.pair_step[order]
    bounds = np.flatnonzero(np.r_[True, steps[1:] != steps[:-1], True])
    for b in range(len(bounds) - 1):  # loop over time steps only
        idx = order[bounds[b]:bounds[b + 1]]
        t = steps[bounds[b]]
        s = inst.pair_session[idx]
        want = np.minimum(inst.max_power_kw[s], np.maximum(remaining_kwh[s], 0.0) / dt)
        if rule == "uncontrolled":
            alloc = want
        else:
            if rule == "fcfs":
                key = inst.arrival_step[s].astype(float)
            elif rule == "edf":
                key = inst.departure_step[s].astype(float)
            else:
                key = (inst.departure_step[s] - t) * dt - remaining_kwh[s] / inst.max_power_kw[s]
            rank = np.lexsort((s, key))
            headroom = max(float(inst.limit_kw[t] - inst.base_load_kw[t]), 0.0)
            w = want[rank]
            before = np.cumsum(w) - w
            alloc_sorted = np.clip(headroom - before, 0.0, w)
            alloc = np.empty_like(alloc_sorted)
            alloc[rank] = alloc_sorted
        alloc = _discretise(alloc, config)
        alloc[alloc < 1e-9] = 0.0
        power[idx] = alloc
        remaining_kwh[s] -= alloc * dt
    return power


def simulate_baseline(inst: ChargingInstance, rule: str, config: ChargingModelConfig | None = None) -> ScheduleResult:
    """Simulate ``rule`` (one of :data:`BASELINES`) over the instance; vectorised within each step.
    An instance without sessions gives an empty schedule with status ``no_sessions``."""
    if rule not in BASELINES:
        raise ValueError(f"unknown baseline {rule!r}; expected one of {', '.join(BASELINES)}")
    config = config or ChargingModelConfig()
    t0 = time.perf_counter()
    if inst.n_pairs == 0:
        return ScheduleResult(rule, np.zeros(0), NO_SESSIONS, "no sessions connected in the horizon")
    power = sorted_allocation(inst, rule, config, inst.energy_cap_kwh.astype(float).copy())
    return ScheduleResult(rule, power, "ok", "", None, 0.0, time.perf_counter() - t0)
