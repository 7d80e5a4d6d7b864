"""Locations the pipeline reads and writes, from the environment with project-relative defaults."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
SAMPLE_REGION_DIR = DATA_DIR / "sample_region"


def duckdb_path() -> str:
    """`EVCHARGE_DUCKDB_PATH`, default `data/warehouse.duckdb`."""
    return os.environ.get("EVCHARGE_DUCKDB_PATH", str(DATA_DIR / "warehouse.duckdb"))


def region_dir() -> str:
    """`EVCHARGE_REGION`, default the bundled sample region."""
    return os.environ.get("EVCHARGE_REGION", str(SAMPLE_REGION_DIR))


def reports_dir() -> str:
    """`EVCHARGE_REPORTS_DIR`, default `data/reports`."""
    return os.environ.get("EVCHARGE_REPORTS_DIR", str(DATA_DIR / "reports"))
