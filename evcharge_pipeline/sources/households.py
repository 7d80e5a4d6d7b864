"""Households per area: occupied dwellings by structural type and median household income.

The optional `[households]` section of region.toml names a CSV with one row per area:

    [households]
    path = "census/census_dwellings_by_fsa.csv"
    id_field = "fsa"
    median_income_field = "median_income"
    # dwelling_fields = ["single_detached", ...]   # optional; default: the StatCan Census Profile 2021 names

Dwelling counts must be non-negative numbers; a blank dwelling cell is an error. A blank median income
is a suppressed value (StatCan suppresses it for small areas): it is kept as missing and reported,
never dropped. Area ids follow the one rule of every area source (`sources.common.normalize_area_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evcharge_pipeline.region import InputError, RegionBundle
from evcharge_pipeline.sources.common import (
    CSV_FIRST_DATA_LINE,
    check_unique,
    normalize_area_ids,
    numeric_column,
    read_csv,
    sha256_of,
)

# StatCan Census Profile 2021 (98-401-X2021013), characteristics 42-49: occupied private dwellings by structural type.
DWELLING_TYPES = ("single_detached", "semi_detached", "row_house", "apt_duplex", "apt_lt5", "apt_5plus",
                  "other_single_attached", "movable")
APARTMENT_TYPES = ("apt_duplex", "apt_lt5", "apt_5plus")


@dataclass(frozen=True)
class Households:
    """Dwellings by type and median income per area; `suppressed_income` lists the areas whose income is blank."""

    frame: pd.DataFrame            # area_id, median_income (NaN = suppressed), one column per dwelling type, dwellings
    suppressed_income: list[str]


def read_households_csv(path: str | Path, id_field: str, median_income_field: str,
                        dwelling_fields: tuple[str, ...] = DWELLING_TYPES) -> Households:
    """Parse the households CSV; the dwelling columns are renamed to the canonical `DWELLING_TYPES` names."""
    if len(dwelling_fields) != len(DWELLING_TYPES):
        raise InputError(path, f"dwelling_fields needs {len(DWELLING_TYPES)} column names in the order "
                         f"{list(DWELLING_TYPES)}, got {len(dwelling_fields)}", field="dwelling_fields")
    raw = read_csv(path, [id_field, median_income_field, *dwelling_fields])
    ids = normalize_area_ids(raw[id_field])
    empty = ids.eq("")
    if empty.any():
        raise InputError(path, "blank area id", row=int(empty.to_numpy().nonzero()[0][0]) + CSV_FIRST_DATA_LINE,
                         field=id_field)
    check_unique(ids, path, id_field)
    frame = pd.DataFrame({"area_id": ids,
                          "median_income": numeric_column(raw, median_income_field, path, allow_blank=True, minimum=0)})
    for canonical, column in zip(DWELLING_TYPES, dwelling_fields, strict=True):
        frame[canonical] = numeric_column(raw, column, path, minimum=0)
    frame["dwellings"] = frame[list(DWELLING_TYPES)].sum(axis=1)
    suppressed = sorted(frame.loc[frame["median_income"].isna(), "area_id"])
    return Households(frame=frame, suppressed_income=suppressed)


def load_households(bundle: RegionBundle) -> tuple[Households, str, str] | None:
    """The bundle's households table with its source path and sha256, or None when the section is absent."""
    section = bundle.section("households")
    if section is None:
        return None
    for key in ("id_field", "median_income_field"):
        if not section.get(key):
            raise InputError(bundle.toml_path, f"[households] needs {key}", field=f"households.{key}")
    fields = section.get("dwelling_fields", DWELLING_TYPES)
    if not isinstance(fields, (list, tuple)) or not all(isinstance(f, str) for f in fields):
        raise InputError(bundle.toml_path, "[households] dwelling_fields must be a list of column names",
                         field="households.dwelling_fields")
    path = bundle.source_path("households")
    table = read_households_csv(path, str(section["id_field"]), str(section["median_income_field"]), tuple(fields))
    return table, str(path), sha256_of(path)
