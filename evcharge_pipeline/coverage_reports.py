"""Picture of the baseline coverage for people: per area, the share of EVs within the L2 and the L3
radius of an existing charger of that level (Markdown with an embedded PNG, also written to a file)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from evcharge_pipeline.reporting import figure_markdown, pyplot


def coverage_by_area_map(areas: gpd.GeoDataFrame, by_area: pd.DataFrame, stations: pd.DataFrame,
                         radii_km: dict[str, float], path: Path | None = None) -> str:
    """One panel per level: areas shaded by the covered EV share (grey: no EVs), existing chargers as dots.
    `areas` has area_id and geometry; `by_area` is `demand.baseline_coverage_by_area`."""
    plt = pyplot()
    levels = list(radii_km)
    fig, axes = plt.subplots(1, len(levels), figsize=(5.2 * len(levels), 5.0), squeeze=False)
    for ax, level in zip(axes[0], levels, strict=True):
        shares = by_area[by_area["level"] == level].set_index("area_id")["ev_share"]
        shaded = areas.assign(ev_share_pct=100 * areas["area_id"].map(shares).astype(float))
        shaded.plot(ax=ax, column="ev_share_pct", cmap="RdYlGn", vmin=0, vmax=100, edgecolor="#888888",
                    linewidth=0.4, legend=True, missing_kwds={"color": "#dddddd", "label": "no EVs"},
                    legend_kwds={"label": "EVs covered (%)", "shrink": 0.7, "orientation": "horizontal", "pad": 0.1})
        sites = stations[stations["level"] == level]
        ax.scatter(sites["lon"], sites["lat"], s=8, c="#222222", label=f"existing {level} ({len(sites)})")
        if len(areas):
            ax.set_aspect(1.0 / max(np.cos(np.radians(float(areas.total_bounds[1] + areas.total_bounds[3]) / 2)), 0.1))
        ax.set_title(f"{level}: EVs within {radii_km[level]:g} km of an existing {level} charger", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    return figure_markdown(fig, "Baseline coverage by area", path=path)
