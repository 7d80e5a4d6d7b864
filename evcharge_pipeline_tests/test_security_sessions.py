"""Charging sessions longer than the configurable maximum (default 14 days) are skipped and counted."""

from __future__ import annotations

from pathlib import Path

from evcharge_pipeline.charging.sessions import MAX_SESSION_HOURS, load_flat_csv, validate_sessions


def test_a_session_departing_in_2126_is_skipped_and_counted(tmp_path: Path):
    path = tmp_path / "s.csv"
    path.write_text("session_id,station_id,arrival,departure,energy_kwh,max_power_kw\n"
                    "a,E1,2026-01-05T08:00:00-05:00,2026-01-05T12:00:00-05:00,10,7.2\n"
                    "b,E2,2026-01-05T08:00:00-05:00,2126-01-05T12:00:00-05:00,10,7.2\n")
    log = load_flat_csv(path, "America/Toronto")
    assert list(log.sessions["session_id"]) == ["a"]
    assert log.skip_counts == {f"session longer than the maximum of {MAX_SESSION_HOURS:g} h": 1}
    assert int(log.skipped["row"].iloc[0]) == 3 and log.skipped["field"].iloc[0] == "departure"
    shorter = validate_sessions(load_flat_csv(path, "America/Toronto").sessions, str(path), max_session_hours=2)
    assert shorter.sessions.empty and len(shorter.skipped) == 1
