"""Escaping user-supplied text (station names, operators, ids, region names) for HTML and Markdown reports.

`html_text` is safe inside HTML *and* inside the JavaScript template literals folium writes popups and
tooltips into (`$`, backtick and backslash are entity-encoded, so `${...}` cannot run).
`markdown_cell` is safe inside a Markdown table cell (no column breaks, no raw HTML, no line breaks).
"""

from __future__ import annotations

import html

import pandas as pd

_JS_TEMPLATE = {"$": "&#36;", "`": "&#96;", "\\": "&#92;"}


def html_text(value: object) -> str:
    """`value` as text that renders literally in HTML and in folium's JavaScript template strings."""
    text = html.escape("" if value is None else str(value), quote=True)
    return "".join(_JS_TEMPLATE.get(ch, ch) for ch in text)


def markdown_cell(value: object) -> str:
    """`value` as literal text in one Markdown table cell."""
    text = html.escape(str(value), quote=False).replace("\\", "\\\\").replace("|", "\\|")
    for ch in "`*_[]":
        text = text.replace(ch, "\\" + ch)
    return " ".join(text.split())


def markdown_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text columns (and column names) are escaped with `markdown_cell`; numbers untouched."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(lambda v: v if v is None or (isinstance(v, float) and pd.isna(v))
                                          else markdown_cell(v))
    out.columns = [markdown_cell(c) for c in out.columns]
    return out
