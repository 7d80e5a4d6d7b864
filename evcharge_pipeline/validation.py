"""Data-quality rules for raw and derived tables: each returns the number of violating rows per rule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pydantic import model_validator

from evcharge_pipeline.geometry import project, utm_crs_for

KNOWN_LEVELS = {"L1", "L2", "L3"}


def invalid_coordinates(frame: pd.DataFrame) -> int:
    lat, lon = frame["lat"], frame["lon"]
    return int((~lat.between(-90, 90) | ~lon.between(-180, 180) | lat.isna() | lon.isna()).sum())


def outside_mask(frame: pd.DataFrame, boundary: shapely.Geometry, tolerance_km: float) -> np.ndarray:
    """True for points farther than `tolerance_km` from the boundary polygon (distance 0 inside)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    centroid = boundary.centroid
    crs = utm_crs_for(centroid.x, centroid.y)
    region = shapely.transform(boundary, lambda xy: np.column_stack(project(xy[:, 1], xy[:, 0], crs)))
    x, y = project(frame["lat"].to_numpy(), frame["lon"].to_numpy(), crs)
    near = shapely.buffer(region, tolerance_km * 1000.0)
    shapely.prepare(near)
    return ~shapely.contains_xy(near, x, y)


def outside_boundary(frame: pd.DataFrame, boundary: shapely.Geometry, tolerance_km: float) -> int:
    return int(outside_mask(frame, boundary, tolerance_km).sum())


def duplicate_keys(frame: pd.DataFrame, columns: list[str]) -> int:
    return int(frame.duplicated(subset=columns).sum())


def station_problems(stations: pd.DataFrame, boundary: shapely.Geometry, tolerance_km: float = 2.0) -> dict[str, int]:
    return {
        "invalid_coordinates": invalid_coordinates(stations),
        f"outside_boundary_by_{tolerance_km:g}_km": outside_boundary(stations, boundary, tolerance_km),
        "ports_below_1": int((stations["ports"] < 1).sum()),
        **_level_port_problems(stations),
        "unknown_level": int((~stations["level"].isin(KNOWN_LEVELS)).sum()),
        "duplicate_site_id": duplicate_keys(stations, ["site_id"]),
    }


MAX_PORTS_PER_STATION = 1000


def _level_port_problems(stations: pd.DataFrame) -> dict[str, int]:
    levels = [c for c in ("ports_l1", "ports_l2", "ports_l3") if c in stations.columns]
    if not levels:
        return {}
    per_level = stations[levels]
    return {
        "negative_level_ports": int((per_level < 0).any(axis=1).sum()),
        f"ports_above_{MAX_PORTS_PER_STATION}": int((stations["ports"] > MAX_PORTS_PER_STATION).sum()),
        "level_ports_not_summing_to_ports": int((per_level.sum(axis=1) != stations["ports"]).sum()),
    }


def refuse_problems(table: str, problems: dict[str, int], rules: list[str] | None = None) -> None:
    """Raise `DataCheckError` when any of `rules` (default: all) has violations: used *before* a table is
    written, so the previous good table stays and nothing downstream reads the bad one."""
    bad = {rule: n for rule, n in problems.items() if n and (rules is None or rule in rules)}
    if bad:
        failed = ", ".join(f"{r} = {n}" for r, n in bad.items())
        raise DataCheckError(f"{table} refused, previous table kept: {failed}")


def point_problems(points: pd.DataFrame, key: str, boundary: shapely.Geometry, tolerance_km: float) -> dict[str, int]:
    return {
        "invalid_coordinates": invalid_coordinates(points),
        f"outside_boundary_by_{tolerance_km:g}_km": outside_boundary(points, boundary, tolerance_km),
        f"duplicate_{key}": duplicate_keys(points, [key]),
    }


def area_statistic_problems(frame: pd.DataFrame, value_columns: list[str]) -> dict[str, int]:
    problems = {"duplicate_area_id": duplicate_keys(frame, ["area_id"])}
    for column in value_columns:
        problems[f"negative_{column}"] = int((frame[column] < 0).sum())
    return problems


def conservation_gap(derived_total: float, source_total: float) -> float:
    """Relative difference between a derived total and the total it was derived from."""
    return abs(derived_total - source_total) / max(abs(source_total), 1e-9)


