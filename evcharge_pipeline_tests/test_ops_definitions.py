"""Deployment wiring: executor selection, schedules and their run requests, the warehouse pool."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from dagster import DagsterInstance, build_schedule_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from evcharge_pipeline.definitions import ASSETS, build_definitions, defs
from evcharge_pipeline.deployment import (
    WAREHOUSE_POOL,
    DeploymentError,
    executor_config,
    executor_from_env,
    executor_kind,
)
from evcharge_pipeline.settings import PROJECT_ROOT

EXPECTED_EXECUTOR = {"in_process": "in_process", "multiprocess": "multiprocess", "celery": "celery", "k8s": "k8s"}


@pytest.mark.parametrize("kind", sorted(EXPECTED_EXECUTOR))
def test_every_job_resolves_with_each_executor(kind: str):
    if kind == "k8s":
        pytest.importorskip("dagster_k8s", reason="dagster-k8s is not installed")
    env = {"EVCHARGE_EXECUTOR": kind, "EVCHARGE_CELERY_BROKER": "pyamqp://guest@127.0.0.1//",
           "EVCHARGE_K8S_NAMESPACE": "evcharge", "EVCHARGE_MAX_CONCURRENT_STEPS": "3"}
    definitions = build_definitions(env)
    names = [job.name for job in definitions.resolve_all_job_defs()]
    assert {"main_job", "foundation_job", "weekly_refresh_job", "network_sensitivity_job"} <= set(names)
    for name in names:
        job = definitions.resolve_job_def(name)
        assert job.executor_def.name == EXPECTED_EXECUTOR[kind], name


def test_executor_setting_defaults_and_errors():
    assert executor_kind({}) == "in_process"
    assert executor_kind({"EVCHARGE_EXECUTOR": " In-Process "}) == "in_process"
    with pytest.raises(DeploymentError, match="EVCHARGE_EXECUTOR='threads' is not one of"):
        executor_kind({"EVCHARGE_EXECUTOR": "threads"})
    with pytest.raises(DeploymentError, match="EVCHARGE_MAX_CONCURRENT_STEPS='0' must be at least 1"):
        executor_from_env({"EVCHARGE_EXECUTOR": "multiprocess", "EVCHARGE_MAX_CONCURRENT_STEPS": "0"})


def test_celery_broker_is_a_reference_to_the_environment_not_a_value():
    env = {"EVCHARGE_EXECUTOR": "celery", "EVCHARGE_CELERY_BROKER": "pyamqp://user:secret@host//"}
    config = executor_config("celery", env)
    assert config == {"broker": {"env": "EVCHARGE_CELERY_BROKER"}}
    assert "secret" not in repr(config)
    assert executor_from_env(env).name == "celery"


def test_weekly_refresh_job_covers_ingest_and_unpartitioned_plans():
    job = defs.resolve_job_def("weekly_refresh_job")
    keys = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    graph = defs.resolve_asset_graph()
    ingest = {node.key.to_user_string() for node in graph.asset_nodes if node.group_name == "ingest"}
    partitioned = {node.key.to_user_string() for node in graph.asset_nodes if node.partitions_def is not None}
    assert ingest and ingest <= keys
    assert {"demand_points", "coverage", "network_plan"} <= keys
    assert not keys & partitioned
    assert not any(graph.get(node_key).group_name == "benchmarks" for node_key in job.asset_layer.executable_asset_keys)


def test_schedules_have_explicit_timezones_and_valid_run_requests():
    schedules = {s.name: s for s in defs.schedules}
    assert {"weekly_refresh_schedule", "weekly_network_sensitivity_schedule", "weekly_swap_sensitivity_schedule",
            "charging_next_day_schedule"} <= set(schedules)
    assert all(s.execution_timezone for s in schedules.values())
    assert schedules["weekly_refresh_schedule"].job_name == "weekly_refresh_job"

    monday = dt.datetime(2026, 11, 23, 5, 0, tzinfo=ZoneInfo("America/Toronto"))
    repository = defs.get_repository_def()
    with DagsterInstance.ephemeral() as instance:
        def tick(name: str):
            context = build_schedule_context(instance=instance, scheduled_execution_time=monday,
                                             repository_def=repository)
            return list(schedules[name].evaluate_tick(context).run_requests)

        network = tick("weekly_network_sensitivity_schedule")
        expected = defs.resolve_assets_def("network_plan_sensitivity").partitions_def.get_partition_keys()
        assert sorted(r.partition_key for r in network) == sorted(expected) and len(network) >= 12
        assert len({r.run_key for r in network}) == len(network)

        (single,) = tick("weekly_swap_sensitivity_schedule")
        keys = defs.resolve_assets_def("swap_sensitivity").partitions_def.get_partition_keys()
        assert single.tags[ASSET_PARTITION_RANGE_START_TAG] == keys[0]
        assert single.tags[ASSET_PARTITION_RANGE_END_TAG] == keys[-1]


def test_every_step_that_opens_the_warehouse_is_in_the_warehouse_pool():
    outside = []
    for definition in ASSETS:
        if "warehouse" in definition.required_resource_keys and definition.op.pool != WAREHOUSE_POOL:
            outside.append(definition.op.name)
    for checks in defs.asset_checks or []:
        if "warehouse" in checks.required_resource_keys and checks.op.pool != WAREHOUSE_POOL:
            outside.append(checks.op.name)
    assert not outside, f"steps that open the DuckDB warehouse outside the '{WAREHOUSE_POOL}' pool: {sorted(outside)}"


@pytest.mark.parametrize("name", ["local", "postgres"])
def test_instance_configs_limit_the_warehouse_pool(name: str, tmp_path: Path, monkeypatch):
    source = PROJECT_ROOT / "deploy" / name / "dagster.yaml"
    config = yaml.safe_load(source.read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1
    if name == "postgres":
        assert config["event_log_storage"]["config"]["postgres_db"]["scheme"] == "postgresql+psycopg2"
        assert config["event_log_storage"]["class"] == "RecoveringPostgresEventLogStorage"
        return  # loaded against a real server in test_ops_postgres
    shutil.copy(source, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # the event-log storage's default folder
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        pools = instance.get_concurrency_config().pool_config
        assert pools.default_pool_limit == 1 and pools.pool_granularity.value == "op"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.event_log_storage).__name__ == "RecoveringSqliteEventLogStorage"
        assert Path(instance.event_log_storage._base_dir) == tmp_path / "history" / "runs"
