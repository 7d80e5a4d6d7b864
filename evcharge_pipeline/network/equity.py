"""Equity of a network plan: coverage by income band before and after (plan.network_plan_equity), the price
of an equity floor (objective lost, budget needed), and their figures. Domain code: no Dagster.

Coverage of a band at level k is the share of the band's coverage weight (`config.coverage_weight`: EVs,
population or need-weighted EVs) at demand points with an active level-k site within `radius_{k}_km`,
before the plan (the existing stations) and in its last phase. See docs/equity.md.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, replace

import cvxpy as cp
import numpy as np
import pandas as pd

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import NetworkInputs
from evcharge_pipeline.network.model import MCAD, OBJECTIVE_SCALE, build_model, decisions_from_values
from evcharge_pipeline.network.solve import solve_model
from evcharge_pipeline.network.state import NetworkState, evaluate_state

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
    out["areas"] = ranges["areas"].fillna(0).to_numpy().astype(np.int64)
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
    status: str                 # solver status of the minimum-budget model
    budget_cad: float | None    # smallest budget (phase caps scaled with it) reaching the target objective
    capex_cad: float | None     # what that plan spends
    solve_seconds: float


def budget_for_objective(inputs: NetworkInputs, config: NetworkConfig, target_objective: float,
                         time_limit_seconds: float | None = None) -> BudgetNeeded:
    """The smallest budget B at which a plan meeting every constraint of `config` (its equity floors
    included) reaches `target_objective` (the documented plan objective).

    One MILP: the plan model with its budget rows replaced by sum_t capex_t <= B and capex_t <= s_t * B
    (s_t = the config's phase caps as shares of its budget, so the phasing rule stays the same), the
    objective turned into the row objective >= target, and B minimised. Exact at a zero MIP gap; with a
    gap the answer is an upper bound on the smallest budget within that gap."""
    relaxed = config.with_changes(relax=tuple(set(config.relax) | {"total_budget", "phase_budget"}))
    model = build_model(inputs, relaxed, objective="plan")
    budget = cp.Variable(nonneg=True)          # million CAD
    capex = model.expressions["capex"]
    caps = np.asarray(config.phase_budgets(), float)
    shares = caps / config.budget_cad if config.budget_cad > 0 else np.full(len(caps), 1.0)
    plan_objective = model.problem.objective.args[0]          # OBJECTIVE_SCALE x the documented objective
    constraints = [*model.problem.constraints, cp.sum(capex) / MCAD <= budget, capex / MCAD <= shares * budget,
                   plan_objective >= OBJECTIVE_SCALE * target_objective]
    built = replace(model, problem=cp.Problem(cp.Minimize(budget), constraints),
                    variables={**model.variables, "budget_mcad": budget}, objective_kind="min_budget",
                    objective_scale=1.0)
    outcome = solve_model(built, inputs, relaxed, time_limit_seconds=time_limit_seconds)
    if not outcome.has_solution:
        return BudgetNeeded(outcome.status, None, None, outcome.solve_seconds)
    state = evaluate_state(inputs, decisions_from_values(built, inputs, relaxed), relaxed)
    return BudgetNeeded(outcome.status, float(budget.value) * MCAD, float(state.capex_by_phase.sum()),
                        outcome.solve_seconds)


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
        "min_budget_meeting_floor_cad": floored.get("min_budget_cad"),
        "budget_needed_cad": needed.budget_cad if needed else None,
        "extra_budget_cad": (needed.budget_cad - float(floored["budget_cad"])
                             if needed and needed.budget_cad is not None else None),
        "budget_needed_status": needed.status if needed else None,
        "coverage_l2_after": floored.get(f"coverage_l2_{_weight_key(floored)}_after"),
        "coverage_l3_after": floored.get(f"coverage_l3_{_weight_key(floored)}_after"),
        "solve_seconds": float(floored.get("solve_seconds") or 0.0) + (needed.solve_seconds if needed else 0.0),
    }


def _weight_key(summary: dict) -> str:
    return "population" if summary.get("coverage_weight") == "population" else "ev"


# ------------------------------------------------------------------------------------------------
# Figures (matplotlib, Agg): PNG bytes and a Markdown image with a data URI, small enough for metadata.
def _pyplot():
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

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
    for ax, level in zip(axes, ("l2", "l3")):
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
