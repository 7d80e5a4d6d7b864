"""Charging-session logs: loaders for ACN-Data JSON, a flat CSV and the Norwegian garage CSV.

Every loader returns a :class:`SessionLog`: a frame in the common session schema below plus a
frame of skipped rows (file, row, field, reason). Rows are never dropped silently: a row that
cannot be used is recorded in ``skipped`` and counted; a file that cannot be used at all (missing
file, missing column, unknown time zone) raises :class:`SessionDataError` naming file and field.

Common schema (one row per plug-in session):

==========================  ==================================================================
``session_id``              str, unique within the log
``station_id``              str, the EVSE (charge point) the car was plugged into
``site_id``                 str, the parking site (transformer) the EVSE belongs to
``arrival``                 tz-aware timestamp (UTC), plug-in time
``departure``               tz-aware timestamp (UTC), plug-out time (or the driver's estimate)
``energy_kwh``              requested energy, metered on the grid side
``max_power_kw``            the car's / EVSE's maximum charging power
``battery_capacity_kwh``    usable battery capacity, NaN when unknown
``soc_arrival``             state of charge at arrival (0..1), NaN when unknown
``soc_max``                 highest allowed state of charge (0..1), NaN when unknown
``energy_delivered_kwh``    what the real session delivered, NaN when unknown
==========================  ==================================================================
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from evcharge_pipeline.sources.common import quoted_columns

SESSION_COLUMNS = [
    "session_id",
    "station_id",
    "site_id",
    "arrival",
    "departure",
    "energy_kwh",
    "max_power_kw",
    "battery_capacity_kwh",
    "soc_arrival",
    "soc_max",
    "energy_delivered_kwh",
]
SKIP_COLUMNS = ["file", "row", "field", "reason"]
FORMATS = ("acn_json", "flat_csv", "norway_csv")


class SessionDataError(ValueError):
    """A session file that cannot be used at all (names the file and the field)."""


@dataclass
class SessionLog:
    """Sessions in the common schema plus every row that was skipped, with the reason."""

    sessions: pd.DataFrame
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SKIP_COLUMNS))
    source: str = ""

    @property
    def skip_counts(self) -> dict[str, int]:
        if self.skipped.empty:
            return {}
        return {str(k): int(v) for k, v in self.skipped["reason"].value_counts().items()}


def check_timezone(name: str, where: str) -> ZoneInfo:
    """The IANA zone ``name``; a clear error naming ``where`` it came from when unknown."""
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise SessionDataError(
            f"{where}: unknown time zone {name!r} (use an IANA name such as 'America/Toronto')") from exc


def _empty_sessions() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in SESSION_COLUMNS})
    for c in ("session_id", "station_id", "site_id"):
        frame[c] = frame[c].astype("object")
    for c in ("arrival", "departure"):
        frame[c] = pd.Series(dtype="datetime64[ns, UTC]")
    return frame


def _to_utc(values: pd.Series, tz: ZoneInfo) -> pd.Series:
    """Parse strings with or without offsets; naive local times are read in ``tz``."""
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    text = values.astype("string").str.strip()
    has_offset = text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True, na=False)
    if has_offset.any():
        out.loc[has_offset] = pd.to_datetime(text[has_offset], utc=True, errors="coerce", format="ISO8601")
    naive = ~has_offset & text.notna()
    if naive.any():
        local = pd.to_datetime(text[naive], errors="coerce", format="mixed")
        out.loc[naive] = local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC")
    return out


# Longer sessions (a departure in 2126) are skipped and counted. 14 days, not 7: the real ACN Caltech
# March 2019 export holds a genuine 214 h (8.9-day) session.
MAX_SESSION_HOURS = 14 * 24.0


def validate_sessions(frame: pd.DataFrame, file: str, row_numbers: pd.Series | None = None,
                      max_session_hours: float = MAX_SESSION_HOURS) -> SessionLog:
    """Check a frame in the common schema; invalid rows go to ``skipped`` with file, row and field.

    Rules: arrival/departure present, departure after arrival, energy and power present and
    not negative (power > 0), unique session ids, and no two sessions overlapping on one EVSE
    (the later one is skipped). ``row_numbers`` are the 1-based rows of the source file.
    """
    frame = frame.reset_index(drop=True).copy()
    rows = (row_numbers.reset_index(drop=True) if row_numbers is not None else pd.Series(np.arange(len(frame)) + 1))
    skips: list[pd.DataFrame] = []
    bad = pd.Series(False, index=frame.index)

    def reject(mask: pd.Series, fld: str, reason: str) -> None:
        nonlocal bad
        mask = mask & ~bad
        if mask.any():
            skips.append(pd.DataFrame({"file": file, "row": rows[mask].astype(int).values, "field": fld,
                                       "reason": reason}))
            bad = bad | mask

    reject(frame["arrival"].isna(), "arrival", "missing or unparseable arrival time")
    reject(frame["departure"].isna(), "departure", "missing or unparseable departure time")
    reject(frame["departure"] <= frame["arrival"], "departure", "departure not after arrival")
    reject((frame["departure"] - frame["arrival"]) > pd.Timedelta(hours=max_session_hours), "departure",
           f"session longer than the maximum of {max_session_hours:g} h")
    reject(frame["energy_kwh"].isna(), "energy_kwh", "missing energy")
    reject(frame["energy_kwh"] < 0, "energy_kwh", "negative energy")
    reject(~(frame["max_power_kw"] > 0), "max_power_kw", "missing or non-positive max power")
    for col in ("soc_arrival", "soc_max"):
        reject(frame[col].notna() & ~frame[col].between(0, 1), col, f"{col} outside 0..1")
    reject(frame["battery_capacity_kwh"].notna() & ~(frame["battery_capacity_kwh"] > 0), "battery_capacity_kwh",
           "non-positive battery capacity")
    reject(frame["session_id"].duplicated(keep="first"), "session_id", "duplicate session id")

    # Overlaps on one EVSE: sort the still-valid rows by station and arrival; a session that
    # plugs in before the previous one on the same EVSE unplugged is skipped (repeatedly, so
    # a chain of overlaps is resolved against the last kept session).
    while True:
        ok = frame[~bad].sort_values(["station_id", "arrival", "session_id"])
        prev_dep = ok.groupby("station_id")["departure"].shift()
        overlap = ok["arrival"] < prev_dep
        if not overlap.any():
            break
        first = overlap[overlap].index
        # only the first overlap per station in this pass: later ones may become valid
        first_per_station = ok.loc[first].groupby("station_id").head(1).index
        mask = pd.Series(False, index=frame.index)
        mask.loc[first_per_station] = True
        reject(mask, "arrival", "overlaps the previous session on the same EVSE")

    skipped = pd.concat(skips, ignore_index=True) if skips else pd.DataFrame(columns=SKIP_COLUMNS)
    good = frame[~bad].sort_values(["arrival", "session_id"]).reset_index(drop=True)
    return SessionLog(sessions=good[SESSION_COLUMNS], skipped=skipped, source=file)


def _require(columns, needed, file: str, found=None) -> None:
    """`found`: the file's own column names, when `columns` are the names they were mapped to."""
    missing = [c for c in needed if c not in columns]
    if missing:
        shown = quoted_columns(columns if found is None else found)
        raise SessionDataError(f"{file}: missing column(s) {', '.join(missing)}; found {shown} "
                               "(is it a session log of this format?)")


