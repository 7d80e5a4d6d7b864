"""Solving a built model: HiGHS directly on CVXPY's canonical data (warm start, gap, bound), or any
CVXPY MILP solver (SCIP, CBC) through `Problem.solve`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.model import BuiltModel, assign_decisions
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.state import Decisions

FEASIBLE = ("optimal", "time_limit", "gap_limit")


@dataclass
class SolveOutcome:
    status: str                 # optimal | time_limit | infeasible | infeasible_or_unbounded | unbounded | time_limit_no_solution | error
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


def _relative_gap(objective: float | None, bound: float | None) -> float | None:
    if objective is None or bound is None or not np.isfinite(bound):
        return None
    return abs(bound - objective) / max(abs(objective), 1e-9)


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


def highs_solve(problem: cp.Problem, variables: list, limit: float, mip_gap: float, threads: int | None = None,
                verbose: bool = False, objective_scale: float = 1.0,
                start_values: dict | None = None, options: dict | None = None,
                relax_integrality: bool = False) -> SolveOutcome:
    """Solve a CVXPY MILP with HiGHS on CVXPY's canonical data: warm start from `start_values`
    (variable -> array), relative gap and time limit, and the best bound reported back."""
    import highspy as hp
    from cvxpy import settings as s
    from cvxpy.reductions.solvers.conic_solvers.conic_solver import dims_to_solver_dict

    maximise = isinstance(problem.objective, cp.Maximize)
    data, _chain, _inverse = problem.get_problem_data(cp.HIGHS)
    user_vars = [v for v in variables if isinstance(v, cp.Variable)]
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
    if relax_integrality:
        bools, ints = [], []
    if bools or ints:
        integrality = np.full(lp.num_col_, hp.HighsVarType.kContinuous)
        integrality[bools + ints] = hp.HighsVarType.kInteger
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

    columns = data[s.PARAM_PROB].var_id_to_col
    warm_started = False
    if start_values and all(v.id in columns for v in user_vars):
        x0 = np.zeros(lp.num_col_)
        for var in user_vars:
            start = columns[var.id]
            x0[start:start + var.size] = np.asarray(start_values[var], float).ravel(order="F")
        sol = hp.HighsSolution()
        sol.col_value = list(x0)
        sol.value_valid = True
        warm_started = h.setSolution(sol) != hp.HighsStatus.kError

    started = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - started
    status_name = h.getModelStatus().name
    status = _HIGHS_STATUS.get(status_name, "error")
    info = h.getInfo()
    solution = h.getSolution()
    has_primal = bool(info.primal_solution_status == 2) if bools or ints else status == "optimal"
    if status == "time_limit" and not has_primal:
        status = "time_limit_no_solution"
    objective = bound = None
    if status in FEASIBLE:
        x = np.array(solution.col_value)
        for var in user_vars:
            start = columns[var.id]
            var.value = x[start:start + var.size].reshape(var.shape, order="F")
        sign = (-1.0 if maximise else 1.0) / objective_scale
        objective = sign * float(info.objective_function_value)
        bound = sign * float(info.mip_dual_bound) if (bools or ints) else objective
    return SolveOutcome(status, objective, bound, _relative_gap(objective, bound), elapsed, warm_started, "HIGHS",
                        f"HiGHS {status_name}")
