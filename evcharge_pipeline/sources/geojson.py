"""GeoJSON loading with feature-level validation (geometry type, id field, duplicate ids)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
from shapely.geometry import shape
from shapely.validation import make_valid

from evcharge_pipeline.region import InputError
from evcharge_pipeline.sources.common import normalize_area_ids, read_json

POLYGONAL = {"Polygon", "MultiPolygon"}


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


def read_features(path: str | Path, allowed_types: set[str], id_field: str | None = None) -> gpd.GeoDataFrame:
    """Features as a WGS84 GeoDataFrame; rows are features (0-based `feature` numbers in errors)."""
    records, geometries = [], []
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
        if geom.geom_type in POLYGONAL and not geom.is_valid:
            geom = make_valid(geom)
        properties = dict((feature or {}).get("properties") or {})
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
    return frame


def read_boundary(path: str | Path) -> gpd.GeoDataFrame:
    """The region boundary dissolved into one (multi)polygon."""
    features = read_features(path, POLYGONAL)
    return gpd.GeoDataFrame({"name": [str(features.iloc[0].get("name", ""))]},
                            geometry=[features.union_all()], crs="EPSG:4326")


def read_areas(path: str | Path, id_field: str) -> gpd.GeoDataFrame:
    """Reporting areas (FSAs, census tracts...) with `area_id` from `id_field`, normalised by
    `normalize_area_id` (ids that differ only in case, spacing or Unicode form are duplicates)."""
    features = read_features(path, POLYGONAL, id_field=id_field)
    ids = normalize_area_ids(features[id_field])
    duplicated = ids.duplicated()
    if duplicated.any():
        i = int(duplicated.to_numpy().nonzero()[0][0])
        raise InputError(path, f"duplicate id {ids.iloc[i]!r} (ids are compared trimmed, case-insensitive, NFC)",
                         row=i, field=id_field)
    features[id_field] = ids
    return gpd.GeoDataFrame({"area_id": features[id_field]}, geometry=features.geometry, crs="EPSG:4326")


def read_points(path: str | Path, id_field: str | None = None) -> gpd.GeoDataFrame:
    """Point features (candidate sites); MultiPoints are refused so that one feature is one site."""
    return read_features(path, {"Point"}, id_field=id_field)
