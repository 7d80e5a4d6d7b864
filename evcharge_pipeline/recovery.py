"""Recovering from killed runs: pool slots of dead run workers are freed without a person.

Dagster claims a `warehouse` pool slot for a step in the instance's event-log storage. When the
process of a run is killed (`kill -9`, OOM killer, a closed laptop), the slot stays claimed and the
run stays STARTED: the local process launcher cannot report worker health, so Dagster's run monitor
never fails it, and every later warehouse step waits forever.

This module closes that gap in the instance itself, so it works for every way a run is started
(`dagster asset materialize`, `python -m evcharge_pipeline.cli run`, the UI, the daemon):

- `RecoveringSqliteEventLogStorage` (used by `deploy/local/dagster.yaml`) and
  `RecoveringPostgresEventLogStorage` (`deploy/postgres/dagster.yaml`) are Dagster's own storages
  with one addition: the first pool claim of a run records the claiming process (host name, pid and
  process start time) as run tags, and a claim that is blocked looks at the runs holding the pool's
  slots. A holder whose run has ended has its slots freed at once; a holder that is still STARTED or
  CANCELING but whose recorded process is gone *on this host* (the pid is not running, or is a
  different process started later) is marked failed ("run worker ... is gone") and its slots are
  freed. Then the claim is retried. A run's worker on another host is never judged from here.
- Dagster 1.13's step loop re-checks a blocked claim without sleeping (`interval_to_next_pending_claim_check`
  never returns a positive wait and the multiprocess loop has no sleep), so a waiting run spins a core.
  `_patch_blocked_claim_wait` makes a blocked claim sleep up to `BLOCKED_CLAIM_SLEEP_SECONDS` before
  returning; applied once when this module is imported (by the instance that uses these storages).
- `failing_run_on_signals` turns SIGINT/SIGTERM during an in-process run (the CLI) into a failed
  run with freed slots and exit code 128 + signal number.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._serdes.config_class import ConfigurableClassData

HOST_TAG = "evcharge/worker_host"
PID_TAG = "evcharge/worker_pid"
STARTED_TAG = "evcharge/worker_started"   # the worker process's start time (epoch seconds)
# a blocked claim re-examines the slot holders at most this often (per process)
REAP_INTERVAL_SECONDS = 2.0
BLOCKED_CLAIM_SLEEP_SECONDS = 0.5
LIVE_STATUSES = {DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.CANCELING}


def _host() -> str:
    return socket.gethostname()


def _process_started(pid: int) -> float | None:
    """Start time of process `pid` (epoch seconds), or None when no such process runs."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def worker_tags() -> dict[str, str]:
    """Tags naming the current process as a run's worker."""
    started = _process_started(os.getpid()) or time.time()
    return {HOST_TAG: _host(), PID_TAG: str(os.getpid()), STARTED_TAG: f"{started:.2f}"}


def worker_is_gone(tags: dict[str, str]) -> bool:
    """True when the tags name a worker on this host whose process no longer runs.

    Runs without the tags, or whose worker ran on another host, are never judged gone."""
    if tags.get(HOST_TAG) != _host() or PID_TAG not in tags:
        return False
    try:
        pid, started = int(tags[PID_TAG]), float(tags.get(STARTED_TAG, "0"))
    except ValueError:
        return False
    now_started = _process_started(pid)
    # gone: no such process, or the pid was reused by a process started later
    return now_started is None or (started > 0 and abs(now_started - started) > 1.0)


def free_slots_of_dead_runs(instance: DagsterInstance, pool: str, exclude_run_id: str | None = None) -> list[str]:
    """Free the `pool` slots held by runs that ended or whose worker on this host is gone.

    Runs still STARTED/CANCELING with a gone worker are marked failed first. Returns the run ids freed."""
    storage = instance.event_log_storage
    info = storage.get_concurrency_info(pool)
    holders = {slot.run_id for slot in info.claimed_slots} | {slot.run_id for slot in info.pending_steps}
    freed = []
    for run_id in sorted(holders - {exclude_run_id}):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
        elif run.status in LIVE_STATUSES and worker_is_gone(run.tags):
            instance.report_run_failed(
                run, f"run worker (pid {run.tags.get(PID_TAG)} on {run.tags.get(HOST_TAG)}) is gone: the "
                     f"process was killed; its '{pool}' pool slots are freed")
            storage.free_concurrency_slots_for_run(run_id)
            freed.append(run_id)
    return freed


