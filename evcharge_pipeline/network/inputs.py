"""Model inputs: sites, demand groups and sparse coverage matrices from the contracted tables.

`prepare_inputs` takes frames shaped like `raw.charging_stations`, `raw.candidate_sites`,
`core.demand_points` and `core.coverage` and returns everything the model, the greedy start and the
plan writer need, as arrays and sparse matrices (no loops over demand x sites).

Demand points with identical coverage sets (the same sites within every radius the model uses) are
merged into one group whose weight is the sum of its members; the optimum is unchanged because
every constraint and objective term is linear in the group weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from evcharge_pipeline.network.config import NetworkConfig

EARTH_RADIUS_KM = 6371.0088
LEVELS = ("L1", "L2", "L3")

MASK_L2, MASK_L3, MASK_ANY, MASK_DMAX = 1, 2, 4, 8


class NetworkInputError(ValueError):
    """Input frames that cannot be planned on (names the table, row and field)."""


def _require(frame: pd.DataFrame, table: str, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise NetworkInputError(f"{table}: missing column(s) {missing}; has {list(frame.columns)}")


def _check_numeric(frame: pd.DataFrame, table: str, column: str, id_column: str, minimum: float | None = None) -> None:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if minimum is not None:
        bad |= values < minimum
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise NetworkInputError(
            f"{table}: row {row} ({id_column}={frame[id_column].iloc[row]!r}) field '{column}' "
            f"has invalid value {frame[column].iloc[row]!r}"
            + (f" (must be >= {minimum})" if minimum is not None else "")
        )


def station_ports_by_level(stations: pd.DataFrame) -> pd.DataFrame:
    """Ports per charging level of each station row: `ports_l1, ports_l2, ports_l3` (int, same index).

    The one owner of this fact (the network model, its verifier and the regional placement read it here).
    Rows with a per-level split (`ports_l1/_l2/_l3` present and summing to more than zero) use it, so a
    station with L2 and L3 ports counts its L2 ports at L2; rows without one have all `ports` at `level`.
    """
    ports = pd.to_numeric(stations["ports"], errors="coerce").fillna(0).astype(np.int64).to_numpy()
    level = stations["level"].astype(str).to_numpy()
    split = np.column_stack([
        pd.to_numeric(stations[c], errors="coerce").fillna(0).astype(np.int64).to_numpy() if c in stations
        else np.zeros(len(stations), np.int64) for c in ("ports_l1", "ports_l2", "ports_l3")])
    no_split = split.sum(axis=1) == 0
    out = {f"ports_{lv.lower()}": np.where(no_split, np.where(level == lv, ports, 0), split[:, k])
           for k, lv in enumerate(LEVELS)}
    return pd.DataFrame(out, index=stations.index).astype(np.int64)


def unit_vectors(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the sphere scaled to the Earth's radius (for chord-distance KD-trees)."""
    la, lo = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    return EARTH_RADIUS_KM * np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    la1, lo1, la2, lo2 = (np.radians(np.asarray(v, float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def pairs_closer_than(lat: np.ndarray, lon: np.ndarray, distance_km: float) -> np.ndarray:
    """Index pairs (i < j) of points closer than `distance_km` along the great circle."""
    if distance_km <= 0 or len(lat) < 2:
        return np.empty((0, 2), dtype=np.int64)
    chord = 2 * EARTH_RADIUS_KM * np.sin(min(distance_km / (2 * EARTH_RADIUS_KM), np.pi / 2))
    pairs = cKDTree(unit_vectors(lat, lon)).query_pairs(chord, output_type="ndarray").astype(np.int64)
    if len(pairs):
        d = haversine_km(lat[pairs[:, 0]], lon[pairs[:, 0]], lat[pairs[:, 1]], lon[pairs[:, 1]])
        pairs = pairs[d < distance_km]
    return pairs


@dataclass
class NetworkInputs:
    """Arrays of one planning instance. Sites are existing stations first, then candidates."""

    # site_id, site_kind, name, lat, lon, level, ports_l1/l2/l3, upgradeable, capacity_kw, area_id
    sites: pd.DataFrame
    n_existing: int
    demand: pd.DataFrame                # demand_id, area_id, population, ev_count, weight, group
    group_weight: np.ndarray            # coverage weight per group (config.coverage_weight)
    group_population: np.ndarray
    group_ev: np.ndarray
    total_weight: float                 # including demand no site can reach
    a_l2: sp.csr_matrix                 # groups x sites: within radius_l2_km
    a_l3: sp.csr_matrix                 # within radius_l3_km
    a_any: sp.csr_matrix                # within max(radius_l2_km, radius_l3_km)
    a_dmax: sp.csr_matrix               # within max_l3_distance_km, L3-capable sites only
    dmax_required: np.ndarray           # bool per group: the service standard applies
    spacing_pairs: np.ndarray           # (n, 2) site index pairs of L3-capable sites closer than min spacing
    area_ids: np.ndarray                # areas with at least one site or a port requirement
    area_of_site: np.ndarray            # index into area_ids, -1 when the site has no demand nearby
    area_capacity_kw: np.ndarray
    area_min_ports: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def n_sites(self) -> int:
        return len(self.sites)

    @cached_property
    def reach_by_site(self) -> tuple[sp.csc_matrix, sp.csc_matrix, sp.csc_matrix]:
        """a_l2, a_l3 and a_any stored by column: the groups each site reaches (built once, on first use)."""
        return self.a_l2.tocsc(), self.a_l3.tocsc(), self.a_any.tocsc()

    @property
    def n_candidates(self) -> int:
        return self.n_sites - self.n_existing

    @property
    def n_groups(self) -> int:
        return len(self.group_weight)

    @property
    def existing(self) -> pd.DataFrame:
        return self.sites.iloc[: self.n_existing]

    def upgradeable_index(self) -> np.ndarray:
        return np.flatnonzero(self.sites["upgradeable"].to_numpy()[: self.n_existing])

    def l3_capable(self) -> np.ndarray:
        """Sites that are or can become L3."""
        s = self.sites
        return s["l3_before"].to_numpy(bool) | s["upgradeable"].to_numpy() | (s["site_kind"].to_numpy() == "candidate")


def _existing_sites(stations: pd.DataFrame, config: NetworkConfig) -> tuple[pd.DataFrame, int]:
    _require(stations, "raw.charging_stations", ["site_id", "lat", "lon", "level", "ports"])
    frame = stations.reset_index(drop=True).copy()
    frame["site_id"] = frame["site_id"].astype(str)
    for column in ("lat", "lon"):
        _check_numeric(frame, "raw.charging_stations", column, "site_id")
    _check_numeric(frame, "raw.charging_stations", "ports", "site_id", minimum=0)
    known = frame["level"].isin(LEVELS)
    skipped = int((~known).sum())
    frame = frame[known].reset_index(drop=True)
    per_level = station_ports_by_level(frame)
    level = frame["level"].to_numpy()
    not_up = set(map(str, config.not_upgradeable_site_ids))
    flagged = frame["upgradeable"].astype(bool).to_numpy() if "upgradeable" in frame else np.ones(len(frame), bool)
    upgradeable = (np.isin(level, config.upgradeable_levels) & (level != "L3") & (per_level["ports_l3"].to_numpy() == 0)
                   & flagged & ~frame["site_id"].isin(not_up).to_numpy())
    out = pd.DataFrame({
        "site_id": frame["site_id"].to_numpy(),
        "site_kind": "existing",
        "name": frame["name"].astype(str).to_numpy() if "name" in frame else frame["site_id"].to_numpy(),
        "lat": frame["lat"].astype(float).to_numpy(),
        "lon": frame["lon"].astype(float).to_numpy(),
        "level": level,
        "ports_l1": per_level["ports_l1"].to_numpy(),
        "ports_l2": per_level["ports_l2"].to_numpy(),
        "ports_l3": per_level["ports_l3"].to_numpy(),
        "upgradeable": upgradeable,
        # active levels before the plan: a station with L2 and L3 ports offers both (L2 coverage, L2 load)
        "l2_before": (per_level["ports_l2"].to_numpy() > 0) | (level == "L2"),
        "l3_before": (per_level["ports_l3"].to_numpy() > 0) | (level == "L3"),
    })
    if "grid_capacity_kw" in frame:
        out["capacity_kw"] = (pd.to_numeric(frame["grid_capacity_kw"], errors="coerce")
                              .fillna(config.site_grid_capacity_kw).to_numpy())
    else:
        out["capacity_kw"] = config.site_grid_capacity_kw
    return out, skipped


def _candidate_sites(candidates: pd.DataFrame) -> pd.DataFrame:
    _require(candidates, "raw.candidate_sites", ["site_id", "lat", "lon"])
    frame = candidates.reset_index(drop=True)
    for column in ("lat", "lon"):
        _check_numeric(frame, "raw.candidate_sites", column, "site_id")
    return pd.DataFrame({
        "site_id": frame["site_id"].astype(str).to_numpy(),
        "site_kind": "candidate",
        "name": frame["name"].astype(str).to_numpy() if "name" in frame else frame["site_id"].astype(str).to_numpy(),
        "lat": frame["lat"].astype(float).to_numpy(),
        "lon": frame["lon"].astype(float).to_numpy(),
        "level": None,
        "ports_l1": 0, "ports_l2": 0, "ports_l3": 0,
        "upgradeable": False,
        "l2_before": False, "l3_before": False,
        "capacity_kw": np.nan,
    })


def thin_candidates(candidates: pd.DataFrame, coverage: pd.DataFrame, demand: pd.DataFrame, cell_km: float,
                    radius_km: float) -> pd.DataFrame:
    """One candidate per square cell of side `cell_km`: the one reaching the most demand weight within
    `radius_km` (ties: the lowest site_id). Grid candidates every 500 m are finer than any coverage radius."""
    if len(candidates) == 0:
        return candidates
    lat0 = float(candidates["lat"].mean())
    gx = np.floor(candidates["lon"].to_numpy(float) * 111.32 * np.cos(np.radians(lat0)) / cell_km).astype(np.int64)
    gy = np.floor(candidates["lat"].to_numpy(float) * 111.32 / cell_km).astype(np.int64)
    near = coverage[coverage["distance_km"] <= radius_km]
    weight = near.merge(demand[["demand_id", "weight"]], on="demand_id").groupby("site_id")["weight"].sum()
    frame = candidates.assign(_gx=gx, _gy=gy,
                              _w=weight.reindex(candidates["site_id"].astype(str)).fillna(0.0).to_numpy())
    frame = frame.sort_values(["_gx", "_gy", "_w", "site_id"], ascending=[True, True, False, True])
    kept = frame.drop_duplicates(["_gx", "_gy"], keep="first")
    return candidates[candidates["site_id"].isin(set(kept["site_id"]))]


def coverage_weight_of(demand: pd.DataFrame, config: NetworkConfig) -> pd.Series:
    """Each demand point's coverage weight: EVs, population, or need-weighted EVs (`ev_need`, docs/equity.md)."""
    column = {"ev": "ev_count", "population": "population", "ev_need": "ev_need"}[config.coverage_weight]
    if column not in demand:
        raise NetworkInputError(f"core.demand_points: coverage_weight '{config.coverage_weight}' needs column "
                                f"'{column}' (demand points joined with core.area_equity)")
    return demand[column]


def equity_floors_on(config: NetworkConfig) -> bool:
    return (config.equity_min_coverage_l2_share > 0 or config.equity_min_coverage_l3_share > 0) \
        and "equity_floors" not in config.relax


def considered_candidates(candidates: pd.DataFrame, coverage: pd.DataFrame, demand: pd.DataFrame,
                          config: NetworkConfig) -> pd.DataFrame:
    """The candidate rows a plan may choose from after thinning (what the verifier should be given)."""
    if config.candidate_thinning_km is None or len(candidates) == 0:
        return candidates
    dem = demand.assign(weight=coverage_weight_of(demand, config))
    cov = coverage.assign(site_id=coverage["site_id"].astype(str))
    cands = candidates.assign(site_id=candidates["site_id"].astype(str))
    return thin_candidates(cands, cov, dem, config.candidate_thinning_km, config.radius_l3_km)


def site_load_kw(ports_l1, ports_l2, ports_l3, config: NetworkConfig):
    return config.power_l1_kw * ports_l1 + config.power_l2_kw * ports_l2 + config.power_l3_kw * ports_l3


def prepare_inputs(
    stations: pd.DataFrame,
    candidates: pd.DataFrame,
    demand: pd.DataFrame,
    coverage: pd.DataFrame,
    config: NetworkConfig,
) -> NetworkInputs:
    """Validate the frames and build the sparse model data."""
    skipped: dict[str, int] = {}
    existing, skipped["stations_unknown_level"] = _existing_sites(stations, config)
    cands = _candidate_sites(candidates)
    skipped["candidates_thinned"] = 0
    sites = pd.concat([existing, cands], ignore_index=True)
    sites["capacity_kw"] = sites["capacity_kw"].fillna(config.site_grid_capacity_kw).astype(float)
    duplicated = sites["site_id"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise NetworkInputError(f"site_id {sites['site_id'].iloc[row]!r} appears more than once across "
                                "raw.charging_stations and raw.candidate_sites (field 'site_id')")
    load = site_load_kw(sites["ports_l1"], sites["ports_l2"], sites["ports_l3"], config).to_numpy(float)
    sites["capacity_kw"] = np.maximum(sites["capacity_kw"].to_numpy(), load)

    _require(demand, "core.demand_points", ["demand_id", "area_id", "population", "ev_count"])
    dem = demand.reset_index(drop=True)
    for column in ("population", "ev_count"):
        _check_numeric(dem, "core.demand_points", column, "demand_id", minimum=0)
    if dem["demand_id"].duplicated().any():
        row = int(np.flatnonzero(dem["demand_id"].duplicated().to_numpy())[0])
        raise NetworkInputError(
            f"core.demand_points: row {row} field 'demand_id' repeats {dem['demand_id'].iloc[row]!r}")
    dem = pd.DataFrame({
        "demand_id": dem["demand_id"].to_numpy(),
        "area_id": dem["area_id"].astype(str).to_numpy(),
        "population": dem["population"].astype(float).to_numpy(),
        "ev_count": dem["ev_count"].astype(float).to_numpy(),
    })
    source = demand.reset_index(drop=True)
    if config.coverage_weight == "ev_need":
        coverage_weight_of(source, config)
        _check_numeric(source, "core.demand_points", "ev_need", "demand_id", minimum=0)
    dem["weight"] = coverage_weight_of(source, config).astype(float).to_numpy()
    # Income bands (core.area_equity) for the equity floors: -1 = no band (suppressed income or no household data).
    if "income_band" in source:
        dem["income_band"] = (pd.to_numeric(source["income_band"], errors="coerce")
                              .fillna(-1).astype(np.int64).to_numpy())
    if equity_floors_on(config) and ("income_band" not in dem or not (dem["income_band"] > 0).any()):
        raise NetworkInputError("core.demand_points: equity floors need an 'income_band' per demand point "
                                "(join core.area_equity; the region needs a [households] section)")

    if config.candidate_thinning_km is not None and len(cands):
        cov_c = coverage.assign(site_id=coverage["site_id"].astype(str))
        kept = thin_candidates(cands, cov_c, dem, config.candidate_thinning_km, config.radius_l3_km)
        skipped["candidates_thinned"] = len(cands) - len(kept)
        if len(kept) < len(cands):
            sites = pd.concat([existing, kept], ignore_index=True)
            sites["capacity_kw"] = sites["capacity_kw"].fillna(config.site_grid_capacity_kw).astype(float)
            load = site_load_kw(sites["ports_l1"], sites["ports_l2"], sites["ports_l3"], config).to_numpy(float)
            sites["capacity_kw"] = np.maximum(sites["capacity_kw"].to_numpy(), load)

    _require(coverage, "core.coverage", ["demand_id", "site_id", "distance_km"])
    cov = coverage[coverage["distance_km"] <= config.largest_radius_km + 1e-9]
    if skipped["candidates_thinned"]:
        dropped = set(cands["site_id"]) - set(sites["site_id"])
        cov = cov[~cov["site_id"].astype(str).isin(dropped)]
    site_index = pd.Series(np.arange(len(sites)), index=sites["site_id"].to_numpy())
    demand_index = pd.Series(np.arange(len(dem)), index=dem["demand_id"].to_numpy())
    si = site_index.reindex(cov["site_id"].astype(str).to_numpy()).to_numpy()
    di = demand_index.reindex(cov["demand_id"].to_numpy()).to_numpy()
    known = ~(np.isnan(si) | np.isnan(di))
    skipped["coverage_pairs_unknown_ids"] = int((~known).sum())
    si, di = si[known].astype(np.int64), di[known].astype(np.int64)
    dist = cov["distance_km"].to_numpy(float)[known]

    # Site areas: the area of the nearest demand point.
    area_of_site_id = np.full(len(sites), None, dtype=object)
    if len(dist):
        order = np.lexsort((dist, si))
        first = order[np.r_[True, si[order][1:] != si[order][:-1]]]
        area_of_site_id[si[first]] = dem["area_id"].to_numpy()[di[first]]
    sites["area_id"] = area_of_site_id

    # Candidates no demand point can reach are useless to every constraint except spacing; drop them (counted).
    useful = np.ones(len(sites), bool)
    useful[existing.shape[0]:] = False
    useful[np.unique(si)] = True
    useful[: existing.shape[0]] = True
    skipped["candidates_unreachable"] = int((~useful).sum())
    if (~useful).any():
        remap = np.cumsum(useful) - 1
        keep_pair = useful[si]
        si, di, dist = remap[si[keep_pair]], di[keep_pair], dist[keep_pair]
        sites = sites[useful].reset_index(drop=True)

    l2_before, l3_before = sites["l2_before"].to_numpy(bool), sites["l3_before"].to_numpy(bool)
    l3_capable = l3_before | sites["upgradeable"].to_numpy() | (sites["site_kind"].to_numpy() == "candidate")
    l2_capable = l2_before | (sites["site_kind"].to_numpy() == "candidate")
    l2_or_l3 = l2_before | l3_before | (sites["site_kind"].to_numpy() == "candidate")
    dmax = (config.max_l3_distance_km
            if (config.max_l3_distance_km is not None and "max_l3_distance" not in config.relax) else -1.0)
    mask = (
        MASK_L2 * ((dist <= config.radius_l2_km) & l2_capable[si])
        + MASK_L3 * ((dist <= config.radius_l3_km) & l3_capable[si])
        + MASK_ANY * ((dist <= config.radius_max_km) & l2_or_l3[si])
        + MASK_DMAX * ((dist <= dmax) & l3_capable[si])
    ).astype(np.int64)
    keep = mask > 0
    si, di, mask = si[keep], di[keep], mask[keep]

    n_dem, n_sites = len(dem), len(sites)
    if config.aggregate_demand and len(si):
        codes = si * 16 + mask
        rng = np.random.default_rng(20240930)
        table1 = rng.integers(1, np.iinfo(np.int64).max, size=n_sites * 16, dtype=np.int64).view(np.uint64)
        table2 = rng.integers(1, np.iinfo(np.int64).max, size=n_sites * 16, dtype=np.int64).view(np.uint64)
        h1 = np.zeros(n_dem, np.uint64)
        h2 = np.zeros(n_dem, np.uint64)
        with np.errstate(over="ignore"):
            np.add.at(h1, di, table1[codes])
            np.add.at(h2, di, table2[codes])
        count = np.bincount(di, minlength=n_dem)
        # with equity floors a group never spans two income bands (each band has its own floor row)
        band_key = [dem["income_band"].to_numpy()] if equity_floors_on(config) else []
        key = pd.MultiIndex.from_arrays([h1, h2, count, *band_key])
        group, _ = pd.factorize(key)
    else:
        group = np.arange(n_dem)
    group = np.asarray(group, dtype=np.int64)
    n_groups = int(group.max()) + 1 if n_dem else 0
    representative = np.full(n_groups, -1, dtype=np.int64)
    representative[group[::-1]] = np.arange(n_dem)[::-1]
    is_rep = np.zeros(n_dem, bool)
    is_rep[representative] = True
    rep_pair = is_rep[di]
    gi, gsi, gmask = group[di[rep_pair]], si[rep_pair], mask[rep_pair]

    def matrix(bit: int) -> sp.csr_matrix:
        sel = (gmask & bit) > 0
        return sp.csr_matrix((np.ones(int(sel.sum())), (gi[sel], gsi[sel])), shape=(n_groups, n_sites))

    dem["group"] = group
    weight = np.bincount(group, weights=dem["weight"].to_numpy(), minlength=n_groups)
    a_dmax = matrix(MASK_DMAX)
    dmax_required = np.asarray(a_dmax.sum(axis=1)).ravel() > 0
    if dmax < 0:
        dmax_required[:] = False

    if config.min_l3_spacing_km > 0 and "l3_spacing" not in config.relax:
        capable = np.flatnonzero(l3_capable & ~l3_before)
        local = pairs_closer_than(sites["lat"].to_numpy()[capable], sites["lon"].to_numpy()[capable],
                                  config.min_l3_spacing_km)
        spacing_pairs = capable[local] if len(local) else np.empty((0, 2), dtype=np.int64)
    else:
        spacing_pairs = np.empty((0, 2), dtype=np.int64)

    # Areas: capacity and minimum ports.
    ev_by_area = dem.groupby("area_id")["ev_count"].sum()
    site_areas = pd.Series(sites["area_id"].to_numpy()).dropna().unique()
    area_ids = np.array(sorted(set(ev_by_area.index) | set(site_areas)), dtype=object)
    area_pos = pd.Series(np.arange(len(area_ids)), index=area_ids)
    area_of_site = np.array([-1 if a is None else int(area_pos[a]) for a in sites["area_id"].to_numpy()],
                            dtype=np.int64)
    existing_load = np.zeros(len(area_ids))
    with_area = area_of_site >= 0
    np.add.at(existing_load, area_of_site[with_area],
              site_load_kw(sites["ports_l1"], sites["ports_l2"], sites["ports_l3"], config).to_numpy(float)[with_area])
    if config.area_grid_capacity_kw is None:
        area_capacity = np.full(len(area_ids), np.inf)
    else:
        area_capacity = np.maximum(config.area_grid_capacity_kw, existing_load)
    ev = ev_by_area.reindex(area_ids).fillna(0.0).to_numpy()
    area_min_ports = np.ceil(config.min_ports_per_100_ev * ev / 100.0 - 1e-9).clip(min=0).astype(np.int64)

    return NetworkInputs(
        sites=sites, n_existing=int((sites["site_kind"] == "existing").sum()), demand=dem,
        group_weight=weight,
        group_population=np.bincount(group, weights=dem["population"].to_numpy(), minlength=n_groups),
        group_ev=np.bincount(group, weights=dem["ev_count"].to_numpy(), minlength=n_groups),
        total_weight=float(dem["weight"].sum()),
        a_l2=matrix(MASK_L2), a_l3=matrix(MASK_L3), a_any=matrix(MASK_ANY), a_dmax=a_dmax,
        dmax_required=dmax_required, spacing_pairs=spacing_pairs,
        area_ids=area_ids, area_of_site=area_of_site, area_capacity_kw=area_capacity,
        area_min_ports=area_min_ports, skipped=skipped,
    )


def restrict_sites(inputs: NetworkInputs, keep: np.ndarray) -> tuple[NetworkInputs, np.ndarray]:
    """The instance with only the sites where `keep` is true (bool per site; existing stations are always
    kept, so site i < n_existing keeps its index), and the original index of each kept site. Demand groups,
    weights, areas and the service-standard set stay those of the full instance."""
    keep = np.asarray(keep, bool).copy()
    keep[: inputs.n_existing] = True
    index = np.flatnonzero(keep)
    position = np.full(inputs.n_sites, -1)
    position[index] = np.arange(len(index))
    pairs = inputs.spacing_pairs
    pairs = position[pairs[(keep[pairs[:, 0]] & keep[pairs[:, 1]])]] if len(pairs) else pairs
    restricted = replace(
        inputs, sites=inputs.sites.iloc[index].reset_index(drop=True),
        a_l2=inputs.a_l2[:, index], a_l3=inputs.a_l3[:, index], a_any=inputs.a_any[:, index],
        a_dmax=inputs.a_dmax[:, index], spacing_pairs=pairs.reshape(-1, 2), area_of_site=inputs.area_of_site[index])
    return restricted, index


def restrict_groups(inputs: NetworkInputs, groups: np.ndarray) -> NetworkInputs:
    """The instance with only the demand groups `groups` (indices, ascending). The total weight stays the
    full instance's, so coverage shares and objective terms keep their meaning (demand left out is counted
    as neither covered nor reachable); the demand frame keeps the members of those groups, renumbered."""
    groups = np.asarray(groups, np.int64)
    renumber = np.full(inputs.n_groups, -1, np.int64)
    renumber[groups] = np.arange(len(groups))
    demand = inputs.demand[renumber[inputs.demand["group"].to_numpy()] >= 0].copy()
    demand["group"] = renumber[demand["group"].to_numpy()]
    return replace(
        inputs, demand=demand, group_weight=inputs.group_weight[groups],
        group_population=inputs.group_population[groups], group_ev=inputs.group_ev[groups],
        a_l2=inputs.a_l2[groups], a_l3=inputs.a_l3[groups], a_any=inputs.a_any[groups],
        a_dmax=inputs.a_dmax[groups], dmax_required=inputs.dmax_required[groups])
