"""Coverage-pair benchmark: N demand points x M sites within a radius, on projected coordinates.

    python -m evcharge_pipeline.benchmarks.coverage --demand-points 100000 --sites 10000 --radius-km 5

Points are spread over a square region sized for a realistic density (demand points on a 500 m grid);
prints the pair count, seconds and peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import pandas as pd

from evcharge_pipeline.demand import CoverageConfig, coverage_pairs
from evcharge_pipeline.geometry import unproject, utm_crs_for


def synthetic_instance(demand_points: int, sites: int, cell_m: float = 500.0, seed: int = 1):
    """Demand points and sites in a square whose side gives one demand point per `cell_m` cell."""
    rng = np.random.default_rng(seed)
    side = np.sqrt(demand_points) * cell_m
    crs = utm_crs_for(-80.5, 43.5)
    origin_x, origin_y = 500_000.0 - side / 2, 4_800_000.0 - side / 2
    dx, dy = rng.uniform(0, side, demand_points) + origin_x, rng.uniform(0, side, demand_points) + origin_y
    lat, lon = unproject(dx, dy, crs)
    points = pd.DataFrame({"demand_id": np.arange(1, demand_points + 1), "lat": lat, "lon": lon,
                           "x_m": dx, "y_m": dy, "utm_epsg": crs.to_epsg()})
    sx, sy = rng.uniform(0, side, sites) + origin_x, rng.uniform(0, side, sites) + origin_y
    slat, slon = unproject(sx, sy, crs)
    site_frame = pd.DataFrame({"site_id": [f"s{i}" for i in range(sites)], "lat": slat, "lon": slon,
                               "site_kind": np.where(np.arange(sites) < sites // 10, "existing", "candidate")})
    return points, site_frame, side / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demand-points", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--radius-km", type=float, default=5.0)
    args = parser.parse_args(argv)
    points, sites, side_km = synthetic_instance(args.demand_points, args.sites)
    start = time.perf_counter()
    pairs = coverage_pairs(points, sites, CoverageConfig(max_radius_km=args.radius_km))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "demand_points": args.demand_points, "sites": args.sites, "radius_km": args.radius_km,
        "region_side_km": round(side_km, 1), "pairs": len(pairs), "seconds": round(seconds, 2),
        "peak_memory_mb": round(peak_mb, 0), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }, indent=1))


if __name__ == "__main__":
    main()
