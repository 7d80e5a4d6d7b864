"""Per-area statistics: EV registrations (Ontario 'EVs by FSA' CSV) and census population."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evcharge_pipeline.region import InputError
from evcharge_pipeline.sources.common import check_unique, normalize_area_ids, numeric_column, read_csv

ONTARIO_FSA_COLUMNS = ["FSA", "BEV", "PHEV", "Total EV"]


@dataclass(frozen=True)
class EvOwnership:
    """EV counts per area, with the number of suppressed (blank) cells that were counted as 0."""

    frame: pd.DataFrame  # area_id, bev, phev, ev_count
    suppressed_cells: int


def read_ontario_fsa_csv(path: str | Path) -> EvOwnership:
    """Ontario MTO 'Electric Vehicles in Ontario by Forward Sortation Area': FSA, BEV, PHEV, Total EV.

    Blank cells are suppressed small counts; they are read as 0 and counted. When Total EV is blank it is
    BEV + PHEV; when it is given it must not be below them.
    """
    raw = read_csv(path, ONTARIO_FSA_COLUMNS)
    raw["FSA"] = normalize_area_ids(raw["FSA"])
    empty_id = raw["FSA"].eq("")
    if empty_id.any():
        raise InputError(path, "blank FSA", row=int(empty_id.to_numpy().nonzero()[0][0]) + 2, field="FSA")
    check_unique(raw["FSA"], path, "FSA")
    bev = numeric_column(raw, "BEV", path, allow_blank=True, minimum=0)
    phev = numeric_column(raw, "PHEV", path, allow_blank=True, minimum=0)
    total = numeric_column(raw, "Total EV", path, allow_blank=True, minimum=0)
    suppressed = int(bev.isna().sum() + phev.isna().sum() + total.isna().sum())
    bev, phev = bev.fillna(0.0), phev.fillna(0.0)
    total = total.fillna(bev + phev)
    frame = pd.DataFrame({"area_id": raw["FSA"], "bev": bev, "phev": phev, "ev_count": total})
    return EvOwnership(frame=frame, suppressed_cells=suppressed)


def read_population_csv(path: str | Path, id_field: str, population_field: str,
                        dwellings_field: str | None = None) -> pd.DataFrame:
    """Population (and dwellings) per area from a CSV with configurable column names."""
    required = [id_field, population_field] + ([dwellings_field] if dwellings_field else [])
    raw = read_csv(path, required)
    ids = normalize_area_ids(raw[id_field])
    check_unique(ids, path, id_field)
    frame = pd.DataFrame({
        "area_id": ids,
        "population": numeric_column(raw, population_field, path, minimum=0),
    })
    if dwellings_field:
        frame["dwellings"] = numeric_column(raw, dwellings_field, path, allow_blank=True, minimum=0)
    return frame