def demand_point_problems(points: pd.DataFrame, area_totals: pd.DataFrame, boundary: shapely.Geometry,
                          rel_tolerance: float = 1e-6) -> dict[str, int]:
    return {
        "duplicate_demand_id": duplicate_keys(points, ["demand_id"]),
        "outside_boundary": outside_boundary(points, boundary, 0.0),
        "negative_population_or_ev": int(((points["population"] < 0) | (points["ev_count"] < 0)).sum()),
        "population_not_conserved": int(conservation_gap(points["population"].sum(),
                                                         area_totals["population_inside"].sum()) > rel_tolerance),
        "ev_count_not_conserved": int(conservation_gap(points["ev_count"].sum(),
                                                       area_totals["ev_count_inside"].sum()) > rel_tolerance),
    }


def coverage_problems(coverage: pd.DataFrame, demand_ids: pd.Series, site_ids: pd.Series,
                      max_radius_km: float) -> dict[str, int]:
    return {
        "duplicate_pair": duplicate_keys(coverage, ["demand_id", "site_id"]),
        "beyond_max_radius": int((coverage["distance_km"] > max_radius_km + 1e-9).sum()),
        "unknown_demand_id": int((~coverage["demand_id"].isin(demand_ids)).sum()),
        "unknown_site_id": int((~coverage["site_id"].isin(site_ids)).sum()),
        "unknown_site_kind": int((~coverage["site_kind"].isin({"existing", "candidate"})).sum()),
    }


def swapped_coordinate_rows(frame: pd.DataFrame, boundary: shapely.Geometry, tolerance_km: float = 5.0) -> np.ndarray:
    """Positions of points outside the boundary (beyond `tolerance_km`) that fall inside it once
    latitude and longitude are exchanged: the classic swapped-columns mistake."""
    swapped = frame.rename(columns={"lat": "lon", "lon": "lat"})
    plausible = swapped["lat"].between(-90, 90).to_numpy()
    far = outside_mask(frame, boundary, tolerance_km)
    inside_when_swapped = np.zeros(len(frame), dtype=bool)
    inside_when_swapped[plausible] = ~outside_mask(swapped[plausible], boundary, 0.0)
    return np.flatnonzero(far & inside_when_swapped)


DEFAULT_MIN_AREA_MATCH_SHARE = 0.95   # share of the areas a per-area table must match
MAX_IDS_IN_MESSAGE = 20


class DataCheckError(ValueError):
    """Data that a plan depends on is unusable; the message says what and names the ids."""


def truncated_list(values: list, limit: int = MAX_IDS_IN_MESSAGE) -> str:
    """`[a, b, ...]` with at most `limit` entries, then how many more."""
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f", ... and {len(values) - limit} more" if len(values) > limit else ""
    return f"[{shown}{more}]"


def require_area_match(area_ids: pd.Series, tables: dict[str, pd.Series],
                       min_share: float = DEFAULT_MIN_AREA_MATCH_SHARE) -> dict[str, list[str]]:
    """Every per-area table must hold at least `min_share` of the areas' ids (ids already normalised
    by `sources.common.normalize_area_id`); otherwise a `DataCheckError` names the unmatched ids.
    Returns the unmatched area ids per table (the few that may be missing)."""
    if not 0.0 <= min_share <= 1.0:
        raise ValueError(f"min_share must be in [0, 1], got {min_share}")
    areas = pd.Index(area_ids.astype(str).unique())
    if areas.empty:
        raise DataCheckError("there are no areas to match")
    unmatched = {}
    for name, ids in tables.items():
        missing = sorted(areas.difference(pd.Index(ids.astype(str))))
        share = 1.0 - len(missing) / len(areas)
        if share < min_share:
            unknown = sorted(pd.Index(ids.astype(str)).difference(areas))
            raise DataCheckError(
                f"{name} matches {len(areas) - len(missing)} of {len(areas)} areas ({share:.1%}, below the "
                f"required {min_share:.0%}); areas without a row: {truncated_list(missing)}; ids in {name} that "
                f"are no area: {truncated_list(unknown)} (ids are compared trimmed, case-insensitive, NFC)")
        unmatched[name] = missing
    return unmatched


