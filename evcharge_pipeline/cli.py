"""Command line: `python -m evcharge_pipeline.cli run` materializes the main job and prints a summary."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
from dagster import DagsterInstance
from dagster._core.utils import make_new_run_id

from evcharge_pipeline import settings
from evcharge_pipeline.recovery import failing_run_on_signals
from evcharge_pipeline.warehouse import table_row_counts


def run_main_job() -> int:
    """Materialize every unpartitioned asset in-process; print tables, row counts and check results."""
    from evcharge_pipeline.definitions import defs

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)  # the instance keeps run history here, shared with `make dev`
    run_id = make_new_run_id()
    with DagsterInstance.get() as instance, failing_run_on_signals(instance, run_id):  # Ctrl-C/SIGTERM: run failed, exit
        result = defs.resolve_job_def("main_job").execute_in_process(instance=instance, raise_on_error=False,
                                                                      run_id=run_id)
    checks = [event.event_specific_data for event in result.all_events
              if event.event_type_value == "ASSET_CHECK_EVALUATION"]
    print(f"\nRegion:     {settings.region_dir()}")
    print(f"Run:        {'succeeded' if result.success else 'FAILED'} ({result.run_id})")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"  step {event.step_key} failed: {event.event_specific_data.error.message.strip()}")
    with duckdb.connect(settings.duckdb_path(), read_only=True) as con:
        counts = table_row_counts(con)
    print(f"Warehouse:  {settings.duckdb_path()}")
    print(f"Reports:    {settings.reports_dir()}\n")
    print(counts.to_string(index=False))
    failed = [c for c in checks if not c.passed]
    print(f"\nAsset checks: {len(checks) - len(failed)} passed, {len(failed)} failed")
    for check in failed:
        print(f"  FAILED {check.asset_key.to_user_string()}:{check.check_name}")
    return 0 if result.success else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="evcharge_pipeline.cli", description=__doc__)
    parser.add_argument("command", choices=["run"], help="run: materialize main_job and print a summary")
    parser.parse_args(argv)
    return run_main_job()


if __name__ == "__main__":
    sys.exit(main())
