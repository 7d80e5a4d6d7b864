"""Schedule settings shared by the domains, and the weekly ingest + plans refresh.

Each domain's own schedules live with its assets and jobs (`schedules` in `assets/network.py`,
`assets/swap.py`, `assets/charging.py`); `definitions.py` merges them. The weekly ones run in
`SCHEDULE_TIMEZONE` (explicit, so daylight-saving changes do not move them) and are created stopped:
an operator turns them on in the UI (Automation tab) or with `dagster schedule start <name> -w workspace.yaml`.

Order on Monday mornings (site time): 03:00 ingest and every unpartitioned plan; 05:00 the network
budget x coverage sweep (one run per partition, queued behind the warehouse pool) and the swap
sensitivity (one run over all its partitions, as its single-run backfill policy asks).
"""

from __future__ import annotations

from dagster import (
    DefaultScheduleStatus,
    JobDefinition,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

SCHEDULE_TIMEZONE = "America/Toronto"
WEEKLY_REFRESH_CRON = "0 3 * * 1"       # Mondays 03:00
WEEKLY_SENSITIVITY_CRON = "0 5 * * 1"   # Mondays 05:00, after the refresh


def week_of(context: ScheduleEvaluationContext) -> str:
    """The tick's date (YYYY-MM-DD), part of the run keys so that a week's tick launches each run once."""
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


def weekly_sensitivity_schedule(job: JobDefinition | UnresolvedAssetJobDefinition, description: str):
    """`@schedule` for a domain's sensitivity sweep: Mondays 05:00 site time, after the refresh; created stopped."""
    return schedule(job=job, cron_schedule=WEEKLY_SENSITIVITY_CRON, execution_timezone=SCHEDULE_TIMEZONE,
                    default_status=DefaultScheduleStatus.STOPPED, description=description)
