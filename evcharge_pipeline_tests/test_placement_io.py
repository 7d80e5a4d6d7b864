"""Shell.ai file readers refuse bad input with file, row and field named."""

from __future__ import annotations

import pytest

from evcharge_pipeline.placement import shellai_io as io

HEADER = "demand_point_index,x_coordinate,y_coordinate,2010,2011,2012\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_history(tmp_path):
    path = write(tmp_path, "Demand_History.csv", HEADER + "0,0.5,0.5,1,2,3\n1,1.5,0.5,0,0,0.5\n")
    hist = io.load_demand_history(path)
    assert hist.years == [2010, 2011, 2012]
    assert hist.values.shape == (2, 3)
    assert hist.until(2011).years == [2010, 2011]


@pytest.mark.parametrize("rows, pattern", [
    ("0,0.5,0.5,1,,3\n", r"row 1, field '2011' is empty \(a gap\)"),
    ("0,0.5,0.5,1,2,3\n1,0.5,0.5,1,-2,3\n", r"row 2, field '2011' is negative"),
    ("0,0.5,0.5,1,two,3\n", r"row 1, field '2011' is not numeric \('two'\)"),
    ("0,0.5,0.5,1,2,3\n5,0.5,0.5,1,2,3\n", r"row 2, field 'demand_point_index' is 5, expected 1"),
])
def test_bad_history_rows(tmp_path, rows, pattern):
    path = write(tmp_path, "Demand_History.csv", HEADER + rows)
    with pytest.raises(io.DataError, match="Demand_History.csv: " + pattern):
        io.load_demand_history(path)


def test_history_with_a_missing_year_column(tmp_path):
    path = write(tmp_path, "Demand_History.csv",
                 "demand_point_index,x_coordinate,y_coordinate,2010,2012\n0,0.5,0.5,1,3\n")
    with pytest.raises(io.DataError, match=r"year column\(s\) \[2011\] missing"):
        io.load_demand_history(path)


SUPPLY_HEADER = "supply_point_index,x_coordinate,y_coordinate,total_parking_slots,existing_num_SCS,existing_num_FCS\n"


def test_supply_with_slots_below_stock(tmp_path):
    path = write(tmp_path, "supply.csv", SUPPLY_HEADER + "0,1,1,10,2,3\n1,2,2,4,3,2\n")
    with pytest.raises(io.DataError, match=r"supply.csv: row 2, fields 'existing_num_SCS' \+ 'existing_num_FCS' = 5 "
                                           r"exceed 'total_parking_slots' = 4"):
        io.load_supply_points(path)


def test_supply_with_fractional_or_missing_column(tmp_path):
    path = write(tmp_path, "supply.csv", SUPPLY_HEADER + "0,1,1,10.5,2,3\n")
    with pytest.raises(io.DataError, match="row 1, field 'total_parking_slots' is not an integer"):
        io.load_supply_points(path)
    path = write(tmp_path, "supply2.csv", "supply_point_index,x_coordinate\n0,1\n")
    with pytest.raises(io.DataError, match="missing column"):
        io.load_supply_points(path)
