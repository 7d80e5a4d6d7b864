"""Pictures of a swap study for people: the service-level cost curve and the hourly swap pipeline
(Markdown with embedded PNGs, also written to files)."""

from __future__ import annotations

from pathlib import Path

from evcharge_pipeline.reporting import figure_markdown, pyplot
from evcharge_pipeline.swap.study import SwapStudy


def service_curve_plot(study: SwapStudy, path: Path | None = None) -> str | None:
    """Spare-battery, stockout and total cost against the fill-rate target; None without a curve."""
    curve = study.service_curve
    if curve.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(curve["service_level_target"], curve["battery_cost_cad"] / 1e3, label="spare batteries")
    ax.plot(curve["service_level_target"], curve["stockout_cost_cad"] / 1e3, label="stockouts (planning horizon)")
    ax.plot(curve["service_level_target"], curve["total_cost_cad"] / 1e3, label="total", linewidth=2)
    best = curve.loc[curve["is_cost_optimal"]].iloc[0]
    ax.axvline(best["service_level_target"], color="grey", linestyle="--")
    ax.set_xlabel(f"fill-rate target ({study.summary['service_basis'].iloc[0].replace('_', ' ')} basis)")
    ax.set_ylabel("cost (thousand CAD)")
    ax.set_title(f"Service level vs cost (optimum {best['service_level_target']:.3f})")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return figure_markdown(fig, "Swap service level vs cost", path=path)


def hourly_plot(study: SwapStudy, path: Path | None = None) -> str | None:
    """Swaps per hour of day with the simulated fill rate by hour; None without hourly figures."""
    hourly = study.hourly
    if hourly.empty:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(hourly["hour"], hourly["swaps_per_hour"], color="#9ab", label="swaps per hour")
    ax.set_xlabel("hour of day")
    ax.set_ylabel("swaps per hour")
    if "sim_fill_rate" in hourly:
        ax2 = ax.twinx()
        ax2.plot(hourly["hour"], hourly["sim_fill_rate"], color="C3", marker="o", label="simulated fill rate")
        ax2.axhline(float(study.summary["service_level"].iloc[0]), color="C3", linestyle=":")
        ax2.set_ylabel("fill rate")
    ax.set_title("Swaps and simulated fill rate by hour")
    fig.tight_layout()
    return figure_markdown(fig, "Swaps and simulated fill rate by hour", path=path)
