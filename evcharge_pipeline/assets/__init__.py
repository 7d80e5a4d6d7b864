"""Thin Dagster assets, one module per domain: read inputs, call domain code, write tables and metadata."""
