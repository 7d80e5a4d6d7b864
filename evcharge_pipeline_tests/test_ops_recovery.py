"""Killed runs recover without a person (evcharge_pipeline.recovery, deploy/local/dagster.yaml).

A worker process claims the `warehouse` pool slot for a STARTED run and is then killed: the next
claim of another run must free the slot (and mark the killed run failed) by itself. A holder whose
process still runs is left alone. A CLI-style in-process run stops on SIGTERM and is marked failed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.utils import make_new_run_id

from evcharge_pipeline import recovery
from evcharge_pipeline.deployment import WAREHOUSE_POOL
from evcharge_pipeline.settings import PROJECT_ROOT

HOLDER = textwrap.dedent("""
    import sys, time
    from dagster import DagsterInstance
    run_id, mode = sys.argv[1], sys.argv[2]
    with DagsterInstance.get() as instance:
        status = instance.event_log_storage.claim_concurrency_slot("warehouse", run_id, "step_a")
        assert status.is_claimed, status
        print("claimed", flush=True)
        if mode == "hold":
            time.sleep(600)
""")


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "deploy" / "local" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def started_run(instance: DagsterInstance) -> str:
    run_id = make_new_run_id()
    instance.add_run(DagsterRun(job_name="probe_job", run_id=run_id, status=DagsterRunStatus.STARTED))
    return run_id


def holder(run_id: str, mode: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, run_id, mode], cwd=PROJECT_ROOT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "claimed", process.stderr.read()
    return process


def test_a_killed_workers_slot_is_freed_by_the_next_claim(home: Path):
    with DagsterInstance.get() as instance:
        assert type(instance.event_log_storage).__name__ == "RecoveringSqliteEventLogStorage"
        instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
        killed = started_run(instance)
        process = holder(killed, "hold")
        tags = instance.get_run_by_id(killed).tags
        assert tags[recovery.PID_TAG] == str(process.pid) and not recovery.worker_is_gone(tags)
        waiting = started_run(instance)
        storage = instance.event_log_storage
        # the holder is alive: the slot stays with it
        assert not storage.claim_concurrency_slot(WAREHOUSE_POOL, waiting, "step_b").is_claimed
        assert instance.get_run_by_id(killed).status == DagsterRunStatus.STARTED
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        assert recovery.worker_is_gone(tags)
        deadline = time.monotonic() + 30
        while not storage.claim_concurrency_slot(WAREHOUSE_POOL, waiting, "step_b").is_claimed:
            assert time.monotonic() < deadline, "the killed run's slot was never freed"
            time.sleep(0.5)
        run = instance.get_run_by_id(killed)
        assert run.status == DagsterRunStatus.FAILURE
        info = storage.get_concurrency_info(WAREHOUSE_POOL)
        assert {slot.run_id for slot in info.claimed_slots} == {waiting}
        failure = instance.all_logs(killed)[-1]
        assert "is gone" in failure.message


def test_an_ended_runs_slot_is_freed_at_once(home: Path):
    with DagsterInstance.get() as instance:
        instance.event_log_storage.set_concurrency_slots(WAREHOUSE_POOL, 1)
        ended = started_run(instance)
        holder(ended, "exit").wait(timeout=30)
        instance.report_run_canceled(instance.get_run_by_id(ended), message="terminated")
        waiting = started_run(instance)
        assert instance.event_log_storage.claim_concurrency_slot(WAREHOUSE_POOL, waiting, "step_b").is_claimed


def test_workers_on_other_hosts_or_without_tags_are_never_judged_gone():
    assert not recovery.worker_is_gone({})
    assert not recovery.worker_is_gone({recovery.HOST_TAG: "another-host", recovery.PID_TAG: "999999999"})
    here = recovery.worker_tags()
    assert not recovery.worker_is_gone(here)
    # same pid, but a process started at another time: the pid was reused
    assert recovery.worker_is_gone({**here, recovery.STARTED_TAG: str(float(here[recovery.STARTED_TAG]) - 100)})


SIGNALLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dagster import DagsterInstance, job, op
    from dagster._core.utils import make_new_run_id
    from evcharge_pipeline.recovery import failing_run_on_signals

    @op
    def slow(context):
        Path(sys.argv[1]).write_text(context.run_id)
        end = time.monotonic() + 120
        while time.monotonic() < end:   # a long native call would look the same to the signal
            time.sleep(0.2)

    @job
    def slow_job():
        slow()

    run_id = make_new_run_id()
    with DagsterInstance.get() as instance, failing_run_on_signals(instance, run_id):
        slow_job.execute_in_process(instance=instance, run_id=run_id, raise_on_error=False)
    sys.exit(3)
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_in_process_run_stops_on_a_signal_and_is_marked_failed(home: Path, tmp_path: Path, signum: int):
    marker = tmp_path / "started"
    process = subprocess.Popen([sys.executable, "-c", SIGNALLED_RUN, str(marker)], cwd=PROJECT_ROOT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.1)
    started = time.monotonic()
    process.send_signal(signum)
    assert process.wait(timeout=30) == 128 + signum
    assert time.monotonic() - started < 30
    with DagsterInstance.get() as instance:
        run = instance.get_run_by_id(marker.read_text())
        assert run.status == DagsterRunStatus.FAILURE
