"""Decisions of a plan and the network state they imply, phase by phase (numpy)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputs, site_load_kw


@dataclass
class Decisions:
    """Phases are 1-based; 0 means "not taken"."""

    upgrade_phase: np.ndarray     # per existing station
    retire_phase: np.ndarray      # per existing station
    open_level: np.ndarray        # per site: 0, 2 (new L2) or 3 (new L3); existing stations always 0
    open_phase: np.ndarray        # per site
    ports_l2: np.ndarray          # sites x phases: L2 ports added in the phase (beyond the opening ports)
    ports_l3: np.ndarray          # sites x phases

    @classmethod
    def empty(cls, inputs: NetworkInputs, phases: int) -> Decisions:
        return cls.empty_sized(inputs.n_existing, inputs.n_sites, phases)

    @classmethod
    def empty_sized(cls, n_existing: int, n_sites: int, phases: int) -> Decisions:
        zeros = np.zeros(n_sites, np.int64)
        return cls(np.zeros(n_existing, np.int64), np.zeros(n_existing, np.int64), zeros.copy(), zeros.copy(),
                   np.zeros((n_sites, phases), np.int64), np.zeros((n_sites, phases), np.int64))


ACTIONS = ("upgrade", "retire", "open_l2", "open_l3")   # one action per site: existing stations upgrade or
                                                      # retire, candidate sites open an L2 or L3 station


def action_capex_cad(config: NetworkConfig) -> np.ndarray:
    """Capex of each of `ACTIONS` (CAD; opening ports included, no added ports)."""
    return np.array([config.upgrade_cost_cad, config.retire_cad, config.new_l2_cost_cad, config.new_l3_cost_cad])


def set_action(d: Decisions, n_existing: int, sites: np.ndarray, action: str | None, phase: int) -> None:
    """Give `sites` the action from `phase` on, in place (None clears whatever they do)."""
    sites = np.asarray(sites, np.int64)
    existing, candidate = sites[sites < n_existing], sites[sites >= n_existing]
    d.upgrade_phase[existing] = phase if action == "upgrade" else 0
    d.retire_phase[existing] = phase if action == "retire" else 0
    d.open_level[candidate] = {"open_l2": 2, "open_l3": 3}.get(action or "", 0)
    d.open_phase[candidate] = phase if action else 0


@dataclass
class NetworkState:
    alive: np.ndarray      # sites x phases, 0/1
    has_l2: np.ndarray
    has_l3: np.ndarray
    ports_l1: np.ndarray
    ports_l2: np.ndarray
    ports_l3: np.ndarray
    load_kw: np.ndarray
    capex_by_phase: np.ndarray
    opex_by_phase: np.ndarray      # annual operating cost in each phase
    capex_by_site: np.ndarray      # sites x phases
    opex_by_site: np.ndarray       # sites x phases, annual (a station with any L3 port pays the L3 rate)


def active_from(phase: np.ndarray, phases: int) -> np.ndarray:
    """sites x phases indicator: 1 from `phase` on (0 = never)."""
    t = np.arange(1, phases + 1)
    return ((phase[:, None] > 0) & (t[None, :] >= phase[:, None])).astype(np.int64)


def in_phase(phase: np.ndarray, phases: int) -> np.ndarray:
    t = np.arange(1, phases + 1)
    return (phase[:, None] == t[None, :]).astype(np.int64)


def evaluate_state(inputs: NetworkInputs, d: Decisions, config: NetworkConfig) -> NetworkState:
    T, n, e = config.phases, inputs.n_sites, inputs.n_existing
    s = inputs.sites
    pad = lambda a: np.vstack([a, np.zeros((n - e, T), np.int64)])  # noqa: E731
    up = pad(active_from(d.upgrade_phase, T))
    ret = pad(active_from(d.retire_phase, T))
    new2 = active_from(np.where(d.open_level == 2, d.open_phase, 0), T)
    new3 = active_from(np.where(d.open_level == 3, d.open_phase, 0), T)
    is_existing = (s["site_kind"].to_numpy() == "existing")[:, None]
    alive = np.where(is_existing, 1 - ret, new2 + new3)
    base_l2 = s["l2_before"].to_numpy(bool)[:, None].astype(np.int64)
    base_l3 = s["l3_before"].to_numpy(bool)[:, None].astype(np.int64)
    has_l2 = base_l2 * (1 - ret) + new2
    has_l3 = base_l3 * (1 - ret) + up + new3
    cum2, cum3 = np.cumsum(d.ports_l2, axis=1), np.cumsum(d.ports_l3, axis=1)
    ports_l1 = s["ports_l1"].to_numpy()[:, None] * (1 - ret)
    ports_l2 = s["ports_l2"].to_numpy()[:, None] * (1 - ret) + config.new_l2_station_ports * new2 + cum2
    ports_l3 = (s["ports_l3"].to_numpy()[:, None] * (1 - ret) + config.upgrade_l3_ports * up
                + config.new_l3_station_ports * new3 + cum3)
    load = site_load_kw(ports_l1, ports_l2, ports_l3, config)
    up_t, ret_t = pad(in_phase(d.upgrade_phase, T)), pad(in_phase(d.retire_phase, T))
    new2_t = in_phase(np.where(d.open_level == 2, d.open_phase, 0), T)
    new3_t = in_phase(np.where(d.open_level == 3, d.open_phase, 0), T)
    capex_site = (
        up_t * config.upgrade_cost_cad
        + ret_t * config.retire_cad
        + new2_t * config.new_l2_cost_cad
        + new3_t * config.new_l3_cost_cad
        + d.ports_l2 * config.port_l2_cad + d.ports_l3 * config.port_l3_cad
    ).astype(float)
    opex = (config.opex_l2_station_cad_per_year * (alive - has_l3).clip(min=0)
            + config.opex_l3_station_cad_per_year * has_l3).astype(float)
    return NetworkState(alive, has_l2, has_l3, ports_l1, ports_l2, ports_l3, load,
                        capex_site.sum(axis=0), opex.sum(axis=0), capex_site, opex)


def coverage_shares(inputs: NetworkInputs, has_l2: np.ndarray, has_l3: np.ndarray) -> dict[str, float]:
    """Covered shares (population and EV) by level, and the underserved shares, for one phase's state vectors."""
    c2 = (inputs.a_l2 @ has_l2) > 0
    c3 = (inputs.a_l3 @ has_l3) > 0
    anyv = ((inputs.a_any @ np.maximum(has_l2, has_l3)) > 0)
    pop_total = max(float(inputs.demand["population"].sum()), 1e-12)
    ev_total = max(float(inputs.demand["ev_count"].sum()), 1e-12)
    return {
        "coverage_l2_population": float(inputs.group_population[c2].sum() / pop_total),
        "coverage_l2_ev": float(inputs.group_ev[c2].sum() / ev_total),
        "coverage_l3_population": float(inputs.group_population[c3].sum() / pop_total),
        "coverage_l3_ev": float(inputs.group_ev[c3].sum() / ev_total),
        "underserved_population": float(1 - inputs.group_population[anyv].sum() / pop_total),
        "underserved_ev": float(1 - inputs.group_ev[anyv].sum() / ev_total),
    }
