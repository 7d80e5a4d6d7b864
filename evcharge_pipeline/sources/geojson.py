"""GeoJSON loading with feature-level validation (geometry type, id field, duplicate ids, valid polygons)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import shape
from shapely.validation import explain_validity, make_valid

from evcharge_pipeline.geometry import project, utm_crs_for
from evcharge_pipeline.region import InputError
from evcharge_pipeline.sources.common import normalize_area_ids, read_json

POLYGONAL = {"Polygon", "MultiPolygon"}
REPAIRS = "geometry_repairs"            # key in a loaded frame's `attrs`: the repairs made (list of dicts)
MAX_REPAIR_AREA_CHANGE = 0.01           # a repair changing a polygon's area by more than 1 % is reported


@dataclass(frozen=True)
class GeometryRepair:
    """One invalid polygon repaired (region.toml `repair = true`): its area as drawn and after the repair."""

    feature: int
    name: str
    reason: str
    area_km2_before: float
    area_km2_after: float

    @property
    def area_change(self) -> float:
        """Relative change of the area (infinite when the polygon as drawn has zero area)."""
        if self.area_km2_before <= 0:
            return 0.0 if self.area_km2_after <= 0 else float("inf")
        return abs(self.area_km2_after - self.area_km2_before) / self.area_km2_before

    def describe(self) -> str:
        change = "from zero area" if np.isinf(self.area_change) else f"{self.area_change:.1%}"
        return (f"{self.name!r} (feature {self.feature}, {self.reason}): {self.area_km2_before:,.3f} km2 as drawn, "
                f"{self.area_km2_after:,.3f} km2 repaired ({change})")


def area_km2(geometry: shapely.Geometry) -> float:
    """Area of a WGS84 (multi)polygon in km2, in the UTM zone of its centroid (works on invalid ones too)."""
    centroid = geometry.centroid
    crs = utm_crs_for(centroid.x, centroid.y)
    projected = shapely.transform(geometry, lambda xy: np.column_stack(project(xy[:, 1], xy[:, 0], crs)))
    return float(projected.area) / 1e6


def _polygonal_part(geometry: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a `make_valid` result (which may add lines or points where a ring collapsed)."""
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in POLYGONAL]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def large_repairs(repairs: list[GeometryRepair], threshold: float = MAX_REPAIR_AREA_CHANGE) -> list[GeometryRepair]:
    """The repairs that changed an area by more than `threshold` (default 1 %)."""
    return [r for r in repairs if r.area_change > threshold]


def repairs_of(frame: gpd.GeoDataFrame) -> list[GeometryRepair]:
    """The repairs made while loading `frame` (empty when every polygon was valid)."""
    return [GeometryRepair(**r) for r in frame.attrs.get(REPAIRS, [])]


def _features(path: str | Path) -> list[dict]:
    document = read_json(path)
    if not isinstance(document, dict):
        raise InputError(path, "GeoJSON must be an object")
    kind = document.get("type")
    if kind == "FeatureCollection":
        features = document.get("features")
        if not isinstance(features, list):
            raise InputError(path, "FeatureCollection has no 'features' list", field="features")
    elif kind == "Feature":
        features = [document]
    elif kind in POLYGONAL | {"Point", "MultiPoint"}:
        features = [{"type": "Feature", "geometry": document, "properties": {}}]
    else:
        raise InputError(path, f"unsupported GeoJSON type {kind!r}", field="type")
    if not features:
        raise InputError(path, "FeatureCollection has no features", field="features")
    return features


