"""The quick start's console: one line per ended step (name, seconds, rows) and warnings, while every
event goes to the log file."""

from __future__ import annotations

import io
import re

from dagster import DagsterInstance, Definitions, MaterializeResult, asset, define_asset_job
from dagster._core.utils import make_new_run_id

from evcharge_pipeline.cli import StepProgress


@asset
def small_table(context) -> MaterializeResult:
    context.log.warning("two rows were skipped")
    return MaterializeResult(metadata={"dagster/row_count": 1234})


@asset(deps=[small_table])
def no_rows() -> MaterializeResult:
    return MaterializeResult(metadata={"note": "nothing written"})


def test_console_shows_one_line_per_step_and_the_file_every_event(tmp_path):
    job = Definitions(assets=[small_table, no_rows], jobs=[define_asset_job("tiny", "*")]).resolve_job_def("tiny")
    out, log_path, run_id = io.StringIO(), tmp_path / "logs" / "run.log", make_new_run_id()
    with (
        DagsterInstance.ephemeral() as instance,
        StepProgress(instance, run_id, log_path, out=out, interval_seconds=0.05),
    ):
        result = job.execute_in_process(instance=instance, run_id=run_id,
                                        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    assert result.success
    lines = out.getvalue().splitlines()
    assert len(lines) == 3, lines
    assert re.fullmatch(r"  warning small_table: two rows were skipped", lines[0]), lines
    assert re.fullmatch(r"  ok +small_table +\d+\.\d s +1,234 rows", lines[1]), lines
    assert re.fullmatch(r"  ok +no_rows +\d+\.\d s", lines[2]), lines
    text = log_path.read_text()
    assert "DEBUG" in text and "STEP_START" in text and "RUN_SUCCESS" in text
    assert len(text.splitlines()) > 10
