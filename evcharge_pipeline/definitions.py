"""The one Definitions object: every asset module's assets, checks, jobs and schedules, the resources,
and the executor chosen by the deployment (`EVCHARGE_EXECUTOR`, see `evcharge_pipeline.deployment`)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from evcharge_pipeline import assets as asset_package
from evcharge_pipeline.deployment import executor_from_env
from evcharge_pipeline.jobs import foundation_job, unpartitioned_assets_job, weekly_refresh_job
from evcharge_pipeline.resources import default_resources
from evcharge_pipeline.schedules import build_schedules

ASSET_MODULES = [
    importlib.import_module(f"{asset_package.__name__}.{info.name}")
    for info in pkgutil.iter_modules(asset_package.__path__)
    if info.name != "common"
]

ASSETS = load_assets_from_modules(ASSET_MODULES)


def build_definitions(env: Mapping[str, str] | None = None) -> Definitions:
    """Definitions for a deployment; `env` overrides `os.environ` for the executor settings."""
    refresh_job = weekly_refresh_job(ASSETS)
    module_jobs = [job for module in ASSET_MODULES for job in getattr(module, "jobs", [])]
    module_schedules = [schedule for module in ASSET_MODULES for schedule in getattr(module, "schedules", [])]
    return Definitions(
        assets=ASSETS,
        asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
        jobs=[unpartitioned_assets_job(ASSETS), foundation_job, refresh_job, *module_jobs],
        schedules=[*build_schedules(refresh_job), *module_schedules],
        sensors=[sensor for module in ASSET_MODULES for sensor in getattr(module, "sensors", [])],
        resources=default_resources(),
        executor=executor_from_env(env),
    )


defs = build_definitions()