def require_demand(points: pd.DataFrame) -> None:
    """Zero demand is never a result: no demand points, or no population or no EVs in them, is an error."""
    if points.empty:
        raise DataCheckError("no demand points: the areas do not overlap the boundary")
    for column in ("population", "ev_count"):
        total = float(points[column].sum())
        if not np.isfinite(total) or total <= 0:
            raise DataCheckError(f"total {column} of the demand points is {total}: there is no demand to plan for")


def check_range(name: str, value: float, *, minimum: float | None = None, maximum: float | None = None,
                exclusive_minimum: bool = False, exclusive_maximum: bool = False, integer: bool = False) -> float:
    """A config number checked for finiteness and range; `ValueError` names the field, its value and
    the allowed range. For pydantic `field_validator`s and plain dataclasses' `__post_init__` alike."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} = {value!r} must be a number") from None
    low_ok = minimum is None or (number > minimum if exclusive_minimum else number >= minimum)
    high_ok = maximum is None or (number < maximum if exclusive_maximum else number <= maximum)
    whole_ok = not integer or (np.isfinite(number) and number == int(number))
    if not np.isfinite(number) or not low_ok or not high_ok or not whole_ok:
        low = "" if minimum is None else ("> " if exclusive_minimum else ">= ") + f"{minimum:g}"
        high = "" if maximum is None else ("< " if exclusive_maximum else "<= ") + f"{maximum:g}"
        kind = "a whole number" if integer else "a finite number"
        raise ValueError(f"{name} = {value!r} must be {kind} {' and '.join(p for p in (low, high) if p)}".rstrip())
    return value


@dataclass(frozen=True)
class Range:
    """The allowed values of one config number (see `check_range`); `optional`: None is allowed too."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    integer: bool = False
    optional: bool = False

    def check(self, name: str, value):
        if value is None and self.optional:
            return value
        return check_range(name, value, minimum=self.minimum, maximum=self.maximum,
                           exclusive_minimum=self.exclusive_minimum, exclusive_maximum=self.exclusive_maximum,
                           integer=self.integer)


# the ranges most config fields share
POSITIVE = Range(0.0, exclusive_minimum=True)                    # rates of service, sizes
NON_NEGATIVE = Range(0.0)                                        # costs, budgets, counts
SHARE = Range(0.0, 1.0)                                          # shares and probabilities
DISTANCE_KM = Range(0.0, 500.0, exclusive_minimum=True)          # radii and distances (a region is < 500 km)
HOUR_OF_DAY = Range(0.0, 24.0, exclusive_maximum=True, integer=True)
GAP = Range(0.0, 1.0, exclusive_maximum=True)                    # relative MIP gap
SECONDS = Range(0.0, 7 * 24 * 3600.0, exclusive_minimum=True)    # solver time limits
COUNT = Range(0.0, integer=True)
AT_LEAST_ONE = Range(1.0, integer=True)
SEED = Range(0.0, 2.0**32 - 1, integer=True)                     # numpy seeds are unsigned 32-bit


def check_ranges(values: Mapping[str, object], ranges: Mapping[str, Range]) -> None:
    """Check every field of `values` (a config's fields) that `ranges` names; the first bad one raises."""
    for name, allowed in ranges.items():
        if name in values:
            allowed.check(name, values[name])



def range_validator(ranges: Mapping[str, Range], *rules):
    """A pydantic `model_validator` checking a config's fields against `ranges` (assign it in the class
    body: `_ranges = range_validator(RANGES)`), then each of `rules` (a function of the field values
    that raises `ValueError` for a bad combination); a bad value fails naming the field and the range."""

    def _check(self):
        values = dict(self)
        check_ranges(values, ranges)
        for rule in rules:
            rule(values)
        return self

    return model_validator(mode="after")(_check)


def warmup_shorter_than_run(values: Mapping[str, Any]) -> None:
    """Simulation configs: the warm-up days must leave simulated days to measure."""
    if values["sim_warmup_days"] >= values["sim_days"]:
        raise ValueError(f"sim_warmup_days = {values['sim_warmup_days']!r} must be < sim_days = {values['sim_days']!r}")
