"""Command line: `python -m evcharge_pipeline.cli run` materializes the main job and prints a summary.

The console shows one line per finished step (name, seconds, rows written) and any warnings; the full
event log (every DEBUG event, as the UI shows it) goes to `$DAGSTER_HOME/run_logs/<run id>.log`, whose
path is printed first. `--verbose` also prints Dagster's own console log."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import warnings
from pathlib import Path

import duckdb
from dagster import DagsterInstance
from dagster._core.utils import make_new_run_id

from evcharge_pipeline import settings
from evcharge_pipeline.recovery import failing_run_on_signals
from evcharge_pipeline.warehouse import table_row_counts


class StepProgress:
    """Follows a run's event log from a thread: every event to `log_path`, one console line per ended step."""

    def __init__(self, instance: DagsterInstance, run_id: str, log_path: Path, out=sys.stdout,
                 interval_seconds: float = 0.5):
        self.instance, self.run_id, self.log_path, self.out = instance, run_id, log_path, out
        self.interval_seconds = interval_seconds
        self.cursor: str | None = None
        self.rows: dict[str, int] = {}
        self.steps = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="evcharge-run-progress", daemon=True)
        self._file = None

    def __enter__(self) -> StepProgress:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.log_path.open("w", encoding="utf-8")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.poll()   # whatever arrived after the thread's last look
        self._file.close()

    def _follow(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            self.poll()

    def poll(self) -> None:
        while True:
            connection = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=500)
            for record in connection.records:
                self._handle(record.event_log_entry)
            self.cursor = connection.cursor
            if not connection.has_more:
                break
        self._file.flush()

    def _handle(self, entry) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.timestamp))
        level = logging.getLevelName(entry.level)
        event = entry.dagster_event
        kind = event.event_type.name if event is not None else "LOG"
        self._file.write(f"{stamp} {level} {entry.step_key or '-'} {kind} {entry.message}\n")
        if event is None:
            if entry.level >= logging.WARNING:
                print(f"  {level.lower()} {entry.step_key or ''}: {entry.user_message}", file=self.out, flush=True)
            return
        if event.is_step_materialization:
            count = event.event_specific_data.materialization.metadata.get("dagster/row_count")
            if count is not None:
                self.rows[event.step_key] = self.rows.get(event.step_key, 0) + int(count.value)
        elif event.is_step_success or event.is_step_failure:
            self.steps += 1
            seconds = (event.event_specific_data.duration_ms / 1000.0
                       if event.is_step_success and event.event_specific_data.duration_ms is not None else None)
            rows = self.rows.get(event.step_key)
            print(f"  {'ok    ' if event.is_step_success else 'FAILED'} {event.step_key:<55} "
                  f"{'' if seconds is None else f'{seconds:6.1f} s'}"
                  f"{'' if rows is None else f'  {rows:>8,} rows'}", file=self.out, flush=True)


def run_main_job(verbose: bool = False) -> int:
    """Materialize every unpartitioned asset in-process; print one line per step, then tables, row counts
    and check results. The full event log goes to a file whose path is printed."""
    if not verbose:
        from dagster import BetaWarning, PreviewWarning

        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
    from evcharge_pipeline.definitions import defs

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(settings.PROJECT_ROOT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)  # the instance keeps run history here, shared with `make dev`
    run_id = make_new_run_id()
    log_path = home / "run_logs" / f"{run_id}.log"
    run_config = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    print(f"Run {run_id}: main_job on {settings.region_dir()}")
    print(f"Event log:  {log_path}")
    started = time.monotonic()
    with (
        DagsterInstance.get() as instance,
        failing_run_on_signals(instance, run_id),  # Ctrl-C/SIGTERM: run failed, exit
        StepProgress(instance, run_id, log_path) as progress,
    ):
        result = defs.resolve_job_def("main_job").execute_in_process(
            instance=instance, raise_on_error=False, run_id=run_id, run_config=run_config)
    print(f"{progress.steps} steps in {time.monotonic() - started:.1f} s")
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
    parser.add_argument("--verbose", action="store_true", help="also print Dagster's console log (every event)")
    args = parser.parse_args(argv)
    return run_main_job(verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
