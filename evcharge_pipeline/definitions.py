"""The one Definitions object: every asset module's assets and checks, the cross-domain jobs and the weekly
refresh, the resources and the executor chosen by the deployment (`EVCHARGE_EXECUTOR`, see
`evcharge_pipeline.deployment`), merged with each domain's own jobs, schedules and sensors."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from types import ModuleType

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from evcharge_pipeline import assets as asset_package
from evcharge_pipeline.deployment import executor_from_env
from evcharge_pipeline.jobs import foundation_job, unpartitioned_assets_job, weekly_refresh_job
from evcharge_pipeline.resources import default_resources
from evcharge_pipeline.schedules import weekly_refresh_schedule

ASSET_MODULES = [
    importlib.import_module(f"{asset_package.__name__}.{info.name}")
    for info in pkgutil.iter_modules(asset_package.__path__)
    if info.name != "common"
]

ASSETS = load_assets_from_modules(ASSET_MODULES)


def domain_definitions(module: ModuleType) -> Definitions:
    """A domain's own `jobs`, `schedules` and `sensors`, as its asset module lists them. (Assets are loaded
    for all modules at once: a module imports its upstream assets, so loading per module would repeat them.)"""
    return Definitions(jobs=getattr(module, "jobs", []), schedules=getattr(module, "schedules", []),
                       sensors=getattr(module, "sensors", []))


def build_definitions(env: Mapping[str, str] | None = None) -> Definitions:
    """Definitions for a deployment; `env` overrides `os.environ` for the executor settings."""
    refresh_job = weekly_refresh_job(ASSETS)
    core = Definitions(
        assets=ASSETS,
        asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
        jobs=[unpartitioned_assets_job(ASSETS), foundation_job, refresh_job],
        schedules=[weekly_refresh_schedule(refresh_job)],
        resources=default_resources(),
        executor=executor_from_env(env),
    )
    return Definitions.merge(core, *(domain_definitions(module) for module in ASSET_MODULES))


defs = build_definitions()
