"""Equity of a network plan: coverage by income band before and after (plan.network_plan_equity), the price
of an equity floor (objective lost, budget needed), and their figures. Domain code: no Dagster.

Coverage of a band at level k is the share of the band's coverage weight (`config.coverage_weight`: EVs,
population or need-weighted EVs) at demand points with an active level-k site within `radius_{k}_km`,
before the plan (the existing stations) and in its last phase. See docs/equity.md.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.state import NetworkState

EQUITY_COLUMNS = [
    "income_band", "median_income_min", "median_income_max", "areas", "demand_points", "population",
    "population_share", "ev_count", "ev_need", "ev_need_share", "ev_weight", "ev_weight_share", "coverage_weight",
    "coverage_l2_before", "coverage_l2_after", "coverage_l3_before", "coverage_l3_after",
]


def empty_equity_frame() -> pd.DataFrame:
    columns = {c: pd.Series(dtype="float64") for c in EQUITY_COLUMNS}
    columns.update({"income_band": pd.Series(dtype="Int64"), "areas": pd.Series(dtype="int64"),
                    "demand_points": pd.Series(dtype="int64"), "coverage_weight": pd.Series(dtype="string")})
    return pd.DataFrame(columns)[EQUITY_COLUMNS]


def band_coverage_table(inputs: NetworkInputs, state: NetworkState | None, demand: pd.DataFrame,
                        equity: pd.DataFrame | None, config: NetworkConfig) -> pd.DataFrame:
    """One row per income band (1..5), plus one row with a missing band for the demand points without one
    (suppressed income or no household data) so that no point is left out of the shares.

    `demand`: the demand points given to the plan (with `income_band` and `ev_need`; without `income_band`
    the table is empty); `equity`: core.area_equity (income ranges and area counts per band).
    After-columns are NaN without a plan (`state` None)."""
    if "income_band" not in demand or len(inputs.demand) == 0:
        return empty_equity_frame()
    dem = inputs.demand
    group = dem["group"].to_numpy()

    def covered(matrix, active) -> np.ndarray:   # per demand point
        return ((matrix @ np.asarray(active, float)) > 0)[group]

    sites = inputs.sites
    flags = {("l2", "before"): covered(inputs.a_l2, sites["l2_before"].to_numpy(bool)),
             ("l3", "before"): covered(inputs.a_l3, sites["l3_before"].to_numpy(bool))}
    if state is not None:
        flags[("l2", "after")] = covered(inputs.a_l2, state.has_l2[:, -1])
        flags[("l3", "after")] = covered(inputs.a_l3, state.has_l3[:, -1])
    source = demand.set_index(demand["demand_id"]).reindex(dem["demand_id"])
    points = pd.DataFrame({
        "band": pd.to_numeric(source["income_band"], errors="coerce").astype("Int64").to_numpy(),
        "population": dem["population"].to_numpy(float), "ev_count": dem["ev_count"].to_numpy(float),
        "ev_need": (pd.to_numeric(source["ev_need"], errors="coerce").to_numpy(float) if "ev_need" in source
                    else dem["ev_count"].to_numpy(float)),
        "weight": dem["weight"].to_numpy(float),
    })
    for (level, when), flag in flags.items():
        points[f"w_{level}_{when}"] = points["weight"] * flag
    points["band_key"] = points["band"].fillna(-1).astype(int)
    sums = points.drop(columns="band").groupby("band_key").agg(
        demand_points=("weight", "size"), population=("population", "sum"), ev_count=("ev_count", "sum"),
        ev_need=("ev_need", "sum"), ev_weight=("weight", "sum"),
        **{f"w_{lv}_{wh}": (f"w_{lv}_{wh}", "sum") for lv, wh in flags})
    order = sorted(k for k in sums.index if k > 0) + ([-1] if -1 in sums.index else [])
    sums = sums.loc[order]
    out = pd.DataFrame({"income_band": pd.array([k if k > 0 else pd.NA for k in order], dtype="Int64")})
    if equity is not None and len(equity):
        eq = equity.assign(band_key=pd.to_numeric(equity["income_band"], errors="coerce").fillna(-1).astype(int))
        ranges = eq.groupby("band_key").agg(median_income_min=("median_income", "min"),
                                            median_income_max=("median_income", "max"),
                                            areas=("area_id", "size")).reindex(order)
    else:
        ranges = pd.DataFrame(index=order, columns=["median_income_min", "median_income_max", "areas"])
    out["median_income_min"] = ranges["median_income_min"].to_numpy(float)
    out["median_income_max"] = ranges["median_income_max"].to_numpy(float)
    out["areas"] = pd.to_numeric(ranges["areas"], errors="coerce").fillna(0).to_numpy().astype(np.int64)
    out["demand_points"] = sums["demand_points"].to_numpy().astype(np.int64)
    for column, share in (("population", "population_share"), ("ev_count", None), ("ev_need", "ev_need_share"),
                          ("ev_weight", "ev_weight_share")):
        out[column] = sums[column].to_numpy(float)
        if share:
            total = float(sums[column].sum())
            out[share] = out[column] / total if total > 0 else np.nan
    out["coverage_weight"] = pd.array([config.coverage_weight] * len(out), dtype="string")
    weight = sums["ev_weight"].to_numpy(float)
    for level in ("l2", "l3"):
        for when in ("before", "after"):
            key = f"w_{level}_{when}"
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"coverage_{level}_{when}"] = (sums[key].to_numpy(float) / weight if key in sums
                                                   else np.full(len(out), np.nan))
    return out[EQUITY_COLUMNS]


# ------------------------------------------------------------------------------------------------
# The price of an equity floor
@dataclass(frozen=True)
class BudgetNeeded:
    status: str                 # "found", "not_found" (no tested budget reached the target) or "no_target"
    budget_cad: float | None    # smallest tested budget at which a plan reached the target objective
    lower_cad: float | None     # largest tested budget at which none did
    lower_proven: bool          # the short verdicts were proven (solver bound below the target, or infeasible)
    solves: int
    solve_seconds: float


def _scaled(config: NetworkConfig, budget: float) -> NetworkConfig:
    """`config` at another total budget, explicit phase caps scaled in proportion (same phasing rule)."""
    caps = config.phase_budget_cad
    if caps is not None and config.budget_cad > 0:
        caps = tuple(float(c) * budget / config.budget_cad for c in caps)
    return config.with_changes(budget_cad=float(budget), phase_budget_cad=caps, diagnose_infeasible=False)


def budget_for_objective(stations: pd.DataFrame, candidates: pd.DataFrame, demand: pd.DataFrame,
                         coverage: pd.DataFrame, config: NetworkConfig, target_objective: float,
                         inputs: NetworkInputs | None = None, tolerance_cad: float | None = None,
                         max_doublings: int = 5) -> BudgetNeeded:
    """The smallest budget (to `tolerance_cad`, default 2 % of the budget and at least 10,000 CAD) at which a
    plan meeting every constraint of `config` (its equity floors included) reaches `target_objective`.

    The best objective at budget B is non-decreasing in B (phase caps scale with B), so: double B from
    `config.budget_cad` until a plan reaches the target, then bisect. A budget counts as enough when the plan
    found reaches the target; as short when it does not (proven short when the solver's bound, or
    infeasibility, shows no plan can). With a MIP gap the answer is an upper bound within one tolerance step."""
    from evcharge_pipeline.network.plan import plan_network

    tol = tolerance_cad if tolerance_cad is not None else max(10_000.0, 0.02 * config.budget_cad)
    solves, seconds = 0, 0.0

    def enough(budget: float) -> tuple[bool, bool]:
        nonlocal solves, seconds
        result = plan_network(stations, candidates, demand, coverage, _scaled(config, budget), inputs=inputs)
        solves += 1
        seconds += float(result.summary.get("solve_seconds") or 0.0)
        s = result.summary
        reached = s.get("objective") is not None and float(s["objective"]) >= target_objective - 1e-9
        proven = result.status in ("infeasible", "infeasible_or_unbounded") or (
            s.get("bound") is not None and float(s["bound"]) < target_objective - 1e-9)
        return reached, proven

    lo, proven_all = float(config.budget_cad), True
    reached, proven = enough(lo)
    if reached:
        return BudgetNeeded("found", lo, None, True, solves, seconds)
    proven_all &= proven
    hi = None
    step = max(lo, tol)
    for _ in range(max_doublings):
        candidate = lo + step
        reached, proven = enough(candidate)
        if reached:
            hi = candidate
            break
        lo, proven_all = candidate, proven_all and proven
        step *= 2
    if hi is None:
        return BudgetNeeded("not_found", None, lo, proven_all, solves, seconds)
    while hi - lo > tol:
        mid = (lo + hi) / 2
        reached, proven = enough(mid)
        if reached:
            hi = mid
        else:
            lo, proven_all = mid, proven_all and proven
    return BudgetNeeded("found", hi, lo, proven_all, solves, seconds)


FRONTIER_TEXT = ("status", "status_no_floor", "method", "budget_needed_status", "level", "coverage_weight", "diagnosis")


def frontier_frame(rows: list[dict]) -> pd.DataFrame:
    """plan.network_equity_frontier rows, typed (text as strings, every other column float)."""
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        frame[column] = (frame[column].astype("string") if column in FRONTIER_TEXT
                         else pd.to_numeric(frame[column], errors="coerce").astype(float))
    return frame


def equity_price(stations: pd.DataFrame, candidates: pd.DataFrame, demand: pd.DataFrame, coverage: pd.DataFrame,
                 config: NetworkConfig, floor: float, level: str = "l2",
                 budget_tolerance_cad: float | None = None) -> tuple[dict, pd.DataFrame]:
    """The price of an equity floor at `config`'s budget: the no-floor plan, the plan with `floor` on `level`
    in every income band, the objective lost, and the smallest budget at which a floored plan reaches the
    no-floor objective (`budget_for_objective`). Returns the frontier row and the floored plan's band table."""
    from evcharge_pipeline.network.plan import plan_network

    if level not in ("l2", "l3"):
        raise ValueError(f"level must be 'l2' or 'l3', got {level!r}")
    free_cfg = config.with_changes(equity_min_coverage_l2_share=0.0, equity_min_coverage_l3_share=0.0)
    base = plan_network(stations, candidates, demand, coverage, free_cfg)
    floored_cfg = free_cfg.with_changes(**{f"equity_min_coverage_{level}_share": float(floor)})
    floored = plan_network(stations, candidates, demand, coverage, floored_cfg) if floor > 0 else base
    needed = None
    if base.summary.get("objective") is not None:
        needed = budget_for_objective(stations, candidates, demand, coverage, floored_cfg,
                                      float(base.summary["objective"]), floored.inputs, budget_tolerance_cad)
    table = band_coverage_table(floored.inputs, floored.state, demand, None, floored_cfg)
    row = price_row(floor, base.summary, floored.summary, needed)
    banded = table[table["income_band"].notna()]
    row.update(level=level, coverage_weight=config.coverage_weight,
               min_band_coverage_before=float(banded[f"coverage_{level}_before"].min()) if len(banded) else None,
               min_band_coverage_after_no_floor=_min_band(base, demand, free_cfg, level),
               min_band_coverage_after=float(banded[f"coverage_{level}_after"].min())
               if len(banded) and floored.state is not None else None,
               solve_seconds=row["solve_seconds"] + float(base.summary.get("solve_seconds") or 0.0) * (floor > 0))
    return row, table


