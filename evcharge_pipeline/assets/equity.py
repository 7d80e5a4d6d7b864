"""Equity assets: households per area, income bands and home-charging access, and the writers of coverage by
income band that the network plan asset calls (the price of a floor is in `assets.equity_price`).

Thin wrappers around `evcharge_pipeline.equity` and `evcharge_pipeline.network.equity`: read tables, call them,
write tables and metadata.
"""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue
from dagster_duckdb import DuckDBResource

from evcharge_pipeline.assets.common import markdown_table, problems_check, warehouse_asset, warehouse_check, write_raw
from evcharge_pipeline.assets.demand import demand_points
from evcharge_pipeline.equity import BANDS, build_area_equity
from evcharge_pipeline.network.config import NetworkConfig
from evcharge_pipeline.network.equity import band_coverage_plot, band_coverage_table, markdown_image
from evcharge_pipeline.network.plan import NetworkPlanResult
from evcharge_pipeline.network.verifier import VerificationReport, verify_equity_table
from evcharge_pipeline.resources import RegionResource
from evcharge_pipeline.sources.bundle import Provenance
from evcharge_pipeline.sources.households import DWELLING_TYPES, load_households
from evcharge_pipeline.warehouse import read_table, replace_table, table_exists

AREA_EQUITY_TABLE = "core.area_equity"
PLAN_EQUITY_TABLE = "plan.network_plan_equity"

EQUITY = "equity"


def _empty_households() -> pd.DataFrame:
    columns = {"area_id": pd.Series(dtype="string"), "median_income": pd.Series(dtype="float64")}
    columns.update({t: pd.Series(dtype="float64") for t in (*DWELLING_TYPES, "dwellings")})
    return pd.DataFrame(columns)


@warehouse_asset(
    group_name=EQUITY,
    description="Occupied dwellings by structural type and median household income per area (raw.households); "
                "empty when the bundle has no [households]. Suppressed incomes are kept blank and reported.")
def households(context: AssetExecutionContext, region: RegionResource, warehouse: DuckDBResource) -> MaterializeResult:
    loaded = load_households(region.bundle())
    if loaded is None:
        frame, origin, suppressed = _empty_households(), Provenance("region bundle names no households", ""), []
    else:
        table, source, digest = loaded
        frame, origin, suppressed = table.frame, Provenance(source, digest), table.suppressed_income
    if suppressed:
        context.log.warning(f"{len(suppressed)} area(s) with a suppressed median income (no income band): {suppressed}")
    with warehouse.get_connection() as con:
        metadata = write_raw(con, "raw.households", frame, origin)
    return MaterializeResult(metadata={**metadata, "suppressed_income_areas": len(suppressed),
                                       "suppressed_income_ids": ", ".join(suppressed) or "none"})


@warehouse_asset(
    group_name=EQUITY, deps=[households, demand_points],
    description="Per area: median income, income band (1..5 population quintiles, 1 = lowest), apartment share "
                "and share of dwellings likely to have off-street parking (core.area_equity).")
def area_equity(context: AssetExecutionContext, warehouse: DuckDBResource) -> MaterializeResult:
    with warehouse.get_connection() as con:
        homes = read_table(con, "raw.households")
        totals = read_table(con, "core.area_totals")
    region_areas = totals.assign(population=totals["population_inside"])[["area_id", "population"]]
    if homes.empty:
        frame = build_area_equity(_empty_households(), region_areas.iloc[0:0]).frame
        result = None
    else:
        result = build_area_equity(homes.drop(columns=["source", "sha256", "loaded_at"], errors="ignore"), region_areas)
        frame = result.frame
        for label, ids in (("suppressed median income (no band)", result.suppressed_income),
                           ("no households row", result.without_households)):
            if ids:
                context.log.warning(f"{len(ids)} region area(s) with {label}: {ids}")
    with warehouse.get_connection() as con:
        rows = replace_table(con, "core.area_equity", frame)
    bands = (frame.groupby("income_band").agg(areas=("area_id", "size"), population=("population", "sum"),
                                              median_income_min=("median_income", "min"),
                                              median_income_max=("median_income", "max"),
                                              apartment_share=("apartment_share", "mean"),
                                              home_charging_share=("home_charging_share", "mean")).reset_index()
             if rows else pd.DataFrame())
    return MaterializeResult(metadata={
        "table": "core.area_equity", "dagster/row_count": rows,
        "areas_suppressed_income": len(result.suppressed_income) if result else 0,
        "areas_without_households": len(result.without_households) if result else 0,
        "bands": markdown_table(bands) if len(bands) else "no [households] section: no bands",
    })


