"""Demand forecasting and capacity-constrained charger placement (plain Python, no Dagster).

- `forecast`: per-point trend forecasts chosen by rolling-origin backtest, with quantiles.
- `model`: multi-year MILP that sizes slow/fast chargers per supply point and assigns demand.
- `evaluator`: validates a plan against the Shell.ai 2022 constraints and computes the official cost.
- `shellai_io`: readers/writers for the Shell.ai 2022 files and the submission format.
"""
