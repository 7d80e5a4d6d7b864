"""Dagster resources: the DuckDB warehouse, the region bundle and the reports folder."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from evcharge_pipeline import settings
from evcharge_pipeline.region import RegionBundle, load_region


class RegionResource(ConfigurableResource):
    """The region bundle (a folder with `region.toml`) the pipeline plans for."""

    path: str

    def bundle(self) -> RegionBundle:
        return load_region(self.path)


class ReportsResource(ConfigurableResource):
    """Folder for human artefacts (maps, plots); created on demand."""

    directory: str

    def path_for(self, name: str) -> Path:
        folder = Path(self.directory)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name


def default_resources() -> dict:
    """Resources from the environment (`EVCHARGE_DUCKDB_PATH`, `EVCHARGE_REGION`, `EVCHARGE_REPORTS_DIR`)."""
    return {
        "warehouse": DuckDBResource(database=settings.duckdb_path()),
        "region": RegionResource(path=settings.region_dir()),
        "reports": ReportsResource(directory=settings.reports_dir()),
    }
