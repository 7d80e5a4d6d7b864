"""Pictures of a charging schedule for people: the site load of every method against the site limit
and the energy price (Markdown with an embedded PNG, also written to a file)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evcharge_pipeline.charging.planner import ALL_METHODS
from evcharge_pipeline.charging.section import ChargingSessionsSection
from evcharge_pipeline.reporting import figure_markdown, pyplot


def load_profile_plot(day: str, section: ChargingSessionsSection, rows: pd.DataFrame, tariff,
                      path: Path | None = None) -> str:
    """Site load (kW, base load included) per method over the local day, the site limit and the price."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.2))
    day_start = pd.Timestamp(day).tz_localize(section.timezone)
    grid = pd.date_range(day_start, periods=int(24 * 60 / section.period_minutes),
                         freq=pd.Timedelta(minutes=section.period_minutes))
    for method in ALL_METHODS:
        sub = rows[rows["method"] == method]
        load = sub.groupby("period_start")["power_kw"].sum()
        load.index = pd.DatetimeIndex(load.index).tz_convert(section.timezone)
        series = load.reindex(grid, fill_value=0.0) + section.base_load_kw
        ax.step(grid, series.to_numpy(), where="post", label=method, lw=1.6 if method.startswith("milp") else 0.9)
    ax.axhline(section.site_limit_kw, color="red", ls="--", lw=1.2, label="site limit")
    ax.set_ylabel("site load (kW)")
    ax.set_title(f"Charging load {day} ({section.timezone})")
    price_ax = ax.twinx()
    price_ax.step(grid, tariff.prices_for(grid.tz_convert("UTC")), where="post", color="grey", alpha=0.5)
    price_ax.set_ylabel("energy price per kWh (grey)", color="grey")
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    fig.autofmt_xdate()
    fig.tight_layout()
    return figure_markdown(fig, f"Charging load profile {day}", path=path)
