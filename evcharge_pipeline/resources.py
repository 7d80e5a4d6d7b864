"""Dagster resources: the DuckDB warehouse, the region bundle and the reports folder."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from pydantic import Field

from evcharge_pipeline import settings
from evcharge_pipeline.region import RegionBundle, load_region
from evcharge_pipeline.warehouse import DEFAULT_LOCK_WAIT_SECONDS, connect_warehouse


class WarehouseResource(DuckDBResource):
    """The DuckDB warehouse. Unlike `DuckDBResource` (ten exponential retries on any I/O error, about
    100 s), a read-only or unwritable file fails at once, and another process's lock is waited for
    only `lock_wait_seconds` (steps of this pipeline queue in the `warehouse` pool instead)."""

    lock_wait_seconds: float = Field(default=DEFAULT_LOCK_WAIT_SECONDS,
                                     description="seconds to wait for another process's lock on the file")

    @contextmanager
    def get_connection(self):
        config = {"custom_user_agent": "dagster", **self.connection_config}
        conn = connect_warehouse(self.database, config, self.lock_wait_seconds)
        try:
            yield conn
        finally:
            conn.close()


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
        "warehouse": WarehouseResource(database=settings.duckdb_path()),
        "region": RegionResource(path=settings.region_dir()),
        "reports": ReportsResource(directory=settings.reports_dir()),
    }
