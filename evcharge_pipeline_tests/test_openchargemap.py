"""The OpenChargeMap client against a local HTTP server on 127.0.0.1 that misbehaves on purpose."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from dagster import materialize

from evcharge_pipeline.assets.ingest import charging_stations
from evcharge_pipeline.sources.openchargemap import OpenChargeMapConfig, OpenChargeMapError, fetch_pois

SECRET = "test-key-never-printed"
GOOD = [{"ID": 1, "AddressInfo": {"Title": "A", "Latitude": 44.3, "Longitude": -78.32}, "NumberOfPoints": 2,
         "Connections": [{"LevelID": 2, "PowerKW": 7.2, "Quantity": 2}]}]


class ScriptedServer:
    """Answers each request with the next scripted reply: (status, body) or ("slow", seconds)."""

    def __init__(self, replies: list):
        self.replies = list(replies)
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # name fixed by the http.server API
                outer.requests.append({"path": self.path, "key": self.headers.get("X-API-Key")})
                kind, value = outer.replies.pop(0) if outer.replies else (200, json.dumps(GOOD))
                if kind == "slow":
                    time.sleep(value)
                    kind, value = 200, json.dumps(GOOD)
                body = value.encode()
                self.send_response(kind)
                if kind == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v3/poi"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def fast(url: str, **overrides) -> OpenChargeMapConfig:
    return OpenChargeMapConfig(**{"api_url": url, "timeout_seconds": 0.5, "max_retries": 3,
                                  "backoff_seconds": 0.01, **overrides})


BBOX = (-78.5, 44.2, -78.1, 44.4)


def test_retries_429_and_500_then_succeeds():
    with ScriptedServer([(429, "slow down"), (500, "oops"), (503, "busy")]) as server:
        pois = fetch_pois(BBOX, SECRET, fast(server.url))
    assert pois == GOOD and len(server.requests) == 4
    assert all(r["key"] == SECRET for r in server.requests)
    assert "boundingbox=%2844.4%2C-78.5%29%2C%2844.2%2C-78.1%29" in server.requests[0]["path"]


def test_slow_response_times_out_and_is_retried():
    with ScriptedServer([("slow", 1.5)]) as server:
        assert fetch_pois(BBOX, SECRET, fast(server.url)) == GOOD
    assert len(server.requests) == 2


def test_malformed_json_exhausts_retries_with_a_clear_message():
    with (
        ScriptedServer([(200, "{not json")] * 4) as server,
        pytest.raises(OpenChargeMapError, match="failed after 4 attempts: malformed JSON") as error,
    ):
        fetch_pois(BBOX, SECRET, fast(server.url))
    assert SECRET not in str(error.value)


def test_client_errors_are_not_retried():
    with ScriptedServer([(403, "forbidden")]) as server, pytest.raises(OpenChargeMapError, match="HTTP 403"):
        fetch_pois(BBOX, SECRET, fast(server.url))
    assert len(server.requests) == 1


def test_live_pull_asset_keeps_the_last_good_table_when_retries_run_out(resources: dict, sample_region: Path,
                                                                         warehouse_path: Path, monkeypatch, caplog):
    monkeypatch.setenv("OCM_API_KEY", SECRET)
    with ScriptedServer([(200, json.dumps(GOOD))] + [(500, "down")] * 3) as server:
        toml = sample_region / "region.toml"
        toml.write_text(toml.read_text().replace(
            'format = "openchargemap_json"',
            f'format = "openchargemap_api"\napi_url = "{server.url}"\nmax_retries = 2\nbackoff_seconds = 0.01'))
        assert materialize([charging_stations], resources=resources).success
        result = materialize([charging_stations], resources=resources, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure.event_specific_data.error)
    assert "failed after 3 attempts: HTTP 500" in text and SECRET not in text and SECRET not in caplog.text
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        rows = con.execute("SELECT site_id, ports, source FROM raw.charging_stations").fetchall()
    assert rows == [("ocm-1", 2, server.url)]