def _num(series: pd.Series, decimal_comma: bool = False) -> pd.Series:
    if decimal_comma:
        series = series.astype("string").str.replace(",", ".", regex=False)
    return pd.to_numeric(series, errors="coerce")


_ALIASES = {
    "arrival": ("arrival", "arrival_local", "arrival_time", "connection_time"),
    "departure": ("departure", "departure_local", "departure_time", "disconnect_time"),
    "energy_kwh": ("energy_kwh", "requested_energy_kwh", "kwh"),
    "max_power_kw": ("max_power_kw", "max_kw"),
}


def load_flat_csv(path: Path, timezone: str, evse_max_kw: float | None = None, site_id: str = "site") -> SessionLog:
    """A flat CSV: ``arrival, departure, energy_kwh`` (+ optional ``max_power_kw``, ``session_id``,
    ``station_id``, ``site_id``, ``battery_capacity_kwh``, ``soc_arrival``, ``soc_max``,
    ``energy_delivered_kwh``). Times are ISO 8601; without an offset they are local to ``timezone``.
    ``arrival_local``/``departure_local`` (the ACN-Sim flat export) are accepted as aliases.
    """
    path = Path(path)
    tz = check_timezone(timezone, f"{path}: timezone")
    if not path.is_file():
        raise SessionDataError(f"{path}: session file not found")
    raw = pd.read_csv(path, dtype=str, keep_default_na=True)
    raw.columns = [c.strip() for c in raw.columns]
    picked = {}
    for target, names in _ALIASES.items():
        hit = next((n for n in names if n in raw.columns), None)
        if hit is not None:
            picked[target] = hit
    needed = ["arrival", "departure", "energy_kwh"] + ([] if evse_max_kw else ["max_power_kw"])
    _require(picked, needed, str(path), found=raw.columns)
    n = len(raw)
    frame = pd.DataFrame(index=raw.index)
    frame["session_id"] = (raw["session_id"] if "session_id" in raw
                           else pd.Series(np.arange(n) + 1, index=raw.index).map("s{:06d}".format))
    frame["station_id"] = raw["station_id"] if "station_id" in raw else frame["session_id"]
    frame["site_id"] = raw.get("site_id", site_id)
    frame["arrival"] = _to_utc(raw[picked["arrival"]], tz)
    frame["departure"] = _to_utc(raw[picked["departure"]], tz)
    frame["energy_kwh"] = _num(raw[picked["energy_kwh"]])
    power = _num(raw[picked["max_power_kw"]]) if "max_power_kw" in picked else pd.Series(np.nan, index=raw.index)
    if evse_max_kw:
        power = power.fillna(evse_max_kw).clip(upper=evse_max_kw)
    frame["max_power_kw"] = power
    for col in ("battery_capacity_kwh", "soc_arrival", "soc_max", "energy_delivered_kwh"):
        frame[col] = _num(raw[col]) if col in raw else np.nan
    return validate_sessions(frame, str(path), pd.Series(raw.index + 2))  # header is row 1


