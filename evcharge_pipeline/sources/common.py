"""Shared parsing helpers: provenance, CSV reading and strict numeric columns with row-level errors."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from evcharge_pipeline.region import InputError

_PLAIN_COLUMN = re.compile(r"^[\w .()/%#+-]{1,40}$")
MAX_COLUMNS_IN_MESSAGE = 12


def quoted_columns(columns) -> str:
    """Column names for an error message: at most 12, and a name that does not look like a column name
    (too long, or with characters such as `=` that a data or secrets line has) is not echoed."""
    names = [str(c) for c in columns]
    shown = [repr(n) if _PLAIN_COLUMN.match(n) else f"<{len(n)}-character text, not shown>"
             for n in names[:MAX_COLUMNS_IN_MESSAGE]]
    more = f", ... and {len(names) - MAX_COLUMNS_IN_MESSAGE} more" if len(names) > MAX_COLUMNS_IN_MESSAGE else ""
    return "[" + ", ".join(shown) + more + "]"


def short_value(value: object, limit: int = 40) -> str:
    """A data cell for an error message, truncated."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def normalize_area_id(value: object) -> str:
    """The one rule for area ids in every source (areas GeoJSON, EV and population CSVs, households):
    Unicode NFC, surrounding whitespace trimmed, upper case (so matching is case-insensitive).
    `' Montréal-Nord'` (with a decomposed é) and `'MONTRÉAL-NORD'` are the same id."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", str(value)).strip().upper())


def normalize_area_ids(values: pd.Series) -> pd.Series:
    """`normalize_area_id` over a column (ids are read as text)."""
    return values.astype(str).map(normalize_area_id)


# A CSV data row's number in error messages is its line in the file (the header is line 1).
CSV_FIRST_DATA_LINE = 2


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def with_provenance(frame: pd.DataFrame, source: str, sha256: str) -> pd.DataFrame:
    """Add the `source`, `sha256` and `loaded_at` columns every raw table carries."""
    return frame.assign(source=source, sha256=sha256, loaded_at=datetime.now(UTC).replace(tzinfo=None))


def read_json(path: str | Path) -> object:
    """A JSON document; refuses empty files and names the line and column of a syntax error."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text: {exc}") from exc
    if not text.strip():
        raise InputError(path, "file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def read_csv(path: str | Path, required: list[str], **kwargs) -> pd.DataFrame:
    """Read a CSV as strings; refuse empty files and missing columns, naming them."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", **kwargs)
    except pd.errors.EmptyDataError as exc:
        raise InputError(path, "file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable CSV: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; found {quoted_columns(frame.columns)}", field=missing[0])
    if frame.empty:
        raise InputError(path, "file has a header but no data rows")
    return frame


def numeric_column(
    frame: pd.DataFrame,
    column: str,
    path: str | Path,
    *,
    allow_blank: bool = False,
    minimum: float | None = None,
    row_offset: int = CSV_FIRST_DATA_LINE,
) -> pd.Series:
    """Parse a string column to floats; the first unparsable (or below-minimum) cell raises with its row."""
    text = frame[column].astype(str).str.strip().str.replace(",", "", regex=False)
    blank = text.eq("") | text.str.lower().isin(["nan", "none", "null"])
    values = pd.to_numeric(text.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    if not allow_blank:
        bad |= blank
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(path, f"cannot parse {short_value(frame[column].iloc[i])} as a number", row=i + row_offset,
                         field=column)
    if minimum is not None:
        below = values < minimum
        if below.any():
            i = int(np.flatnonzero(below.to_numpy())[0])
            raise InputError(path, f"value {values.iloc[i]} is below the minimum {minimum}", row=i + row_offset,
                             field=column)
    return values.astype(float)


def check_coordinates(lat: pd.Series, lon: pd.Series, path: str | Path, lat_field: str, lon_field: str,
                      row_offset: int = CSV_FIRST_DATA_LINE) -> None:
    """Latitude in [-90, 90] and longitude in [-180, 180], both finite numbers; a latitude beyond 90 that
    would be a valid longitude, with a longitude that would be a valid latitude, is reported as a
    probable swap (never for a missing or non-finite value)."""
    for values, name, field in ((lat, "latitude", lat_field), (lon, "longitude", lon_field)):
        missing = ~np.isfinite(values.to_numpy(dtype=float))
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise InputError(path, f"{name} is missing or not a finite number ({values.iloc[i]})", row=i + row_offset,
                             field=field)
    bad_lat = ~lat.between(-90, 90)
    if bad_lat.any():
        i = int(np.flatnonzero(bad_lat.to_numpy())[0])
        swap = abs(lat.iloc[i]) <= 180 and abs(lon.iloc[i]) <= 90
        hint = " (latitude and longitude look swapped)" if swap else ""
        raise InputError(path, f"latitude {lat.iloc[i]} is out of range [-90, 90]{hint}", row=i + row_offset,
                         field=lat_field)
    bad_lon = ~lon.between(-180, 180)
    if bad_lon.any():
        i = int(np.flatnonzero(bad_lon.to_numpy())[0])
        raise InputError(path, f"longitude {lon.iloc[i]} is out of range [-180, 180]", row=i + row_offset,
                         field=lon_field)


def check_unique(values: pd.Series, path: str | Path, field: str, row_offset: int = CSV_FIRST_DATA_LINE) -> None:
    duplicated = values.duplicated(keep="first")
    if duplicated.any():
        i = int(np.flatnonzero(duplicated.to_numpy())[0])
        first = int(np.flatnonzero((values == values.iloc[i]).to_numpy())[0])
        raise InputError(path, f"duplicate id {values.iloc[i]!r} (first at row {first + row_offset})",
                         row=i + row_offset, field=field)
