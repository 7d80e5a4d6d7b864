"""Solving a built model: HiGHS directly on CVXPY's canonical data (warm start, gap, bound), or any
CVXPY MILP solver (SCIP, CBC) through `Problem.solve`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.model import BuiltModel, assign_decisions, build_model
from evcharge_pipeline.network.state import Decisions
from evcharge_pipeline.solving import relative_gap

FEASIBLE = ("optimal", "time_limit", "gap_limit")


@dataclass
class SolveOutcome:
    # optimal | time_limit | infeasible | infeasible_or_unbounded | unbounded | time_limit_no_solution | error
    status: str
    objective: float | None     # in the model's sense (maximised for 'plan')
    bound: float | None         # best bound on the objective (LP-based dual bound of branch and bound)
    gap: float | None           # relative gap |objective - bound| / max(|objective|, 1e-9)
    solve_seconds: float
    warm_started: bool
    solver: str
    message: str = ""

    @property
    def has_solution(self) -> bool:
        return self.status in FEASIBLE


_HIGHS_STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible_or_unbounded",
    "kUnbounded": "unbounded",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "time_limit",
    "kSolutionLimit": "time_limit",
    "kObjectiveBound": "time_limit",
    "kObjectiveTarget": "time_limit",
}


def solve_model(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig,
                warm: Decisions | None = None, time_limit_seconds: float | None = None,
                verbose: bool = False) -> SolveOutcome:
    limit = time_limit_seconds if time_limit_seconds is not None else config.time_limit_seconds
    solver = config.solver.upper()
    if solver == "HIGHS":
        return _solve_highs(model, inputs, config, warm, limit, verbose)
    return _solve_cvxpy(model, config, solver, limit, verbose)


def _solve_cvxpy(model: BuiltModel, config: NetworkConfig, solver: str, limit: float, verbose: bool) -> SolveOutcome:
    opts: dict = {}
    if solver == "SCIP":
        opts = {"scip_params": {"limits/time": limit, "limits/gap": config.mip_gap}}
    elif solver == "CBC":
        opts = {"maximumSeconds": int(max(1, limit)), "allowableFractionGap": config.mip_gap}
    started = time.perf_counter()
    try:
        model.problem.solve(solver=getattr(cp, solver), verbose=verbose, **opts)
    except (cp.error.SolverError, ImportError) as exc:
        return SolveOutcome("error", None, None, None, time.perf_counter() - started, False, solver, str(exc))
    elapsed = time.perf_counter() - started
    status = {cp.OPTIMAL: "optimal", cp.OPTIMAL_INACCURATE: "optimal", cp.USER_LIMIT: "time_limit",
              cp.INFEASIBLE: "infeasible", cp.INFEASIBLE_INACCURATE: "infeasible", cp.UNBOUNDED: "unbounded",
              cp.INFEASIBLE_OR_UNBOUNDED: "infeasible_or_unbounded"}.get(model.problem.status, "error")
    if status == "time_limit" and model.problem.value is None:
        status = "time_limit_no_solution"
    value = (float(model.problem.value) / model.objective_scale
             if status in FEASIBLE and model.problem.value is not None else None)
    return SolveOutcome(status, value, None, None, elapsed, False, solver, f"cvxpy status {model.problem.status}")


def _solve_highs(model: BuiltModel, inputs: NetworkInputs, config: NetworkConfig, warm: Decisions | None,
                 limit: float, verbose: bool) -> SolveOutcome:
    start_values = None
    if warm is not None and config.warm_start:
        assign_decisions(model, inputs, config, warm)
        start_values = {v: np.asarray(v.value, float) for v in model.variables.values() if isinstance(v, cp.Variable)}
    return highs_solve(model.problem, list(model.variables.values()), limit, config.mip_gap, config.threads,
                       verbose, model.objective_scale, start_values, options=dict(config.highs_options))


def solve_min_capex(inputs: NetworkInputs, config: NetworkConfig,
                    time_limit_seconds: float) -> tuple[BuiltModel, SolveOutcome]:
    """The cheapest plan meeting every constraint but the budgets (the min-capex MILP, no warm start): the
    model, with the plan in its variables, and the outcome (its bound is a lower bound on that capex, MCAD)."""
    probe = config.with_changes(warm_start=False)
    cheapest = build_model(inputs, probe, objective="min_capex")
    return cheapest, solve_model(cheapest, inputs, probe, time_limit_seconds=time_limit_seconds)


@dataclass
class HighsProblem:
    """A CVXPY problem loaded into HiGHS (`highspy.Highs`) once, so that rows can be added and the model
    re-solved without recompiling; maps CVXPY variables to HiGHS columns and the HiGHS objective back to
    the documented one."""

    highs: Any
    columns: dict[int, int]
    integer_columns: list[int]
    maximise: bool
    objective_scale: float

    def col(self, var: cp.Variable) -> int:
        return self.columns[var.id]

    def slice(self, var: cp.Variable) -> np.ndarray:
        """Column indices of a variable's entries, in CVXPY's (Fortran) order, shaped like the variable."""
        start = self.columns[var.id]
        return (start + np.arange(var.size)).reshape(var.shape, order="F")

    def objective(self, raw: float) -> float:
        return (-raw if self.maximise else raw) / self.objective_scale

    def raw(self, objective: float) -> float:
        """A documented objective value in HiGHS's (minimised, scaled) units."""
        return (-objective if self.maximise else objective) * self.objective_scale

    def set_values(self, x: np.ndarray, variables: list) -> None:
        for var in variables:
            if isinstance(var, cp.Variable):
                var.value = var.project(x[self.slice(var)])   # solver tolerance can leave -1e-12 on a nonneg

    def fix_rows(self, var: cp.Variable, rows: np.ndarray) -> None:
        """Fix the entries of `var` in the rows `rows` (bool per row) at the variable's current value."""
        cols = self.slice(var)[rows].ravel()
        values = np.asarray(var.value, float)[rows].ravel()
        self.highs.changeColsBounds(len(cols), cols.astype(np.int32), values, values)

    def set_start(self, x0: np.ndarray) -> bool:
        import highspy as hp

        sol = hp.HighsSolution()
        sol.col_value = list(x0)
        sol.value_valid = True
        return self.highs.setSolution(sol) != hp.HighsStatus.kError

    def set_integrality(self, integer: bool) -> None:
        import highspy as hp

        if not self.integer_columns:
            return
        kind = hp.HighsVarType.kInteger if integer else hp.HighsVarType.kContinuous
        cols = np.asarray(self.integer_columns, dtype=np.int32)
        self.highs.changeColsIntegrality(len(cols), cols, np.full(len(cols), kind))

    def start_vector(self, start_values: dict) -> np.ndarray:
        x0 = np.zeros(self.highs.getNumCol())
        for var, value in start_values.items():
            x0[self.slice(var).ravel(order="F")] = np.asarray(value, float).ravel(order="F")
        return x0


