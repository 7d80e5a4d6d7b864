"""The shared solve layer: status vocabulary, HiGHS bounds in the problem's own units, and solver trouble as data."""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
import pytest

from evcharge_pipeline import solving


def _knapsack(maximise: bool, offset: float) -> tuple[cp.Problem, float]:
    """A small 0/1 knapsack with a constant offset, and its optimum by enumeration."""
    rng = np.random.default_rng(3)
    value, weight = rng.integers(1, 20, 12).astype(float), rng.integers(1, 10, 12).astype(float)
    capacity = weight.sum() / 2
    x = cp.Variable(12, boolean=True)
    objective = cp.Maximize(value @ x + offset) if maximise else cp.Minimize(-value @ x + offset)
    best = max(value @ np.array(c) for c in itertools.product([0, 1], repeat=12) if weight @ np.array(c) <= capacity)
    return cp.Problem(objective, [weight @ x <= capacity]), (best + offset if maximise else -best + offset)


@pytest.mark.parametrize("maximise", [True, False])
def test_optimal_mip_bound_matches_enumeration(maximise: bool) -> None:
    problem, optimum = _knapsack(maximise, offset=7.5)
    stats = solving.solve_cvxpy(problem, cp.HIGHS, mip_rel_gap=1e-9)
    assert stats.status == solving.OPTIMAL and stats.has_solution
    assert stats.objective == pytest.approx(optimum)
    assert stats.bound == pytest.approx(optimum, abs=1e-6)
    assert stats.bound_method == "highs_mip_dual_bound"
    assert stats.gap is not None and stats.gap < 1e-6


def test_infeasible_is_a_status_not_an_exception() -> None:
    x = cp.Variable(2, integer=True)
    stats = solving.solve_cvxpy(cp.Problem(cp.Minimize(cp.sum(x)), [x >= 1, cp.sum(x) <= 1]), cp.HIGHS)
    assert stats.status == solving.INFEASIBLE and not stats.has_solution and stats.objective is None


def test_interface_value_error_becomes_no_solution(monkeypatch: pytest.MonkeyPatch) -> None:
    problem, _ = _knapsack(True, 0.0)

    def unpack_fails(*args: object, **kwargs: object) -> None:
        raise ValueError("Cannot unpack invalid solution")

    monkeypatch.setattr(problem, "solve", unpack_fails)
    stats = solving.solve_cvxpy(problem, cp.HIGHS)
    assert stats.status == solving.NO_SOLUTION and "Cannot unpack" in stats.detail


def test_stopped_above_the_gap_target_is_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS may say OPTIMAL at its own tolerance; a bound farther than the target makes it time_limit."""
    problem, optimum = _knapsack(True, 0.0)
    monkeypatch.setattr(solving, "highs_mip_bound", lambda _problem: optimum * 1.2)
    stats = solving.solve_cvxpy(problem, cp.HIGHS, mip_rel_gap=0.01)
    assert stats.status == solving.TIME_LIMIT and stats.has_solution
    assert stats.gap == pytest.approx(0.2)


def test_relative_gap_and_vocabulary() -> None:
    assert solving.relative_gap(10.0, 11.0) == pytest.approx(0.1)
    assert solving.relative_gap(None, 1.0) is None
    assert solving.relative_gap(1.0, float("inf")) is None
    assert set(solving.WITH_SOLUTION) <= set(solving.STATUSES)
    assert not solving.has_solution(solving.NO_SOLUTION)