def _min_band(result, demand: pd.DataFrame, config: NetworkConfig, level: str) -> float | None:
    if result.state is None:
        return None
    table = band_coverage_table(result.inputs, result.state, demand, None, config)
    banded = table[table["income_band"].notna()]
    return float(banded[f"coverage_{level}_after"].min()) if len(banded) else None


def price_row(floor: float, base: dict, floored: dict, needed: BudgetNeeded | None) -> dict:
    """One row of plan.network_equity_frontier from the no-floor and the floored plan summaries."""
    feasible = floored.get("objective") is not None and floored.get("status") in ("optimal", "time_limit")
    lost = (float(base["objective"]) - float(floored["objective"])
            if feasible and base.get("objective") is not None else None)
    return {
        "floor": float(floor), "budget_cad": float(floored["budget_cad"]),
        "status": floored["status"], "status_no_floor": base["status"], "method": floored.get("method"),
        "objective_no_floor": base.get("objective"), "objective": floored.get("objective") if feasible else None,
        "objective_lost": lost,
        "objective_lost_share": (lost / abs(float(base["objective"])) if lost is not None and base["objective"]
                                 else None),
        "gap": floored.get("gap"), "capex_total_cad": floored.get("capex_total_cad"),
        "diagnosis": floored.get("diagnosis"),
        "min_budget_meeting_floor_cad": floored.get("min_budget_cad"),
        "budget_needed_cad": needed.budget_cad if needed else None,
        "extra_budget_cad": (needed.budget_cad - float(floored["budget_cad"])
                             if needed and needed.budget_cad is not None else None),
        "budget_needed_status": needed.status if needed else None,
        "budget_short_cad": needed.lower_cad if needed else None,
        "budget_short_proven": float(needed.lower_proven) if needed else None,
        "budget_search_solves": needed.solves if needed else None,
        "coverage_l2_after": floored.get(f"coverage_l2_{_weight_key(floored)}_after"),
        "coverage_l3_after": floored.get(f"coverage_l3_{_weight_key(floored)}_after"),
        "solve_seconds": float(floored.get("solve_seconds") or 0.0) + (needed.solve_seconds if needed else 0.0),
    }


