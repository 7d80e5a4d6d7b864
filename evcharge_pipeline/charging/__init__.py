"""Smart charging at a parking site: session logs, the scheduling MILP, baselines and metrics (no Dagster)."""