def read_features(path: str | Path, allowed_types: set[str], id_field: str | None = None, *,
                  repair: bool = False, section: str | None = None) -> gpd.GeoDataFrame:
    """Features as a WGS84 GeoDataFrame; rows are features (0-based `feature` numbers in errors).

    An invalid polygon (self-intersection, bad ring...) is refused naming the feature and the reason,
    unless `repair` (region.toml `repair = true` in the file's `section`): it is then repaired with
    `make_valid` and the repair, with the area as drawn and after, is listed in `frame.attrs[REPAIRS]`."""
    records, geometries, repairs = [], [], []
    for index, feature in enumerate(_features(path)):
        geometry = (feature or {}).get("geometry")
        if not geometry or "type" not in geometry:
            raise InputError(path, "feature has no geometry", row=index, field="geometry")
        if geometry["type"] not in allowed_types:
            raise InputError(path, f"geometry type {geometry['type']} is not one of {sorted(allowed_types)}",
                             row=index, field="geometry.type")
        try:
            geom = shape(geometry)
        except (ValueError, TypeError, IndexError, AttributeError) as exc:
            raise InputError(path, f"malformed coordinates: {exc}", row=index, field="geometry.coordinates") from exc
        if geom.is_empty:
            raise InputError(path, "empty geometry", row=index, field="geometry")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise InputError(path, f"coordinates outside WGS84 range (bounds {geom.bounds}); "
                             "GeoJSON must be longitude, latitude in degrees", row=index, field="geometry.coordinates")
        properties = dict((feature or {}).get("properties") or {})
        if geom.geom_type in POLYGONAL and not geom.is_valid:
            reason = explain_validity(geom)[:120]
            if not repair:
                where = f"[{section}] of region.toml" if section else "the region.toml section naming this file"
                raise InputError(path, f"invalid polygon ({reason}); refused: set repair = true in {where} "
                                 "to repair it (area changes are reported)", row=index, field="geometry")
            repaired = _polygonal_part(make_valid(geom))
            if repaired.is_empty:
                raise InputError(path, f"invalid polygon ({reason}) has no area left after repair",
                                 row=index, field="geometry")
            name = properties.get(id_field) if id_field is not None else properties.get("name")
            repairs.append(GeometryRepair(index, str(name if name is not None else f"feature {index}")[:80],
                                          reason, area_km2(geom), area_km2(repaired)))
            geom = repaired
        if id_field is not None:
            value = properties.get(id_field)
            if value is None or str(value).strip() == "":
                raise InputError(path, f"feature has no '{id_field}'", row=index, field=id_field)
        records.append(properties)
        geometries.append(geom)
    frame = gpd.GeoDataFrame(pd.DataFrame.from_records(records), geometry=geometries, crs="EPSG:4326")
    if id_field is not None:
        ids = frame[id_field].astype(str).str.strip()
        duplicated = ids.duplicated()
        if duplicated.any():
            i = int(duplicated.to_numpy().nonzero()[0][0])
            raise InputError(path, f"duplicate id {ids.iloc[i]!r}", row=i, field=id_field)
        frame[id_field] = ids
    frame.attrs[REPAIRS] = [asdict(r) for r in repairs]
    return frame


def read_boundary(path: str | Path, repair: bool = False) -> gpd.GeoDataFrame:
    """The region boundary dissolved into one (multi)polygon; invalid polygons refused unless `repair`."""
    features = read_features(path, POLYGONAL, repair=repair, section="boundary")
    boundary = gpd.GeoDataFrame({"name": [str(features.iloc[0].get("name", ""))]},
                                geometry=[features.union_all()], crs="EPSG:4326")
    boundary.attrs[REPAIRS] = features.attrs[REPAIRS]
    return boundary


def read_areas(path: str | Path, id_field: str, repair: bool = False) -> gpd.GeoDataFrame:
    """Reporting areas (FSAs, census tracts...) with `area_id` from `id_field`, normalised by
    `normalize_area_id` (ids that differ only in case, spacing or Unicode form are duplicates);
    invalid polygons refused unless `repair`."""
    features = read_features(path, POLYGONAL, id_field=id_field, repair=repair, section="areas")
    ids = normalize_area_ids(features[id_field])
    duplicated = ids.duplicated()
    if duplicated.any():
        i = int(duplicated.to_numpy().nonzero()[0][0])
        raise InputError(path, f"duplicate id {ids.iloc[i]!r} (ids are compared trimmed, case-insensitive, NFC)",
                         row=i, field=id_field)
    features[id_field] = ids
    areas = gpd.GeoDataFrame({"area_id": features[id_field]}, geometry=features.geometry, crs="EPSG:4326")
    areas.attrs[REPAIRS] = features.attrs[REPAIRS]
    return areas


def read_points(path: str | Path, id_field: str | None = None) -> gpd.GeoDataFrame:
    """Point features (candidate sites); MultiPoints are refused so that one feature is one site."""
    return read_features(path, {"Point"}, id_field=id_field)
