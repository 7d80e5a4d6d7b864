"""Hostile or broken inputs fail with one clear line: OCM field types, NaN coordinates, the swap and
charging command lines, and the API key on a cross-origin redirect."""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from evcharge_pipeline.benchmarks import acn
from evcharge_pipeline.benchmarks import swap as swap_cli
from evcharge_pipeline.charging.sessions import SessionDataError, load_sessions
from evcharge_pipeline.region import InputError
from evcharge_pipeline.sources.openchargemap import OpenChargeMapConfig, fetch_pois
from evcharge_pipeline.sources.stations import parse_openchargemap_pois
from evcharge_pipeline.swap.analytic import MAX_VEHICLES, SwapInputError
from evcharge_pipeline.swap.inputs import SwapFleetConfig

SECRET = "test-key-never-forwarded"
POI = {"ID": 7, "AddressInfo": {"Title": "A", "Latitude": 44.3, "Longitude": -78.32},
       "OperatorInfo": {"Title": "Op"}, "StatusType": {"Title": "Operational", "IsOperational": True},
       "NumberOfPoints": 2, "Connections": [{"LevelID": 2, "PowerKW": 7.2, "Quantity": 2}]}


# --- OpenChargeMap: field types and coordinates ----------------------------------------------------

def mutated(path: tuple, value) -> dict:
    poi = copy.deepcopy(POI)
    target = poi
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return poi


@pytest.mark.parametrize("path, value, field", [
    (("AddressInfo",), "Main Street", "AddressInfo"),
    (("AddressInfo", "Title"), {"en": "A"}, "AddressInfo.Title"),
    (("OperatorInfo",), ["Op"], "OperatorInfo"),
    (("OperatorInfo", "Title"), ["Op"], "OperatorInfo.Title"),
    (("StatusType",), "Operational", "StatusType"),
    (("ID",), {"id": 7}, "ID"),
    (("Connections", 0, "PowerKW"), "fast", "Connections[0].PowerKW"),
    (("Connections", 0, "Quantity"), "two", "Connections[0].Quantity"),
    (("NumberOfPoints",), [2], "NumberOfPoints"),
])
def test_a_bad_ocm_field_type_names_the_file_the_row_and_the_field(path, value, field):
    with pytest.raises(InputError) as error:
        parse_openchargemap_pois([POI, mutated(path, value)], "pois.json")
    assert (error.value.path, error.value.row, error.value.field) == ("pois.json", 1, field)


@pytest.mark.parametrize("latitude", ["NaN", "Infinity"])
def test_a_nan_coordinate_is_reported_as_missing_not_as_swapped(latitude):
    with pytest.raises(InputError, match="latitude is missing or not a finite number") as error:
        parse_openchargemap_pois([mutated(("AddressInfo", "Latitude"), latitude)], "pois.json")
    assert "swapped" not in str(error.value) and error.value.field == "AddressInfo.Latitude"


def test_a_real_swap_still_gets_the_hint():
    poi = mutated(("AddressInfo", "Latitude"), -144.3)   # out of range, and a valid longitude
    poi["AddressInfo"]["Longitude"] = 44.3               # a valid latitude
    with pytest.raises(InputError, match="look swapped"):
        parse_openchargemap_pois([poi], "pois.json")


# --- OpenChargeMap: the key stays with the API's origin ---------------------------------------------