class RecoveringClaims:
    """Mixin for an event-log storage: record claiming workers, free slots of dead ones when blocked."""

    def _recovery_state(self) -> dict[str, Any]:
        state = self.__dict__.get("_evcharge_recovery")
        if state is None:
            state = {"tagged": set(), "last_reap": 0.0, "lock": threading.Lock()}
            self.__dict__["_evcharge_recovery"] = state
        return state

    def claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None):
        state = self._recovery_state()
        instance = self._instance if self.has_instance else None  # type: ignore[attr-defined]
        if instance is not None and run_id not in state["tagged"]:
            state["tagged"].add(run_id)
            run = instance.get_run_by_id(run_id)
            if run is not None and PID_TAG not in run.tags:
                instance.add_run_tags(run_id, worker_tags())
        status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)  # type: ignore[misc]
        if status.is_claimed or instance is None:
            return status
        with state["lock"]:
            if time.monotonic() - state["last_reap"] < REAP_INTERVAL_SECONDS:
                return status
            state["last_reap"] = time.monotonic()
            freed = free_slots_of_dead_runs(instance, concurrency_key, exclude_run_id=run_id)
        if freed:
            status = super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)  # type: ignore[misc]
        return status


class RecoveringSqliteEventLogStorage(RecoveringClaims, SqliteEventLogStorage):
    """Dagster's SQLite event-log storage with dead-worker slot recovery.

    `base_dir` defaults to `$DAGSTER_HOME/history/runs`, where Dagster's default storage keeps it."""

    @classmethod
    def config_type(cls) -> dict:
        from dagster import Field, StringSource

        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):
        base_dir = config_value.get("base_dir") or os.path.join(
            os.environ.get("DAGSTER_HOME", "."), "history", "runs")
        return cls(base_dir=base_dir, inst_data=inst_data)


try:  # Postgres-backed instance (deploy/postgres/dagster.yaml)
    from dagster_postgres.event_log.event_log import PostgresEventLogStorage
    from dagster_postgres.utils import pg_url_from_config

    class RecoveringPostgresEventLogStorage(RecoveringClaims, PostgresEventLogStorage):
        """dagster-postgres's event-log storage with dead-worker slot recovery."""

        @classmethod
        def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):
            return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                       should_autocreate_tables=config_value.get("should_autocreate_tables", True))
except ImportError:  # pragma: no cover - dagster-postgres is optional
    pass


def _patch_blocked_claim_wait() -> None:
    """Make a blocked pool claim wait (sleep) instead of returning at once into a busy loop."""
    if getattr(InstanceConcurrencyContext, "_evcharge_waits", False):
        return
    original = InstanceConcurrencyContext.claim

    def claim(self, concurrency_key, step_key, priority=0):
        claimed = original(self, concurrency_key, step_key, priority)
        if not claimed and step_key in getattr(self, "_pending_claims", ()):
            ready_at = getattr(self, "_pending_timeouts", {}).get(step_key, 0.0)
            time.sleep(min(BLOCKED_CLAIM_SLEEP_SECONDS, max(0.05, ready_at - time.time())))
        return claimed

    InstanceConcurrencyContext.claim = claim
    InstanceConcurrencyContext._evcharge_waits = True


_patch_blocked_claim_wait()


@contextmanager
def failing_run_on_signals(instance: DagsterInstance, run_id: str) -> Iterator[None]:
    """While the block runs, SIGINT/SIGTERM mark run `run_id` failed, free its pool slots and exit
    the process with 128 + the signal number (the open DuckDB transaction dies with the process, so
    the previous tables stay).

    The signals are blocked in the main thread and taken by a watcher thread (`sigwait`): a Python
    signal handler would only run once the main thread returns from a long native call (a DuckDB
    query, a solver), and Dagster's own handlers merely flag the interrupt for the next step boundary."""
    signals = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    done = threading.Event()

    def watch() -> None:
        signum = signal.sigwait(signals | {signal.SIGUSR2})
        if done.is_set():
            return
        try:
            run = instance.get_run_by_id(run_id)
            if run is not None and not run.is_finished:
                instance.report_run_failed(run, f"stopped by {signal.Signals(signum).name}")
            instance.event_log_storage.free_concurrency_slots_for_run(run_id)
            print(f"\nRun {run_id} stopped by {signal.Signals(signum).name}; marked failed.", flush=True)
        finally:
            os._exit(128 + signum)

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    watcher = threading.Thread(target=watch, name="evcharge-signal-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        signal.pthread_kill(watcher.ident, signal.SIGUSR2)  # wake the watcher so it ends
        watcher.join(timeout=5)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
