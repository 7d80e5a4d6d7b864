"""The one Definitions object: every asset module's assets, checks, jobs and schedules, and the resources."""

from __future__ import annotations

import importlib
import pkgutil

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from evcharge_pipeline import assets as asset_package
from evcharge_pipeline.jobs import foundation_job, unpartitioned_assets_job
from evcharge_pipeline.resources import default_resources

ASSET_MODULES = [
    importlib.import_module(f"{asset_package.__name__}.{info.name}")
    for info in pkgutil.iter_modules(asset_package.__path__)
    if info.name != "common"
]

ASSETS = load_assets_from_modules(ASSET_MODULES)

defs = Definitions(
    assets=ASSETS,
    asset_checks=load_asset_checks_from_modules(ASSET_MODULES),
    jobs=[unpartitioned_assets_job(ASSETS), foundation_job] + [job for module in ASSET_MODULES for job in getattr(module, "jobs", [])],
    schedules=[schedule for module in ASSET_MODULES for schedule in getattr(module, "schedules", [])],
    sensors=[sensor for module in ASSET_MODULES for sensor in getattr(module, "sensors", [])],
    resources=default_resources(),
)
