"""Shell.ai Hackathon 2022 benchmark: forecast, plan, write the official solution file and score it.

    python -m evcharge_pipeline.benchmarks.shellai --data DIR --out DIR [--years Y ...]
        [--history-until YEAR] [--true-demand] [--nearest K] [--mip-gap G] [--time-limit S]

Cases:
- default: forecast 2019 and 2020 from all history (2010-2018) and plan both years jointly. The true
  demand was never published, so the printed cost has no mismatch term.
- ``--history-until 2017 --years 2018``: the honest backtest. Forecast 2018 from 2010-2017 only, plan
  it and score it against the true 2018 demand with the full official cost.
- ``--true-demand --years 2018``: the reference case, planned for the actual 2018 demand.

The solution file is written to ``OUT/solution.csv``, read back and checked by the independent
evaluator (all six constraints and the non-decreasing stock), and a ``summary.json`` is written beside
it. Exit status 0 when the written solution is valid, 1 when it is not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evcharge_pipeline.placement import model, shellai_io
from evcharge_pipeline.placement.shellai_case import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evcharge_pipeline.benchmarks.shellai", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="folder with the Shell.ai 2022 CSV files")
    parser.add_argument("--out", required=True, type=Path, help="folder for solution.csv and summary.json")
    parser.add_argument("--years", type=int, nargs="+", help="years to plan (default: the two after the history)")
    parser.add_argument("--history-until", type=int, help="last history year the forecast may use")
    parser.add_argument("--true-demand", action="store_true", help="plan for the recorded demand (reference case)")
    parser.add_argument("--nearest", type=int, default=10,
                        help="arcs to the k nearest supply points, priced out against all pairs (0 = all pairs)")
    parser.add_argument("--mip-gap", type=float, default=1e-4, help="relative MIP gap (default 1e-4 = 0.01%%)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="solver time limit in seconds")
    parser.add_argument("--method", help="force a forecast candidate, e.g. 'share_of_total[w=5,s=3]'")
    parser.add_argument("--service", choices=["chosen", "hard"], default="chosen",
                        help="forecast cases: 'chosen' lets the plan pick served demand against the forecast "
                             "quantiles (default); 'hard' serves the point forecast exactly")
    args = parser.parse_args(argv)
    try:
        summary = run(args.data, args.out, args.years, args.history_until, args.true_demand,
                      args.nearest or None, args.mip_gap, args.time_limit, method=args.method,
                      placement_config=model.PlacementConfig(service=args.service))
    except (shellai_io.DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if summary.get("valid") else 1


if __name__ == "__main__":
    sys.exit(main())
