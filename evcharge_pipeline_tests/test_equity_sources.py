"""Households ingest, income bands, home-charging shares and the need weighting."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from dagster import materialize

from evcharge_pipeline.assets.demand import demand_points
from evcharge_pipeline.assets.equity import area_equity, area_equity_valid, households
from evcharge_pipeline.assets.ingest import areas, ev_ownership, population, region_boundary
from evcharge_pipeline.equity import HOME_CHARGING_BY_TYPE, build_area_equity, income_bands, with_equity
from evcharge_pipeline.region import InputError, load_region
from evcharge_pipeline.sources.common import normalize_area_id
from evcharge_pipeline.sources.households import DWELLING_TYPES, load_households, read_households_csv
from evcharge_pipeline.warehouse import read_table

HEADER = "fsa,median_income," + ",".join(DWELLING_TYPES) + "\n"


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "households.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_sample_region_households_parse_and_report_suppressed_income(sample_region):
    table, _source, digest = load_households(load_region(sample_region))
    assert len(table.frame) == 30 and len(digest) == 64
    assert table.suppressed_income == sorted(table.frame.loc[table.frame["median_income"].isna(), "area_id"])
    assert len(table.suppressed_income) == 1   # the generator suppresses one area's income
    assert np.allclose(table.frame["dwellings"], table.frame[list(DWELLING_TYPES)].sum(axis=1))


def test_ids_are_normalised_and_dwelling_columns_configurable(tmp_path):
    path = tmp_path / "h.csv"
    decomposed = "montre\u0301al-nord"   # e + combining acute: the same id as 'MONTRÉAL-NORD' in the other sources
    path.write_text("area,inc," + ",".join(f"c{i}" for i in range(8)) + "\n n2l ,70000,1,2,3,4,5,6,7,8\n"
                    + decomposed + ",1,0,0,0,0,0,0,0,1\n", encoding="utf-8")
    table = read_households_csv(path, "area", "inc", tuple(f"c{i}" for i in range(8)))
    assert table.frame["area_id"].tolist() == ["N2L", normalize_area_id("MONTRÉAL-NORD")]
    assert table.frame["area_id"].iloc[1] == "MONTR\u00c9AL-NORD"
    assert table.frame["apt_5plus"].iloc[0] == 6 and table.frame["dwellings"].iloc[0] == 36


@pytest.mark.parametrize("rows, row, field", [
    (["N2L,70000,1,2,3,4,5,6,7,8", "N2M,abc,1,2,3,4,5,6,7,8"], 3, "median_income"),
    (["N2L,70000,1,2,3,,5,6,7,8"], 2, "apt_duplex"),
    (["N2L,70000,1,2,3,4,-5,6,7,8"], 2, "apt_lt5"),
    (["N2L,70000,1,2,3,4,5,6,7,8", "n2l,1,1,1,1,1,1,1,1,1"], 3, "fsa"),
])
def test_bad_input_names_file_row_and_field(tmp_path, rows, row, field):
    path = _csv(tmp_path, rows)
    with pytest.raises(InputError) as err:
        read_households_csv(path, "fsa", "median_income")
    assert err.value.row == row and err.value.field == field and str(path) in str(err.value)


def test_missing_column_and_missing_section_key(tmp_path, sample_region):
    path = tmp_path / "h.csv"
    path.write_text("fsa,median_income\nN2L,1\n")
    with pytest.raises(InputError, match="missing column"):
        read_households_csv(path, "fsa", "median_income")
    toml = sample_region / "region.toml"
    toml.write_text(toml.read_text().replace('median_income_field = "median_income"\n', ""))
    with pytest.raises(InputError, match="median_income_field"):
        load_households(load_region(sample_region))


def _brute_bands(income: list[float], population: list[float]) -> list[int]:
    """Each area's band from the definition: the quintile holding the midpoint of its population."""
    order = sorted(range(len(income)), key=lambda i: income[i])
    total = sum(population)
    bands, before = {}, 0.0
    for i in order:
        share = (before + population[i] / 2) / total
        bands[i] = next(b for b in range(1, 6) if share < b / 5 or b == 5)
        before += population[i]
    return [bands[i] for i in range(len(income))]


