"""Equity of access: income bands and home-charging access per area, and the need-weighted EV count.

Home charging. A dwelling counts as "likely to have off-street parking where a charger can be installed"
with the probability `HOME_CHARGING_BY_TYPE` of its structural type (StatCan Census Profile 2021 types).
The figures are planning assumptions, ordered as the access found by NREL's 2020 residential parking
survey (Ge et al., "There's No Place Like Home", NREL/TP-5400-81065, 2021): detached houses have a
driveway or garage most often, attached houses less, and fewer than 25 % of apartment residents have
existing or potential electrical access where they park. See docs/equity.md.

Income bands. Areas with a known median household income are ranked by it and split into population
quintiles: an area takes the band of the midpoint of its population on the cumulative population axis
(band = floor(5 * (P_before + P_area / 2) / P_total) + 1), so bands hold about a fifth of the population
each and an area is never split. Areas with a suppressed income get no band (reported).

Need weighting (`ev_need`). An EV whose owner cannot charge at home relies on public chargers; one that
can, much less. With h_a the area's home-charging share and r = `home_charger_public_need_ratio`
(public-charging need of an EV with home charging relative to one without), the area's need factor is
m_a = h_a * r + (1 - h_a), and ev_need_i = ev_count_i * m_a(i) * sum(ev_count) / sum(ev_count * m).
The EV total is conserved exactly. Areas without household data take the dwelling-weighted regional h.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evcharge_pipeline.sources.households import APARTMENT_TYPES, DWELLING_TYPES

HOME_CHARGING_BY_TYPE: dict[str, float] = {
    "single_detached": 0.85,
    "semi_detached": 0.70,
    "row_house": 0.55,
    "other_single_attached": 0.55,
    "movable": 0.70,
    "apt_duplex": 0.35,
    "apt_lt5": 0.20,
    "apt_5plus": 0.20,
}
BANDS = 5
DEFAULT_PUBLIC_NEED_RATIO = 0.25   # public charging need of an EV with home charging, relative to one without


@dataclass(frozen=True)
class AreaEquity:
    frame: pd.DataFrame            # core.area_equity
    suppressed_income: list[str]   # areas of the region without a median income (no band)
    without_households: list[str]  # areas of the region missing from the households table


def income_bands(income: pd.Series, population: pd.Series, bands: int = BANDS) -> pd.Series:
    """Population quantile band (1 = lowest income) of each area; NA where the income is missing."""
    known = income.notna() & population.notna()
    order = income[known].sort_values(kind="mergesort").index
    pop = population.loc[order].clip(lower=0).to_numpy(float)
    total = pop.sum()
    out = pd.Series(pd.NA, index=income.index, dtype="Int64")
    if len(order) == 0:
        return out
    mid = (np.arange(len(order)) + 0.5) / len(order) if total <= 0 else (np.cumsum(pop) - pop / 2) / total
    out.loc[order] = np.minimum(np.floor(bands * mid).astype(int) + 1, bands)
    return out


def build_area_equity(households: pd.DataFrame, area_population: pd.DataFrame,
                      mapping: dict[str, float] = HOME_CHARGING_BY_TYPE) -> AreaEquity:
    """`households`: area_id, median_income, dwelling-type columns; `area_population`: area_id, population
    (the region's areas: the population inside the region ranks the bands)."""
    areas = area_population[["area_id", "population"]].copy()
    areas["area_id"] = areas["area_id"].astype(str)
    joined = areas.merge(households, on="area_id", how="left").sort_values("area_id", kind="mergesort")
    joined = joined.reset_index(drop=True)   # income ties rank by area_id
    present = joined[list(DWELLING_TYPES)].notna().all(axis=1)
    counts = joined[list(DWELLING_TYPES)].fillna(0.0)
    dwellings = counts.sum(axis=1)
    weights = np.array([mapping[t] for t in DWELLING_TYPES])
    with np.errstate(invalid="ignore", divide="ignore"):
        apartment = counts[list(APARTMENT_TYPES)].sum(axis=1) / dwellings
        home = (counts.to_numpy() @ weights) / dwellings
    frame = pd.DataFrame({
        "area_id": joined["area_id"],
        "median_income": joined["median_income"].astype(float),
        "income_band": income_bands(joined["median_income"].astype(float), joined["population"].astype(float)),
        "apartment_share": apartment.where(present & (dwellings > 0)).astype(float),
        "home_charging_share": pd.Series(home, index=joined.index).where(present & (dwellings > 0)).astype(float),
        "population": joined["population"].astype(float),
        "dwellings": dwellings.where(present).astype(float),
    })
    suppressed = sorted(frame.loc[present & frame["median_income"].isna(), "area_id"])
    return AreaEquity(frame, suppressed, sorted(frame.loc[~present, "area_id"]))


def need_factor(equity: pd.DataFrame, ratio: float = DEFAULT_PUBLIC_NEED_RATIO) -> pd.Series:
    """m_a = h_a * ratio + (1 - h_a) per area_id; missing h takes the dwelling-weighted regional share."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"home_charger_public_need_ratio must lie in [0, 1], got {ratio}")
    h = equity.set_index(equity["area_id"].astype(str))["home_charging_share"].astype(float)
    d = equity.set_index(equity["area_id"].astype(str))["dwellings"].astype(float).fillna(0.0)
    known = h.notna() & (d > 0)
    regional = float((h[known] * d[known]).sum() / d[known].sum()) if known.any() else 0.0
    h = h.fillna(regional)
    return h * ratio + (1.0 - h)


def with_equity(points: pd.DataFrame, equity: pd.DataFrame | None,
                ratio: float = DEFAULT_PUBLIC_NEED_RATIO) -> pd.DataFrame:
    """Demand points plus `income_band` (NA without one) and `ev_need` (the EV total conserved).

    Without an equity table (a bundle with no [households]) every band is NA and ev_need = ev_count."""
    out = points.copy()
    ev = out["ev_count"].astype(float)
    if equity is None or len(equity) == 0:
        out["income_band"] = pd.Series(pd.NA, index=out.index, dtype="Int64")
        out["ev_need"] = ev
        return out
    area = out["area_id"].astype(str)
    bands = equity.set_index(equity["area_id"].astype(str))["income_band"]
    out["income_band"] = area.map(bands).astype("Int64")
    m = area.map(need_factor(equity, ratio)).astype(float)
    m = m.fillna(float(m.mean()) if m.notna().any() else 1.0)
    raw = ev * m
    scale = float(ev.sum() / raw.sum()) if raw.sum() > 0 else 1.0
    out["ev_need"] = raw * scale
    return out
