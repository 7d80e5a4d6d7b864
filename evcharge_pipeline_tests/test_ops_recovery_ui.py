"""Killed runs recover without a person when launched from the UI, too.

`dagster dev` on 127.0.0.1 with `deploy/local/dagster.yaml`, a temporary instance and warehouse and the
sample region. A run of `coverage` and everything upstream (all in the `warehouse` pool, limit 1) is
launched through the GraphQL API the way the Materialize button does; while one of its steps holds the
pool's slot, its run worker process is killed with SIGKILL. The same selection is launched again and must
succeed on its own; the killed run must end FAILED and hold no slot.

The run worker's pid is read from the run's own event log ("Started process for run (pid: N)", written
by Dagster's code server), not from the tags evcharge_pipeline.recovery adds. From the UI the code server
notices its dead child and marks the run failed, but the slot stays claimed (Dagster frees slots only
when a run ends normally, or from run monitoring): without the recovery storage and with run monitoring
off, the second run waits for the pool for good.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import psutil
import pytest
from dagster import AssetSelection

from evcharge_pipeline.deployment import WAREHOUSE_POOL
from evcharge_pipeline_tests.dagster_ui import DagsterDev, dagster_dev

pytestmark = pytest.mark.slow

SLOTS = """
query Slots($key: String!) {
  instance { concurrencyLimit(concurrencyKey: $key) { claimedSlots { runId stepKey } } }
}"""

RUN_STATUS = """
query Run($runId: ID!) { runOrError(runId: $runId) { ... on Run { status } } }"""

MESSAGES = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection { events { __typename ... on MessageEvent { message } } }
  }
}"""

WORKER_PID = re.compile(r"Started process for run \(pid: (\d+)\)")
ATTEMPTS = 3


def coverage_and_upstream() -> list[str]:
    from evcharge_pipeline.definitions import defs

    keys = AssetSelection.assets("coverage").upstream().resolve(defs.resolve_asset_graph())
    return sorted(key.to_user_string() for key in keys)


def slot_holders(dev: DagsterDev) -> dict[str, str]:
    """run id -> step key of the claimed `warehouse` pool slots."""
    limit = dev.graphql(SLOTS, {"key": WAREHOUSE_POOL})["instance"]["concurrencyLimit"]
    return {slot["runId"]: slot["stepKey"] for slot in limit["claimedSlots"]}


def run_status(dev: DagsterDev, run_id: str) -> str | None:
    return dev.graphql(RUN_STATUS, {"runId": run_id})["runOrError"].get("status")


def run_messages(dev: DagsterDev, run_id: str) -> list[str]:
    logs = dev.graphql(MESSAGES, {"runId": run_id})["logsForRun"]
    return [event["message"] for event in logs.get("events", []) if event.get("message")]


def worker_pid(dev: DagsterDev, run_id: str) -> int | None:
    for message in run_messages(dev, run_id):
        if found := WORKER_PID.search(message):
            return int(found.group(1))
    return None


def wait_until_holding(dev: DagsterDev, run_id: str, seconds: float = 300) -> tuple[int, str]:
    """Wait until run `run_id` is STARTED and one of its steps holds the slot; its worker pid and step."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = run_status(dev, run_id)
        assert status in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED"), (status, dev.log_tail())
        holders = slot_holders(dev) if status == "STARTED" else {}
        if run_id in holders:
            pid = worker_pid(dev, run_id)
            if pid is not None:
                return pid, holders[run_id]
        time.sleep(0.1)
    raise TimeoutError(f"run {run_id} never held the {WAREHOUSE_POOL} slot within {seconds} s")


def kill_worker(dev: DagsterDev, pid: int) -> None:
    """SIGKILL the run worker, after checking it is a live process started by this `dagster dev`."""
    process = psutil.Process(pid)
    assert os.getpgid(pid) == dev.process.pid, f"pid {pid} is not in the process group of dagster dev"
    assert process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    os.kill(pid, signal.SIGKILL)
    psutil.wait_procs([process], timeout=30)


def test_a_run_killed_in_the_ui_deployment_does_not_block_the_next(tmp_path: Path, sample_region: Path):
    selection = coverage_and_upstream()
    with dagster_dev(tmp_path, sample_region) as dev:
        killed_runs = []
        for _ in range(ATTEMPTS):
            killed = dev.launch_assets(*selection)
            pid, step = wait_until_holding(dev, killed)
            kill_worker(dev, pid)
            killed_at, killed_wall = time.monotonic(), time.time()
            killed_runs.append(killed)
            # the worker died while its step held the slot (not in the gap between two steps)
            if slot_holders(dev).get(killed) == step:
                break
        else:
            pytest.fail(f"every kill landed between two steps ({ATTEMPTS} attempts)")

        second = dev.launch_assets(*selection)
        launched_at, launched_wall = time.monotonic(), time.time()
        run = dev.wait_for_run(second, seconds=300)
        finished_at = time.monotonic()
        assert run["status"] == "SUCCESS", dev.log_tail()
        second_started = run["startTime"] - launched_wall

        for run_id in killed_runs:
            ended = dev.wait_for_run(run_id, seconds=120)
            assert ended["status"] == "FAILURE", (run_id, ended)
        failed_after = ended["endTime"] - killed_wall
        holders = slot_holders(dev)
        assert not set(killed_runs) & set(holders), holders
        reasons = [m for m in run_messages(dev, killed) if "terminated" in m or "gone" in m or "exit" in m]
        print(f"\nkilled {killed} (pid {pid}) in step {step} after {len(killed_runs)} attempt(s); "
              f"second run succeeded {finished_at - launched_at:.1f} s after its launch "
              f"({finished_at - killed_at:.1f} s after the kill; it started {second_started:.1f} s after its "
              f"launch); killed run marked FAILED {failed_after:.1f} s after the kill; messages: {reasons[-3:]}")
