"""Human artefacts of a plan: an interactive HTML map, a static map (PNG shown inline in the UI) and the
budget-coverage frontier plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evcharge_pipeline.escaping import html_text
from evcharge_pipeline.reporting import figure_markdown, pyplot

ACTION_STYLE = {
    "keep": ("#6c757d", "Existing (kept)"),
    "upgrade_l3": ("#d63384", "Upgraded to L3"),
    "new_l2": ("#0d6efd", "New L2"),
    "new_l3": ("#dc3545", "New L3"),
    "retire": ("#000000", "Retired"),
}


def plan_map(plan: pd.DataFrame, demand: pd.DataFrame, path: Path, radius_l2_km: float, radius_l3_km: float,
             title: str = "Network plan") -> Path:
    """Stations by action, coverage radii of the resulting L2/L3 sites, and an EV demand heat layer."""
    import folium
    from folium.plugins import HeatMap

    centre = [float(demand["lat"].mean()), float(demand["lon"].mean())] if len(demand) else [
        float(plan["lat"].mean()), float(plan["lon"].mean())]
    fmap = folium.Map(location=centre, zoom_start=11, tiles="OpenStreetMap", control_scale=True)
    heat = demand[demand["ev_count"] > 0]
    if len(heat):
        HeatMap(heat[["lat", "lon", "ev_count"]].to_numpy().tolist(), name="EV demand", radius=12, blur=15,
                min_opacity=0.25).add_to(fmap)
    final = final_sites(plan)
    radii = folium.FeatureGroup(name="Coverage radii", show=False)
    for _, row in final.iterrows():
        if row["final_action"] == "retire":
            continue
        if row["l3_ports_after"] > 0:
            folium.Circle([row["lat"], row["lon"]], radius=radius_l3_km * 1000, color="#dc3545", weight=1,
                          fill=False).add_to(radii)
        elif row["l2_ports_after"] > 0:
            folium.Circle([row["lat"], row["lon"]], radius=radius_l2_km * 1000, color="#0d6efd", weight=1,
                          fill=False).add_to(radii)
    radii.add_to(fmap)
    for key, (colour, label) in ACTION_STYLE.items():
        layer = folium.FeatureGroup(name=label)
        for site_id, row in final[final["final_action"] == key].iterrows():
            phase = "" if pd.isna(row["phase"]) else f"phase {int(row['phase'])}<br>"
            popup = (f"<b>{html_text(site_id)}</b> {html_text(row.get('name', ''))}<br>{label}<br>{phase}"
                     f"L2 ports {int(row['l2_ports_after'])}, L3 ports {int(row['l3_ports_after'])}")
            folium.CircleMarker([row["lat"], row["lon"]], radius=7 if key != "keep" else 4, color=colour,
                                fill=True, fill_opacity=0.9, popup=folium.Popup(popup, max_width=260)).add_to(layer)
        layer.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.get_root().html.add_child(folium.Element(f"<title>{html_text(title)}</title>"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fmap.save(str(path))
    return path


# The summary fields a planner reads first, under the name that carries their unit (fractions as `_share`).
KEY_FIGURES = {
    "status": "status", "method": "method", "budget_cad": "budget_cad", "capex_total_cad": "capex_total_cad",
    "budget_used_share": "budget_used_share", "annual_opex_after_cad": "annual_opex_after_cad",
    "upgrades": "upgrades", "new_l2": "new_l2_sites", "new_l3": "new_l3_sites", "retirements": "retirements",
    "ports_added_l2": "ports_added_l2", "ports_added_l3": "ports_added_l3", "phases": "phases",
    "coverage_l2_ev_before": "ev_within_l2_radius_before_share",
    "coverage_l2_ev_after": "ev_within_l2_radius_after_share",
    "coverage_l3_ev_before": "ev_within_l3_radius_before_share",
    "coverage_l3_ev_after": "ev_within_l3_radius_after_share",
    "coverage_l2_population_after": "population_within_l2_radius_after_share",
    "coverage_l3_population_after": "population_within_l3_radius_after_share",
    "underserved_share_before": "underserved_ev_before_share", "underserved_share_after": "underserved_ev_after_share",
    "objective": "objective", "gap": "mip_gap_share", "solve_seconds": "solve_seconds",
    "build_seconds": "build_seconds", "time_limit_seconds": "time_limit_seconds", "diagnosis": "diagnosis",
    "min_budget_cad": "min_budget_cad",
}


def plan_key_figures(summary: dict) -> dict:
    """The summary's key figures under unit-bearing names (absent or empty fields left out)."""
    out = {}
    for field, name in KEY_FIGURES.items():
        value = summary.get(field)
        if value is None or (isinstance(value, float) and np.isnan(value)) or value == "":
            continue
        out[name] = value
    return out


PHASE_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def final_sites(plan: pd.DataFrame) -> pd.DataFrame:
    """One row per site as it stands after the last phase, with `final_action` and its `phase` (NA for kept)."""
    final = plan.sort_values("phase", na_position="first").groupby("site_id", sort=False).last()
    action = plan[plan["action"] != "keep"].set_index("site_id")["action"]
    final["final_action"] = action.reindex(final.index).fillna("keep")
    return final


