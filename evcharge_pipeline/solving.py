"""One owner of solver outcomes for every optimiser: the status vocabulary, the solve-statistics record and
the CVXPY/HiGHS bridge that fills it.

Statuses (strings, so they land in tables as they are):

| status | meaning | has a solution |
|---|---|---|
| `optimal` | solved to the requested tolerance (MIP gap target) | yes |
| `time_limit` | stopped at a limit with a feasible incumbent | yes |
| `infeasible` | proven infeasible | no |
| `unbounded` | unbounded (or infeasible-or-unbounded) | no |
| `no_solution` | stopped (limit, UNKNOWN, numerical trouble) without a usable solution | no |
| `error` | the solver failed or the interface raised | no |
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import cvxpy as cp
from cvxpy import settings as cvxpy_settings

OPTIMAL = "optimal"
TIME_LIMIT = "time_limit"
INFEASIBLE = "infeasible"
UNBOUNDED = "unbounded"
NO_SOLUTION = "no_solution"
ERROR = "error"
STATUSES = (OPTIMAL, TIME_LIMIT, INFEASIBLE, UNBOUNDED, NO_SOLUTION, ERROR)
WITH_SOLUTION = frozenset({OPTIMAL, TIME_LIMIT})

_CVXPY_STATUS = {
    cp.OPTIMAL: OPTIMAL,
    cp.OPTIMAL_INACCURATE: OPTIMAL,
    cp.USER_LIMIT: TIME_LIMIT,
    cp.INFEASIBLE: INFEASIBLE,
    cp.INFEASIBLE_INACCURATE: INFEASIBLE,
    cp.UNBOUNDED: UNBOUNDED,
    cp.UNBOUNDED_INACCURATE: UNBOUNDED,
    cvxpy_settings.INFEASIBLE_OR_UNBOUNDED: UNBOUNDED,
    cvxpy_settings.SOLVER_ERROR: ERROR,
}


def has_solution(status: str) -> bool:
    """Whether a result with this status carries a feasible solution to read."""
    return status in WITH_SOLUTION


def relative_gap(objective: float | None, bound: float | None) -> float | None:
    """|objective - bound| / max(|objective|, 1e-9); None when either side is missing or not finite."""
    if objective is None or bound is None or not (math.isfinite(objective) and math.isfinite(bound)):
        return None
    return abs(bound - objective) / max(abs(objective), 1e-9)


@dataclass(frozen=True)
class SolveStats:
    """What one solve claims: status, objective, a valid bound and how it was obtained, and the timings."""

    status: str
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    solver: str = ""
    bound_method: str = ""
    detail: str = ""

    @property
    def has_solution(self) -> bool:
        return has_solution(self.status)

    def as_record(self) -> dict[str, Any]:
        """Flat dict for a summary row or asset metadata."""
        return asdict(self)


def status_from_cvxpy(problem: cp.Problem) -> str:
    """Map CVXPY's status to the vocabulary; a limit or an 'optimal' without values is `no_solution`."""
    status = _CVXPY_STATUS.get(problem.status, NO_SOLUTION if problem.status is not None else ERROR)
    if status in WITH_SOLUTION and problem.value is None:
        return NO_SOLUTION
    return status


def highs_mip_bound(problem: cp.Problem) -> float | None:
    """The MIP dual bound HiGHS reported for a solved CVXPY problem, in the problem's own objective units
    (sign and constant offset restored); None for other solvers or when HiGHS gave none."""
    info = getattr(problem.solver_stats, "extra_stats", None)
    if info is None or problem.value is None or not hasattr(info, "mip_dual_bound"):
        return None
    sign = -1.0 if isinstance(problem.objective, cp.Maximize) else 1.0
    reported = float(info.objective_function_value)
    dual = float(info.mip_dual_bound)
    if not (math.isfinite(reported) and math.isfinite(dual)):
        return None
    offset = float(problem.value) - sign * reported
    return sign * dual + offset


def solve_cvxpy(problem: cp.Problem, solver: str = cp.HIGHS, *, build_seconds: float = 0.0,
                mip_rel_gap: float | None = None, **options: Any) -> SolveStats:
    """Solve with CVXPY and return the statistics record; never raises for solver trouble.

    A MIP that stops above `mip_rel_gap` is `time_limit`; solver errors and CVXPY's
    "Cannot unpack invalid solution" (HiGHS UNKNOWN) become `error` / `no_solution` with the message.
    """
    started = time.perf_counter()
    if solver == cp.HIGHS and mip_rel_gap is not None and problem.is_mixed_integer():
        options = {**options, "mip_rel_gap": float(mip_rel_gap)}
    try:
        problem.solve(solver=solver, **options)
    except cp.error.SolverError as exc:
        return SolveStats(ERROR, build_seconds=build_seconds, solve_seconds=time.perf_counter() - started,
                          solver=str(solver), detail=f"solver error: {exc}"[:500])
    except ValueError as exc:  # CVXPY cannot unpack a solution the solver flagged as unusable
        return SolveStats(NO_SOLUTION, build_seconds=build_seconds, solve_seconds=time.perf_counter() - started,
                          solver=str(solver), detail=f"no usable solution: {exc}"[:500])
    wall = time.perf_counter() - started
    status = status_from_cvxpy(problem)
    if not has_solution(status):
        return SolveStats(status, build_seconds=build_seconds, solve_seconds=wall, solver=str(solver),
                          detail=f"cvxpy status {problem.status}")
    objective = float(problem.value)
    if problem.is_mixed_integer():
        bound = highs_mip_bound(problem) if solver == cp.HIGHS else None
        bound_method = "highs_mip_dual_bound" if bound is not None else ""
    else:
        bound, bound_method = objective, "lp_optimal"
    gap = relative_gap(objective, bound)
    if status == OPTIMAL and mip_rel_gap is not None and gap is not None and gap > mip_rel_gap * 1.01 + 1e-12:
        status = TIME_LIMIT
    return SolveStats(status, objective, bound, gap, build_seconds, wall, str(solver), bound_method,
                      f"cvxpy status {problem.status}")
