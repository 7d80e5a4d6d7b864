"""Loaders for a region's raw sources. Each returns a DataFrame (or GeoDataFrame) in the raw.* schema
and raises `evcharge_pipeline.region.InputError` naming the file, row and field on bad input."""