def _weight_key(summary: dict) -> str:
    return "population" if summary.get("coverage_weight") == "population" else "ev"


# ------------------------------------------------------------------------------------------------
# Figures (matplotlib, Agg): PNG bytes and a Markdown image with a data URI, small enough for metadata.
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    _pyplot().close(fig)
    return buffer.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def band_coverage_plot(table: pd.DataFrame, floors: dict[str, float] | None = None) -> bytes:
    """Grouped bars: coverage by income band, L2 and L3, before and after the plan; dotted floor lines."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.0), sharey=True)
    rows = table[table["income_band"].notna()]
    x = np.arange(len(rows))
    for ax, level in zip(axes, ("l2", "l3"), strict=True):
        ax.bar(x - 0.2, rows[f"coverage_{level}_before"], 0.4, label="before", color="#adb5bd")
        ax.bar(x + 0.2, rows[f"coverage_{level}_after"].fillna(0.0), 0.4, label="after", color="#0d6efd")
        floor = (floors or {}).get(level, 0.0)
        if floor > 0:
            ax.axhline(floor, color="#dc3545", linestyle=":", linewidth=1, label=f"floor {floor:.0%}")
        ax.set_xticks(x, [str(int(b)) for b in rows["income_band"]])
        ax.set_xlabel("income band (1 = lowest)")
        ax.set_title(f"{level.upper()} coverage")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    weight = str(table["coverage_weight"].iloc[0]) if len(table) else "ev"
    axes[0].set_ylabel(f"share covered ({weight}-weighted)")
    axes[0].legend(fontsize=7, loc="lower left")
    return _png(fig)


def equity_frontier_plot(frontier: pd.DataFrame) -> bytes:
    """Floor (x) against the objective lost and the extra budget needed at the original objective."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    rows = frontier.sort_values("floor")
    if rows.empty:
        ax.text(0.5, 0.5, "no floor partitions materialized yet", ha="center", va="center")
    else:
        ok = rows[rows["objective_lost"].notna()]
        ax.plot(ok["floor"], ok["objective_lost"], marker="o", color="#0d6efd", label="objective lost (same budget)")
        bad = rows[rows["objective_lost"].isna()]
        if len(bad):
            ax.scatter(bad["floor"], np.zeros(len(bad)), marker="x", color="#dc3545", label="no plan at the budget")
        ax.set_ylabel("objective lost")
        ax.legend(fontsize=7, loc="upper left")
        twin = ax.twinx()
        extra = rows[rows["extra_budget_cad"].notna()]
        twin.plot(extra["floor"], extra["extra_budget_cad"] / 1e3, marker="s", color="#fd7e14",
                  label="extra budget at the original objective")
        twin.set_ylabel("extra budget (thousand CAD)")
        twin.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("equity floor: L2 coverage share in every income band")
    ax.set_title("Price of equity")
    ax.grid(alpha=0.3)
    return _png(fig)