class Server:
    """A local HTTP server: `redirect_to` (a URL) answers 302 there, else the POIs; records the key seen."""

    def __init__(self, redirect_to: str | None = None):
        self.redirect_to, self.seen = redirect_to, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # name fixed by the http.server API
                outer.seen.append((self.path, self.headers.get("X-API-Key")))
                if outer.redirect_to and not self.path.startswith("/final"):
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps([POI]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def config(url: str) -> OpenChargeMapConfig:
    return OpenChargeMapConfig(api_url=url, timeout_seconds=2.0, max_retries=0)


def test_the_api_key_is_not_forwarded_on_a_cross_origin_redirect():
    other = Server()
    api = Server(redirect_to=f"{other.base}/final/poi")
    try:
        assert fetch_pois((-78.5, 44.2, -78.1, 44.4), SECRET, config(f"{api.base}/v3/poi")) == [POI]
    finally:
        api.close()
        other.close()
    assert api.seen[0][1] == SECRET
    assert other.seen == [("/final/poi", None)]


def test_the_api_key_follows_a_same_origin_redirect():
    api = Server()
    api.redirect_to = f"{api.base}/final/poi"
    try:
        assert fetch_pois((-78.5, 44.2, -78.1, 44.4), SECRET, config(f"{api.base}/v3/poi")) == [POI]
    finally:
        api.close()
    assert [key for _, key in api.seen] == [SECRET, SECRET]


# --- swap command line ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--operating-start-hour", "25"], "operating_start_hour must be an hour of the day in [0, 24), got 25.0"),
    (["--operating-start-hour", "nan"], "operating_start_hour must be an hour of the day"),
    (["--vehicles", "1000000000"], f"vehicles must be a whole number from 1 to {MAX_VEHICLES:,}"),
])
def test_the_swap_cli_refuses_out_of_range_arguments_with_one_line(argv, message, capsys):
    started = time.monotonic()
    assert swap_cli.main([*argv, "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert time.monotonic() - started < 5   # refused before any sizing, not after running out of memory


@pytest.mark.parametrize("changes, parameter", [({"vehicles": math.nan}, "vehicles"),
                                                ({"vehicles": MAX_VEHICLES + 1}, "vehicles"),
                                                ({"operating_start_hour": 6.5}, "operating_start_hour"),
                                                ({"transport_speed_kmh": math.inf}, "transport_speed_kmh"),
                                                ({"handling_hours": math.nan}, "handling_hours")])
def test_the_swap_section_numbers_are_range_checked(changes, parameter):
    with pytest.raises(SwapInputError) as error:
        SwapFleetConfig(**changes).validate()
    assert error.value.parameter == parameter


# --- charging command line --------------------------------------------------------------------------

FILES = {
    "empty.csv": b"",
    "binary.csv": bytes(range(128, 256)) * 8,
    "binary.json": bytes(range(128, 256)) * 8,
    "other.csv": b"fsa,population\nN2L,100\n",
    "other.json": b'{"type": "FeatureCollection", "features": []}',
}


@pytest.mark.parametrize("name, reason", [("empty.csv", "file is empty"),
                                          ("binary.csv", "not a UTF-8 text file"),
                                          ("binary.json", "not a UTF-8 text file"),
                                          ("other.csv", "missing column(s) arrival, departure, energy_kwh; "
                                                        "found ['fsa', 'population']"),
                                          ("other.json", "expected a JSON array of ACN-Data session documents"),
                                          ("absent.csv", "session file not found")])
def test_the_charging_cli_reports_an_unusable_file_in_one_line(tmp_path: Path, capsys, name: str, reason: str):
    for file, content in FILES.items():
        (tmp_path / file).write_bytes(content)
    code = acn.main(["--sessions", str(tmp_path / name), "--limit-kw", "50", "--max-kw", "6.6",
                     "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and name in err and reason in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("option, value", [("--limit-kw", "nan"), ("--max-kw", "0"), ("--period-minutes", "7"),
                                           ("--time-limit", "-1")])
def test_the_charging_cli_refuses_bad_numbers(tmp_path: Path, capsys, option: str, value: str):
    (tmp_path / "s.csv").write_text("arrival,departure,energy_kwh\n2026-01-05T08:00,2026-01-05T12:00,10\n")
    argv = {"--sessions": str(tmp_path / "s.csv"), "--limit-kw": "50", "--max-kw": "6.6", "--out": str(tmp_path)}
    argv[option] = value
    assert acn.main([x for pair in argv.items() for x in pair]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {option}") and err.count("\n") == 1


def test_the_session_loader_names_the_file_for_a_binary_gzip(tmp_path: Path):
    path = tmp_path / "sessions.json.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(SessionDataError, match=r"sessions\.json\.gz: not a readable gzip file"):
        load_sessions(path, "acn_json", "America/Los_Angeles", 6.6)
