"""Command-line benchmarks against published problem instances."""
