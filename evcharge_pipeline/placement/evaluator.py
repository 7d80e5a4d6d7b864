"""Independent checker for placement plans in the Shell.ai 2022 form.

Validates the six constraints of the problem statement for every year, plus the rule that the stock
never decreases from the existing (base-year) stock and from year to year, and computes the official
cost and leaderboard score:

    Cost = a * sum_ij dist_ij * DS_ij + b * sum_i |F_i - D_true_i| + c * sum_j (SCS_j + r * FCS_j)
    score = max(10, 100 - 90 * Cost / 15_000_000)

where F_i (the forecast) is the DF row of point i when given, otherwise the row sum of DS. The
mismatch term needs the true demand; without it the cost is reported without that term.
Distances are Euclidean between the coordinates, as in the published MILP solutions.

This module shares no code with the optimisation model on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evcharge_pipeline.placement.shellai_io import SupplyPoints, YearPlan

CONSTRAINT_TEXT = {
    1: "DS_ij >= 0",
    2: "SCS_j and FCS_j are non-negative integers",
    3: "SCS_j + FCS_j <= parking slots PS_j",
    4: "SCS_j and FCS_j never decrease (from the existing stock and from year to year)",
    5: "sum_i DS_ij <= 200 SCS_j + 400 FCS_j",
    6: "sum_j DS_ij = forecast F_i",
}


@dataclass(frozen=True)
class CostParameters:
    """Official Shell.ai 2022 weights (dimensionless score units)."""

    slow_capacity_units: float = 200.0
    fast_capacity_units: float = 400.0
    distance_weight: float = 1.0  # a
    mismatch_weight: float = 25.0  # b
    infrastructure_weight: float = 600.0  # c
    fast_to_slow_cost_ratio: float = 1.5  # r
    score_cost_scale: float = 15_000_000.0
    tolerance_units: float = 1e-6  # absolute slack allowed on equalities / capacity


@dataclass(frozen=True)
class Violation:
    code: int
    year: int
    message: str

    def __str__(self) -> str:
        return f"constraint {self.code} ({CONSTRAINT_TEXT.get(self.code, '')}) violated in {self.year}: {self.message}"


@dataclass(frozen=True)
class YearScore:
    year: int
    cost_customer_dissatisfaction: float
    cost_demand_mismatch: float | None  # None when the true demand is unknown
    cost_infrastructure: float  # sum_j SCS_j + r FCS_j (before the weight c)
    cost: float  # official total (without the mismatch term when it is None)
    score: float
    served_units: float
    capacity_units: float


@dataclass
class Evaluation:
    years: list[YearScore] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.violations

    def raise_if_invalid(self) -> None:
        if self.violations:
            lines = "\n".join(f"  {v}" for v in self.violations[:20])
            raise ValueError(f"plan violates {len(self.violations)} constraint(s):\n{lines}")


def euclidean_distances(demand_xy: np.ndarray, supply_xy: np.ndarray) -> np.ndarray:
    diff = demand_xy[:, None, :] - supply_xy[None, :, :]
    return np.sqrt((diff**2).sum(axis=2))


def score_from_cost(cost: float, params: CostParameters = CostParameters()) -> float:
    return max(10.0, 100.0 - 90.0 * cost / params.score_cost_scale)


def evaluate(
    plans: list[YearPlan],
    supply: SupplyPoints,
    demand_xy: np.ndarray,
    true_demand: dict[int, np.ndarray] | None = None,
    params: CostParameters = CostParameters(),
    distances: np.ndarray | None = None,
) -> Evaluation:
    """Check every constraint for every year (in year order) and compute the official cost per year."""
    tol = params.tolerance_units
    dist = euclidean_distances(demand_xy, supply.xy) if distances is None else distances
    out = Evaluation()
    prev_slow = supply.existing_slow.astype(float)
    prev_fast = supply.existing_fast.astype(float)
    prev_label = "the existing stock"
    n, m = dist.shape

    def flag(code: int, year: int, mask: np.ndarray, what: str, values: np.ndarray | None = None) -> None:
        idx = np.flatnonzero(mask)
        if idx.size:
            shown = ", ".join(
                f"{k}" + (f" ({values[k]:.6g})" if values is not None else "") for k in idx[:5]
            )
            out.violations.append(Violation(code, year, f"{idx.size} {what}: {shown}"))

    for plan in sorted(plans, key=lambda p: p.year):
        y = plan.year
        if plan.flows.shape != (n, m):
            raise ValueError(f"plan for {y} has flows of shape {plan.flows.shape}, expected {(n, m)}")
        flows, slow, fast = plan.flows, np.asarray(plan.slow, float), np.asarray(plan.fast, float)
        neg_i = (flows < -tol).any(axis=1)
        flag(1, y, neg_i, "demand point(s) with a negative DS", flows.min(axis=1))
        not_int = lambda v: (v < 0) | (np.abs(v - np.round(v)) > 1e-9)  # noqa: E731
        flag(2, y, not_int(slow) | not_int(fast), "supply point(s) with a negative or fractional SCS/FCS")
        flag(3, y, slow + fast > supply.parking_slots + 1e-9, "supply point(s) over their parking slots",
             slow + fast)
        flag(4, y, (slow < prev_slow - 1e-9) | (fast < prev_fast - 1e-9),
             f"supply point(s) with fewer chargers than {prev_label}")
        capacity = params.slow_capacity_units * slow + params.fast_capacity_units * fast
        load = flows.sum(axis=0)
        flag(5, y, load > capacity + tol, "supply point(s) serving more than their capacity", load - capacity)
        served = flows.sum(axis=1)
        forecast = served if plan.forecast is None else np.asarray(plan.forecast, float)
        if plan.forecast is not None:
            flag(6, y, np.abs(served - forecast) > max(tol, 1e-9 * np.abs(forecast).max()),
                 "demand point(s) whose DS row sum differs from the forecast", served - forecast)
        cd = float((dist * flows).sum())
        infra = float((slow + params.fast_to_slow_cost_ratio * fast).sum())
        dm = None
        if true_demand is not None and y in true_demand:
            dm = float(np.abs(forecast - np.asarray(true_demand[y], float)).sum())
        cost = params.distance_weight * cd + params.infrastructure_weight * infra
        if dm is not None:
            cost += params.mismatch_weight * dm
        out.years.append(YearScore(y, cd, dm, infra, cost, score_from_cost(cost, params),
                                   float(served.sum()), float(capacity.sum())))
        prev_slow, prev_fast, prev_label = slow, fast, f"year {y}"
    return out
