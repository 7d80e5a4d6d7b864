"""Presentation for people, shared by every domain's reports (no Dagster here).

- `figure_markdown`: a matplotlib figure as a PNG embedded in Markdown (`![alt](data:image/png;base64,…)`;
  the Dagster UI's Markdown sanitizer drops raw `<img>` tags but keeps Markdown images), so an
  asset page shows the picture itself instead of a file path. Kept under `MAX_PNG_BYTES` by lowering
  the resolution; optionally also written to a file.
- `readable_frame`: a table rounded to what its numbers mean, by column-name suffix: `_share` as % with
  one decimal (renamed `… (%)`), `_cad` as whole CAD, `_seconds` to 0.1 s, `_kw`/`_kwh`/`_km` to 0.1,
  other floats to 4 significant digits; NaN becomes None. Units go into the column names.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

MAX_PNG_BYTES = 300_000
DEFAULT_DPI = 80


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (safe in worker processes without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, dpi: int = DEFAULT_DPI, max_bytes: int = MAX_PNG_BYTES) -> bytes:
    """The figure as PNG, at `dpi` or lower until it fits in `max_bytes`; the figure is closed."""
    plt = pyplot()
    try:
        while True:
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
            data = buffer.getvalue()
            if len(data) <= max_bytes or dpi <= 30:
                return data
            dpi = max(30, int(dpi * math.sqrt(max_bytes / len(data)) * 0.9))
    finally:
        plt.close(fig)


def png_markdown(png: bytes, alt: str, caption: str = "") -> str:
    """Markdown showing `png` inline: a Markdown image with a base64 data URI, then an optional caption line."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    text = f"![{_plain(alt)}]({uri})"
    return text + (f"\n\n{_plain(caption)}" if caption else "")


def _plain(text: str) -> str:
    """Text that cannot open Markdown or HTML syntax (brackets, angle brackets, backslashes removed)."""
    return html.escape(re.sub(r"[\[\]()\\`*_]", " ", str(text)), quote=False)


def figure_markdown(fig, alt: str, path: Path | None = None, caption: str = "", dpi: int = DEFAULT_DPI) -> str:
    """`png_markdown` of the figure (closed afterwards); also written to `path` when given."""
    png = png_bytes(fig, dpi=dpi)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
    return png_markdown(png, alt, caption)


_SUFFIX_DIGITS = {"_cad": 0, "_seconds": 1, "_kw": 1, "_kwh": 1, "_km": 1, "_evs": 1}


def readable_value(name: str, value):
    """One value rounded by its name (see the module docstring); NaN/None -> None, numpy -> Python."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if name.endswith("_share"):
            return round(100.0 * value, 1)
        for suffix, digits in _SUFFIX_DIGITS.items():
            if name.endswith(suffix):
                return round(value) if digits == 0 else round(value, digits)
        if value == 0 or not math.isfinite(value):
            return value
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return float(f"{value:.4g}")
    return str(value)


def readable_name(name: str) -> str:
    """Column name shown to people: `_share` columns are percentages."""
    return f"{name[:-len('_share')]} (%)" if name.endswith("_share") else name


def readable_records(frame: pd.DataFrame) -> tuple[list[str], list[dict]]:
    """Shown column names and rounded rows (plain Python values, None for missing)."""
    names = [readable_name(str(c)) for c in frame.columns]
    rows = [{shown: readable_value(str(column), value)
             for shown, column, value in zip(names, frame.columns, row, strict=True)}
            for row in frame.itertuples(index=False, name=None)]
    return names, rows


def readable_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` rounded and renamed for people (object columns, None for missing)."""
    names, rows = readable_records(frame)
    return pd.DataFrame(rows, columns=names)


def figure_value(name: str, value) -> str:
    """A single key figure as text, rounded like a table cell (`n/a` when missing)."""
    shown = readable_value(name, value)
    if shown is None:
        return "n/a"
    if isinstance(shown, float) and name.endswith("_share"):
        return f"{shown:.1f} %"
    if isinstance(shown, int) and name.endswith("_cad"):
        return f"{shown:,} CAD"
    return str(shown)