@pytest.mark.parametrize("seed", range(5))
def test_income_bands_match_the_definition(seed):
    rng = np.random.default_rng(seed)
    income = rng.permutation(np.arange(12) * 1000.0 + 40_000)
    population = rng.integers(100, 5000, 12).astype(float)
    got = income_bands(pd.Series(income), pd.Series(population)).tolist()
    assert got == _brute_bands(list(income), list(population))
    assert income_bands(pd.Series([1.0, 2, 3, 4, 5]), pd.Series([1.0] * 5)).tolist() == [1, 2, 3, 4, 5]


def test_area_equity_shares_and_suppressed_income():
    homes = pd.DataFrame({"area_id": ["A", "B", "C"], "median_income": [50_000.0, np.nan, 90_000.0]})
    for t in DWELLING_TYPES:
        homes[t] = 0.0
    homes.loc[0, ["single_detached", "apt_5plus"]] = [10, 30]
    homes.loc[1, "row_house"] = 5
    homes.loc[2, "single_detached"] = 20
    result = build_area_equity(homes, pd.DataFrame({"area_id": ["A", "B", "C", "D"], "population": [1.0, 1, 1, 1]}))
    f = result.frame.set_index("area_id")
    assert f.loc["A", "apartment_share"] == pytest.approx(0.75)
    assert f.loc["A", "home_charging_share"] == pytest.approx((10 * HOME_CHARGING_BY_TYPE["single_detached"]
                                                              + 30 * HOME_CHARGING_BY_TYPE["apt_5plus"]) / 40)
    assert result.suppressed_income == ["B"] and result.without_households == ["D"]
    assert pd.isna(f.loc["B", "income_band"]) and f.loc["A", "income_band"] < f.loc["C", "income_band"]


def test_ev_need_conserves_evs_and_weights_up_scarce_home_charging():
    equity = pd.DataFrame({"area_id": ["A", "B", "C"], "home_charging_share": [0.2, 0.8, np.nan],
                           "dwellings": [10.0, 10.0, np.nan], "income_band": pd.array([1, 2, pd.NA], "Int64")})
    points = pd.DataFrame({"area_id": ["A", "B", "C", "Z"], "ev_count": [10.0, 10.0, 5.0, 3.0]})
    out = with_equity(points, equity, ratio=0.25)
    assert out["ev_need"].sum() == pytest.approx(points["ev_count"].sum())
    m = {"A": 0.2 * 0.25 + 0.8, "B": 0.8 * 0.25 + 0.2, "C": 0.5 * 0.25 + 0.5}
    assert out["ev_need"].iloc[0] / out["ev_need"].iloc[1] == pytest.approx(m["A"] / m["B"])
    assert out["ev_need"].iloc[2] / 5 == pytest.approx(out["ev_need"].iloc[0] / 10 * m["C"] / m["A"])
    assert out["income_band"].tolist()[:2] == [1, 2] and out["income_band"].isna().tolist()[2:] == [True, True]
    plain = with_equity(points, None)
    assert plain["ev_need"].tolist() == points["ev_count"].tolist()


def test_area_equity_asset_on_the_sample_region(resources, warehouse_path):
    result = materialize([region_boundary, areas, ev_ownership, population, demand_points, households, area_equity,
                          area_equity_valid], resources=resources)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    con = duckdb.connect(str(warehouse_path), read_only=True)
    frame = read_table(con, "core.area_equity")
    con.close()
    assert set(frame["income_band"].dropna()) == {1, 2, 3, 4, 5}
    assert frame["income_band"].isna().sum() == 1
    # lower-income bands have more apartments in the sample city
    by_band = frame.groupby("income_band")["apartment_share"].mean()
    assert by_band.loc[1] > by_band.loc[5]
