"""Session loaders, the [charging_sessions] section, prices and the sample log: formats and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from evcharge_pipeline.charging.prices import Tariff, load_prices_csv
from evcharge_pipeline.charging.sample import SAMPLE_DAYS, write_sample_sessions
from evcharge_pipeline.charging.section import read_charging_section
from evcharge_pipeline.charging.sessions import (
    SessionDataError,
    load_acn_json,
    load_flat_csv,
    load_norway_csv,
    load_sessions,
)
from evcharge_pipeline.region import InputError, RegionBundle

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ev_sessions"


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared/data not present ({'/'.join(parts)})")
    return path


FLAT = """session_id,station_id,arrival,departure,energy_kwh,max_power_kw
a,E1,2026-01-05T08:00:00-05:00,2026-01-05T12:00:00-05:00,10,7.2
b,E1,2026-01-05T11:00:00-05:00,2026-01-05T15:00:00-05:00,5,7.2
c,E2,2026-01-05 09:00,2026-01-05 08:00,5,7.2
d,E3,2026-01-05 09:00,2026-01-05 10:00,-1,7.2
e,E4,not a time,2026-01-05 10:00,3,7.2
f,E5,2026-01-05 09:00,2026-01-05 17:00,12.5,
g,E1,2026-01-05T12:00:00-05:00,2026-01-05T13:00:00-05:00,2,7.2
"""


def test_flat_csv_keeps_good_rows_and_reports_every_skip(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(FLAT)
    log = load_flat_csv(path, "America/Toronto", evse_max_kw=7.2)
    assert sorted(log.sessions["session_id"]) == ["a", "f", "g"]
    skipped = log.skipped.set_index("row")
    # rows are file lines (header = 1)
    assert skipped.loc[3, "reason"] == "overlaps the previous session on the same EVSE"
    assert skipped.loc[4, "field"] == "departure" and "not after arrival" in skipped.loc[4, "reason"]
    assert skipped.loc[5, "reason"] == "negative energy"
    assert skipped.loc[6, "field"] == "arrival"
    assert set(skipped["file"]) == {str(path)}
    assert len(log.sessions) + len(log.skipped) == 7
    f = log.sessions.set_index("session_id").loc["f"]
    assert f["max_power_kw"] == 7.2  # missing power falls back to the EVSE limit
    assert f["arrival"] == pd.Timestamp("2026-01-05 14:00", tz="UTC")  # naive = local time
    a = log.sessions.set_index("session_id").loc["a"]
    assert a["departure"] == pd.Timestamp("2026-01-05 17:00", tz="UTC")


def test_unknown_timezone_and_missing_column_are_clear_errors(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text(FLAT)
    with pytest.raises(SessionDataError, match="unknown time zone 'Mars/Olympus'"):
        load_flat_csv(path, "Mars/Olympus", 7.2)
    bad = tmp_path / "bad.csv"
    bad.write_text("arrival,energy_kwh\n2026-01-05 09:00,3\n")
    with pytest.raises(SessionDataError, match=r"bad.csv: missing column\(s\) departure"):
        load_flat_csv(bad, "America/Toronto", 7.2)
    with pytest.raises(SessionDataError, match="unknown session format"):
        load_sessions(path, "xml", "America/Toronto", 7.2)


def _acn_doc(i, conn, disc, kwh, requested=None, departure=None, station="2-39-1-1"):
    inputs = None if requested is None else [{"kWhRequested": requested, "requestedDeparture": departure}]
    return {"sessionID": f"s{i}", "spaceID": f"CA-{i}", "stationID": station, "siteID": "0002",
            "connectionTime": conn, "disconnectTime": disc, "kWhDelivered": kwh, "userInputs": inputs}


def test_acn_json_times_are_gmt_and_options_apply(tmp_path):
    docs = [
        _acn_doc(1, "Mon, 03 May 2021 15:00:00 GMT", "Mon, 03 May 2021 20:30:00 GMT", 12.5, 20.0,
                 "Mon, 03 May 2021 23:00:00 GMT"),
        _acn_doc(2, "Mon, 03 May 2021 16:00:00 GMT", "Mon, 03 May 2021 15:00:00 GMT", 3.0),
        _acn_doc(3, "Mon, 03 May 2021 16:00:00 GMT", "Mon, 03 May 2021 17:00:00 GMT", 30.0, station="dcfc"),
    ]
    path = tmp_path / "acn.json"
    path.write_text(json.dumps({"_items": docs}))
    log = load_acn_json(path, evse_max_kw=6.6, exclude_stations=("dcfc",))
    assert list(log.sessions["session_id"]) == ["s1"]
    s1 = log.sessions.iloc[0]
    assert s1["arrival"] == pd.Timestamp("2021-05-03 15:00", tz="UTC")
    assert s1["energy_kwh"] == 12.5 and s1["max_power_kw"] == 6.6
    assert s1["station_id"] == "CA-1"
    assert log.skip_counts == {"departure not after arrival": 1, "station excluded by configuration": 1}
    req = load_acn_json(path, 6.6, energy_field="kWhRequested", departure_field="requestedDeparture",
                        exclude_stations=("dcfc",))
    r1 = req.sessions.set_index("session_id").loc["s1"]
    assert r1["energy_kwh"] == 20.0 and r1["departure"] == pd.Timestamp("2021-05-03 23:00", tz="UTC")
    assert r1["energy_delivered_kwh"] == 12.5
    # session 2 has no userInputs: no requested departure -> skipped with the field named
    assert (req.skipped["field"] == "departure").any()


NORWAY = (
    "session_ID;Garage_ID;User_ID;User_type;Shared_ID;Start_plugin;Start_plugin_hour;End_plugout;"
    "End_plugout_hour;El_kWh;Duration_hours;month_plugin;weekdays_plugin\r\n"
    "1;AdO3;AdO3-4;Private;NA;21.12.2018 10:20;10;21.12.2018 19:46;19;12,5;9,4;Dec;Friday\r\n"
    "2;AdO3;AdO3-2;Private;NA;22.12.2018 16:15;16;NA;NA;15,56;NA;Dec;Saturday\r\n"
    "3;Bl2;Bl2-1;Shared;Bl2-S1;22.12.2018 18:00;18;23.12.2018 07:00;7;20,25;13;Dec;Saturday\r\n"
)


def test_norway_csv_semicolon_decimal_comma_and_na(tmp_path):
    path = tmp_path / "garage.csv"
    path.write_bytes(NORWAY.encode())
    log = load_norway_csv(path, evse_max_kw=7.4)
    got = log.sessions.set_index("session_id")
    assert list(got.index) == ["1", "3"]
    assert got.loc["1", "energy_kwh"] == 12.5
    assert got.loc["1", "arrival"] == pd.Timestamp("2018-12-21 09:20", tz="UTC")  # Oslo is UTC+1 in winter
    assert got.loc["3", "station_id"] == "Bl2-shared-Bl2-S1" and got.loc["3", "site_id"] == "Bl2"
    assert log.skipped.iloc[0].to_dict() == {"file": str(path), "row": 3, "field": "departure",
                                             "reason": "missing or unparseable departure time"}


def test_prices_csv_validation(tmp_path):
    good = tmp_path / "p.csv"
    good.write_text("hour,price_per_kwh\n" + "".join(f"{h},{0.1 + h / 100}\n" for h in range(24)))
    prices = load_prices_csv(good)
    assert prices[5] == pytest.approx(0.15)
    tariff = Tariff(prices, 10.0, "America/Los_Angeles")
    idx = pd.DatetimeIndex([pd.Timestamp("2019-03-01 13:00", tz="UTC")])  # 05:00 in Los Angeles
    assert tariff.prices_for(idx)[0] == pytest.approx(0.15)
    bad = tmp_path / "bad.csv"
    bad.write_text("hour,price_per_kwh\n" + "".join(f"{h},0.1\n" for h in range(23)) + "25,0.1\n")
    with pytest.raises(ValueError, match="row 25, field hour"):
        load_prices_csv(bad)


def _bundle(tmp_path: Path, section: dict) -> RegionBundle:
    return RegionBundle(root=tmp_path, name="t", config={"charging_sessions": section})


def test_section_parsing_and_errors(tmp_path):
    section = write_sample_sessions(tmp_path)
    parsed = read_charging_section(_bundle(tmp_path, section))
    assert parsed.site().site_limit_kw == section["site_limit_kw"]
    assert parsed.model().min_power_kw == section["min_power_kw"]
    assert read_charging_section(RegionBundle(tmp_path, "t", {})) is None
    for change, field in [({"timezone": "Nowhere/City"}, "charging_sessions.timezone"),
                          ({"format": "parquet"}, "charging_sessions.format"),
                          ({"period_minutes": 7}, "charging_sessions.period_minutes"),
                          ({"site_limit_kw": -5}, "charging_sessions.site_limit_kw"),
                          ({"path": "missing.csv"}, "charging_sessions.path"),
                          ({"colour": "red"}, "charging_sessions.colour")]:
        with pytest.raises(InputError) as err:
            read_charging_section(_bundle(tmp_path, {**section, **change}))
        assert err.value.field == field and "region.toml" in str(err.value)
    broken = dict(section)
    del broken["evse_max_kw"]
    with pytest.raises(InputError, match="needs 'evse_max_kw'"):
        read_charging_section(_bundle(tmp_path, broken))


def test_sample_log_is_deterministic_clean_and_long_enough(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    section = write_sample_sessions(a)
    write_sample_sessions(b)
    assert (a / section["path"]).read_bytes() == (b / section["path"]).read_bytes()
    log = load_flat_csv(a / section["path"], section["timezone"], section["evse_max_kw"])
    assert log.skipped.empty
    local = log.sessions["arrival"].dt.tz_convert(section["timezone"])
    assert local.min().strftime("%Y-%m-%d") == "2026-01-05"
    assert (local.max() - local.min()).days >= 35 and local.dt.normalize().nunique() == SAMPLE_DAYS
    assert log.sessions["battery_capacity_kwh"].notna().mean() > 0.4


def test_real_acn_flat_csv_loads_completely():
    path = shared("acn_caltech_2019_03_acnsim_events", "sessions_flat.csv")
    log = load_flat_csv(path, "America/Los_Angeles", 6.6)
    assert len(log.sessions) == 954 and log.skipped.empty
    assert log.sessions["energy_kwh"].sum() == pytest.approx(8900.5, abs=0.1)
    assert log.sessions["station_id"].nunique() == 47


def test_real_acn_2021_json_and_norway_csv_account_for_every_row():
    acn = shared("acn_caltech_2021_may_sep", "acndata_sessions.json")
    log = load_acn_json(acn, 6.6, exclude_stations=("2-39-81-4550",))
    assert len(log.sessions) + len(log.skipped) == 2114
    assert log.skip_counts.get("station excluded by configuration") == 618
    assert log.sessions["arrival"].min() >= pd.Timestamp("2021-05-01", tz="UTC")
    nor = shared("norway_trondheim_apartment_garages", "Dataset 1_EV charging reports.csv")
    log = load_norway_csv(nor, 7.4)
    assert len(log.sessions) + len(log.skipped) == 6878
    assert log.sessions["site_id"].nunique() == 24
    assert 0 < len(log.skipped) < 300
