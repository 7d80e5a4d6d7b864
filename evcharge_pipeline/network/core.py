"""The covering core of the network model (maximal covering location, MCLP) on its own.

Open exactly `p` sites to maximise the demand weight within `radius_km` of an open site. Used by the
benchmark to compare this project's solver path (aggregated rows, greedy start, HiGHS on CVXPY's
canonical data) with PySAL spopt's MCLP (PuLP/CBC) on identical data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from evcharge_pipeline.network.solve import highs_solve


@dataclass
class CoreResult:
    status: str
    objective: float | None      # covered weight
    bound: float | None
    gap: float | None
    build_seconds: float
    solve_seconds: float
    chosen: np.ndarray           # indices of the opened sites
    rows: int                    # demand rows after aggregation


def coverage_matrix(demand_ids: np.ndarray, site_ids: np.ndarray, pairs: pd.DataFrame,
                    radius_km: float) -> sp.csr_matrix:
    near = pairs[pairs["distance_km"] <= radius_km]
    di = pd.Index(demand_ids).get_indexer(near["demand_id"])
    si = pd.Index(site_ids).get_indexer(near["site_id"].astype(str))
    keep = (di >= 0) & (si >= 0)
    return sp.csr_matrix((np.ones(int(keep.sum())), (di[keep], si[keep])), shape=(len(demand_ids), len(site_ids)))


def aggregate_rows(a: sp.csr_matrix, weight: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge rows with identical column sets (weights summed); drop rows with no column."""
    a = a.tocsr()
    a.sum_duplicates()
    a.sort_indices()
    rng = np.random.default_rng(7)
    code = rng.integers(1, np.iinfo(np.int64).max, size=a.shape[1], dtype=np.int64).view(np.uint64)
    code2 = rng.integers(1, np.iinfo(np.int64).max, size=a.shape[1], dtype=np.int64).view(np.uint64)
    rows = np.repeat(np.arange(a.shape[0]), np.diff(a.indptr))
    h1 = np.zeros(a.shape[0], np.uint64)
    h2 = np.zeros(a.shape[0], np.uint64)
    with np.errstate(over="ignore"):
        np.add.at(h1, rows, code[a.indices])
        np.add.at(h2, rows, code2[a.indices])
    nonempty = np.diff(a.indptr) > 0
    key = pd.MultiIndex.from_arrays([h1[nonempty], h2[nonempty], np.diff(a.indptr)[nonempty]])
    group, _ = pd.factorize(key)
    idx = np.flatnonzero(nonempty)
    first = np.full(group.max() + 1 if len(group) else 0, -1)
    first[group[::-1]] = idx[::-1]
    w = np.bincount(group, weights=weight[idx], minlength=len(first))
    return a[first], w


def dominated_columns(a: sp.csr_matrix) -> np.ndarray:
    """Columns whose covered rows are a subset of another column's (ties: the later index is dominated).
    Removing them never lowers the MCLP optimum when at least p columns remain."""
    a = (a > 0).astype(np.float64).tocsc()
    size = np.asarray(a.sum(axis=0)).ravel()
    inter = (a.T @ a).tocoo()
    r, c, v = inter.row, inter.col, inter.data
    mask = (r != c) & (v >= size[r]) & ((size[c] > size[r]) | ((size[c] == size[r]) & (c < r)))
    dominated = np.zeros(a.shape[1], bool)
    dominated[r[mask]] = True
    dominated |= size == 0
    return dominated


def greedy_mclp(a: sp.csr_matrix, w: np.ndarray, p: int) -> np.ndarray:
    at = a.T.tocsr()
    covered = np.zeros(a.shape[0], bool)
    chosen: list[int] = []
    for _ in range(min(p, a.shape[1])):
        gain = at @ (w * ~covered)
        gain[chosen] = -1
        j = int(np.argmax(gain))
        chosen.append(j)
        covered |= (a[:, j].toarray().ravel() > 0)
    return np.array(chosen, dtype=np.int64)


def solve_mclp(a: sp.csr_matrix, weight: np.ndarray, p: int, time_limit_seconds: float = 120.0,
               mip_gap: float = 0.0, aggregate: bool = True, warm_start: bool = True) -> CoreResult:
    started = time.perf_counter()
    if aggregate:
        a, weight = aggregate_rows(a, weight)
    columns = np.arange(a.shape[1])
    if aggregate:
        keep = ~dominated_columns(a)
        if keep.sum() >= p:
            columns = columns[keep]
            a = a[:, columns]
    n_rows, n_sites = a.shape
    x = cp.Variable(n_sites, boolean=True)
    y = cp.Variable(n_rows, bounds=[0, 1])
    scale = 1.0 / max(float(weight.max(initial=0.0)), 1e-12)   # largest objective coefficient 1
    problem = cp.Problem(cp.Maximize(scale * (weight @ y)), [y <= a @ x, cp.sum(x) == p])
    start = None
    if warm_start:
        chosen = greedy_mclp(a, weight, p)
        x0 = np.zeros(n_sites)
        x0[chosen] = 1
        start = {x: x0, y: np.minimum(1.0, a @ x0)}
    problem.get_problem_data(cp.HIGHS)          # compile once here so build time is measured separately
    build = time.perf_counter() - started
    outcome = highs_solve(problem, [x, y], time_limit_seconds, mip_gap, objective_scale=scale, start_values=start)
    chosen = columns[np.flatnonzero(np.rint(x.value) > 0)] if outcome.has_solution else np.array([], dtype=np.int64)
    return CoreResult(outcome.status, outcome.objective, outcome.bound, outcome.gap, build,
                      outcome.solve_seconds, chosen, n_rows)


def solve_mclp_spopt(a: sp.csr_matrix, weight: np.ndarray, p: int, time_limit_seconds: float = 600.0):
    """PySAL spopt MCLP on the same coverage (as a dense cost matrix: 0 inside the radius, 2 outside)."""
    import pulp
    from spopt.locate import MCLP

    started = time.perf_counter()
    cost = np.where(a.toarray() > 0, 0.0, 2.0)
    model = MCLP.from_cost_matrix(cost, weight, service_radius=1.0, p_facilities=p, name="mclp")
    solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=int(time_limit_seconds))
    built = time.perf_counter() - started
    model = model.solve(solver)
    total = time.perf_counter() - started
    status = pulp.LpStatus[model.problem.status]
    objective = float(pulp.value(model.problem.objective)) if model.problem.status == 1 else None
    return {"status": status, "objective": objective, "seconds": total, "build_seconds": built}
