"""Helpers shared by asset modules: table metadata, check results, reading the stored boundary."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import duckdb
import pandas as pd
import shapely
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    TableColumn,
    TableRecord,
    TableSchema,
    asset,
    asset_check,
)

from evcharge_pipeline.deployment import WAREHOUSE_POOL
from evcharge_pipeline.escaping import markdown_safe_frame
from evcharge_pipeline.reporting import readable_name, readable_records
from evcharge_pipeline.sources.bundle import Provenance
from evcharge_pipeline.sources.common import with_provenance
from evcharge_pipeline.warehouse import read_table, replace_table


def warehouse_asset(*, kinds: Iterable[str] = (), **kwargs: Any):
    """`@asset` for a step that opens the DuckDB warehouse: in the warehouse pool (one step at a time), of kind
    duckdb plus `kinds`; every other argument goes to `@asset`."""
    return asset(pool=WAREHOUSE_POOL, kinds={"duckdb", *kinds}, **kwargs)


def warehouse_check(**kwargs: Any):
    """`@asset_check` that reads the DuckDB warehouse: in the warehouse pool; arguments as for `@asset_check`."""
    return asset_check(pool=WAREHOUSE_POOL, **kwargs)


def markdown_table(frame: pd.DataFrame, max_rows: int = 20) -> MetadataValue:
    shown = markdown_safe_frame(frame.head(max_rows))   # user-supplied text cannot break the table
    suffix = f"\n\n… {len(frame) - max_rows} more rows" if len(frame) > max_rows else ""
    return MetadataValue.md(shown.to_markdown(index=False, floatfmt=".4g") + suffix)


def _column_type(values: list) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {bool}:
        return "bool"
    if kinds and kinds <= {int}:
        return "int"
    if kinds and kinds <= {int, float}:
        return "float"
    return "string"


def summary_table(frame: pd.DataFrame, descriptions: dict[str, str] | None = None,
                  max_rows: int = 50) -> MetadataValue:
    """A Dagster table (rendered inline in the UI) with a column schema: values rounded by their unit
    (see `evcharge_pipeline.reporting`), descriptions from `descriptions` keyed by the frame's column names."""
    descriptions = descriptions or {}
    names, rows = readable_records(frame.head(max_rows))
    columns = [TableColumn(name=shown, type=_column_type([row[shown] for row in rows]),
                           description=descriptions.get(str(column)) or _unit_text(str(column)))
               for shown, column in zip(names, frame.columns, strict=True)]
    return MetadataValue.table(records=[TableRecord(row) for row in rows], schema=TableSchema(columns=columns))


def _unit_text(column: str) -> str | None:
    for suffix, text in (("_share", "percent"), ("_cad", "CAD, whole"), ("_seconds", "seconds"),
                         ("_kwh", "kWh"), ("_kw", "kW"), ("_km", "km")):
        if column.endswith(suffix):
            return text
    return None


def key_figures(figures: dict[str, object], descriptions: dict[str, str] | None = None) -> MetadataValue:
    """Named figures as a two-column table (figure with unit, rounded value), readable without scrolling."""
    from evcharge_pipeline.reporting import figure_value

    rows = [TableRecord({"figure": readable_name(name), "value": figure_value(name, value)})
            for name, value in figures.items()]
    schema = TableSchema(columns=[
        TableColumn(name="figure", type="string", description="name; unit in the name (% for shares)"),
        TableColumn(name="value", type="string", description="rounded: shares in %, money in whole CAD, "
                                                             "seconds to 0.1"),
    ])
    return MetadataValue.table(records=rows, schema=schema)


def picture(markdown: str) -> MetadataValue:
    """An inline picture (Markdown from `evcharge_pipeline.reporting.figure_markdown`)."""
    return MetadataValue.md(markdown)


def write_raw(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, origin: Provenance) -> dict:
    """Replace a raw table (with provenance columns) and return the metadata describing it."""
    rows = replace_table(con, table, with_provenance(frame, origin.source, origin.sha256))
    return {
        "table": table,
        "dagster/row_count": rows,
        "source": origin.source,
        "sha256": origin.sha256,
        "preview": markdown_table(frame, 5),
    }


def problems_check(problems: dict[str, int], severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
                   **extra) -> AssetCheckResult:
    """Pass when every rule has zero violations; each rule's count is in the metadata."""
    failing = {rule: count for rule, count in problems.items() if count}
    summary = pd.DataFrame({"rule": list(problems), "violations": list(problems.values())})
    return AssetCheckResult(
        passed=not failing,
        severity=severity,
        description="all rules hold" if not failing else f"violations: {failing}",
        metadata={**{rule: int(count) for rule, count in problems.items()}, "rules": markdown_table(summary), **extra},
    )


def stored_boundary(con: duckdb.DuckDBPyConnection) -> shapely.Geometry:
    return shapely.from_wkt(read_table(con, "raw.region_boundary")["geometry_wkt"].iloc[0])