@warehouse_check(asset=area_equity, description="Unique areas, bands in 1..5 ordered by income, "
                 "shares in [0, 1], about a fifth of the population per band.")
def area_equity_valid(warehouse: DuckDBResource):
    with warehouse.get_connection() as con:
        frame = read_table(con, "core.area_equity")
    banded = frame[frame["income_band"].notna()]
    by_band = banded.groupby("income_band")["median_income"].agg(["min", "max"]).sort_index()
    overlap = int((by_band["min"].to_numpy()[1:] < by_band["max"].to_numpy()[:-1]).sum()) if len(by_band) > 1 else 0
    shares = frame[["apartment_share", "home_charging_share"]]
    pop = banded.groupby("income_band")["population"].sum()
    total = float(pop.sum())
    # The midpoint rule puts each area in the band where half its population lies, so a band's share can differ
    # from 1/5 by at most the largest area's share.
    largest = float(banded["population"].max() / total) if total > 0 else 0.0
    off = int(((pop / total - 1 / BANDS).abs() > largest + 1e-9).sum()) if total > 0 else 0
    return problems_check({
        "duplicate_area_id": int(frame["area_id"].duplicated().sum()),
        "band_outside_1_5": int((~banded["income_band"].between(1, BANDS)).sum()),
        "bands_out_of_income_order": overlap,
        "share_outside_0_1": int(((shares < 0) | (shares > 1)).to_numpy().sum()),
        "band_population_far_from_quintile": off,
        "income_without_band": int((frame["median_income"].notna() & frame["income_band"].isna()).sum()),
    }, areas_without_band=int(frame["income_band"].isna().sum()))


def _area_equity_or_none(con) -> pd.DataFrame | None:
    return read_table(con, AREA_EQUITY_TABLE) if table_exists(con, AREA_EQUITY_TABLE) else None


def write_plan_equity(warehouse: DuckDBResource, result: NetworkPlanResult, demand: pd.DataFrame,
                      config: NetworkConfig) -> dict:
    """Write plan.network_plan_equity (coverage by income band before/after) for the network plan asset and
    return its metadata: the table and a before/after plot per band as a Markdown image."""
    with warehouse.get_connection() as con:
        table = band_coverage_table(result.inputs, result.state, demand, _area_equity_or_none(con), config)
        replace_table(con, PLAN_EQUITY_TABLE, table)
    if table.empty:
        return {"equity_by_band": "no income bands: the region has no [households] section"}
    floors = {"l2": config.equity_min_coverage_l2_share, "l3": config.equity_min_coverage_l3_share}
    shown = table.drop(columns=["coverage_weight"])
    return {
        "equity_by_band": markdown_table(shown),
        "equity_plot": MetadataValue.md(markdown_image(band_coverage_plot(table, floors),
                                                       f"{config.coverage_weight}-weighted coverage by income band")),
    }


def verify_plan_equity(warehouse: DuckDBResource, report: VerificationReport, demand: pd.DataFrame,
                       config: NetworkConfig) -> list[str]:
    """Problems of plan.network_plan_equity against the verifier's own band coverage and the inputs."""
    with warehouse.get_connection() as con:
        if not table_exists(con, PLAN_EQUITY_TABLE):
            return [f"{PLAN_EQUITY_TABLE} is missing"] if "income_band" in demand else []
        table = read_table(con, PLAN_EQUITY_TABLE)
        equity = _area_equity_or_none(con)
    return verify_equity_table(table, report.figures, demand, equity, config)
