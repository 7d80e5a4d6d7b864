"""Pictures and tables for people: PNG data URIs within the size limit, values rounded by unit, and the
network plan's materialization carrying its map inline and its summary as a rounded table."""

from __future__ import annotations

import base64
import re

import duckdb
import numpy as np
import pandas as pd
from dagster import TableMetadataValue, materialize
from dagster_duckdb import DuckDBResource

from evcharge_pipeline import reporting
from evcharge_pipeline.assets.common import summary_table
from evcharge_pipeline.assets.network import network_plan
from evcharge_pipeline.network.synthetic import make_instance
from evcharge_pipeline.resources import ReportsResource
from evcharge_pipeline.warehouse import replace_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _embedded_png(markdown: str) -> bytes:
    match = re.search(r"^!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:200]
    return base64.b64decode(match.group(1))


def test_values_are_rounded_by_their_unit_and_nan_is_none():
    assert reporting.readable_value("coverage_share", 0.8036072987595893) == 80.4
    assert reporting.readable_value("capex_total_cad", 996000.4) == 996000
    assert reporting.readable_value("solve_seconds", 15.756516) == 15.8
    assert reporting.readable_value("objective", 1.6246420535415433) == 1.625
    assert reporting.readable_value("upgrades", 6.0) == 6
    assert reporting.readable_value("gap", float("nan")) is None
    assert reporting.readable_name("ev_share") == "ev (%)"
    assert reporting.figure_value("budget_used_share", 0.996) == "99.6 %"
    assert reporting.figure_value("capex_total_cad", 996000.0) == "996,000 CAD"


def test_summary_table_has_a_schema_with_units_and_rounded_records():
    frame = pd.DataFrame({"level": ["L2", "L3"], "ev_share": [0.645616, np.nan], "stations": [132, 18],
                          "solve_seconds": [1.234, 0.05]})
    table = summary_table(frame)
    assert isinstance(table, TableMetadataValue)
    names = [c.name for c in table.schema.columns]
    assert names == ["level", "ev (%)", "stations", "solve_seconds"]
    types = {c.name: c.type for c in table.schema.columns}
    assert types["stations"] == "int" and types["ev (%)"] == "float"
    assert table.records[0].data == {"level": "L2", "ev (%)": 64.6, "stations": 132, "solve_seconds": 1.2}
    assert table.records[1].data["ev (%)"] is None


def test_a_large_figure_is_shrunk_below_the_size_limit():
    plt = reporting.pyplot()

    def crowded():
        fig, ax = plt.subplots(figsize=(14, 14))
        rng = np.random.default_rng(1)
        ax.scatter(rng.random(20_000), rng.random(20_000), c=rng.random(20_000), s=4)
        return fig

    full = reporting.png_bytes(crowded(), dpi=200, max_bytes=10**9)
    png = reporting.png_bytes(crowded(), dpi=200)
    assert len(full) > reporting.MAX_PNG_BYTES
    assert png.startswith(PNG_SIGNATURE) and len(png) <= reporting.MAX_PNG_BYTES


def test_network_plan_materialization_shows_its_map_inline_and_a_rounded_summary(tmp_path):
    inst = make_instance(n_demand=120, n_candidates=20, n_existing=8, extent_km=10.0, seed=5)
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        replace_table(con, "raw.charging_stations", inst.stations)
        replace_table(con, "raw.candidate_sites", inst.candidates)
        replace_table(con, "core.demand_points", inst.demand)
        replace_table(con, "core.coverage", inst.coverage)
    resources = {"warehouse": DuckDBResource(database=str(path)),
                 "reports": ReportsResource(directory=str(tmp_path / "reports"))}
    run = {"ops": {"network_plan": {"config": {"budget_cad": 400_000, "time_limit_seconds": 20}}}}
    result = materialize([network_plan], resources=resources, run_config=run)
    assert result.success
    meta = result.asset_materializations_for_node("network_plan")[0].metadata
    png = _embedded_png(meta["plan_map"].value)
    assert png.startswith(PNG_SIGNATURE) and 1_000 < len(png) <= reporting.MAX_PNG_BYTES
    assert (tmp_path / "reports" / "network_plan_map.png").read_bytes() == png
    assert (tmp_path / "reports" / "network_plan_map.html").is_file()
    rows = {r.data["figure"]: r.data["value"] for r in meta["summary"].records}
    assert rows["status"] == "optimal"
    share = rows["ev_within_l3_radius_after (%)"]
    assert re.fullmatch(r"\d{1,3}\.\d %", share), share
    assert re.fullmatch(r"[\d,]+ CAD", rows["capex_total_cad"]), rows["capex_total_cad"]
    assert re.fullmatch(r"\d+\.\d", rows["solve_seconds"]), rows["solve_seconds"]


def test_baseline_coverage_by_area_counts_each_area_against_its_own_evs():
    from evcharge_pipeline.demand import CoverageConfig, baseline_coverage_by_area

    points = pd.DataFrame({"demand_id": [1, 2, 3, 4], "area_id": ["A", "A", "B", "C"],
                           "ev_count": [10.0, 30.0, 5.0, 0.0], "population": [1.0, 1.0, 1.0, 1.0]})
    stations = pd.DataFrame({"site_id": ["s2", "s3"], "level": ["L2", "L3"]})
    pairs = pd.DataFrame({"demand_id": [1, 2, 3], "site_id": ["s2", "s2", "s3"], "site_kind": "existing",
                          "distance_km": [0.5, 1.5, 2.0]})
    out = baseline_coverage_by_area(points, pairs, stations, CoverageConfig(radius_l2_km=1.0, radius_l3_km=3.0))
    share = out.set_index(["level", "area_id"])["ev_share"]
    assert share[("L2", "A")] == 0.25          # point 2 is beyond the L2 radius
    assert share[("L2", "B")] == 0.0 and share[("L3", "B")] == 1.0
    assert np.isnan(share[("L3", "C")])        # no EVs: no share, not 0 %
