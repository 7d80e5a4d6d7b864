"""The ACN benchmark CLI on two days of the real March 2019 sessions (skipped without ../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evcharge_pipeline.benchmarks.acn import main

ACN = Path(__file__).resolve().parents[2] / "shared" / "data" / "ev_sessions" / "acn_caltech_2019_03_acnsim_events"


def test_acn_cli_writes_contracted_outputs_and_meets_limits(tmp_path, capsys):
    sessions = ACN / "sessions_flat.csv"
    if not sessions.exists():
        pytest.skip("../shared/data not present (ACN-Data March 2019 sessions)")
    prices = tmp_path / "prices.csv"
    prices.write_text("hour,price_per_kwh\n" + "".join(f"{h},{0.3 if 12 <= h < 18 else 0.1}\n" for h in range(24)))
    out = tmp_path / "out"
    assert main(["--sessions", str(sessions), "--limit-kw", "30", "--max-kw", "6.6", "--prices", str(prices),
                 "--days", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "upper bound (LP" in printed
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == ["method", "energy_requested_kwh", "energy_delivered_kwh", "energy_delivered_share",
                                     "sessions_fully_served", "peak_kw", "energy_cost", "demand_charge",
                                     "degradation_cost", "solve_seconds"]
    assert set(metrics["method"]) == {"milp_offline", "milp_online", "uncontrolled", "fcfs", "edf", "llf"}
    assert (out / "period_minutes.txt").read_text().strip() == "5"
    schedule = pd.read_csv(out / "schedule.csv")
    assert list(schedule.columns) == ["method", "session_id", "period_start", "power_kw"]
    assert (schedule["power_kw"] > 0).all() and (schedule["power_kw"] <= 6.6 + 1e-6).all()
    assert schedule["period_start"].str.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$").all()
    # recompute from the schedule file: peaks, energy per method and cost ordering
    load = schedule.groupby(["method", "period_start"])["power_kw"].sum()
    for method in ("milp_offline", "milp_online", "fcfs", "edf", "llf"):
        assert load[method].max() <= 30 + 1e-6
    by = metrics.set_index("method")
    energy = schedule.groupby("method")["power_kw"].sum() * 5 / 60
    pd.testing.assert_series_equal(energy.sort_index(), by["energy_delivered_kwh"].sort_index(), check_names=False,
                                   atol=1e-6)
    best = by["energy_delivered_kwh"].max()
    assert by.loc["milp_offline", "energy_delivered_kwh"] >= best - 1e-6
    per_kwh = by["energy_cost"] / by["energy_delivered_kwh"]
    for rule in ("fcfs", "edf", "llf"):
        assert per_kwh["milp_offline"] < per_kwh[rule]
