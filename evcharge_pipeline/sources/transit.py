"""GTFS `stops.txt` (stops and stations; coordinates may be space-padded)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evcharge_pipeline.sources.common import check_coordinates, check_unique, numeric_column, read_csv


def read_gtfs_stops(path: str | Path) -> pd.DataFrame:
    raw = read_csv(path, ["stop_id", "stop_lat", "stop_lon"])
    stop_ids = raw["stop_id"].str.strip()
    check_unique(stop_ids, path, "stop_id")
    lat = numeric_column(raw, "stop_lat", path)
    lon = numeric_column(raw, "stop_lon", path)
    check_coordinates(lat, lon, path, "stop_lat", "stop_lon")
    location_type = (numeric_column(raw, "location_type", path, allow_blank=True).fillna(0).astype("int64")
                     if "location_type" in raw else 0)
    return pd.DataFrame({
        "stop_id": stop_ids,
        "stop_name": raw["stop_name"].str.strip() if "stop_name" in raw else "",
        "lat": lat, "lon": lon,
        "location_type": location_type,
    })
