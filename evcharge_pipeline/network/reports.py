"""Human artefacts of a plan: an interactive HTML map and the budget-coverage frontier plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from evcharge_pipeline.escaping import html_text

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
    final = plan.sort_values("phase", na_position="first").groupby("site_id", sort=False).last()
    action = plan[plan["action"] != "keep"].set_index("site_id")["action"]
    final["final_action"] = action.reindex(final.index).fillna("keep")
    radii = folium.FeatureGroup(name="Coverage radii", show=False)
    for site_id, row in final.iterrows():
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


def frontier_plot(sensitivity: pd.DataFrame, path: Path, coverage_column: str = "coverage_l3_ev_after") -> Path:
    """Budget (x) against the achieved coverage (y), one line per coverage target; infeasible runs as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    if sensitivity.empty:
        ax.text(0.5, 0.5, "no sensitivity partitions materialized yet", ha="center", va="center")
    else:
        for target, rows in sensitivity.sort_values("budget_cad").groupby("min_coverage_l3_share"):
            ok = rows[rows[coverage_column].notna()]
            line = ax.plot(ok["budget_cad"] / 1e6, ok[coverage_column], marker="o", label=f"L3 target {target:.0%}")
            bad = rows[rows[coverage_column].isna()]
            if len(bad):
                ax.scatter(bad["budget_cad"] / 1e6, np.full(len(bad), target), marker="x", s=60,
                           color=line[0].get_color(), label=f"no plan at target {target:.0%} (infeasible or none in time)")
            ax.axhline(target, color=line[0].get_color(), linestyle=":", linewidth=0.8)
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("budget (million CAD)")
    ax.set_ylabel("EV-weighted L3 coverage after the plan")
    ax.set_title("Budget-coverage frontier")
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
