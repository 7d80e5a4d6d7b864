"""Jobs built from the loaded asset definitions."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetsDefinition, AssetSelection, define_asset_job


def unpartitioned_assets_job(assets: Sequence[AssetsDefinition]):
    """`main_job`: every unpartitioned asset (the quick-start run); partitioned sensitivity runs are
    materialized per partition or backfilled instead."""
    keys = [key for definition in assets if definition.partitions_def is None for key in definition.keys]
    return define_asset_job(
        name="main_job",
        selection=AssetSelection.assets(*keys),
        description="Ingest the region, derive demand and coverage, and compute every unpartitioned plan.",
    )


# Ingest the region and rebuild demand points and coverage, without re-solving the plans.
foundation_job = define_asset_job(
    name="foundation_job",
    selection=AssetSelection.groups("ingest", "demand"),
    description="Refresh the raw tables from the region bundle and rebuild demand points and coverage.",
)
