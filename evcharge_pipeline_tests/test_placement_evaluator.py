"""Evaluator: hand-computed official costs and every constraint violation reported with its number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evcharge_pipeline.placement import evaluator as E
from evcharge_pipeline.placement import shellai_io as io

DEMAND_XY = np.array([[0.0, 0.0], [3.0, 4.0]])
SUPPLY = io.SupplyPoints(xy=np.array([[0.0, 0.0], [3.0, 0.0]]), parking_slots=np.array([2, 3]),
                         existing_slow=np.array([1, 0]), existing_fast=np.array([0, 1]))


def good_plan(year: int = 2019) -> io.YearPlan:
    return io.YearPlan(year, slow=np.array([1, 0]), fast=np.array([0, 1]),
                       flows=np.array([[100.0, 0.0], [0.0, 150.0]]))


def test_hand_computed_cost_and_score():
    ev = E.evaluate([good_plan()], SUPPLY, DEMAND_XY, {2019: np.array([110.0, 140.0])})
    assert ev.valid, ev.violations
    (year,) = ev.years
    # point 1 at (3,4) is served from (3,0): distance 4, 150 units -> 600
    assert year.cost_customer_dissatisfaction == pytest.approx(600.0)
    assert year.cost_demand_mismatch == pytest.approx(20.0)  # |100-110| + |150-140|
    assert year.cost_infrastructure == pytest.approx(2.5)  # 1 slow + 1.5 * 1 fast
    assert year.cost == pytest.approx(600.0 + 25 * 20.0 + 600 * 2.5)
    assert year.score == pytest.approx(100 - 90 * 2600.0 / 15_000_000)


def test_split_flow_distance_and_unknown_truth():
    plan = io.YearPlan(2019, np.array([1, 0]), np.array([0, 1]), np.array([[50.0, 50.0], [0.0, 150.0]]))
    ev = E.evaluate([plan], SUPPLY, DEMAND_XY)
    # 50 units from (0,0) to (3,0) travel 3 -> 150, plus 600 as above
    assert ev.years[0].cost_customer_dissatisfaction == pytest.approx(750.0)
    assert ev.years[0].cost_demand_mismatch is None
    assert ev.years[0].cost == pytest.approx(750.0 + 600 * 2.5)


def test_score_floor():
    assert E.score_from_cost(1e9) == 10.0


@pytest.mark.parametrize("code, change", [
    (1, lambda p: io.YearPlan(p.year, p.slow, p.fast, p.flows - np.array([[101.0, 0], [0, 0]]))),
    (2, lambda p: io.YearPlan(p.year, np.array([1.5, 0]), p.fast, p.flows)),
    (3, lambda p: io.YearPlan(p.year, np.array([1, 2]), np.array([0, 2]), p.flows)),
    (4, lambda p: io.YearPlan(p.year, np.array([0, 0]), np.array([1, 1]), p.flows * 0)),
    (5, lambda p: io.YearPlan(p.year, p.slow, p.fast, p.flows + np.array([[101.0, 0], [0, 0]]))),
    (6, lambda p: io.YearPlan(p.year, p.slow, p.fast, p.flows, forecast=np.array([100.0, 151.0]))),
])
def test_each_violation_is_reported_with_its_number(code, change):
    ev = E.evaluate([change(good_plan())], SUPPLY, DEMAND_XY)
    assert not ev.valid
    assert code in {v.code for v in ev.violations}
    assert f"constraint {code}" in str(ev.violations[0]) or any(f"constraint {code}" in str(v) for v in ev.violations)
    with pytest.raises(ValueError, match="violates"):
        ev.raise_if_invalid()


def test_stock_may_not_shrink_between_years():
    y1 = io.YearPlan(2019, np.array([2, 0]), np.array([0, 1]), np.array([[100.0, 0], [0, 150.0]]))
    y2 = io.YearPlan(2020, np.array([1, 0]), np.array([0, 1]), np.array([[100.0, 0], [0, 150.0]]))
    ev = E.evaluate([y2, y1], SUPPLY, DEMAND_XY)
    assert [v.code for v in ev.violations] == [4]
    assert ev.violations[0].year == 2020


def test_solution_file_round_trip(tmp_path):
    plans = [good_plan(2019), io.YearPlan(2020, np.array([2, 0]), np.array([0, 2]),
                                          np.array([[100.0, 0.0], [0.0, 300.0]]))]
    path = io.write_solution(plans, tmp_path / "solution.csv")
    frame = pd.read_csv(path)
    assert list(frame.columns) == io.SOLUTION_COLUMNS
    assert list(frame["data_type"][:4]) == ["SCS", "SCS", "FCS", "FCS"]
    assert len(frame) == 2 * (2 + 2 + 4)
    back = io.read_solution(path, 2, 2)
    for a, b in zip(plans, back, strict=True):
        assert a.year == b.year
        np.testing.assert_allclose(a.flows, b.flows)
        np.testing.assert_array_equal(a.slow, b.slow)
    assert E.evaluate(back, SUPPLY, DEMAND_XY).valid


@pytest.mark.parametrize("row, code", [
    ("2019,DS,0,7,1.0", "code 7"),
    ("2019,SCS,,-1,1", "code 7"),
    ("2019,DS,4096,0,1.0", "code 8"),
])
def test_solution_with_wrong_indices_is_refused(tmp_path, row, code):
    path = tmp_path / "solution.csv"
    path.write_text("year,data_type,demand_point_index,supply_point_index,value\n2019,SCS,,0,1\n" + row + "\n")
    with pytest.raises(io.DataError, match=f"solution.csv: row 2, field .*{code}"):
        io.read_solution(path, 2, 2)


def test_solution_with_unknown_type_or_duplicate_is_refused(tmp_path):
    path = tmp_path / "solution.csv"
    path.write_text("year,data_type,demand_point_index,supply_point_index,value\n2019,XX,,0,1\n")
    with pytest.raises(io.DataError, match="row 1, field 'data_type'"):
        io.read_solution(path, 2, 2)
    path.write_text("year,data_type,demand_point_index,supply_point_index,value\n"
                    "2019,DS,0,0,1\n2019,DS,0,0,2\n")
    with pytest.raises(io.DataError, match=r"rows \[1, 2\] repeat"):
        io.read_solution(path, 2, 2)
