"""Equity end to end on the sample region: demand points carry income bands and need weights into the network
plan, floors hold in every band (recomputed by the verifier), the per-band table and the price of a floor."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest
from dagster import load_asset_checks_from_modules, load_assets_from_modules, materialize

from evcharge_pipeline.assets import demand as demand_assets
from evcharge_pipeline.assets import equity as equity_assets
from evcharge_pipeline.assets import ingest as ingest_assets
from evcharge_pipeline.assets.network import network_plan, network_plan_verified
from evcharge_pipeline.warehouse import read_table

MODULES = [ingest_assets, demand_assets, equity_assets]
BUDGET = 300_000.0   # on the sample region the unconstrained plan at this budget leaves bands 4-5 near 50 % L2


def foundation(resources):
    defs = list(load_assets_from_modules(MODULES)) + list(load_asset_checks_from_modules(MODULES))
    result = materialize(defs, resources=resources)
    assert result.success


def plan(resources, warehouse_path, **config):
    run = {"ops": {"network_plan": {"config": {"budget_cad": BUDGET, "time_limit_seconds": 30,
                                               "diagnosis_time_limit_seconds": 5, **config}}}}
    result = materialize([network_plan, network_plan_verified], resources=resources, run_config=run)
    assert result.success
    checks = result.get_asset_check_evaluations()
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        tables = {name: read_table(con, f"plan.{name}") for name in ("network_plan_summary",)}
    return result, checks, tables


@pytest.fixture
def sample_foundation(resources):
    foundation(resources)
    return resources


def test_floor_holds_in_every_band_end_to_end(sample_foundation, warehouse_path):
    from evcharge_pipeline.assets.network import _read_inputs
    from evcharge_pipeline.network.config import NetworkConfig
    from evcharge_pipeline.network.inputs import considered_candidates
    from evcharge_pipeline.network.verifier import verify_equity_table, verify_plan

    resources = sample_foundation
    cfg = NetworkConfig(budget_cad=BUDGET)
    stations, candidates, demand, pairs = _read_inputs(resources["warehouse"], cfg)
    assert demand["income_band"].notna().mean() > 0.9 and set(demand["income_band"].dropna()) == {1, 2, 3, 4, 5}
    assert demand["ev_need"].sum() == pytest.approx(demand["ev_count"].sum())

    def band_shares(floor):
        _, checks, tables = plan(resources, warehouse_path, equity_min_coverage_l2_share=floor)
        assert len(checks) == 1 and checks[0].passed, checks[0].metadata["report"].value
        summary = tables["network_plan_summary"].iloc[0]
        assert summary["status"] == "optimal"
        with duckdb.connect(str(warehouse_path), read_only=True) as con:
            rows = read_table(con, "plan.network_plan")
        record = {k: (None if pd.isna(v) else v) for k, v in summary.items()}
        report = verify_plan(rows, record, stations, considered_candidates(candidates, pairs, demand, cfg), demand,
                             pairs, cfg.with_changes(equity_min_coverage_l2_share=floor))
        return {k: v for k, v in report.figures.items() if k.startswith("band_") and k.endswith("_coverage_l2_after")}

    free = band_shares(0.0)
    assert min(free.values()) < 0.6            # the floor below binds on the sample region
    floored = band_shares(0.6)
    assert len(floored) == 5 and min(floored.values()) >= 0.6 - 1e-9

    # plan.network_plan_equity: written by the plan asset, recomputed by its check
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        table = read_table(con, "plan.network_plan_equity")
        equity = read_table(con, "core.area_equity")
    banded = table[table["income_band"].notna()]
    assert banded["income_band"].tolist() == [1, 2, 3, 4, 5]
    assert (banded["coverage_l2_after"] >= 0.6 - 1e-9).all()
    assert (table["coverage_l2_after"] >= table["coverage_l2_before"] - 1e-9).all()
    assert table["population"].sum() == pytest.approx(demand["population"].sum())
    assert table["demand_points"].sum() == len(demand)       # points without a band have their own row
    assert table["income_band"].isna().sum() == int(demand["income_band"].isna().any())
    assert banded["ev_need_share"].sum() + table.loc[table["income_band"].isna(), "ev_need_share"].sum() \
        == pytest.approx(1.0)
    assert (banded["median_income_max"].to_numpy()[:-1] <= banded["median_income_min"].to_numpy()[1:]).all()

    # the check's recomputation is not vacuous: a tampered table is caught, naming band and column
    report = verify_plan(*_plan_and_summary(warehouse_path), stations,
                         considered_candidates(candidates, pairs, demand, cfg), demand, pairs, cfg)
    assert not verify_equity_table(table, report.figures, demand, equity, cfg)
    for column, change in (("coverage_l2_after", 0.05), ("population", 1.0), ("median_income_max", 1000.0)):
        tampered = table.copy()
        tampered.loc[2, column] += change
        problems = verify_equity_table(tampered, report.figures, demand, equity, cfg)
        assert problems and column in problems[0] and "band 3" in problems[0], problems


def _plan_and_summary(warehouse_path):
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows, summary = read_table(con, "plan.network_plan"), read_table(con, "plan.network_plan_summary").iloc[0]
    return rows, {k: (None if pd.isna(v) else v) for k, v in summary.items()}


def test_plan_metadata_carries_the_band_table_and_plot(sample_foundation, warehouse_path):
    result, checks, _ = plan(sample_foundation, warehouse_path, equity_min_coverage_l2_share=0.5)
    meta = result.asset_materializations_for_node("network_plan")[0].metadata
    image = meta["equity_plot"].value
    assert image.startswith("![") and "data:image/png;base64," in image
    assert 2_000 < len(image) < 200_000
    assert meta["equity_by_band"].value.count("\n") >= 6     # header, rule, five bands (+ the no-band row)
    assert checks[0].metadata["equity_table"].value == "recomputed, no mismatch"


def test_price_of_equity_partitions_and_frontier(sample_foundation, warehouse_path):
    from evcharge_pipeline.assets.equity_price import network_equity_frontier, network_equity_price

    run = {"ops": {"network_equity_price": {"config": {"budget_cad": BUDGET, "budget_tolerance_cad": 150_000,
                                                       "time_limit_seconds": 20, "mip_gap": 0.001}}}}
    for key in ("0", "0.6"):
        result = materialize([network_equity_price], resources=sample_foundation, partition_key=key, run_config=run)
        assert result.success
    result = materialize([network_equity_frontier], resources=sample_foundation)
    assert result.success
    meta = result.asset_materializations_for_node("network_equity_frontier")[0].metadata
    assert "data:image/png;base64," in meta["frontier_plot"].value
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = read_table(con, "plan.network_equity_frontier").set_index("floor_key")
    free, floored = rows.loc["0"], rows.loc["0.6"]
    assert free["objective_lost"] == pytest.approx(0.0) and free["extra_budget_cad"] == pytest.approx(0.0)
    assert free["objective_no_floor"] == pytest.approx(floored["objective_no_floor"], rel=2e-3)
    assert floored["min_band_coverage_after_no_floor"] < 0.6 <= floored["min_band_coverage_after"] + 1e-9
    assert floored["objective_lost"] > 0                     # the floor binds, so it costs objective ...
    assert floored["extra_budget_cad"] > 0                   # ... and budget to win the objective back
    assert floored["budget_needed_cad"] - floored["budget_short_cad"] <= 150_000 + 1e-6


def test_ev_need_without_households_warns_that_every_ev_counts_the_same(tmp_path):
    import duckdb
    import pandas as pd
    from dagster_duckdb import DuckDBResource

    from evcharge_pipeline.assets.network import EQUITY_TABLE, INPUT_TABLES, _read_inputs
    from evcharge_pipeline.network.config import NetworkConfig
    from evcharge_pipeline.warehouse import replace_table

    database = str(tmp_path / "w.duckdb")
    with duckdb.connect(database) as con:
        for schema in ("raw", "core"):
            con.execute(f"CREATE SCHEMA {schema}")
        for table in INPUT_TABLES:
            replace_table(con, table, pd.DataFrame({"area_id": ["A"], "ev_count": [3.0]}))
        replace_table(con, EQUITY_TABLE, pd.DataFrame({"area_id": pd.Series(dtype="string"),
                                                       "income_band": pd.Series(dtype="Int64")}))
    warnings = []

    class Log:
        def warning(self, message):
            warnings.append(message)

    warehouse = DuckDBResource(database=database)
    _read_inputs(warehouse, NetworkConfig(coverage_weight="ev_need"), Log())
    assert len(warnings) == 1 and "[households]" in warnings[0]
    _read_inputs(warehouse, NetworkConfig(coverage_weight="ev"), Log())
    assert len(warnings) == 1
