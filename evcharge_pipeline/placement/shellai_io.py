"""Readers and writers for the Shell.ai Hackathon 2022 files.

Input files (as published):
- ``Demand_History.csv``: ``demand_point_index, x_coordinate, y_coordinate, <year>, <year>, ...``
- ``exisiting_EV_infrastructure_2018.csv``: ``supply_point_index, x_coordinate, y_coordinate,
  total_parking_slots, existing_num_SCS, existing_num_FCS``

Solution file: ``year, data_type, demand_point_index, supply_point_index, value`` with data_type
``SCS``/``FCS`` (one row per supply point, totals installed) and ``DS`` (demand of point i served by
supply point j), one block per year. Optional ``DF`` rows (forecast per demand point) are accepted.

Every reader refuses bad input with a `DataError` naming the file, the row (1-based data row, the
header is row 0) and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEMAND_FILE = "Demand_History.csv"
SUPPLY_FILE = "exisiting_EV_infrastructure_2018.csv"
SOLUTION_COLUMNS = ["year", "data_type", "demand_point_index", "supply_point_index", "value"]


class DataError(ValueError):
    """Bad input data; the message names file, row and field."""


@dataclass(frozen=True)
class DemandHistory:
    """Yearly demand per demand point. ``values[i, k]`` is the demand of point i in ``years[k]``."""

    xy: np.ndarray  # (n, 2) coordinates
    years: list[int]
    values: np.ndarray  # (n, len(years)) float, >= 0

    @property
    def n_points(self) -> int:
        return int(self.values.shape[0])

    def until(self, last_year: int) -> DemandHistory:
        keep = [k for k, y in enumerate(self.years) if y <= last_year]
        if len(keep) < 2:
            raise DataError(f"history until {last_year} keeps fewer than two years of {self.years}")
        return DemandHistory(self.xy, [self.years[k] for k in keep], self.values[:, keep])

    def year(self, year: int) -> np.ndarray:
        if year not in self.years:
            raise KeyError(f"year {year} not in the demand history ({self.years[0]}..{self.years[-1]})")
        return self.values[:, self.years.index(year)]


@dataclass(frozen=True)
class SupplyPoints:
    """Supply points with parking slots and the existing slow/fast charger stock."""

    xy: np.ndarray  # (m, 2)
    parking_slots: np.ndarray  # (m,) int
    existing_slow: np.ndarray  # (m,) int
    existing_fast: np.ndarray  # (m,) int

    @property
    def n_points(self) -> int:
        return int(self.xy.shape[0])


def _numeric(frame: pd.DataFrame, column: str, path: Path, *, integer: bool = False,
             nonnegative: bool = True) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        shown = raw.iloc[row]
        what = "is empty (a gap)" if (pd.isna(shown) or str(shown).strip() == "") else f"is not numeric ({shown!r})"
        raise DataError(f"{path.name}: row {row + 1}, field {column!r} {what}; {int(bad.sum())} such row(s)")
    arr = values.to_numpy(dtype=float)
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise DataError(f"{path.name}: row {row + 1}, field {column!r} is not finite ({arr[row]})")
    if nonnegative and (arr < 0).any():
        row = int(np.flatnonzero(arr < 0)[0])
        raise DataError(f"{path.name}: row {row + 1}, field {column!r} is negative ({arr[row]}); "
                        f"{int((arr < 0).sum())} negative value(s)")
    if integer and (arr != np.round(arr)).any():
        row = int(np.flatnonzero(arr != np.round(arr))[0])
        raise DataError(f"{path.name}: row {row + 1}, field {column!r} is not an integer ({arr[row]})")
    return arr


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [c.strip() for c in frame.columns]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path.name}: missing column(s) {missing}; found {list(frame.columns)}")
    if frame.empty:
        raise DataError(f"{path.name}: no data rows")
    frame = frame.where(frame != "", np.nan)
    return frame


def _read_typed(path: Path, required: list[str]) -> pd.DataFrame:
    """Fast typed parse for large files; falls back to the string reader when a column is not numeric."""
    if not Path(path).exists():
        raise DataError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except (ValueError, pd.errors.ParserError):
        return _read_csv(path, required)
    frame.columns = [str(c).strip() for c in frame.columns]
    numeric = [c for c in required if c != "data_type"]
    if any(c not in frame.columns for c in required) or frame.empty or not all(
            pd.api.types.is_numeric_dtype(frame[c]) for c in numeric):
        return _read_csv(path, required)
    return frame


def _check_index(frame: pd.DataFrame, column: str, path: Path) -> None:
    idx = _numeric(frame, column, path, integer=True)
    expected = np.arange(len(frame))
    if not np.array_equal(idx, expected):
        row = int(np.flatnonzero(idx != expected)[0])
        raise DataError(f"{path.name}: row {row + 1}, field {column!r} is {int(idx[row])}, expected {row} "
                        "(indices must run 0..n-1 in order)")


def history_from_frame(frame: pd.DataFrame, path: Path | str = "demand history",
                       id_column: str = "demand_point_index") -> DemandHistory:
    """Validate a wide history frame (id, x_coordinate, y_coordinate, one column per year)."""
    path = Path(path)
    frame = frame.copy()
    frame.columns = [str(c).strip() for c in frame.columns]
    year_cols = [c for c in frame.columns if c.isdigit()]
    if len(year_cols) < 2:
        raise DataError(f"{path.name}: needs at least two year columns, found {year_cols}")
    years = sorted(int(c) for c in year_cols)
    gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years))
    if gaps:
        raise DataError(f"{path.name}: year column(s) {gaps} missing between {years[0]} and {years[-1]} (a gap)")
    if id_column in frame.columns:
        _check_index(frame, id_column, path)
    xy = np.column_stack([_numeric(frame, c, path, nonnegative=False) for c in ("x_coordinate", "y_coordinate")])
    values = np.column_stack([_numeric(frame, str(y), path) for y in years])
    return DemandHistory(xy=xy, years=years, values=values)


def load_demand_history(path: Path | str) -> DemandHistory:
    path = Path(path)
    frame = _read_csv(path, ["demand_point_index", "x_coordinate", "y_coordinate"])
    return history_from_frame(frame, path)


def load_supply_points(path: Path | str) -> SupplyPoints:
    path = Path(path)
    cols = ["supply_point_index", "x_coordinate", "y_coordinate", "total_parking_slots",
            "existing_num_SCS", "existing_num_FCS"]
    frame = _read_csv(path, cols)
    _check_index(frame, "supply_point_index", path)
    xy = np.column_stack([_numeric(frame, c, path, nonnegative=False) for c in ("x_coordinate", "y_coordinate")])
    slots = _numeric(frame, "total_parking_slots", path, integer=True).astype(int)
    slow = _numeric(frame, "existing_num_SCS", path, integer=True).astype(int)
    fast = _numeric(frame, "existing_num_FCS", path, integer=True).astype(int)
    over = slow + fast > slots
    if over.any():
        row = int(np.flatnonzero(over)[0])
        raise DataError(f"{path.name}: row {row + 1}, fields 'existing_num_SCS' + 'existing_num_FCS' = "
                        f"{slow[row] + fast[row]} exceed 'total_parking_slots' = {slots[row]}; "
                        f"{int(over.sum())} such row(s)")
    return SupplyPoints(xy=xy, parking_slots=slots, existing_slow=slow, existing_fast=fast)


def load_benchmark(data_dir: Path | str) -> tuple[DemandHistory, SupplyPoints]:
    data_dir = Path(data_dir)
    return load_demand_history(data_dir / DEMAND_FILE), load_supply_points(data_dir / SUPPLY_FILE)


@dataclass(frozen=True)
class YearPlan:
    """One year of a plan: slow/fast charger totals per supply point and the flow matrix DS[i, j]."""

    year: int
    slow: np.ndarray  # (m,) int
    fast: np.ndarray  # (m,) int
    flows: np.ndarray  # (n, m) float
    forecast: np.ndarray | None = None  # optional DF rows; else the row sums of flows


def solution_frame(plans: list[YearPlan], decimals: int = 6) -> pd.DataFrame:
    """The official submission layout: per year SCS rows, FCS rows, then DS rows ordered by (i, j)."""
    blocks = []
    for plan in plans:
        n, m = plan.flows.shape
        sup = np.arange(m)
        for kind, values in (("SCS", plan.slow), ("FCS", plan.fast)):
            blocks.append(pd.DataFrame({"year": plan.year, "data_type": kind, "demand_point_index": pd.NA,
                                        "supply_point_index": sup, "value": values.astype(float)}))
        ii, jj = np.meshgrid(np.arange(n), sup, indexing="ij")
        blocks.append(pd.DataFrame({"year": plan.year, "data_type": "DS", "demand_point_index": ii.ravel(),
                                    "supply_point_index": jj.ravel(),
                                    "value": np.round(plan.flows.ravel(), decimals)}))
    frame = pd.concat(blocks, ignore_index=True)
    frame["demand_point_index"] = frame["demand_point_index"].astype("Int64")
    frame["supply_point_index"] = frame["supply_point_index"].astype("Int64")
    return frame[SOLUTION_COLUMNS]


def write_solution(plans: list[YearPlan], path: Path | str, decimals: int = 6) -> Path:
    import duckdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = solution_frame(plans, decimals)
    with duckdb.connect() as con:  # DuckDB's CSV writer is several times faster than pandas here
        con.from_df(frame).write_csv(str(path))
    return path


def read_solution(path: Path | str, n_demand: int, n_supply: int) -> list[YearPlan]:
    """Parse a solution file into per-year plans; refuses format errors and out-of-range indices.

    Missing DS/SCS/FCS entries count as 0 (as in the official checker); duplicates are an error.
    """
    path = Path(path)
    frame = _read_typed(path, SOLUTION_COLUMNS)
    year = _numeric(frame, "year", path, integer=True).astype(int)
    kind = frame["data_type"].astype(str).str.strip()
    unknown = ~kind.isin(["DS", "SCS", "FCS", "DF"])
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DataError(f"{path.name}: row {row + 1}, field 'data_type' is {kind.iloc[row]!r}; "
                        "expected DS, SCS, FCS or DF")
    value = _numeric(frame, "value", path, nonnegative=False)
    dem = pd.to_numeric(frame["demand_point_index"], errors="coerce").to_numpy()
    sup = pd.to_numeric(frame["supply_point_index"], errors="coerce").to_numpy()
    kinds = kind.to_numpy()

    def check(mask: np.ndarray, idx: np.ndarray, field: str, upper: int, code: int) -> None:
        bad = mask & (np.isnan(idx) | (idx < 0) | (idx >= upper) | (idx != np.round(idx)))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{path.name}: row {row + 1}, field {field!r} is {frame[field].iloc[row]!r}, "
                            f"outside 0..{upper - 1} (error code {code}); {int(bad.sum())} such row(s)")

    check(np.isin(kinds, ["DS", "SCS", "FCS"]), sup, "supply_point_index", n_supply, 7)
    check(np.isin(kinds, ["DS", "DF"]), dem, "demand_point_index", n_demand, 8)
    plans = []
    for y in sorted(set(year.tolist())):
        in_year = year == y
        flows = np.zeros((n_demand, n_supply))
        slow = np.zeros(n_supply)
        fast = np.zeros(n_supply)
        forecast = None
        for tag, target in (("SCS", slow), ("FCS", fast)):
            mask = in_year & (kinds == tag)
            j = sup[mask].astype(int)
            _no_duplicates(path, mask, j, f"{tag} supply_point_index")
            target[j] = value[mask]
        mask = in_year & (kinds == "DS")
        i, j = dem[mask].astype(int), sup[mask].astype(int)
        _no_duplicates(path, mask, i * n_supply + j, "DS (demand_point_index, supply_point_index)")
        flows[i, j] = value[mask]
        mask = in_year & (kinds == "DF")
        if mask.any():
            forecast = np.zeros(n_demand)
            i = dem[mask].astype(int)
            _no_duplicates(path, mask, i, "DF demand_point_index")
            forecast[i] = value[mask]
        plans.append(YearPlan(year=int(y), slow=slow, fast=fast, flows=flows, forecast=forecast))
    return plans


def _no_duplicates(path: Path, mask: np.ndarray, keys: np.ndarray, what: str) -> None:
    uniq, _first, counts = np.unique(keys, return_index=True, return_counts=True)
    if (counts > 1).any():
        rows = np.flatnonzero(mask)
        dup_key = uniq[counts > 1][0]
        dup_rows = rows[np.flatnonzero(keys == dup_key)] + 1
        raise DataError(f"{path.name}: rows {dup_rows[:2].tolist()} repeat the same {what} (error code 0)")
