"""Deployment settings: which executor runs the steps of a run, and the warehouse concurrency pool.

`EVCHARGE_EXECUTOR` selects the executor every job uses:

| value | executor | where the steps run |
|---|---|---|
| `in_process` (default) | `in_process_executor` | inside the run worker: a run starts its steps at once |
| `multiprocess` | `multiprocess_executor` | one child process per step on the run's machine |
| `celery` | `dagster_celery.celery_executor` | Celery workers (`dagster-celery worker start`) |
| `k8s` | `dagster_k8s.k8s_job_executor` | one Kubernetes job per step (needs `dagster-k8s`) |

The local deployment (`make dev`, `make run`, the CLI) defaults to `in_process`: every multiprocess step
starts a Python process that imports the project (5-15 s on a 2-core machine) before its own work, and
with one DuckDB writer the steps cannot overlap anyway. Choose `multiprocess` to isolate long,
memory-heavy steps (a crashed or OOM-killed step does not take the run down), `celery` or `k8s` to scale
out (see docs/operations.md for the measured start-up cost).

Further settings: `EVCHARGE_MAX_CONCURRENT_STEPS` (multiprocess, default 2), `EVCHARGE_CELERY_BROKER`
and `EVCHARGE_CELERY_BACKEND` (celery; defaults are dagster-celery's own), `EVCHARGE_K8S_NAMESPACE`
and `EVCHARGE_K8S_IMAGE` (k8s). Broker URLs are read by Dagster from the environment at launch time
(`{"env": ...}` config), so credentials in them never end up in run configuration or logs.

Every asset that opens the DuckDB warehouse runs in the `warehouse` pool. A DuckDB file has one
writer, so the instance limits that pool to one step at a time (see `deploy/local/dagster.yaml`): parallel
runs queue for the pool instead of failing on the file lock.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

EXECUTOR_ENV = "EVCHARGE_EXECUTOR"
EXECUTOR_KINDS = ("in_process", "multiprocess", "celery", "k8s")
DEFAULT_EXECUTOR = "in_process"

# The concurrency pool of every step that opens the DuckDB warehouse.
WAREHOUSE_POOL = "warehouse"


class DeploymentError(ValueError):
    """A deployment setting is missing or invalid."""


def executor_kind(env: Mapping[str, str] | None = None) -> str:
    """The executor named by `EVCHARGE_EXECUTOR` (default `in_process`), validated."""
    env = os.environ if env is None else env
    kind = env.get(EXECUTOR_ENV, "").strip().lower() or DEFAULT_EXECUTOR
    kind = kind.replace("-", "_")
    if kind not in EXECUTOR_KINDS:
        raise DeploymentError(f"{EXECUTOR_ENV}={env.get(EXECUTOR_ENV)!r} is not one of {', '.join(EXECUTOR_KINDS)}")
    return kind


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DeploymentError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise DeploymentError(f"{name}={raw!r} must be at least 1")
    return value


def executor_config(kind: str, env: Mapping[str, str] | None = None) -> dict:
    """The executor's config for `kind`; secrets (broker URLs) stay `{"env": NAME}` references."""
    env = os.environ if env is None else env
    if kind == "multiprocess":
        return {"max_concurrent": _positive_int(env, "EVCHARGE_MAX_CONCURRENT_STEPS", 2)}
    if kind == "celery":
        config: dict = {}
        if env.get("EVCHARGE_CELERY_BROKER"):
            config["broker"] = {"env": "EVCHARGE_CELERY_BROKER"}
        if env.get("EVCHARGE_CELERY_BACKEND"):
            config["backend"] = {"env": "EVCHARGE_CELERY_BACKEND"}
        return config
    if kind == "k8s":
        config = {"max_concurrent": _positive_int(env, "EVCHARGE_MAX_CONCURRENT_STEPS", 8)}
        if env.get("EVCHARGE_K8S_NAMESPACE"):
            config["job_namespace"] = env["EVCHARGE_K8S_NAMESPACE"]
        if env.get("EVCHARGE_K8S_IMAGE"):
            config["job_image"] = env["EVCHARGE_K8S_IMAGE"]
        return config
    return {}


def executor_from_env(env: Mapping[str, str] | None = None) -> ExecutorDefinition:
    """The executor for every job of this deployment (see the module docstring for the settings)."""
    env = os.environ if env is None else env
    kind = executor_kind(env)
    config = executor_config(kind, env)
    if kind == "in_process":
        return in_process_executor
    if kind == "multiprocess":
        return multiprocess_executor.configured(config, name="multiprocess")
    if kind == "celery":
        from dagster_celery import celery_executor  # optional deployment dependency

        return celery_executor.configured(config, name="celery")
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise DeploymentError(
            f"{EXECUTOR_ENV}=k8s needs the dagster-k8s package (pip install dagster-k8s==0.29.27)"
        ) from exc
    return k8s_job_executor.configured(config, name="k8s")
