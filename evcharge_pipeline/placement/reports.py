"""Pictures of a regional placement plan for people: chargers per site in the last planned year
(Markdown with an embedded PNG, also written to a file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evcharge_pipeline.reporting import figure_markdown, pyplot


def placement_map(sites: pd.DataFrame, path: Path | None = None) -> str:
    """Sites with chargers in the last year, existing and candidate, marker size ~ chargers."""
    plt = pyplot()
    last = sites[sites["year"] == sites["year"].max()]
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    for kind, color in (("existing", "tab:blue"), ("candidate", "tab:orange")):
        part = last[(last["site_kind"] == kind) & (last["slow_chargers"] + last["fast_chargers"] > 0)]
        ax.scatter(part["lon"], part["lat"], s=4 + 6 * part["slow_chargers"] + 15 * part["fast_chargers"],
                   c=color, alpha=0.6, label=f"{kind} sites ({len(part)})")
    year = int(last["year"].max()) if len(last) else 0
    ax.set_title(f"Chargers in {year} (marker size ~ chargers)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    if len(last):
        ax.set_aspect(1.0 / max(np.cos(np.radians(float(last["lat"].mean()))), 0.1))
    ax.legend(loc="best")
    return figure_markdown(fig, f"Charger placement {year}", path=path)
