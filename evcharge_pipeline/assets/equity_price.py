"""The price of equity: one network plan pair per equity floor (no floor / floor in every income band), the
objective lost and the extra budget the floor needs, and the frontier over every floor partition.

Thin wrappers around `evcharge_pipeline.network.equity.equity_price`. A partition records a failure instead of
failing the backfill.
"""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, StaticPartitionsDefinition
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.assets.common import markdown_table, warehouse_asset
from evcharge_pipeline.assets.equity import EQUITY
from evcharge_pipeline.assets.network import INPUT_ASSETS, NetworkPlanConfig, _read_inputs
from evcharge_pipeline.network.equity import equity_frontier_plot, equity_price, frontier_frame, markdown_image
from evcharge_pipeline.warehouse import read_table, replace_partition, table_exists

EQUITY_FLOORS = ("0", "0.5", "0.6", "0.7", "0.8")
equity_floor_partitions = StaticPartitionsDefinition(list(EQUITY_FLOORS))
FRONTIER_TABLE = "plan.network_equity_frontier"


class EquityPriceConfig(NetworkPlanConfig):
    """The plan settings of every floor partition, the level the floor applies to, and the budget search step.
    Each partition solves the no-floor plan, the floored plan and a budget search (several solves): the
    solves are capped tighter than the default plan."""

    budget_cad: float = 1_000_000.0
    floor_level: str = "l2"                       # l2 | l3: the floor is on this level's coverage share
    budget_tolerance_cad: float = 0.0             # budget search step; 0 = 2 % of the budget (at least 10,000)
    mip_gap: float = 0.005
    time_limit_seconds: float = 30.0
    diagnosis_time_limit_seconds: float = 10.0

    def network_config(self, **overrides):
        values = {k: v for k, v in self.model_dump().items() if k not in ("floor_level", "budget_tolerance_cad")}
        return NetworkPlanConfig(**values).network_config(**overrides)


@warehouse_asset(
    group_name=EQUITY, kinds={"cvxpy"}, partitions_def=equity_floor_partitions,
    deps=INPUT_ASSETS,
    description="Price of an equity floor (partition = floor on the coverage share of every income band): "
                "objective lost at the same budget, and the extra budget a floored plan needs to reach the "
                "no-floor objective (plan.network_equity_frontier, one row per floor).")
def network_equity_price(context: AssetExecutionContext, config: EquityPriceConfig, warehouse: DuckDBResource
                         ) -> MaterializeResult:
    floor = float(context.partition_key)
    cfg = config.network_config()
    stations, candidates, demand, pairs = _read_inputs(warehouse, cfg)
    try:
        row, table = equity_price(stations, candidates, demand, pairs, cfg, floor, config.floor_level,
                                  config.budget_tolerance_cad or None)
    except Exception as exc:  # a partition records its failure instead of failing the backfill
        context.log.error(f"floor {context.partition_key}: {exc!r}")
        row, table = {"floor": floor, "budget_cad": cfg.budget_cad, "status": "error", "level": config.floor_level,
                      "coverage_weight": cfg.coverage_weight, "diagnosis": repr(exc)}, None
    frame = frontier_frame([row])
    with warehouse.get_connection() as con:
        replace_partition(con, FRONTIER_TABLE, frame, {"floor_key": context.partition_key})
    meta = {"status": str(row["status"]), "floor": floor,
            "row": markdown_table(frame.T.reset_index().set_axis(["field", "value"], axis=1), max_rows=40)}
    if table is not None and len(table):
        meta["by_band"] = markdown_table(table.drop(columns=["coverage_weight"]))
    return MaterializeResult(metadata=meta)


@warehouse_asset(group_name=EQUITY, kinds={"matplotlib"}, deps=[network_equity_price],
                 description="Equity frontier over every materialized floor partition: objective lost and extra budget "
                             "against the floor (plot in the metadata).")
def network_equity_frontier(warehouse: DuckDBResource) -> MaterializeResult:
    with warehouse.get_connection() as con:
        rows = read_table(con, FRONTIER_TABLE) if table_exists(con, FRONTIER_TABLE) else pd.DataFrame()
    if rows.empty:
        rows = pd.DataFrame({c: pd.Series(dtype="float64") for c in ("floor", "objective_lost", "extra_budget_cad")})
    shown = [c for c in ("floor", "level", "budget_cad", "status", "objective_no_floor", "objective", "objective_lost",
                         "objective_lost_share", "budget_needed_cad", "extra_budget_cad", "budget_short_proven",
                         "min_band_coverage_after_no_floor", "min_band_coverage_after") if c in rows]
    return MaterializeResult(metadata={
        "partitions": len(rows),
        "frontier_plot": MetadataValue.md(markdown_image(equity_frontier_plot(rows), "price of equity")),
        "frontier": markdown_table(rows[shown].sort_values("floor")) if len(rows) else "no partitions yet",
    })
