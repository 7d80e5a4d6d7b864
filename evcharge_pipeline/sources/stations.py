"""Existing public chargers: CSV export or OpenChargeMap API v3 `/poi` JSON.

Levels are normalised to L1/L2/L3 (DC fast = L3). A station whose level is not stated ("Unknown") is
treated as L2, the most common public level; the loader counts these so they are reported, never hidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evcharge_pipeline.region import InputError
from evcharge_pipeline.sources.common import check_coordinates, check_unique, numeric_column, read_csv, read_json

DEFAULT_POWER_KW = {"L1": 1.9, "L2": 7.2, "L3": 50.0}
CSV_COLUMNS = ["name", "latitude", "longitude", "num_chargers", "charger_type", "operator"]
STATION_COLUMNS = ["site_id", "name", "lat", "lon", "level", "ports", "ports_l1", "ports_l2", "ports_l3",
                   "power_kw", "operator", "status", "level_reported"]
_LEVEL_WORDS = {
    "L1": {"level 1", "l1", "1", "level1"},
    "L2": {"level 2", "l2", "2", "level2"},
    "L3": {"level 3", "l3", "3", "level3", "dc fast", "dcfc", "dc fast charging", "dc", "fast"},
}
DC_FAST_MIN_KW = 20.0


@dataclass(frozen=True)
class StationTable:
    frame: pd.DataFrame          # STATION_COLUMNS
    unknown_level_as_l2: int     # stations whose level was not stated, counted as L2


def normalise_level(text: str) -> str | None:
    """'Level 2' -> 'L2', 'DC Fast' -> 'L3'; None when the text states no level."""
    word = str(text).strip().lower()
    for level, words in _LEVEL_WORDS.items():
        if word in words:
            return level
    return None


def _finish(frame: pd.DataFrame) -> StationTable:
    unknown = frame["level"].isna()
    frame.loc[unknown, "level"] = "L2"
    frame["power_kw"] = frame["power_kw"].fillna(frame["level"].map(DEFAULT_POWER_KW))
    for level in ("L1", "L2", "L3"):
        column = f"ports_{level.lower()}"
        if column not in frame:
            frame[column] = np.where(frame["level"] == level, frame["ports"], 0)
    port_columns = ["ports", "ports_l1", "ports_l2", "ports_l3"]
    frame[port_columns] = frame[port_columns].astype("int64")
    return StationTable(frame=frame[STATION_COLUMNS].reset_index(drop=True), unknown_level_as_l2=int(unknown.sum()))


def read_station_csv(path: str | Path) -> StationTable:
    """CSV with name, latitude, longitude, num_chargers, charger_type, operator (+ optional id, power_kw, status)."""
    raw = read_csv(path, CSV_COLUMNS)
    lat = numeric_column(raw, "latitude", path)
    lon = numeric_column(raw, "longitude", path)
    check_coordinates(lat, lon, path, "latitude", "longitude")
    ports = numeric_column(raw, "num_chargers", path, minimum=1)
    if (ports % 1 != 0).any():
        i = int(np.flatnonzero((ports % 1 != 0).to_numpy())[0])
        raise InputError(path, f"num_chargers {ports.iloc[i]} is not a whole number", row=i + 2, field="num_chargers")
    if "id" in raw.columns:
        ids = raw["id"].str.strip()
        check_unique(ids, path, "id")
    else:
        ids = pd.Series([f"stn-{i + 1:05d}" for i in range(len(raw))])
    power = numeric_column(raw, "power_kw", path, allow_blank=True, minimum=0) if "power_kw" in raw else np.nan
    frame = pd.DataFrame({
        "site_id": ids.to_numpy(),
        "name": raw["name"].str.strip(),
        "lat": lat, "lon": lon,
        "level": raw["charger_type"].map(normalise_level),
        "ports": ports,
        "power_kw": power,
        "operator": raw["operator"].str.strip(),
        "status": raw["status"].str.strip() if "status" in raw else "Operational",
        "level_reported": raw["charger_type"].str.strip(),
    })
    return _finish(frame)


def _connection_level(connection: dict, power: float | None) -> str | None:
    """The level of one OCM connection; `power` is its PowerKW already parsed (None when absent)."""
    level_id = connection.get("LevelID")
    if level_id in (1, 2, 3) and not isinstance(level_id, bool):
        return f"L{int(level_id)}"
    if connection.get("CurrentTypeID") == 30 or (power is not None and power >= DC_FAST_MIN_KW):
        return "L3"
    if power is not None:
        return "L2" if power > 3.7 else "L1"
    return None


def _object(value, source, row: int, field: str) -> dict:
    """A nested OCM object (AddressInfo, StatusType...); absent gives {}."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(source, f"is a {type(value).__name__}, not an object", row=row, field=field)
    return value


def _text(value, source, row: int, field: str, default: str) -> str:
    """A title or id: text or a number; absent or empty gives `default`."""
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(source, f"is a {type(value).__name__}, not text", row=row, field=field)
    return str(value)


MAX_PORTS_PER_STATION = 1000   # beyond any real site; larger counts are data errors
MAX_POWER_KW = 1000.0


