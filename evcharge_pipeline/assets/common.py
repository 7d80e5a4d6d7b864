"""Helpers shared by asset modules: table metadata, check results, reading the stored boundary."""

from __future__ import annotations

import duckdb
import pandas as pd
import shapely
from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from evcharge_pipeline.escaping import markdown_safe_frame
from evcharge_pipeline.sources.bundle import Provenance
from evcharge_pipeline.sources.common import with_provenance
from evcharge_pipeline.warehouse import read_table, replace_table


def markdown_table(frame: pd.DataFrame, max_rows: int = 20) -> MetadataValue:
    shown = markdown_safe_frame(frame.head(max_rows))   # user-supplied text cannot break the table
    suffix = f"\n\n… {len(frame) - max_rows} more rows" if len(frame) > max_rows else ""
    return MetadataValue.md(shown.to_markdown(index=False, floatfmt=".4g") + suffix)


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