def uncovered_after(plan: pd.DataFrame, demand: pd.DataFrame, pairs: pd.DataFrame, radius_l2_km: float,
                    radius_l3_km: float) -> pd.Series:
    """Per demand point (aligned with `demand`): True when no L2 site within the L2 radius and no L3 site
    within the L3 radius remains after the plan."""
    final = final_sites(plan)
    open_sites = final[final["final_action"] != "retire"]
    l2 = set(open_sites.index[open_sites["l2_ports_after"] > 0])
    l3 = set(open_sites.index[open_sites["l3_ports_after"] > 0])
    near = pairs[(pairs["site_id"].isin(l2) & (pairs["distance_km"] <= radius_l2_km))
                 | (pairs["site_id"].isin(l3) & (pairs["distance_km"] <= radius_l3_km))]
    return ~demand["demand_id"].isin(set(near["demand_id"]))


def static_plan_map(plan: pd.DataFrame, demand: pd.DataFrame, pairs: pd.DataFrame, radius_l2_km: float,
                    radius_l3_km: float, areas=None, boundary=None, path: Path | None = None,
                    title: str = "Network enhancement plan") -> str:
    """The plan as a picture (Markdown with an embedded PNG; also written to `path`): areas shaded by EVs
    per km2 (`areas`: GeoDataFrame with `ev_count` and `area_km2`), the boundary, sites coloured by their
    final action with one marker shape per phase, and demand points left without coverage."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    if areas is not None and len(areas):
        density = areas["ev_count"] / areas["area_km2"].where(areas["area_km2"] > 0)
        areas.assign(ev_per_km2=density).plot(ax=ax, column="ev_per_km2", cmap="Greens", alpha=0.7,
                                              edgecolor="#bbbbbb", linewidth=0.4, legend=True,
                                              legend_kwds={"label": "EVs per km2 (area shading)", "shrink": 0.6,
                                                           "orientation": "horizontal", "pad": 0.12})
    if boundary is not None:
        xs, ys = _outline(boundary)
        for x, y in zip(xs, ys, strict=True):
            ax.plot(x, y, color="#333333", linewidth=1.0)
    uncovered = uncovered_after(plan, demand, pairs, radius_l2_km, radius_l3_km)
    gap = demand[uncovered & (demand["ev_count"] > 0)]
    if len(gap):
        ax.scatter(gap["lon"], gap["lat"], s=6, c="#fd7e14", alpha=0.8, marker=".",
                   label=f"uncovered demand ({gap['ev_count'].sum():.0f} EVs, {len(gap)} points)")
    final = final_sites(plan)
    kept = final[final["final_action"] == "keep"]
    ax.scatter(kept["lon"], kept["lat"], s=10, c=ACTION_STYLE["keep"][0], alpha=0.7,
               label=f"{ACTION_STYLE['keep'][1]} ({len(kept)})")
    phases = sorted(int(p) for p in final["phase"].dropna().unique())
    for key in ("upgrade_l3", "new_l2", "new_l3", "retire"):
        colour, label = ACTION_STYLE[key]
        for phase in phases:
            rows = final[(final["final_action"] == key) & (final["phase"] == phase)]
            if len(rows):
                ax.scatter(rows["lon"], rows["lat"], s=46, c=colour, edgecolors="white", linewidths=0.6,
                           marker=PHASE_MARKERS[(phase - 1) % len(PHASE_MARKERS)],
                           label=f"{label}, phase {phase} ({len(rows)})")
    ax.set_title(title)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect(1.0 / max(np.cos(np.radians(float(demand["lat"].mean()) if len(demand) else 45.0)), 0.1))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    return figure_markdown(fig, title, path=path,
                           caption="Green: EVs per km2 by area. Marker shape: phase; colour: action. Orange dots: "
                                   f"demand outside {radius_l2_km:g} km of L2 and {radius_l3_km:g} km of L3.")


def _outline(geometry) -> tuple[list, list]:
    polygons = getattr(geometry, "geoms", [geometry])
    xs, ys = [], []
    for polygon in polygons:
        if hasattr(polygon, "exterior"):
            x, y = polygon.exterior.xy
            xs.append(list(x))
            ys.append(list(y))
    return xs, ys


def frontier_plot(sensitivity: pd.DataFrame, path: Path, coverage_column: str = "coverage_l3_ev_after") -> str:
    """Budget (x) against the achieved coverage (y), one line per coverage target; infeasible runs as crosses.
    Written to `path`; returns the Markdown that shows it inline."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if sensitivity.empty:
        ax.text(0.5, 0.5, "no sensitivity partitions materialized yet", ha="center", va="center")
    else:
        for target, rows in sensitivity.sort_values("budget_cad").groupby("min_coverage_l3_share"):
            ok = rows[rows[coverage_column].notna()]
            line = ax.plot(ok["budget_cad"] / 1e6, 100 * ok[coverage_column], marker="o",
                           label=f"L3 target {target:.0%}")
            bad = rows[rows[coverage_column].isna()]
            if len(bad):
                ax.scatter(bad["budget_cad"] / 1e6, np.full(len(bad), 100 * target), marker="x", s=60,
                           color=line[0].get_color(),
                           label=f"no plan at target {target:.0%} (infeasible or none in time)")
            ax.axhline(100 * target, color=line[0].get_color(), linestyle=":", linewidth=0.8)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("budget (million CAD)")
    ax.set_ylabel("EV-weighted L3 coverage after the plan (%)")
    ax.set_title("Budget-coverage frontier")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_markdown(fig, "Budget-coverage frontier", path=path)
