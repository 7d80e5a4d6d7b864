"""Start `dagster dev` on 127.0.0.1 with its own instance, warehouse and reports, and launch asset runs
through its GraphQL API the way the UI's Materialize button does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from evcharge_pipeline.settings import PROJECT_ROOT
from evcharge_pipeline_tests.conftest import stop_process_group

LOCATION = "evcharge_pipeline"

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchPipelineExecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""

RUN = """
query Run($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status creationTime startTime endTime }
  }
}"""

ENDED = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DagsterDev:
    def __init__(self, url: str, process: subprocess.Popen, log_path: Path):
        self.url, self.process, self.log_path = url, process, log_path

    def graphql(self, query: str, variables: dict) -> dict:
        response = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60)
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def launch_assets(self, *asset_names: str, run_config: dict | None = None) -> str:
        """Launch a run materializing `asset_names` (and their checks); returns the run id."""
        params = {"runConfigData": run_config or {},
                  "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                               "pipelineName": "__ASSET_JOB",
                               "assetSelection": [{"path": [name]} for name in asset_names]},
                  "mode": "default", "executionMetadata": {"tags": []}}
        result = self.graphql(LAUNCH, {"params": params})["launchPipelineExecution"]
        if result["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launch of {asset_names} failed: {result}")
        return result["run"]["runId"]

    def wait_for_run(self, run_id: str, seconds: float = 600) -> dict:
        """Poll until the run ends; its status and creation/start/end times (epoch seconds)."""
        deadline = time.monotonic() + seconds
        while True:
            run = self.graphql(RUN, {"runId": run_id})["runOrError"]
            if run.get("status") in ENDED:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run.get('status')} after {seconds} s")
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {self.process.returncode}")
            time.sleep(0.5)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def wait_for_server(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise TimeoutError(f"dagster dev did not answer at {url} within {seconds} s")


def wait_for_location(dev: DagsterDev, seconds: float = 180) -> None:
    """The code location is loaded (the server answers before the definitions are imported)."""
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        entries = dev.graphql(query, {})["workspaceOrError"].get("locationEntries", [])
        if any(e["name"] == LOCATION and e["loadStatus"] == "LOADED" for e in entries):
            return
        time.sleep(1)
    raise TimeoutError(f"code location {LOCATION} not loaded within {seconds} s")


@contextmanager
def dagster_dev(folder: Path, region: Path, env_overrides: dict | None = None):
    """`dagster dev` on a free 127.0.0.1 port with DAGSTER_HOME, warehouse and reports under `folder`."""
    home = folder / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((PROJECT_ROOT / "deploy" / "local" / "dagster.yaml").read_text())
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "EVCHARGE_DUCKDB_PATH": str(folder / "warehouse.duckdb"),
           "EVCHARGE_REGION": str(region), "EVCHARGE_REPORTS_DIR": str(folder / "reports"), **(env_overrides or {})}
    log_path = folder / "dagster_dev.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
             "-p", str(port)], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        dev = DagsterDev(f"http://127.0.0.1:{port}", process, log_path)
        try:
            wait_for_server(dev.url, process)
            wait_for_location(dev)
            yield dev
        finally:
            stop_process_group(process, signal.SIGINT, timeout_seconds=60)  # dagster dev stops its children on SIGINT