def _number(value, source, row: int, field: str) -> float:
    if isinstance(value, bool):
        raise InputError(source, "is a boolean, not a number", row=row, field=field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(source, f"{type(value).__name__} value is not a number", row=row, field=field) from None
    if not np.isfinite(number):
        raise InputError(source, f"{number} is not a finite number", row=row, field=field)
    return number


def _whole(value, source, row: int, field: str, default, minimum: int = 1) -> int | None:
    """A whole count in [minimum, MAX_PORTS_PER_STATION]; absent (None, 0 for Quantity) gives `default`."""
    if value is None or (minimum == 1 and value == 0 and not isinstance(value, bool)):
        return default
    number = _number(value, source, row, field)
    if number % 1 != 0 or not minimum <= number <= MAX_PORTS_PER_STATION:
        raise InputError(source, f"{number:g} is not a whole number in [{minimum}, {MAX_PORTS_PER_STATION}]",
                         row=row, field=field)
    return int(number) or default


def parse_openchargemap_pois(pois: object, source: str | Path) -> StationTable:
    """OpenChargeMap API v3 `/poi` output (a JSON list of POIs, verbose or compact)."""
    if not isinstance(pois, list):
        raise InputError(source, f"expected a JSON list of POIs, got {type(pois).__name__}")
    if not pois:
        raise InputError(source, "no POIs in the response")
    rows = []
    for index, poi in enumerate(pois):
        if not isinstance(poi, dict):
            raise InputError(source, "POI is not an object", row=index)
        address = _object(poi.get("AddressInfo"), source, index, "AddressInfo")
        poi_id = _text(poi.get("ID"), source, index, "ID", str(index))
        try:
            lat, lon = float(address["Latitude"]), float(address["Longitude"])
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(source, f"missing or unparsable coordinate ({exc})", row=index,
                             field="AddressInfo.Latitude/Longitude") from exc
        connections = poi.get("Connections") or []
        levels = {"L1": 0, "L2": 0, "L3": 0}
        powers, named = [], []
        if not isinstance(connections, list):
            raise InputError(source, "Connections is not a list", row=index, field="Connections")
        for c, connection in enumerate(connections):
            if not isinstance(connection, dict):
                raise InputError(source, "connection is not an object", row=index, field=f"Connections[{c}]")
            power = None
            if connection.get("PowerKW") is not None:
                power = _number(connection["PowerKW"], source, index, f"Connections[{c}].PowerKW")
                if not 0 <= power <= MAX_POWER_KW:
                    raise InputError(source, f"PowerKW {power} is outside [0, {MAX_POWER_KW}]", row=index,
                                     field=f"Connections[{c}].PowerKW")
                powers.append(power)
            level = _connection_level(connection, power)
            quantity = _whole(connection.get("Quantity"), source, index, f"Connections[{c}].Quantity", default=1)
            if level:
                levels[level] += quantity
                named.append(level)
        declared = _whole(poi.get("NumberOfPoints"), source, index, "NumberOfPoints", default=None, minimum=0)
        counted = sum(levels.values())
        ports = declared if declared else max(counted, len(connections), 1)
        if ports < 1:
            raise InputError(source, f"NumberOfPoints {declared} is below 1", row=index, field="NumberOfPoints")
        level = max(named) if named else None
        if counted == 0 and level is None:
            breakdown = {"L1": 0, "L2": ports, "L3": 0}
        else:  # scale the connector mix to the declared number of points, rounding to whole ports
            shares = np.array([levels["L1"], levels["L2"], levels["L3"]], dtype=float)
            raw_ports = shares / shares.sum() * ports
            whole = np.floor(raw_ports).astype(int)
            whole[np.argsort(raw_ports - whole)[::-1][: ports - whole.sum()]] += 1
            breakdown = dict(zip(("L1", "L2", "L3"), whole.tolist(), strict=True))
        status = _object(poi.get("StatusType"), source, index, "StatusType")
        operator = _object(poi.get("OperatorInfo"), source, index, "OperatorInfo")
        rows.append({
            "site_id": f"ocm-{poi_id}",
            "name": _text(address.get("Title"), source, index, "AddressInfo.Title", f"OCM {poi_id}"),
            "lat": lat, "lon": lon, "level": level, "ports": ports,
            "ports_l1": breakdown["L1"], "ports_l2": breakdown["L2"], "ports_l3": breakdown["L3"],
            "power_kw": max(powers) if powers else np.nan,
            "operator": _text(operator.get("Title"), source, index, "OperatorInfo.Title", ""),
            "status": _text(status.get("Title"), source, index, "StatusType.Title",
                            "Operational" if status.get("IsOperational", True) else "Not operational"),
            "level_reported": "/".join(sorted(set(named))) or "Unknown",
        })
    frame = pd.DataFrame(rows)
    check_coordinates(frame["lat"], frame["lon"], source, "AddressInfo.Latitude", "AddressInfo.Longitude", row_offset=0)
    check_unique(frame["site_id"], source, "ID", row_offset=0)
    return _finish(frame)


def read_openchargemap_json(path: str | Path) -> StationTable:
    """A saved OpenChargeMap `/poi` response."""
    return parse_openchargemap_pois(read_json(path), path)