def _acn_documents(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        try:
            doc = json.load(fh)
        except json.JSONDecodeError as exc:
            raise SessionDataError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(doc, dict) and "_items" in doc:
        doc = doc["_items"]
    if not isinstance(doc, list) or not all(isinstance(d, dict) for d in doc):
        raise SessionDataError(
            f"{path}: expected a JSON array of ACN-Data session documents (or an object with _items)")
    return doc


def _gmt(value) -> pd.Timestamp:
    if value is None or value == "":
        return pd.NaT
    try:
        return pd.Timestamp(parsedate_to_datetime(str(value))).tz_convert("UTC")
    except (TypeError, ValueError):
        return pd.NaT


def load_acn_json(
    path: Path,
    evse_max_kw: float,
    energy_field: str = "kWhDelivered",
    departure_field: str = "disconnectTime",
    exclude_stations: tuple[str, ...] = (),
    timezone: str | None = None,
) -> SessionLog:
    """ACN-Data API documents (times RFC 1123 in GMT). ``energy_field`` = ``kWhDelivered`` (the
    ACN-Sim convention: the measured energy is the demand) or ``kWhRequested`` (the driver's last
    request from ``userInputs``); ``departure_field`` = ``disconnectTime`` or ``requestedDeparture``.
    Sessions at ``exclude_stations`` (e.g. a DC fast charger) are skipped and counted.
    """
    path = Path(path)
    if timezone is not None:
        check_timezone(timezone, f"{path}: timezone")
    if energy_field not in ("kWhDelivered", "kWhRequested"):
        raise SessionDataError(f"{path}: energy_field must be kWhDelivered or kWhRequested, got {energy_field!r}")
    if departure_field not in ("disconnectTime", "requestedDeparture"):
        raise SessionDataError(
            f"{path}: departure_field must be disconnectTime or requestedDeparture, got {departure_field!r}")
    if not path.is_file():
        raise SessionDataError(f"{path}: session file not found")
    docs = _acn_documents(path)
    records = []
    for doc in docs:  # parsing only; one pass over the documents
        inputs = doc.get("userInputs") or []
        last = inputs[-1] if inputs else {}
        records.append({
            "session_id": doc.get("sessionID"),
            "station_id": doc.get("spaceID") or doc.get("stationID"),
            "evse": doc.get("stationID"),
            "site_id": doc.get("siteID") or "acn",
            "connection": doc.get("connectionTime"),
            "disconnect": doc.get("disconnectTime"),
            "requested_departure": last.get("requestedDeparture"),
            "delivered": doc.get("kWhDelivered"),
            "requested": last.get("kWhRequested"),
        })
    raw = pd.DataFrame.from_records(records)
    if raw.empty:
        return SessionLog(_empty_sessions(), source=str(path))
    frame = pd.DataFrame(index=raw.index)
    row_ids = pd.Series((raw.index + 1).map("row{}".format), index=raw.index)
    frame["session_id"] = raw["session_id"].astype("string").fillna(row_ids).astype(str)
    frame["station_id"] = raw["station_id"].astype(str)
    frame["site_id"] = raw["site_id"].astype(str)
    frame["arrival"] = pd.to_datetime(raw["connection"].map(_gmt), utc=True)
    dep_col = "disconnect" if departure_field == "disconnectTime" else "requested_departure"
    frame["departure"] = pd.to_datetime(raw[dep_col].map(_gmt), utc=True)
    frame["energy_delivered_kwh"] = pd.to_numeric(raw["delivered"], errors="coerce")
    frame["energy_kwh"] = pd.to_numeric(raw["delivered" if energy_field == "kWhDelivered" else "requested"],
                                        errors="coerce")
    frame["max_power_kw"] = float(evse_max_kw)
    for col in ("battery_capacity_kwh", "soc_arrival", "soc_max"):
        frame[col] = np.nan
    rows = pd.Series(raw.index + 1)  # 1-based document index in the array
    excluded = raw["evse"].isin(exclude_stations) | raw["station_id"].isin(exclude_stations)
    log = validate_sessions(frame[~excluded], str(path), rows[~excluded])
    if excluded.any():
        extra = pd.DataFrame({"file": str(path), "row": rows[excluded].values, "field": "stationID",
                              "reason": "station excluded by configuration"})
        log.skipped = pd.concat([log.skipped, extra], ignore_index=True)
    return log


NORWAY_COLUMNS = ["session_ID", "Garage_ID", "User_ID", "User_type", "Shared_ID", "Start_plugin", "End_plugout",
                  "El_kWh"]


def load_norway_csv(path: Path, evse_max_kw: float, timezone: str = "Europe/Oslo") -> SessionLog:
    """The Trondheim apartment-garage CSV (semicolon, decimal comma, ``NA``, ``dd.mm.yyyy HH:MM``
    local time). The EVSE is the user's own point for ``Private`` rows and ``Shared_ID`` for
    ``Shared`` rows; the site is the garage. No power column: ``evse_max_kw`` is used."""
    path = Path(path)
    tz = check_timezone(timezone, f"{path}: timezone")
    if not path.is_file():
        raise SessionDataError(f"{path}: session file not found")
    raw = pd.read_csv(path, sep=";", dtype=str, na_values=["NA"], keep_default_na=False, encoding="utf-8-sig")
    raw.columns = [c.strip() for c in raw.columns]
    _require(raw.columns, NORWAY_COLUMNS, str(path))
    frame = pd.DataFrame(index=raw.index)
    frame["session_id"] = raw["session_ID"].astype(str)
    shared = raw["User_type"].str.strip().eq("Shared")
    frame["station_id"] = np.where(shared, raw["Garage_ID"] + "-shared-" + raw["Shared_ID"].fillna("?"),
                                   raw["User_ID"].astype(str))
    frame["site_id"] = raw["Garage_ID"].astype(str)

    def parse(col: str) -> pd.Series:
        local = pd.to_datetime(raw[col], format="%d.%m.%Y %H:%M", errors="coerce")
        return local.dt.tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward").dt.tz_convert("UTC")

    frame["arrival"] = parse("Start_plugin")
    frame["departure"] = parse("End_plugout")
    frame["energy_kwh"] = _num(raw["El_kWh"], decimal_comma=True)
    frame["energy_delivered_kwh"] = frame["energy_kwh"]
    frame["max_power_kw"] = float(evse_max_kw)
    for col in ("battery_capacity_kwh", "soc_arrival", "soc_max"):
        frame[col] = np.nan
    return validate_sessions(frame, str(path), pd.Series(raw.index + 2))


def load_sessions(path: Path, fmt: str, timezone: str, evse_max_kw: float | None, **options) -> SessionLog:
    """Dispatch on ``fmt`` (one of ``acn_json``, ``flat_csv``, ``norway_csv``). A file that cannot be read
    as that format at all (missing, empty, binary, another encoding, not CSV/JSON) raises
    `SessionDataError` naming the file and the reason."""
    path = Path(path)
    if not path.is_file():
        raise SessionDataError(f"{path}: session file not found")
    if path.stat().st_size == 0:
        raise SessionDataError(f"{path}: file is empty")
    try:
        return _load(path, fmt, timezone, evse_max_kw, **options)
    except UnicodeDecodeError as exc:
        raise SessionDataError(f"{path}: not a UTF-8 text file (byte {exc.start}); a binary file or another "
                               f"encoding, not {fmt}") from None
    except pd.errors.EmptyDataError:
        raise SessionDataError(f"{path}: no header line (an empty {fmt} file)") from None
    except pd.errors.ParserError as exc:
        first_line = str(exc).strip().splitlines()[0][:120]
        raise SessionDataError(f"{path}: not a readable {fmt} file ({first_line})") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise SessionDataError(f"{path}: not a readable gzip file ({exc})") from None


def _load(path: Path, fmt: str, timezone: str, evse_max_kw: float | None, **options) -> SessionLog:
    if fmt == "acn_json":
        if not evse_max_kw:
            raise SessionDataError(f"{path}: acn_json needs evse_max_kw (ACN-Data has no power field)")
        return load_acn_json(path, evse_max_kw, timezone=timezone, **options)
    if fmt == "flat_csv":
        return load_flat_csv(path, timezone, evse_max_kw, **options)
    if fmt == "norway_csv":
        if not evse_max_kw:
            raise SessionDataError(f"{path}: norway_csv needs evse_max_kw (the file has no power column)")
        return load_norway_csv(path, evse_max_kw, timezone=timezone, **options)
    raise SessionDataError(f"{path}: unknown session format {fmt!r}; expected one of {', '.join(FORMATS)}")
