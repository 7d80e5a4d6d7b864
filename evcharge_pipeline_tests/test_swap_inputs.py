"""The [swap] section loader, the sample generator and the single-hub CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evcharge_pipeline.benchmarks import swap as swap_cli
from evcharge_pipeline.region import InputError
from evcharge_pipeline.swap.analytic import TimeGrid
from evcharge_pipeline.swap.inputs import haversine_km, load_swap_inputs, with_overrides
from evcharge_pipeline.swap.sample import write_sample_swap


@pytest.fixture()
def sample(tmp_path: Path) -> tuple[Path, dict]:
    return tmp_path, write_sample_swap(tmp_path)


def test_sample_is_deterministic_and_loads(tmp_path, sample):
    folder, section = sample
    other = tmp_path / "again"
    other.mkdir()
    assert write_sample_swap(other) == section
    for name in ("stations.csv", "hubs.csv", "swap_log.csv"):
        assert (folder / "swap" / name).read_bytes() == (other / "swap" / name).read_bytes()
    inputs = load_swap_inputs(folder, section)
    assert inputs.station_ids == ["SW1", "SW2", "SW3", "SW4"]
    assert len(inputs.hubs) == 3
    assert inputs.hourly_shape.sum() == pytest.approx(1.0)
    assert inputs.hourly_shape[:, :6].sum() == 0  # no swaps before opening
    assert inputs.dispersion.overdispersed  # day-to-day variation is built into the sample log
    tt = inputs.transport_hours()
    assert np.all(np.isfinite(tt)) and 0.3 < tt.mean() < 0.7  # about half an hour one way
    assert set(inputs.provenance) == {"stations", "hubs", "log"}
    rate = inputs.station_rates(TimeGrid(60))
    assert rate.sum() == pytest.approx(400.0)  # 200 vehicles x 2 swaps


def test_log_arrivals_scale_to_the_fleet(sample):
    folder, section = sample
    inputs = load_swap_inputs(folder, section)
    rng = np.random.default_rng(0)
    times, stations = inputs.log_arrivals(scale=2.0).generate(50, rng)
    assert times.size / 50 == pytest.approx(800, rel=0.05)
    assert np.all(np.diff(times) >= 0) and stations.max() == 3


def test_unparsable_log_time_names_file_row_and_field(sample):
    folder, section = sample
    log = folder / "swap" / "swap_log.csv"
    lines = log.read_text().splitlines()
    parts = lines[5].split(",")
    parts[0] = "yesterday at noon"
    lines[5] = ",".join(parts)
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        load_swap_inputs(folder, section)
    assert err.value.row == 6 and err.value.field == "timestamp" and "swap_log.csv" in str(err.value)


def test_unknown_station_in_log_and_bad_hub_number(sample):
    folder, section = sample
    log = folder / "swap" / "swap_log.csv"
    lines = log.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[1], "NOPE")
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="NOPE") as err:
        load_swap_inputs(folder, section)
    assert err.value.row == 4 and err.value.field == "station_id"
    write_sample_swap(folder)
    hubs = folder / "swap" / "hubs.csv"
    text = hubs.read_text().splitlines()
    cells = text[2].split(",")
    cells[-1] = "lots"
    text[2] = ",".join(cells)
    hubs.write_text("\n".join(text) + "\n")
    with pytest.raises(InputError) as err:
        load_swap_inputs(folder, section)
    assert err.value.row == 3 and err.value.field == "grid_limit_ports"


def test_missing_file_and_unknown_key(sample):
    folder, section = sample
    with pytest.raises(InputError, match="does not exist"):
        load_swap_inputs(folder, {**section, "hubs": "swap/missing.csv"})
    with pytest.raises(InputError, match="unknown key"):
        load_swap_inputs(folder, {**section, "charging_minutes": 180})


def test_without_log_uses_shares_and_profile(sample):
    folder, section = sample
    no_log = {k: v for k, v in section.items() if k != "log"}
    inputs = load_swap_inputs(folder, no_log)
    assert not inputs.dispersion.overdispersed and inputs.log_arrivals() is None
    shares = inputs.hourly_shape.sum(axis=1)
    assert np.allclose(shares, inputs.stations["share"])


def test_overrides_are_validated(sample):
    folder, section = sample
    inputs = load_swap_inputs(folder, section)
    fleet, network = with_overrides(inputs, vehicles=400, charging_hours=2.0)
    assert fleet.vehicles == 400 and network.charging_hours == 2.0
    with pytest.raises(ValueError, match="service_level"):
        with_overrides(inputs, service_level=1.0)


def test_haversine_against_known_distance():
    # Toronto Union Station to Kitchener station: about 92 km
    d = haversine_km(np.array([43.6453]), np.array([-79.3806]), np.array([43.4555]), np.array([-80.4924]))
    assert d[0, 0] == pytest.approx(92.0, abs=2.0)


def test_cli_prints_the_documented_json(capsys):
    code = swap_cli.main(["--vehicles", "200", "--swaps-per-vehicle-day", "2", "--charging-hours", "3",
                          "--transport-hours", "0.5", "--operating-hours", "16", "--service-level", "0.95",
                          "--max-wait-probability", "0.2", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("swap_rate_per_hour", "pipeline_hours", "pipeline_mean", "spare_batteries", "total_batteries",
                "charging_ports", "port_wait_probability"):
        assert key in out
    assert out["swap_rate_per_hour"] == pytest.approx(25.0)
    assert out["total_batteries"] == 200 + out["spare_batteries"]
    assert out["pipeline_hours"] >= 3 + 2 * 0.5  # round trip
    assert out["port_wait_probability"] <= 0.2


@pytest.mark.parametrize("args,needle", [
    (["--service-level", "1.5"], "service_level"),
    (["--swaps-per-vehicle-day", "0"], "swaps_per_vehicle_day"),
    (["--charging-hours", "0"], "charging_hours"),
    (["--vehicles", "-3"], "vehicles"),
])
def test_cli_bad_input_exits_with_message(capsys, args, needle):
    assert swap_cli.main([*args, "--json"]) == 2
    assert needle in capsys.readouterr().err
