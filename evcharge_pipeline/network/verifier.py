"""Independent verification of a network plan.

Recomputes every constraint and every reported figure from the plan rows and the raw input tables
alone (stations, candidates, demand points, coverage pairs, config). It shares no code with the
model or the solver path: states are rebuilt with pandas from the decisions, coverage with joins on
the coverage pairs, spacing with haversine distances between the chosen sites.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.inputs import station_ports_by_level

TOL = 1e-6
R_EARTH_KM = 6371.0088


@dataclass
class VerificationReport:
    ok: bool
    violations: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)

    def as_markdown(self) -> str:
        if self.ok:
            return "All constraints and reported figures verified."
        return "\n".join(f"- {v}" for v in self.violations)


def _haversine(lat1, lon1, lat2, lon2):
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 2 * R_EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def _close(a, b, tol=TOL, rel=1e-7) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None and (b is None or (isinstance(b, float) and math.isnan(b)))
    return abs(float(a) - float(b)) <= tol + rel * max(abs(float(a)), abs(float(b)))


def verify_plan(plan: pd.DataFrame, summary: dict, stations: pd.DataFrame, candidates: pd.DataFrame,
                demand: pd.DataFrame, coverage: pd.DataFrame, config: NetworkConfig) -> VerificationReport:
    v: list[str] = []
    T = config.phases
    relax = set(config.relax)

    st = stations[stations["level"].isin(["L1", "L2", "L3"])].copy()
    st["site_id"] = st["site_id"].astype(str)
    st["kind"] = "existing"
    # ports per level: the input fact's one owner (a station with L2 and L3 ports offers both levels)
    st[["base_l1", "base_l2", "base_l3"]] = station_ports_by_level(st).to_numpy()
    cand = candidates.copy()
    cand["site_id"] = cand["site_id"].astype(str)
    cand["kind"] = "candidate"
    cand["level"] = None
    cand["ports"] = 0
    cand[["base_l1", "base_l2", "base_l3"]] = 0
    keep_cols = ["site_id", "kind", "lat", "lon", "level", "ports", "base_l1", "base_l2", "base_l3"]
    sites = pd.concat([st[keep_cols], cand[keep_cols]], ignore_index=True).set_index("site_id")
    flag = st.set_index("site_id")["upgradeable"].astype(bool) if "upgradeable" in st else None
    excluded = set(map(str, config.not_upgradeable_site_ids))

    def upgradeable(sid: str) -> bool:
        row = sites.loc[sid]
        if (row["kind"] != "existing" or row["level"] not in config.upgradeable_levels or row["level"] == "L3"
                or row["base_l3"] > 0):
            return False
        return sid not in excluded and (flag is None or bool(flag.get(sid, True)))

    p = plan.copy()
    p["site_id"] = p["site_id"].astype(str)
    unknown = sorted(set(p["site_id"]) - set(sites.index))
    if unknown:
        v.append(f"plan names sites that are in no input table: {unknown[:5]}")
        return VerificationReport(False, v)
    missing = sorted(set(st["site_id"]) - set(p["site_id"]))
    if missing:
        v.append(f"existing stations without a plan row: {missing[:5]} ({len(missing)} in all)")

    # ---- decisions per site -------------------------------------------------------------------
    acts = p[p["action"] != "keep"]
    dup = acts["site_id"].duplicated()
    if dup.any():
        v.append(f"sites with more than one action: {sorted(set(acts.loc[dup, 'site_id']))[:5]}")
    action_phase: dict[str, tuple[str, int]] = {}
    for row in acts.itertuples(index=False):
        kind = sites.loc[row.site_id, "kind"]
        phase = row.phase
        if pd.isna(phase) or not 1 <= int(phase) <= T:
            v.append(f"site {row.site_id}: action {row.action} has phase {phase!r} outside 1..{T}")
            continue
        allowed = {"existing": {"upgrade_l3", "retire"}, "candidate": {"new_l2", "new_l3"}}[kind]
        if row.action not in allowed:
            v.append(f"site {row.site_id} ({kind}): action {row.action} is not allowed")
            continue
        if row.action == "upgrade_l3" and not upgradeable(row.site_id):
            v.append(f"site {row.site_id}: upgraded but is not an upgradeable L2 station")
        if row.action == "retire" and not config.allow_retire:
            v.append(f"site {row.site_id}: retired although retirements are disabled")
        action_phase[row.site_id] = (row.action, int(phase))
    keep_rows = p[p["action"] == "keep"]
    bad_keep = keep_rows["phase"].isna() & ((keep_rows["ports_added_l2"] > 0) | (keep_rows["ports_added_l3"] > 0)
                                            | (keep_rows["capex_cad"].abs() > TOL))
    if bad_keep.any():
        v.append(f"keep rows without a phase add ports or spend: {list(keep_rows.loc[bad_keep, 'site_id'])[:5]}")
    dated = p[p["phase"].notna()]
    if dated[["site_id", "phase"]].duplicated().any():
        v.append("more than one row for the same site and phase")

    ids = list(sites.index)
    pos = {sid: i for i, sid in enumerate(ids)}
    n = len(ids)
    add2 = np.zeros((n, T), int)
    add3 = np.zeros((n, T), int)
    for row in dated.itertuples(index=False):
        t = int(row.phase)
        if 1 <= t <= T:
            add2[pos[row.site_id], t - 1] += int(row.ports_added_l2)
            add3[pos[row.site_id], t - 1] += int(row.ports_added_l3)
    if (add2 < 0).any() or (add3 < 0).any():
        v.append("negative port additions")
    if (add2 > config.max_added_ports_per_phase).any() or (add3 > config.max_added_ports_per_phase).any():
        v.append(f"more than {config.max_added_ports_per_phase} ports added at a site in one phase")

    # ---- states per phase --------------------------------------------------------------------
    level = sites["level"].to_numpy()
    b1, b2, b3 = (sites[c].fillna(0).astype(int).to_numpy() for c in ("base_l1", "base_l2", "base_l3"))
    had_l2 = (b2 > 0) | (level == "L2")
    had_l3 = (b3 > 0) | (level == "L3")
    existing = (sites["kind"] == "existing").to_numpy()
    alive = np.zeros((n, T), int)
    l2 = np.zeros((n, T), int)
    l3 = np.zeros((n, T), int)
    new_l3 = np.zeros(n, bool)
    ports1 = np.zeros((n, T), int)
    ports2 = np.zeros((n, T), int)
    ports3 = np.zeros((n, T), int)
    retired_ever = np.zeros(n, bool)
    for t in range(1, T + 1):
        k = t - 1
        for i, sid in enumerate(ids):
            act, ph = action_phase.get(sid, ("keep", 0))
            done = ph and ph <= t
            if existing[i]:
                is_alive = not (act == "retire" and done)
                alive[i, k] = is_alive
                l2[i, k] = is_alive and had_l2[i]
                l3[i, k] = is_alive and (had_l3[i] or (act == "upgrade_l3" and done))
                ports1[i, k] = b1[i] if is_alive else 0
                ports2[i, k] = b2[i] if is_alive else 0
                ports3[i, k] = (b3[i] if is_alive else 0) + (
                    config.upgrade_l3_ports if act == "upgrade_l3" and done else 0)
                if act == "retire":
                    retired_ever[i] = True
            else:
                alive[i, k] = bool(done)
                l2[i, k] = bool(done) and act == "new_l2"
                l3[i, k] = bool(done) and act == "new_l3"
                ports2[i, k] = config.new_l2_station_ports if l2[i, k] else 0
                ports3[i, k] = config.new_l3_station_ports if l3[i, k] else 0
            if act in {"upgrade_l3", "new_l3"}:
                new_l3[i] = True
    ports2 += np.cumsum(add2, axis=1)
    ports3 += np.cumsum(add3, axis=1)
    if ((add2 > 0) & (l2 == 0)).any() or ((add3 > 0) & (l3 == 0)).any():
        bad = np.flatnonzero(((add2 > 0) & (l2 == 0)).any(axis=1) | ((add3 > 0) & (l3 == 0)).any(axis=1))
        v.append(f"ports added where that level is not active: {[ids[i] for i in bad[:5]]}")
    if ((add2.sum(axis=1) + add3.sum(axis=1) > 0) & retired_ever).any():
        v.append("ports added at a station that is retired")

    # row-level before/after and costs
    for row in dated.itertuples(index=False):
        i, k = pos[row.site_id], int(row.phase) - 1
        if not 0 <= k < T:
            continue
        after = (ports1[i, k], ports2[i, k], ports3[i, k])
        before = (ports1[i, k - 1], ports2[i, k - 1], ports3[i, k - 1]) if k > 0 else (
            (b1[i], b2[i], b3[i]) if existing[i] else (0, 0, 0))
        if (row.l1_ports_after, row.l2_ports_after, row.l3_ports_after) != after:
            reported_after = (row.l1_ports_after, row.l2_ports_after, row.l3_ports_after)
            v.append(f"site {row.site_id} phase {k + 1}: reported ports after {reported_after} != {after}")
        if (row.l1_ports_before, row.l2_ports_before, row.l3_ports_before) != before:
            v.append(f"site {row.site_id} phase {k + 1}: reported ports before differ from the recomputed {before}")
    undated = p[p["phase"].isna()]
    for row in undated.itertuples(index=False):
        i = pos[row.site_id]
        initial = (b1[i], b2[i], b3[i]) if existing[i] else (0, 0, 0)
        reported = {(row.l1_ports_before, row.l2_ports_before, row.l3_ports_before),
                    (row.l1_ports_after, row.l2_ports_after, row.l3_ports_after)}
        if reported != {initial}:
            v.append(f"site {row.site_id}: kept unchanged but reports ports {sorted(reported)} instead of {initial}")
    cost = np.zeros((n, T))
    for sid, (act, ph) in action_phase.items():
        i, k = pos[sid], ph - 1
        cost[i, k] += {
            "upgrade_l3": config.upgrade_l3_cad + config.upgrade_l3_ports * config.port_l3_cad,
            "retire": config.retire_cad,
            "new_l2": config.new_l2_station_cad + config.new_l2_station_ports * config.port_l2_cad,
            "new_l3": config.new_l3_station_cad + config.new_l3_station_ports * config.port_l3_cad,
        }[act]
    cost += add2 * config.port_l2_cad + add3 * config.port_l3_cad
    for row in dated.itertuples(index=False):
        i, k = pos[row.site_id], int(row.phase) - 1
        if 0 <= k < T and not _close(row.capex_cad, cost[i, k], tol=0.01):
            v.append(f"site {row.site_id} phase {k + 1}: capex {row.capex_cad} != recomputed {cost[i, k]}")
    capex_phase = cost.sum(axis=0)
    if "total_budget" not in relax and capex_phase.sum() > config.budget_cad + 0.01:
        v.append(f"total capex {capex_phase.sum():,.0f} CAD exceeds the budget {config.budget_cad:,.0f} CAD")
    if "phase_budget" not in relax:
        for t, (spent, cap) in enumerate(zip(capex_phase, config.phase_budgets(), strict=True), start=1):
            if spent > cap + 0.01:
                v.append(f"phase {t} capex {spent:,.0f} CAD exceeds the phase budget {cap:,.0f} CAD")
    upgrades = np.zeros(T, int)
    for act, ph in action_phase.values():
        if act == "upgrade_l3":
            upgrades[ph - 1] += 1
    if "max_upgrades_per_phase" not in relax and (upgrades > config.max_upgrades_per_phase).any():
        v.append(f"upgrades per phase {list(upgrades)} exceed {config.max_upgrades_per_phase}")

    # ---- grid capacity and ports per area ------------------------------------------------------
    load = config.power_l1_kw * ports1 + config.power_l2_kw * ports2 + config.power_l3_kw * ports3
    initial = np.where(existing, config.power_l1_kw * b1 + config.power_l2_kw * b2 + config.power_l3_kw * b3, 0.0)
    cap = np.full(n, config.site_grid_capacity_kw)
    if "grid_capacity_kw" in st:
        given = pd.to_numeric(st.set_index("site_id")["grid_capacity_kw"], errors="coerce").reindex(ids)
        cap = np.where(given.notna().to_numpy(), given.to_numpy(), cap)
    cap = np.maximum(cap, initial)
    if "site_grid_capacity" not in relax:
        over = np.argwhere(load > cap[:, None] + 1e-6)
        if len(over):
            i, k = over[0]
            v.append(f"site {ids[i]} phase {k + 1}: load {load[i, k]:.1f} kW exceeds grid capacity {cap[i]:.1f} kW "
                     f"({len(over)} site-phases over)")
    cov = coverage.copy()
    cov["site_id"] = cov["site_id"].astype(str)
    cov = cov[cov["site_id"].isin(sites.index)]
    nearest = cov.loc[cov.sort_values("distance_km").groupby("site_id", sort=False)["distance_km"].idxmin()]
    area_of = (nearest.merge(demand[["demand_id", "area_id"]], on="demand_id")
               .set_index("site_id")["area_id"].astype(str))
    site_area = area_of.reindex(ids).to_numpy()
    has_area = pd.notna(site_area)
    frame_load = pd.DataFrame(load[has_area], index=site_area[has_area])
    area_load = frame_load.groupby(level=0).sum()
    area_initial = pd.Series(initial[has_area], index=site_area[has_area]).groupby(level=0).sum()
    if config.area_grid_capacity_kw is not None and "area_grid_capacity" not in relax:
        area_cap = np.maximum(config.area_grid_capacity_kw, area_initial.reindex(area_load.index).fillna(0))
        over = area_load.gt(area_cap + 1e-6, axis=0)
        if over.to_numpy().any():
            a = over.index[over.any(axis=1)][0]
            v.append(f"area {a}: load {area_load.loc[a].max():.1f} kW exceeds area grid capacity "
                     f"{area_cap.loc[a]:.1f} kW")
    if config.min_ports_per_100_ev > 0 and "min_ports_per_area" not in relax:
        ev = demand.assign(area_id=demand["area_id"].astype(str)).groupby("area_id")["ev_count"].sum()
        need = np.ceil(config.min_ports_per_100_ev * ev / 100.0 - 1e-9)
        have = pd.Series((ports1 + ports2 + ports3)[has_area, -1], index=site_area[has_area]).groupby(level=0).sum()
        short = need[need > have.reindex(need.index).fillna(0) + 1e-9]
        if len(short):
            v.append(f"areas below {config.min_ports_per_100_ev} ports per 100 EVs: {list(short.index[:5])}")

    # ---- coverage, service standard, spacing ---------------------------------------------------
    dem = demand[["demand_id", "population", "ev_count"]].copy()
    # need-weighted EVs and income bands (docs/equity.md) when the demand points carry them
    if "ev_need" in demand:
        dem["ev_need"] = pd.to_numeric(demand["ev_need"], errors="coerce").to_numpy(float)
    elif config.coverage_weight == "ev_need":
        v.append("coverage_weight is ev_need but the demand points have no ev_need column")
        dem["ev_need"] = dem["ev_count"]
    if "income_band" in demand:
        dem["income_band"] = pd.to_numeric(demand["income_band"], errors="coerce").fillna(-1).astype(int).to_numpy()
    weight_column = {"ev": "ev_count", "population": "population", "ev_need": "ev_need"}[config.coverage_weight]
    pop_total, ev_total = max(dem["population"].sum(), 1e-12), max(dem["ev_count"].sum(), 1e-12)
    cov = cov.assign(i=cov["site_id"].map(pos))

    def shares(l2_on: np.ndarray, l3_on: np.ndarray) -> dict:
        r_any = max(config.radius_l2_km, config.radius_l3_km)
        near2 = cov[(cov["distance_km"] <= config.radius_l2_km) & l2_on[cov["i"]]]["demand_id"].unique()
        near3 = cov[(cov["distance_km"] <= config.radius_l3_km) & l3_on[cov["i"]]]["demand_id"].unique()
        near_any = cov[(cov["distance_km"] <= r_any) & (l2_on | l3_on)[cov["i"]]]["demand_id"].unique()
        out = {}
        for name, ids_ in (("l2", near2), ("l3", near3)):
            m = dem["demand_id"].isin(ids_)
            out[f"coverage_{name}_population"] = dem.loc[m, "population"].sum() / pop_total
            out[f"coverage_{name}_ev"] = dem.loc[m, "ev_count"].sum() / ev_total
        m = dem["demand_id"].isin(near_any)
        out["underserved_population"] = 1 - dem.loc[m, "population"].sum() / pop_total
        out["underserved_ev"] = 1 - dem.loc[m, "ev_count"].sum() / ev_total
        if "ev_need" in dem:
            need_total = max(dem["ev_need"].sum(), 1e-12)
            for name, ids_ in (("l2", near2), ("l3", near3)):
                out[f"coverage_{name}_ev_need"] = dem.loc[dem["demand_id"].isin(ids_), "ev_need"].sum() / need_total
            out["underserved_ev_need"] = 1 - dem.loc[m, "ev_need"].sum() / need_total
        if "income_band" in dem:   # coverage share of each income band, weighted as coverage_weight
            banded = dem[dem["income_band"] > 0]
            band_total = banded.groupby("income_band")[weight_column].sum()
            for name, ids_ in (("l2", near2), ("l3", near3)):
                got = banded[banded["demand_id"].isin(ids_)].groupby("income_band")[weight_column].sum()
                for b, value in (got.reindex(band_total.index).fillna(0.0) / band_total.clip(lower=1e-12)).items():
                    out[f"band_{int(b)}_coverage_{name}"] = float(value)
        return out

    before = shares(existing & had_l2, existing & had_l3)
    after = shares(l2[:, -1] > 0, l3[:, -1] > 0)
    figures = {f"{k}_before": float(x) for k, x in before.items()} | {f"{k}_after": float(x) for k, x in after.items()}
    weight_key = config.coverage_weight   # ev | population | ev_need: suffix of the share figures
    if "coverage_target_l2" not in relax and after[f"coverage_l2_{weight_key}"] < config.min_coverage_l2_share - TOL:
        v.append(f"L2 coverage {after[f'coverage_l2_{weight_key}']:.4f} below the target "
                 f"{config.min_coverage_l2_share}")
    if "coverage_target_l3" not in relax and after[f"coverage_l3_{weight_key}"] < config.min_coverage_l3_share - TOL:
        v.append(f"L3 coverage {after[f'coverage_l3_{weight_key}']:.4f} below the target "
                 f"{config.min_coverage_l3_share}")
    for level_key, floor in (("l2", config.equity_min_coverage_l2_share), ("l3", config.equity_min_coverage_l3_share)):
        if floor <= 0 or "equity_floors" in relax:
            continue
        band_keys = sorted(k for k in after if k.startswith("band_") and k.endswith(f"_coverage_{level_key}"))
        if not band_keys:
            v.append(f"equity floor on {level_key.upper()} is set but the demand points carry no income band")
        for k in band_keys:
            if after[k] < floor - TOL:
                v.append(f"income band {k.split('_')[1]}: {level_key.upper()} coverage {after[k]:.4f} "
                         f"below the equity floor {floor}")
    if config.max_l3_distance_km is not None and "max_l3_distance" not in relax:
        capable = np.array([(existing[i] and (had_l3[i] or upgradeable(ids[i]))) or not existing[i]
                            for i in range(n)])
        within = cov[cov["distance_km"] <= config.max_l3_distance_km]
        eligible = within[capable[within["i"]]]["demand_id"].unique()
        served = within[(l3[:, -1] > 0)[within["i"]]]["demand_id"].unique()
        unmet = np.setdiff1d(eligible, served)
        if len(unmet):
            v.append(f"{len(unmet)} demand points have no L3 within {config.max_l3_distance_km} km "
                     f"(e.g. demand_id {unmet[0]})")
    if config.min_l3_spacing_km > 0 and "l3_spacing" not in relax:
        chosen = np.flatnonzero(new_l3)
        if len(chosen) > 1:
            lat, lon = sites["lat"].to_numpy()[chosen], sites["lon"].to_numpy()[chosen]
            dist = _haversine(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
            iu = np.triu_indices(len(chosen), 1)
            close = dist[iu] < config.min_l3_spacing_km - 1e-9
            if close.any():
                a, b = iu[0][close][0], iu[1][close][0]
                v.append(f"new/upgraded L3 sites {ids[chosen[a]]} and {ids[chosen[b]]} are {dist[a, b]:.3f} km apart "
                         f"(< {config.min_l3_spacing_km} km); {int(close.sum())} such pairs")

    # ---- reported figures ----------------------------------------------------------------------
    for key, value in figures.items():
        if key in summary and not _close(summary[key], value):
            v.append(f"summary {key} = {summary[key]} but the decisions give {value}")
    if "capex_total_cad" in summary and not _close(summary["capex_total_cad"], capex_phase.sum(), tol=0.01):
        v.append(f"summary capex_total_cad {summary['capex_total_cad']} != recomputed {capex_phase.sum()}")
    if summary.get("capex_by_phase_cad"):
        reported = json.loads(summary["capex_by_phase_cad"])
        if len(reported) != T or any(not _close(a, b, tol=0.05) for a, b in zip(reported, capex_phase, strict=True)):
            v.append(f"summary capex_by_phase_cad {reported} != recomputed {list(np.round(capex_phase, 2))}")
    counts = {"upgrades": sum(a == "upgrade_l3" for a, _ in action_phase.values()),
              "retirements": sum(a == "retire" for a, _ in action_phase.values()),
              "new_l2": sum(a == "new_l2" for a, _ in action_phase.values()),
              "new_l3": sum(a == "new_l3" for a, _ in action_phase.values()),
              "ports_added_l2": int(add2.sum()), "ports_added_l3": int(add3.sum())}
    for key, value in counts.items():
        if key in summary and summary[key] is not None and int(summary[key]) != value:
            v.append(f"summary {key} = {summary[key]} but the plan rows give {value}")

    # objective recomputed from its definition
    weight = dem[weight_column]
    W = max(float(weight.sum()), 1e-12)
    disc = config.phase_discount ** np.arange(T)
    disc = disc / disc.sum()
    cov_term = 0.0
    wmap = pd.Series(weight.to_numpy(), index=dem["demand_id"].to_numpy())
    for k in range(T):
        for on, radius in ((l2[:, k] > 0, config.radius_l2_km), (l3[:, k] > 0, config.radius_l3_km)):
            ids_ = cov[(cov["distance_km"] <= radius) & on[cov["i"]]]["demand_id"].unique()
            cov_term += disc[k] * wmap.reindex(ids_).sum() / W
    opex = (config.opex_l2_station_cad_per_year * (alive - l3).clip(min=0)
            + config.opex_l3_station_cad_per_year * l3).sum()
    under = after[f"underserved_{weight_key}"]
    objective = (config.weight_coverage * cov_term - config.weight_opex_per_mcad * config.years_per_phase * opex / 1e6
                 + config.weight_upgrade * counts["upgrades"] - config.weight_underserved * under
                 - config.weight_capex_per_mcad * capex_phase.sum() / 1e6)
    figures["objective"] = float(objective)
    figures["capex_total_cad"] = float(capex_phase.sum())
    if summary.get("objective") is not None and not _close(summary["objective"], objective, tol=1e-6, rel=1e-6):
        v.append(f"summary objective {summary['objective']} != recomputed {objective}")
    return VerificationReport(not v, v, figures)


def verify_equity_table(table: pd.DataFrame, figures: dict, demand: pd.DataFrame, equity: pd.DataFrame | None,
                        config: NetworkConfig) -> list[str]:
    """Check plan.network_plan_equity against the demand points, core.area_equity and the band coverage
    `verify_plan` recomputed from the plan rows and the coverage pairs (`figures`): one problem per mismatch."""
    v: list[str] = []
    if "income_band" not in demand:
        return [] if table.empty else ["equity table has rows but the demand points carry no income band"]
    weight_column = {"ev": "ev_count", "population": "population", "ev_need": "ev_need"}[config.coverage_weight]
    dem = demand.assign(band=pd.to_numeric(demand["income_band"], errors="coerce").fillna(-1).astype(int))
    if "ev_need" not in dem:
        dem["ev_need"] = dem["ev_count"]
    expected = dem.groupby("band").agg(demand_points=("demand_id", "size"), population=("population", "sum"),
                                       ev_count=("ev_count", "sum"), ev_need=("ev_need", "sum"),
                                       ev_weight=(weight_column, "sum"))
    rows = table.assign(band=pd.to_numeric(table["income_band"], errors="coerce").fillna(-1).astype(int))
    rows = rows.set_index("band")
    if sorted(rows.index) != sorted(expected.index):
        v.append(f"equity table bands {sorted(rows.index)} != the demand points' bands {sorted(expected.index)} "
                 "(-1 = no band)")
        return v
    for column in ("demand_points", "population", "ev_count", "ev_need", "ev_weight"):
        for band, value in expected[column].items():
            if not _close(rows.loc[band, column], value, tol=1e-6, rel=1e-9):
                v.append(f"equity table band {band}: {column} {rows.loc[band, column]} != {value}")
    for column, share in (("population", "population_share"), ("ev_need", "ev_need_share"),
                          ("ev_weight", "ev_weight_share")):
        total = float(expected[column].sum())
        for band, value in expected[column].items():
            if total > 0 and not _close(rows.loc[band, share], value / total, tol=1e-9):
                v.append(f"equity table band {band}: {share} {rows.loc[band, share]} != {value / total}")
    if equity is not None and len(equity):
        eq = equity.assign(band=pd.to_numeric(equity["income_band"], errors="coerce").fillna(-1).astype(int))
        for band, income in eq[eq["band"] > 0].groupby("band")["median_income"]:
            if band in rows.index and not (_close(rows.loc[band, "median_income_min"], income.min())
                                           and _close(rows.loc[band, "median_income_max"], income.max())):
                v.append(f"equity table band {band}: median_income_min/median_income_max "
                         f"[{rows.loc[band, 'median_income_min']}, "
                         f"{rows.loc[band, 'median_income_max']}] != [{income.min()}, {income.max()}]")
    for band in (b for b in rows.index if b > 0):
        for level in ("l2", "l3"):
            for when in ("before", "after"):
                key = f"band_{band}_coverage_{level}_{when}"
                if key not in figures:
                    v.append(f"equity table band {band}: no recomputed {level.upper()} coverage {when} the plan")
                elif not _close(rows.loc[band, f"coverage_{level}_{when}"], figures[key], tol=1e-9):
                    v.append(f"equity table band {band}: coverage_{level}_{when} "
                             f"{rows.loc[band, f'coverage_{level}_{when}']} != recomputed {figures[key]}")
    return v