def set_run_time_limit(h: Any, seconds: float, mip: bool) -> None:
    """Limit the next `h.run()` to `seconds` of wall time. HiGHS checks an LP's time limit against the run
    clock of the `Highs` object, which keeps counting across LP re-solves (new costs, added rows), while a
    MILP run counts from its own start; a limit of `seconds` alone would stop the tenth re-solve of a cut
    loop or a dual ascent long before its deadline (measured with highspy 1.15)."""
    h.setOptionValue("time_limit", float(seconds) if mip else h.getRunTime() + float(seconds))


def highs_problem(problem: cp.Problem, limit: float, mip_gap: float, threads: int | None = None,
                  verbose: bool = False, objective_scale: float = 1.0, options: dict | None = None,
                  relax_integrality: bool = False) -> HighsProblem:
    """Load a CVXPY (MI)LP into HiGHS from CVXPY's canonical data."""
    import highspy as hp
    from cvxpy import settings as s
    from cvxpy.reductions.solvers.conic_solvers.conic_solver import dims_to_solver_dict

    maximise = isinstance(problem.objective, cp.Maximize)
    data, _chain, _inverse = problem.get_problem_data(cp.HIGHS)
    saved = {v: v.value for v in problem.variables()}
    for var in problem.variables():
        var.value = np.zeros(var.shape)
    offset_user = float(problem.objective.value)
    for var, value in saved.items():
        var.value = value
    offset_min = -offset_user if maximise else offset_user

    inf = hp.kHighsInf
    dims = dims_to_solver_dict(data[s.DIMS])
    A = data[s.A].tocsc()
    b = data[s.B]
    eq = dims[s.EQ_DIM]
    hmodel = hp.HighsModel()
    lp = hmodel.lp_
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.offset_ = offset_min
    lp.col_cost_ = data[s.C]
    lp.row_upper_ = b
    lp.row_lower_ = np.concatenate([b[:eq], np.full(len(b) - eq, -inf)])
    lp.a_matrix_.format_ = hp.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    lb, ub = data[s.LOWER_BOUNDS], data[s.UPPER_BOUNDS]
    lower = np.full(lp.num_col_, -inf) if lb is None else np.array(lb, float)
    upper = np.full(lp.num_col_, inf) if ub is None else np.array(ub, float)
    bools, ints = list(data[s.BOOL_IDX]), list(data[s.INT_IDX])
    if bools:
        lower[bools] = np.maximum(lower[bools], 0)
        upper[bools] = np.minimum(upper[bools], 1)
    integer_columns = bools + ints
    if integer_columns and not relax_integrality:
        integrality = np.full(lp.num_col_, hp.HighsVarType.kContinuous)
        integrality[integer_columns] = hp.HighsVarType.kInteger
        lp.integrality_ = list(integrality)
    lp.col_lower_, lp.col_upper_ = lower, upper

    h = hp.Highs()
    h.setOptionValue("log_to_console", verbose)
    h.setOptionValue("output_flag", verbose)
    h.setOptionValue("time_limit", float(limit))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    if threads:
        h.setOptionValue("threads", int(threads))
    for name, value in (options or {}).items():
        h.setOptionValue(name, value)
    h.passModel(hmodel)
    return HighsProblem(h, dict(data[s.PARAM_PROB].var_id_to_col), integer_columns, maximise, objective_scale)


