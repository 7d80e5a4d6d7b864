"""Scheduled refreshes: the weekly ingest + plans refresh and the weekly sensitivity sweeps.

All schedules run in `SCHEDULE_TIMEZONE` (explicit, so daylight-saving changes do not move them) and
are created stopped: an operator turns them on in the UI (Automation tab) or with
`dagster schedule start <name> -w workspace.yaml`. The daily charging schedule lives with the
charging assets (`evcharge_pipeline.assets.charging`).

Order on Monday mornings (site time): 03:00 ingest and every unpartitioned plan; 05:00 the network
budget x coverage sweep (one run per partition, queued behind the warehouse pool) and the swap
sensitivity (one run over all its partitions, as its single-run backfill policy asks).
"""

from __future__ import annotations

from dagster import (
    DefaultScheduleStatus,
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from evcharge_pipeline.assets.network import network_sensitivity_job, sensitivity_partitions
from evcharge_pipeline.assets.swap import swap_sensitivity_job, swap_sensitivity_partitions

SCHEDULE_TIMEZONE = "America/Toronto"
WEEKLY_REFRESH_CRON = "0 3 * * 1"       # Mondays 03:00
WEEKLY_SENSITIVITY_CRON = "0 5 * * 1"   # Mondays 05:00, after the refresh


def _week_of(context: ScheduleEvaluationContext) -> str:
    return context.scheduled_execution_time.strftime("%Y-%m-%d")


def weekly_refresh_schedule(job: JobDefinition | UnresolvedAssetJobDefinition) -> ScheduleDefinition:
    return ScheduleDefinition(
        name="weekly_refresh_schedule",
        job=job,
        cron_schedule=WEEKLY_REFRESH_CRON,
        execution_timezone=SCHEDULE_TIMEZONE,
        default_status=DefaultScheduleStatus.STOPPED,
        description="Mondays 03:00 Toronto time: re-ingest the region (live OpenChargeMap pull where the region "
                    "asks for it) and rebuild demand, coverage and the unpartitioned plans.",
    )


@schedule(
    job=network_sensitivity_job,
    cron_schedule=WEEKLY_SENSITIVITY_CRON,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Mondays 05:00 Toronto time: one run per budget x coverage-target partition of the network sweep.",
)
def weekly_network_sensitivity_schedule(context: ScheduleEvaluationContext):
    week = _week_of(context)
    for key in sensitivity_partitions.get_partition_keys():
        yield RunRequest(run_key=f"{week}:{key}", partition_key=key)


@schedule(
    job=swap_sensitivity_job,
    cron_schedule=WEEKLY_SENSITIVITY_CRON,
    execution_timezone=SCHEDULE_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="Mondays 05:00 Toronto time: every swap sensitivity partition in one run.",
)
def weekly_swap_sensitivity_schedule(context: ScheduleEvaluationContext):
    keys = swap_sensitivity_partitions.get_partition_keys()
    return RunRequest(
        run_key=f"{_week_of(context)}:all",
        tags={ASSET_PARTITION_RANGE_START_TAG: keys[0], ASSET_PARTITION_RANGE_END_TAG: keys[-1]},
    )


def build_schedules(refresh_job: JobDefinition | UnresolvedAssetJobDefinition) -> list[ScheduleDefinition]:
    return [weekly_refresh_schedule(refresh_job), weekly_network_sensitivity_schedule,
            weekly_swap_sensitivity_schedule]
