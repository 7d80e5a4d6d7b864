"""Jobs built from the loaded asset definitions."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetKey, AssetsDefinition, AssetSelection, define_asset_job

BENCHMARK_GROUP = "benchmarks"


def partitioned_keys(assets: Sequence[AssetsDefinition]) -> list[AssetKey]:
    return [key for definition in assets if definition.partitions_def is not None for key in definition.keys]


def unpartitioned_assets_job(assets: Sequence[AssetsDefinition]):
    """`main_job`: every unpartitioned asset (the quick-start run); partitioned sensitivity runs are
    materialized per partition or backfilled instead."""
    keys = [key for definition in assets if definition.partitions_def is None for key in definition.keys]
    return define_asset_job(
        name="main_job",
        selection=AssetSelection.assets(*keys),
        description="Ingest the region, derive demand and coverage, and compute every unpartitioned plan.",
    )


def weekly_refresh_job(assets: Sequence[AssetsDefinition]):
    """`weekly_refresh_job`: the ingest group (a live OpenChargeMap pull when the region's `[stations]`
    says `openchargemap_api`), the other raw inputs (swap network, charging sessions) and every
    unpartitioned plan downstream. Benchmarks are left out; partitioned sensitivity runs and the daily
    charging schedule have their own schedules."""
    selection = (
        AssetSelection.all()
        - AssetSelection.assets(*partitioned_keys(assets))
        - AssetSelection.groups(BENCHMARK_GROUP)
    )
    return define_asset_job(
        name="weekly_refresh_job",
        selection=selection,
        tags={"evcharge/refresh": "weekly"},
        description="Refresh the raw tables (live station pull where configured) and rebuild demand, "
                    "coverage and every unpartitioned plan downstream.",
    )


# Ingest the region and rebuild demand points and coverage, without re-solving the plans.
foundation_job = define_asset_job(
    name="foundation_job",
    selection=AssetSelection.groups("ingest", "demand"),
    description="Refresh the raw tables from the region bundle and rebuild demand points and coverage.",
)
