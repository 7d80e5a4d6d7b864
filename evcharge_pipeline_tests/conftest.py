"""Shared fixtures: a writable copy of the sample region, a temporary warehouse, and the shared data path."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.resources import RegionResource, ReportsResource
from evcharge_pipeline.settings import SAMPLE_REGION_DIR

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def stop_process_group(process: subprocess.Popen, first_signal: int, timeout_seconds: float) -> None:
    """Send `first_signal` to the process's group, wait, and SIGKILL the group when it does not end in time."""
    os.killpg(process.pid, first_signal)
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when that folder is not present."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not present: ../shared/data/{'/'.join(parts)}")
    return path


@pytest.fixture
def sample_region(tmp_path: Path) -> Path:
    """A copy of the bundled sample region that a test may modify."""
    target = tmp_path / "region"
    shutil.copytree(SAMPLE_REGION_DIR, target)
    return target


@pytest.fixture
def warehouse_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def make_resources(region: Path, warehouse: Path, reports: Path) -> dict:
    return {
        "warehouse": DuckDBResource(database=str(warehouse)),
        "region": RegionResource(path=str(region)),
        "reports": ReportsResource(directory=str(reports)),
    }


@pytest.fixture
def resources(sample_region: Path, warehouse_path: Path, tmp_path: Path) -> dict:
    return make_resources(sample_region, warehouse_path, tmp_path / "reports")
