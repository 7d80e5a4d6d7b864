"""Partitioned tables keep their partitions when a newer version writes more columns."""

import duckdb
import pandas as pd

from evcharge_pipeline.warehouse import read_table, replace_partition


def test_partition_with_new_columns_extends_the_table(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("CREATE SCHEMA plan")
    replace_partition(con, "plan.sweep", pd.DataFrame({"gap": [0.01]}), {"scenario": "a"})
    replace_partition(con, "plan.sweep", pd.DataFrame({"gap": [0.02], "bound_method": ["lp"]}), {"scenario": "b"})
    table = read_table(con, "plan.sweep").sort_values("scenario").reset_index(drop=True)
    assert list(table["scenario"]) == ["a", "b"]
    assert table["gap"].tolist() == [0.01, 0.02]
    assert pd.isna(table.loc[0, "bound_method"]) and table.loc[1, "bound_method"] == "lp"
