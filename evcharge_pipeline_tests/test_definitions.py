"""The Definitions object loads, validates from the CLI, and its main job covers every unpartitioned asset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from evcharge_pipeline.definitions import defs
from evcharge_pipeline.settings import PROJECT_ROOT


def test_definitions_load_with_main_job_over_unpartitioned_assets():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"charging_stations", "demand_points", "coverage", "baseline_coverage_summary"} <= keys
    main_graph = defs.resolve_job_def("main_job").asset_layer.asset_graph
    job_keys = {node.key.to_user_string() for node in main_graph.asset_nodes if node.is_executable}
    partitioned = {node.key.to_user_string() for node in graph.asset_nodes if node.partitions_def is not None}
    assert job_keys == keys - partitioned
    assert graph.asset_check_keys, "asset checks are registered"


def test_dagster_definitions_validate_reads_the_workspace(tmp_path: Path):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={"PATH": str(Path(sys.executable).parent), "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "evcharge_pipeline" in result.stdout + result.stderr
