"""Forecast and placement on a region bundle's demand points and sites (plain Python, no Dagster).

Demand history (optional region section)::

    [demand_history]
    path = "demand_history.csv"   # columns: demand_id, then one column per year ("2017", "2018", ...)
    id_field = "demand_id"        # optional, default "demand_id"
    unit = "evs"                  # optional, documentation only: values are EVs needing public charging

Values are the charging demand of each demand point in that year, in the same unit as
``core.demand_points.ev_weight`` (EVs). Years must be consecutive; every value must be a non-negative
number. Demand points missing from the file get zero history (counted and reported); ids that are not
demand points are refused. Without the section, the projected ``ev_weight`` of ``core.demand_points``
serves as the demand of a single planning year (`RegionPlacementConfig.target_year`) with a relative
spread for its scenarios.

Supply points are the existing stations (their L1/L2 ports are slow chargers, L3 ports fast ones) and
the candidate sites (empty). Distances come from ``core.coverage`` (sparse pairs within the coverage
radius); each demand point is linked to its ``nearest_sites`` closest sites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evcharge_pipeline.network.inputs import station_ports_by_level
from evcharge_pipeline.placement import forecast as fc
from evcharge_pipeline.placement import model as pm


class DemandHistoryError(ValueError):
    """Bad demand-history file; the message names file, row and field."""


@dataclass(frozen=True)
class RegionPlacementConfig:
    """Planning assumptions for a region. Demand unit: EVs that need public charging in a year."""

    horizon_years: int = 3  # years planned after the last history year
    target_year: int = 2030  # planning year when there is no history (ev_weight is projected to it)
    no_history_relative_spread: float = 0.2  # std. dev. of demand / demand, for scenarios without history
    slow_charger_evs: float = 12.0  # EVs one slow (L1/L2) charger serves per year
    fast_charger_evs: float = 80.0  # EVs one fast (L3) charger serves per year
    slow_charger_cost_cad_per_year: float = 2_000.0  # annualised capex + O&M of one slow charger
    fast_charger_cost_cad_per_year: float = 20_000.0  # annualised capex + O&M of one fast charger
    distance_cost_cad_per_ev_km: float = 20.0  # yearly cost of an EV driving one km further to charge
    unserved_cost_cad_per_ev: float = 1_500.0  # yearly cost per EV of demand not served (or over-planned)
    candidate_parking_slots: int = 8  # charger slots at a candidate site
    min_station_parking_slots: int = 8  # slots at an existing station: max(ports, this)
    nearest_sites: int = 5  # sites linked to each demand point (from core.coverage)
    max_distance_km: float = 10.0  # longest assignment
    service: str = "chosen"  # placement service mode, see `model.PlacementConfig.service`
    robust_objective: str = "expected"  # service "recourse" only: "expected" | "worst_case"
    mip_rel_gap: float = 5e-3
    time_limit_seconds: float = 60.0
    forecast: fc.ForecastConfig = field(default_factory=fc.ForecastConfig)

    def placement_config(self) -> pm.PlacementConfig:
        return pm.PlacementConfig(
            slow_capacity_units=self.slow_charger_evs, fast_capacity_units=self.fast_charger_evs,
            slow_charger_cost_cad_per_year=self.slow_charger_cost_cad_per_year,
            fast_charger_cost_cad_per_year=self.fast_charger_cost_cad_per_year,
            distance_cost_cad_per_unit_km=self.distance_cost_cad_per_ev_km,
            mismatch_cost_cad_per_unit=self.unserved_cost_cad_per_ev, service=self.service,
            robust_objective=self.robust_objective,
            mip_rel_gap=self.mip_rel_gap, time_limit_seconds=self.time_limit_seconds, price_rounds=0,
            rounding_heuristic=True)


def load_demand_history_csv(path: Path | str, demand_ids, id_field: str = "demand_id") -> tuple[pd.DataFrame, dict]:
    """Read and validate a demand history CSV; returns (wide frame indexed by demand_id, report)."""
    path = Path(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    if id_field not in frame.columns:
        raise DemandHistoryError(f"{path.name}: missing id column {id_field!r}; found {list(frame.columns)}")
    year_cols = sorted((c for c in frame.columns if c.isdigit()), key=int)
    if len(year_cols) < 2:
        raise DemandHistoryError(f"{path.name}: needs at least two year columns, found {year_cols}")
    years = [int(c) for c in year_cols]
    gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years))
    if gaps:
        raise DemandHistoryError(f"{path.name}: year column(s) {gaps} missing (a gap)")
    ids = pd.to_numeric(frame[id_field], errors="coerce")
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DemandHistoryError(f"{path.name}: row {row + 1}, field {id_field!r} is not an id "
                                 f"({frame[id_field].iloc[row]!r})")
    known = pd.Index(pd.Series(demand_ids).astype("int64"))
    unknown = ~ids.astype("int64").isin(known)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise DemandHistoryError(f"{path.name}: row {row + 1}, field {id_field!r} = {int(ids.iloc[row])} is not a "
                                 f"demand point; {int(unknown.sum())} such row(s)")
    dup = ids.duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DemandHistoryError(f"{path.name}: row {row + 1}, field {id_field!r} = {int(ids.iloc[row])} repeats")
    values = {}
    for col in year_cols:
        raw = frame[col].str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        for bad, what in ((raw == "", "is empty (a gap)"), (num.isna() & (raw != ""), "is not numeric"),
                          (num < 0, "is negative"), (np.isinf(num.fillna(0)), "is not finite")):
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise DemandHistoryError(f"{path.name}: row {row + 1}, field {col!r} {what} "
                                         f"({frame[col].iloc[row]!r}); {int(bad.sum())} such value(s)")
        values[int(col)] = num.to_numpy(float)
    wide = pd.DataFrame(values, index=ids.astype("int64").to_numpy())
    wide.index.name = "demand_id"
    missing = known.difference(wide.index)
    report = {"history_rows": len(wide), "demand_points_without_history": len(missing),
              "history_years": f"{years[0]}-{years[-1]}"}
    wide = wide.reindex(known, fill_value=0.0)
    return wide, report


def generate_sample_demand_history(demand_points: pd.DataFrame, seed: int = 42, first_year: int = 2017,
                                   last_year: int = 2024, growth_per_year: float = 0.35,
                                   noise_relative: float = 0.08) -> pd.DataFrame:
    """A plausible synthetic history ending near each point's ``ev_count`` in ``last_year``.

    Each point grows at ``growth_per_year`` plus a point-specific deviation (sd 0.08), with
    multiplicative noise; columns ``demand_id`` and one per year (values in EVs, 3 decimals).
    """
    rng = np.random.default_rng(seed)
    base = demand_points["ev_count"].to_numpy(float)
    n = len(base)
    years = np.arange(first_year, last_year + 1)
    growth = np.clip(growth_per_year + rng.normal(0, 0.08, n), 0.02, None)
    back = (last_year - years)[None, :]
    values = base[:, None] / (1 + growth[:, None]) ** back
    values *= rng.lognormal(0.0, noise_relative, values.shape)
    out = pd.DataFrame(np.round(values, 3), columns=[str(y) for y in years])
    out.insert(0, "demand_id", demand_points["demand_id"].to_numpy())
    return out


@dataclass
class RegionForecast:
    table: pd.DataFrame  # demand_id, year, forecast_evs, q10_evs, ..., method, basis
    backtest: pd.DataFrame
    method: str
    years: list[int]


def _qcol(q: float) -> str:
    return f"q{round(q * 100):02d}_evs"


def forecast_region(points: pd.DataFrame, history: pd.DataFrame | None,
                    config: RegionPlacementConfig = RegionPlacementConfig()) -> RegionForecast:
    """Forecast each demand point; from its history when given, else from the projected ev_weight."""
    ids = points["demand_id"].to_numpy()
    qs = sorted(config.forecast.quantiles)
    if history is not None:
        hist = history.reindex(ids, fill_value=0.0)
        years = [int(c) for c in hist.columns]
        future = list(range(years[-1] + 1, years[-1] + 1 + config.horizon_years))
        res = fc.forecast_demand(hist.to_numpy(float), years, future, config.forecast)
        rows = []
        for k, y in enumerate(future):
            part = pd.DataFrame({"demand_id": ids, "year": y, "forecast_evs": res.point[:, k]})
            for q in qs:
                part[_qcol(q)] = res.quantiles[q][:, k]
            rows.append(part)
        table = pd.concat(rows, ignore_index=True).assign(method=res.method, basis="history")
        return RegionForecast(table, res.backtest, res.method, future)
    from scipy.stats import norm

    weight = points["ev_weight"].to_numpy(float)
    table = pd.DataFrame({"demand_id": ids, "year": config.target_year, "forecast_evs": weight})
    for q in qs:
        table[_qcol(q)] = np.maximum(weight * (1 + norm.ppf(q) * config.no_history_relative_spread), 0.0)
    table = table.assign(method="projected_ev_weight", basis="ev_weight")
    empty = pd.DataFrame(columns=["method", "horizon", "origin_year", "mae", "mape", "wape", "n_points"])
    return RegionForecast(table, empty, "projected_ev_weight", [config.target_year])


def supply_points(stations: pd.DataFrame, candidates: pd.DataFrame,
                  config: RegionPlacementConfig = RegionPlacementConfig()) -> pd.DataFrame:
    """site_id, site_kind, lat, lon, parking_slots, existing_slow, existing_fast (one row per site)."""
    st = stations.copy()
    # ports per level have one owner (shared with the network plan): a station with L2 and L3 ports has
    # its L2 ports slow and its L3 ports fast; without a per-level split all ports are at its level
    per_level = station_ports_by_level(st)
    slow = (per_level["ports_l1"] + per_level["ports_l2"]).to_numpy()
    fast = per_level["ports_l3"].to_numpy()
    existing = pd.DataFrame({"site_id": st["site_id"], "site_kind": "existing", "lat": st["lat"], "lon": st["lon"],
                             "parking_slots": np.maximum(slow + fast, config.min_station_parking_slots),
                             "existing_slow": slow, "existing_fast": fast})
    cand = pd.DataFrame({"site_id": candidates["site_id"], "site_kind": "candidate", "lat": candidates["lat"],
                         "lon": candidates["lon"], "parking_slots": config.candidate_parking_slots,
                         "existing_slow": 0, "existing_fast": 0})
    out = pd.concat([existing, cand], ignore_index=True)
    dup = out["site_id"].duplicated()
    if dup.any():
        raise ValueError("site ids repeat across stations and candidate sites: "
                         f"{out.loc[dup, 'site_id'].head().tolist()}")
    return out


@dataclass
class RegionPlan:
    sites: pd.DataFrame  # per site and year
    assignments: pd.DataFrame  # year, demand_id, site_id, served_evs, distance_km
    summary: pd.DataFrame  # per year
    result: pm.PlacementResult
    demand_points_without_site: int


def plan_region(forecast_table: pd.DataFrame, coverage: pd.DataFrame, sites: pd.DataFrame,
                config: RegionPlacementConfig = RegionPlacementConfig()) -> RegionPlan:
    """Size slow/fast chargers per site and year and assign demand, robust to the forecast quantiles."""
    years = sorted(forecast_table["year"].unique().tolist())
    qcols = [c for c in forecast_table.columns if c.startswith("q") and c.endswith("_evs")]
    wide = forecast_table.pivot(index="demand_id", columns="year", values=[*qcols, "forecast_evs"])
    demand_ids = wide.index.to_numpy()
    # scenarios (K, T, n): the forecast quantiles with equal weights
    scen = np.stack([wide[c][years].to_numpy(float).T for c in qcols]) if qcols else \
        wide["forecast_evs"][years].to_numpy(float).T[None]
    site_pos = pd.Series(np.arange(len(sites)), index=sites["site_id"].to_numpy())
    dem_pos = pd.Series(np.arange(len(demand_ids)), index=demand_ids)
    cov = coverage[coverage["distance_km"] <= config.max_distance_km]
    cov = cov[cov["site_id"].isin(site_pos.index) & cov["demand_id"].isin(dem_pos.index)]
    cov = cov.sort_values(["demand_id", "distance_km"])
    cov = cov[cov.groupby("demand_id").cumcount() < config.nearest_sites]
    arcs = pm.arcs_from_pairs(dem_pos[cov["demand_id"]].to_numpy(), site_pos[cov["site_id"]].to_numpy(),
                              cov["distance_km"].to_numpy())
    without_site = int(len(demand_ids) - cov["demand_id"].nunique())
    problem = pm.PlacementProblem(arcs=arcs, n_demand=len(demand_ids),
                                  parking_slots=sites["parking_slots"].to_numpy(int),
                                  existing_slow=sites["existing_slow"].to_numpy(int),
                                  existing_fast=sites["existing_fast"].to_numpy(int), demand=scen, years=years)
    result = pm.solve_placement(problem, config.placement_config())
    expected = scen.mean(axis=0)  # (T, n): mean over the equally weighted quantile scenarios
    point = wide["forecast_evs"][years].to_numpy(float).T
    if not result.ok:
        summary = pd.DataFrame({"year": years, "status": result.status, "reason": result.reason,
                                "demand_evs": point.sum(axis=1)})
        return RegionPlan(pd.DataFrame(), pd.DataFrame(), summary, result, without_site)
    site_rows, assign_rows, summary_rows = [], [], []
    prev_slow, prev_fast = sites["existing_slow"].to_numpy(int), sites["existing_fast"].to_numpy(int)
    for t, year in enumerate(years):
        flows = result.flows[t].tocoo()
        keep = flows.data > 1e-6
        dist = pd.Series(arcs.distance_km, index=arcs.demand_idx * len(sites) + arcs.supply_idx)
        key = flows.row[keep] * len(sites) + flows.col[keep]
        assign_rows.append(pd.DataFrame({"year": year, "demand_id": demand_ids[flows.row[keep]],
                                         "site_id": sites["site_id"].to_numpy()[flows.col[keep]],
                                         "served_evs": flows.data[keep], "distance_km": dist.loc[key].to_numpy()}))
        slow, fast = result.slow[:, t], result.fast[:, t]
        load = np.asarray(result.flows[t].sum(axis=0)).ravel()
        cap = config.slow_charger_evs * slow + config.fast_charger_evs * fast
        site_rows.append(sites[["site_id", "site_kind", "lat", "lon", "parking_slots"]].assign(
            year=year, slow_chargers=slow, fast_chargers=fast, new_slow_chargers=slow - prev_slow,
            new_fast_chargers=fast - prev_fast, capacity_evs=cap, load_evs=load,
            utilisation=np.divide(load, cap, out=np.zeros_like(load), where=cap > 0)))
        prev_slow, prev_fast = slow, fast
        served = result.served[t]
        summary_rows.append({
            "year": year, "status": result.status, "reason": result.reason,
            "demand_evs": float(point[t].sum()), "expected_demand_evs": float(expected[t].sum()),
            "served_evs": float(served.sum()), "slow_chargers": int(slow.sum()), "fast_chargers": int(fast.sum()),
            "new_sites": int(((slow + fast > 0) & (sites["site_kind"] == "candidate").to_numpy()).sum()),
            "distance_cost_cad": float(result.cost_distance[t]), "mismatch_cost_cad": float(result.cost_mismatch[t]),
            "infrastructure_cost_cad": float(result.cost_infrastructure[t]),
            "mean_distance_km": float((flows.data[keep] * dist.loc[key].to_numpy()).sum() / max(served.sum(), 1e-12)),
            "mip_gap": result.mip_gap, "solve_seconds": result.solve_seconds, "build_seconds": result.build_seconds})
    return RegionPlan(pd.concat(site_rows, ignore_index=True), pd.concat(assign_rows, ignore_index=True),
                      pd.DataFrame(summary_rows), result, without_site)
