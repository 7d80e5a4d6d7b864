"""User-supplied text in HTML maps and Markdown tables renders literally, never as markup or script."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evcharge_pipeline.assets.common import markdown_table
from evcharge_pipeline.escaping import html_text, markdown_cell
from evcharge_pipeline.network.reports import plan_map

HOSTILE_NAME = "<img src=x onerror=alert(1)> ${alert(document.domain)} `x` \\u0060"


def test_plan_map_popups_escape_station_names_and_template_expressions(tmp_path: Path):
    plan = pd.DataFrame({"site_id": ["<script>alert(2)</script>", "b"], "name": [HOSTILE_NAME, "${7*7}"],
                         "lat": [43.45, 43.46], "lon": [-80.49, -80.5], "phase": [1, None],
                         "action": ["new_l3", "keep"], "l2_ports_after": [0, 2], "l3_ports_after": [2, 0]})
    demand = pd.DataFrame({"lat": [43.45], "lon": [-80.49], "ev_count": [3.0]})
    html = plan_map(plan, demand, tmp_path / "map.html", 1.0, 5.0,
                    title="</title><script>alert(3)</script>").read_text()
    for raw in ("<img src=x", "<script>alert(2)", "<script>alert(3)", "${alert", "${7*7}", "`x`"):
        assert raw not in html, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&#36;{7*7}" in html


def test_escape_helpers():
    assert html_text("a<b>&'\"$`\\") == "a&lt;b&gt;&amp;&#x27;&quot;&#36;&#96;&#92;"
    cell = markdown_cell("x | y\n<b>z</b> [l](javascript:1)")
    assert "|" not in cell.replace("\\|", "") and "\n" not in cell and "<b>" not in cell and "\\[" in cell


def test_markdown_tables_keep_their_columns_with_hostile_text():
    frame = pd.DataFrame({"name": ["a | b", "<script>x</script>\nrow"], "ports": [1, 2]})
    lines = markdown_table(frame).value.splitlines()
    assert len(lines) == 4                                                     # header, rule, 2 rows
    assert all(line.replace("\\|", "").count("|") == 3 for line in lines)     # every row has 2 cells
    assert "<script>" not in "\n".join(lines)
