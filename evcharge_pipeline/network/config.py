"""Typed configuration of the network enhancement model.

Every figure the model uses lives here with its unit in the field name. Money is Canadian dollars
(`_cad`), distances kilometres (`_km`), power kilowatts (`_kw`). The defaults are planning figures for
a mid-sized Ontario region: an L2→L3 upgrade at 50,000 CAD, L2 ports at 5,000 CAD, L3 ports at
15,000 CAD, operating costs of 2,000 CAD/yr per L2 station and 5,000 CAD/yr per L3 station.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np

from evcharge_pipeline.equity import DEFAULT_PUBLIC_NEED_RATIO

SOLVERS = ("HIGHS", "SCIP", "CBC")
CONSTRAINT_GROUPS = (
    "total_budget",
    "phase_budget",
    "max_upgrades_per_phase",
    "coverage_target_l2",
    "coverage_target_l3",
    "max_l3_distance",
    "l3_spacing",
    "site_grid_capacity",
    "area_grid_capacity",
    "min_ports_per_area",
    "equity_floors",
)


class ConfigError(ValueError):
    """A contradictory or out-of-range network model setting (names the field)."""


@dataclass(frozen=True)
class NetworkConfig:
    """All parameters of one network-plan solve.

    Coverage: a demand point is covered by level k when an active site offering level k lies within
    `radius_{k}_km`. It is underserved when no L2 or L3 site lies within the larger of the two radii.
    Service standard: every demand point that some potential L3 site (existing L3, upgradeable L2 or
    candidate) can reach within `max_l3_distance_km` must have an active L3 within that distance by the
    last phase; points no site can reach are exempt and counted in the summary.
    """

    # --- budget and phasing -------------------------------------------------------------------
    budget_cad: float = 1_000_000.0              # total capital budget over all phases
    phases: int = 3                              # number of build phases
    phase_budget_cad: tuple[float, ...] | None = None   # per-phase caps; None = equal split of budget_cad
    years_per_phase: float = 2.0                 # length of a phase, for operating cost over the horizon
    max_upgrades_per_phase: int = 6              # L2→L3 upgrades allowed per phase

    # --- geometry ------------------------------------------------------------------------------
    radius_l2_km: float = 1.0                    # L2 (destination charging) coverage radius
    radius_l3_km: float = 3.0                    # L3 (DC fast) coverage radius
    max_l3_distance_km: float | None = None      # service standard (e.g. 5.0); None disables it
    min_l3_spacing_km: float = 2.0               # no two new/upgraded L3 sites closer than this; 0 disables

    # --- coverage targets (share of weight covered in the last phase) ---------------------------
    min_coverage_l2_share: float = 0.0
    min_coverage_l3_share: float = 0.0
    coverage_weight: Literal["ev", "population", "ev_need"] = "ev"   # weight of targets, objective and shares;
                                                 # ev_need: EVs weighted up where home charging is scarce
                                                 # (core.demand_points + core.area_equity, docs/equity.md)
    # equity floors: in every income band (core.area_equity) the last-phase coverage share, weighted as
    # coverage_weight, is at least this; 0 = off. Needs demand points with an income_band column.
    equity_min_coverage_l2_share: float = 0.0
    equity_min_coverage_l3_share: float = 0.0
    home_charger_public_need_ratio: float = DEFAULT_PUBLIC_NEED_RATIO   # ev_need: public-charging need of an EV
                                                 # with home charging relative to one without (docs/equity.md)

    # --- capital costs ---------------------------------------------------------------------------
    upgrade_l3_cad: float = 50_000.0             # civil/grid work of an L2→L3 upgrade (ports extra)
    new_l2_station_cad: float = 10_000.0         # site work of a new L2 station (ports extra)
    new_l3_station_cad: float = 80_000.0         # site work of a new L3 station (ports extra)
    port_l2_cad: float = 5_000.0                 # per L2 port installed
    port_l3_cad: float = 15_000.0                # per L3 port installed
    retire_cad: float = 2_000.0                  # decommissioning; negative = resale value

    # --- operating costs -------------------------------------------------------------------------
    opex_l2_station_cad_per_year: float = 2_000.0
    opex_l3_station_cad_per_year: float = 5_000.0   # a station with any L3 port pays the L3 rate

    # --- ports and power -------------------------------------------------------------------------
    new_l2_station_ports: int = 2                # ports a new L2 station opens with
    new_l3_station_ports: int = 2                # L3 ports a new L3 station opens with
    upgrade_l3_ports: int = 2                    # L3 ports an upgrade installs (L2 ports stay)
    max_added_ports_per_phase: int = 4           # extra ports per site, level and phase
    power_l1_kw: float = 1.9
    power_l2_kw: float = 7.2
    power_l3_kw: float = 50.0
    site_grid_capacity_kw: float = 250.0         # per site; raised to the existing load where that is higher
    area_grid_capacity_kw: float | None = 2_000.0   # per area; raised to the existing load; None = no limit
    min_ports_per_100_ev: float = 0.0            # minimum public ports per 100 EVs in each area; 0 disables

    # --- candidate sites ------------------------------------------------------------------------
    candidate_thinning_km: float | None = 1.0    # keep one candidate per square of this side (the one reaching
                                                 # the most demand within radius_l3_km); None keeps all

    # --- which existing stations may change ------------------------------------------------------
    upgradeable_levels: tuple[str, ...] = ("L2",)
    not_upgradeable_site_ids: tuple[str, ...] = ()
    allow_retire: bool = True

    # --- objective weights (objective is dimensionless) ------------------------------------------
    weight_coverage: float = 1.0                 # per unit of weighted coverage share (summed over L2, L3)
    phase_discount: float = 0.8                  # phase t coverage counts discount**(t-1): earlier is worth more
    weight_opex_per_mcad: float = 0.02           # per million CAD of operating cost over the horizon
    weight_upgrade: float = 0.002                # bonus per upgrade (re-use of an existing site)
    weight_underserved: float = 0.5              # per unit of underserved share in the last phase
    weight_capex_per_mcad: float = 0.001         # small tie-break per million CAD of capex

    # --- solving ---------------------------------------------------------------------------------
    solver: str = "HIGHS"                        # HIGHS | SCIP | CBC
    mip_gap: float = 0.001                       # relative gap at which the solver stops
    time_limit_seconds: float = 60.0
    threads: int | None = None                   # None = solver default
    warm_start: bool = True                      # start HiGHS from the greedy plan when it is feasible
    highs_options: tuple[tuple[str, Any], ...] = (("presolve", "off"),)   # extra HiGHS options (name, value);
                                                 # presolve off: on these covering models it costs 10-50 s
                                                 # and removes under 10% of the nonzeros
    method: Literal["benders", "monolithic"] = "benders"   # Benders decomposition (network.benders) or one MILP
    benders_clusters: int = 200                  # demand clusters, one master coverage variable each per level/phase
    benders_lp_rounds: int = 200                 # cutting-plane rounds on the master LP before branching
    kernel_candidates: int = 300                 # primal heuristic: the exact MILP on the plan's sites and this
                                                 # many candidates in all (best marginal gain per CAD); 0 = off
    kernel_time_share: float = 0.3               # share of time_limit_seconds each of the LP-support
                                                 # and kernel MILPs may use
    window_sites: int = 500                      # window search (network.windows): sites freed per window MILP
    window_time_limit_seconds: float = 20.0      # ... and the time limit of each window's MILP
    local_search_time_share: float = 0.1         # local search (network.local_search): half this share of
                                                 # time_limit_seconds first, half after each new plan
    lagrangian_time_share: float = 0.5           # at most this share of time_limit_seconds for the Lagrangian dual
                                                 # bound (network.lagrangian); it stops earlier once converged
    aggregate_demand: bool = True                # merge demand points with identical coverage sets
    diagnose_infeasible: bool = True             # run the diagnosis solves when the plan is infeasible
    diagnosis_time_limit_seconds: float = 20.0
    relax: tuple[str, ...] = field(default=())   # constraint groups to omit (diagnosis and what-if runs)

    def __post_init__(self) -> None:
        self.validate()

    # -------------------------------------------------------------------------------------------
    @property
    def radius_max_km(self) -> float:
        return max(self.radius_l2_km, self.radius_l3_km)

    @property
    def largest_radius_km(self) -> float:
        """The largest distance the model reads from the coverage pairs."""
        return max(self.radius_max_km, self.max_l3_distance_km or 0.0)

    @property
    def upgrade_cost_cad(self) -> float:
        """Capex of one L2→L3 upgrade with its L3 ports."""
        return self.upgrade_l3_cad + self.upgrade_l3_ports * self.port_l3_cad

    @property
    def new_l2_cost_cad(self) -> float:
        """Capex of one new L2 station with its opening ports."""
        return self.new_l2_station_cad + self.new_l2_station_ports * self.port_l2_cad

    @property
    def new_l3_cost_cad(self) -> float:
        """Capex of one new L3 station with its opening ports."""
        return self.new_l3_station_cad + self.new_l3_station_ports * self.port_l3_cad

    def phase_weights(self) -> np.ndarray:
        """Weight of each phase's coverage in the objective: phase_discount**(t-1), normalised to sum 1."""
        disc = self.phase_discount ** np.arange(self.phases)
        return disc / disc.sum()

    def phase_budgets(self) -> tuple[float, ...]:
        if self.phase_budget_cad is not None:
            return tuple(float(b) for b in self.phase_budget_cad)
        return tuple(self.budget_cad / self.phases for _ in range(self.phases))

    def spending_limits(self) -> tuple[np.ndarray, float, float]:
        """Phase budgets (CAD, one per phase), the total budget (CAD) and the upgrades allowed per phase, each
        infinite where `relax` lifts it: what the heuristics check before asking the full model."""
        relax = set(self.relax)
        phases = np.full(self.phases, np.inf) if "phase_budget" in relax else np.asarray(self.phase_budgets(), float)
        total = np.inf if "total_budget" in relax else float(self.budget_cad)
        upgrades = np.inf if "max_upgrades_per_phase" in relax else float(self.max_upgrades_per_phase)
        return phases, total, upgrades

    def validate(self) -> None:
        def bad(name: str, message: str) -> None:
            raise ConfigError(f"network config field '{name}': {message}")

        for name, value in asdict(self).items():
            unlimited = name == "budget_cad" and value == math.inf
            if isinstance(value, float) and not math.isfinite(value) and not unlimited:
                bad(name, f"must be a finite number, got {value}")
        if self.phases < 1:
            bad("phases", f"must be >= 1, got {self.phases}")
        if self.budget_cad < 0:
            bad("budget_cad", f"must be >= 0, got {self.budget_cad}")
        if self.phase_budget_cad is not None:
            if len(self.phase_budget_cad) != self.phases:
                bad("phase_budget_cad", f"needs {self.phases} values (one per phase), got {len(self.phase_budget_cad)}")
            if any(not b >= 0 for b in self.phase_budget_cad):   # also refuses NaN
                bad("phase_budget_cad", "values must be numbers >= 0")
        for name in ("radius_l2_km", "radius_l3_km"):
            if getattr(self, name) <= 0:
                bad(name, f"must be > 0, got {getattr(self, name)}")
        if self.max_l3_distance_km is not None and self.max_l3_distance_km <= 0:
            bad("max_l3_distance_km", "must be > 0 or None")
        if self.min_l3_spacing_km < 0:
            bad("min_l3_spacing_km", "must be >= 0")
        for name in ("min_coverage_l2_share", "min_coverage_l3_share", "equity_min_coverage_l2_share",
                     "equity_min_coverage_l3_share", "home_charger_public_need_ratio"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                bad(name, f"is a share and must lie in [0, 1], got {value}")
        if self.coverage_weight not in ("ev", "population", "ev_need"):
            bad("coverage_weight", f"must be 'ev', 'population' or 'ev_need', got {self.coverage_weight!r}")
        for name in ("new_l2_station_ports", "new_l3_station_ports", "upgrade_l3_ports", "max_added_ports_per_phase"):
            if getattr(self, name) < 0:
                bad(name, "must be >= 0")
        if self.new_l3_station_ports < 1 or self.upgrade_l3_ports < 1:
            bad("new_l3_station_ports", "an L3 station needs at least one L3 port (also upgrade_l3_ports)")
        if self.new_l2_station_ports < 1:
            bad("new_l2_station_ports", "an L2 station needs at least one port")
        if not 0.0 < self.phase_discount <= 1.0:
            bad("phase_discount", f"must lie in (0, 1], got {self.phase_discount}")
        if self.solver.upper() not in SOLVERS:
            bad("solver", f"must be one of {SOLVERS}, got {self.solver!r}")
        if not 0.0 <= self.mip_gap < 1.0:
            bad("mip_gap", "must lie in [0, 1)")
        if self.time_limit_seconds <= 0:
            bad("time_limit_seconds", "must be > 0")
        if self.method not in ("benders", "monolithic"):
            bad("method", f"must be 'benders' or 'monolithic', got {self.method!r}")
        if self.benders_clusters < 1:
            bad("benders_clusters", f"must be >= 1, got {self.benders_clusters}")
        if self.window_sites < 1:
            bad("window_sites", f"must be >= 1, got {self.window_sites}")
        if not self.window_time_limit_seconds > 0:
            bad("window_time_limit_seconds", f"must be > 0, got {self.window_time_limit_seconds}")
        if self.kernel_candidates < 0:
            bad("kernel_candidates", f"must be >= 0, got {self.kernel_candidates}")
        for name in ("kernel_time_share", "local_search_time_share", "lagrangian_time_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                bad(name, f"is a share of the time limit and must lie in [0, 1], got {getattr(self, name)}")
        if self.benders_lp_rounds < 0:
            bad("benders_lp_rounds", f"must be >= 0, got {self.benders_lp_rounds}")
        unknown = set(self.relax) - set(CONSTRAINT_GROUPS)
        if unknown:
            bad("relax", f"unknown constraint groups {sorted(unknown)}; known: {CONSTRAINT_GROUPS}")
        if self.site_grid_capacity_kw <= 0:
            bad("site_grid_capacity_kw", "must be > 0")
        if self.area_grid_capacity_kw is not None and self.area_grid_capacity_kw <= 0:
            bad("area_grid_capacity_kw", "must be > 0 or None")
        if self.candidate_thinning_km is not None and self.candidate_thinning_km <= 0:
            bad("candidate_thinning_km", "must be > 0 or None")
        if self.min_ports_per_100_ev < 0:
            bad("min_ports_per_100_ev", "must be >= 0")

    def with_changes(self, **changes: Any) -> NetworkConfig:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Named cost scenarios a planner can select (applied on top of any config).
COST_SCENARIOS: dict[str, dict[str, float]] = {
    "base": {},
    "high_l3_cost": {"upgrade_l3_cad": 75_000.0, "new_l3_station_cad": 120_000.0, "port_l3_cad": 22_500.0},
    "low_hardware_cost": {"port_l2_cad": 3_500.0, "port_l3_cad": 10_000.0},
}


def with_cost_scenario(config: NetworkConfig, scenario: str) -> NetworkConfig:
    if scenario not in COST_SCENARIOS:
        raise ConfigError(f"unknown cost scenario {scenario!r}; known: {sorted(COST_SCENARIOS)}")
    return replace(config, **COST_SCENARIOS[scenario])