def highs_solve(problem: cp.Problem, variables: list, limit: float, mip_gap: float, threads: int | None = None,
                verbose: bool = False, objective_scale: float = 1.0,
                start_values: dict | None = None, options: dict | None = None,
                relax_integrality: bool = False) -> SolveOutcome:
    """Solve a CVXPY MILP with HiGHS on CVXPY's canonical data: warm start from `start_values`
    (variable -> array), relative gap and time limit, and the best bound reported back."""
    hprob = highs_problem(problem, limit, mip_gap, threads, verbose, objective_scale, options, relax_integrality)
    h = hprob.highs
    user_vars = [v for v in variables if isinstance(v, cp.Variable)]
    integer = bool(hprob.integer_columns) and not relax_integrality
    warm_started = False
    if start_values and all(v.id in hprob.columns for v in user_vars):
        warm_started = hprob.set_start(hprob.start_vector(start_values))

    started = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - started
    status_name = h.getModelStatus().name
    status = _HIGHS_STATUS.get(status_name, "error")
    info = h.getInfo()
    solution = h.getSolution()
    has_primal = bool(info.primal_solution_status == 2) if integer else status == "optimal"
    if status == "time_limit" and not has_primal:
        status = "time_limit_no_solution"
    objective = bound = None
    if status in FEASIBLE:
        hprob.set_values(np.array(solution.col_value), user_vars)
        objective = hprob.objective(float(info.objective_function_value))
        bound = hprob.objective(float(info.mip_dual_bound)) if integer else objective
    elif status == "time_limit_no_solution" and np.isfinite(info.mip_dual_bound):
        bound = hprob.objective(float(info.mip_dual_bound))     # still a valid bound without a plan
    return SolveOutcome(status, objective, bound, relative_gap(objective, bound), elapsed, warm_started, "HIGHS",
                        f"HiGHS {status_name}")
