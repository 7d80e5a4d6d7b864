"""Per-point yearly demand forecasts: a small trend family chosen by rolling-origin backtest.

Input is a history matrix ``values[i, k]`` (demand point i, consecutive years ``years[k]``). Methods
(all vectorised over points, no seasonality):

- ``linear``: least-squares line through the last ``window_years`` years of each point.
- ``damped_trend``: Holt's linear exponential smoothing with a damped trend (alpha, beta, phi fixed).
- ``exponential_trend``: least-squares line through log(1 + demand) over the last ``window_years``,
  with the yearly growth factor capped at ``max_growth_factor``.
- ``share_of_total``: each point's mean share of the total over the last ``share_years`` years times a
  linear-trend forecast of the total (a growth-ratio-to-the-total method).
- ``ensemble``: the mean of ``linear`` and ``share_of_total``.
- ``combination``: the equal-weight mean of every other candidate (a forecast combination).

Each method is tried with every window in ``window_years_grid`` (and ``share_years_grid`` for the
share methods); a candidate is named like ``share_of_total[w=4,s=3]``. `backtest` re-fits every
candidate at every admissible origin (rolling origin) and scores the next ``horizon`` years: MAE,
MAPE (over actuals > 0) and WAPE, per candidate and horizon. `forecast_demand` picks the candidate
with the lowest mean MAE and adds quantiles from that candidate's backtest errors, relative to the
forecast level (floored at ``error_scale_floor_units``) and centred on their median so that the 0.5
quantile is the point forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

METHODS = ("linear", "damped_trend", "exponential_trend", "share_of_total", "ensemble", "combination")


@dataclass(frozen=True)
class ForecastConfig:
    methods: tuple[str, ...] = METHODS
    window_years_grid: tuple[int, ...] = (3, 4, 5)  # years used by the linear/exponential/total fits
    share_years_grid: tuple[int, ...] = (2, 3, 4)  # years averaged for a point's share of the total
    damped_alpha: float = 0.8  # level smoothing
    damped_beta: float = 0.4  # trend smoothing
    damped_phi: float = 0.9  # trend damping per year
    max_growth_factor: float = 1.5  # cap on the exponential trend's yearly growth
    min_train_years: int = 4  # shortest history a backtest origin may use
    backtest_origins: int = 3  # most recent origins scored (rolling origin)
    quantiles: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
    error_scale_floor_units: float = 1.0  # relative errors use max(forecast, floor) as scale


@dataclass
class ForecastResult:
    method: str
    years: list[int]  # forecast years
    point: np.ndarray  # (n, H)
    quantiles: dict[float, np.ndarray]  # q -> (n, H)
    backtest: pd.DataFrame  # method, horizon, origin_year, mae, mape, wape, n_points
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # method, mae, mape, wape (mean over origins)

    def scenarios(self) -> tuple[np.ndarray, np.ndarray]:
        """Quantile scenarios (K, n, H) with equal weights, for the placement model."""
        qs = sorted(self.quantiles)
        return np.stack([self.quantiles[q] for q in qs]), np.full(len(qs), 1.0 / len(qs))


def validate_history(values: np.ndarray, years: list[int], ids=None) -> np.ndarray:
    """Refuse gaps (missing years, NaN), negative and non-finite values with row and year named."""
    arr = np.asarray(values, dtype=float)
    years = [int(y) for y in years]
    if arr.ndim != 2 or arr.shape[1] != len(years):
        raise ValueError(f"history must be (points, {len(years)} years), got {arr.shape}")
    if years != list(range(years[0], years[0] + len(years))):
        missing = sorted(set(range(min(years), max(years) + 1)) - set(years))
        raise ValueError(f"history years must be consecutive; missing {missing}")
    labels = np.arange(arr.shape[0]) if ids is None else np.asarray(ids)
    for bad, what in ((np.isnan(arr), "is missing (a gap)"), (~np.isfinite(arr) & ~np.isnan(arr), "is not finite"),
                      (arr < 0, "is negative")):
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise ValueError(f"demand history row {r + 1} (id {labels[r]}), year {years[c]} {what}: "
                             f"{arr[r, c]}; {int(bad.sum())} such value(s)")
    return arr


def _fit_line(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intercept (at the last year) and slope per row."""
    w = y.shape[1]
    t = np.arange(w) - (w - 1)
    tc = t - t.mean()
    slope = (y - y.mean(axis=1, keepdims=True)) @ tc / (tc @ tc)
    level = y.mean(axis=1) + slope * (0 - t.mean())
    return level, slope


def candidates(config: ForecastConfig) -> list[str]:
    """Every (method, window) combination the backtest compares."""
    names = []
    for method in config.methods:
        if method in ("damped_trend", "combination"):
            names.append(method)
        elif method in ("share_of_total", "ensemble"):
            names += [f"{method}[w={w},s={s}]" for w in config.window_years_grid for s in config.share_years_grid]
        else:
            names += [f"{method}[w={w}]" for w in config.window_years_grid]
    return names


def _parse(name: str) -> tuple[str, dict[str, int]]:
    if "[" not in name:
        return name, {}
    base, rest = name.split("[", 1)
    params = dict(item.split("=") for item in rest.rstrip("]").split(","))
    return base, {k: int(v) for k, v in params.items()}


def _method(values: np.ndarray, name: str, horizon: int, cfg: ForecastConfig) -> np.ndarray:
    method, params = _parse(name)
    n, T = values.shape
    h = np.arange(1, horizon + 1)
    w = min(params.get("w", cfg.window_years_grid[0]), T)
    if method == "linear":
        level, slope = _fit_line(values[:, -w:])
        out = level[:, None] + slope[:, None] * h
    elif method == "damped_trend":
        level = values[:, 0].copy()
        trend = values[:, 1] - values[:, 0] if T > 1 else np.zeros(n)
        for k in range(1, T):  # loop over years only; every step is vectorised over points
            prev_level = level
            level = cfg.damped_alpha * values[:, k] + (1 - cfg.damped_alpha) * (level + cfg.damped_phi * trend)
            trend = cfg.damped_beta * (level - prev_level) + (1 - cfg.damped_beta) * cfg.damped_phi * trend
        damp = np.cumsum(cfg.damped_phi ** h)
        out = level[:, None] + trend[:, None] * damp
    elif method == "exponential_trend":
        level, slope = _fit_line(np.log1p(values[:, -w:]))
        slope = np.minimum(slope, np.log(cfg.max_growth_factor))
        out = np.expm1(level[:, None] + slope[:, None] * h)
    elif method == "share_of_total":
        totals = values.sum(axis=0)
        s = min(params.get("s", cfg.share_years_grid[0]), T)
        shares = (values[:, -s:] / np.where(totals[-s:] > 0, totals[-s:], 1.0)).mean(axis=1)
        t_level, t_slope = _fit_line(totals[None, -w:])
        total_fc = t_level[0] + t_slope[0] * h
        out = shares[:, None] * total_fc[None, :]
    elif method == "ensemble":
        w_s = f"w={params.get('w', cfg.window_years_grid[0])}"
        s_s = f"s={params.get('s', cfg.share_years_grid[0])}"
        out = 0.5 * (_method(values, f"linear[{w_s}]", horizon, cfg)
                     + _method(values, f"share_of_total[{w_s},{s_s}]", horizon, cfg))
    elif method == "combination":
        others = [c for c in candidates(cfg) if c != "combination"]
        out = np.mean([_method(values, c, horizon, cfg) for c in others], axis=0)
    else:
        raise ValueError(f"unknown forecast method {method!r}; choose from {METHODS}")
    return np.maximum(out, 0.0)


def forecast_method(values: np.ndarray, method: str, horizon: int,
                    config: ForecastConfig = ForecastConfig()) -> np.ndarray:
    """Forecast ``horizon`` years ahead with one method: (n, horizon)."""
    return _method(np.asarray(values, float), method, horizon, config)


def backtest(values: np.ndarray, years: list[int], horizon: int, config: ForecastConfig = ForecastConfig(),
             keep_errors: bool = False):
    """Rolling-origin backtest: for each origin, fit on the years before it and score the next years."""
    values = validate_history(values, years)
    T = values.shape[1]
    last_origin = T - 1  # the origin index is the first held-out year
    origins = [o for o in range(config.min_train_years, last_origin + 1)][-config.backtest_origins:]
    if not origins:
        raise ValueError(f"history of {T} years is too short for a backtest with min_train_years="
                         f"{config.min_train_years}")
    rows: list[dict] = []
    errors: dict[tuple[str, int], list[np.ndarray]] = {}
    for method in candidates(config):
        for o in origins:
            hmax = min(horizon, T - o)
            fc = _method(values[:, :o], method, hmax, config)
            for hh in range(hmax):
                actual = values[:, o + hh]
                err = actual - fc[:, hh]
                pos = actual > 0
                rows.append({"method": method, "horizon": hh + 1, "origin_year": int(years[o]),
                             "mae": float(np.abs(err).mean()),
                             "mape": float((np.abs(err[pos]) / actual[pos]).mean()) if pos.any() else float("nan"),
                             "wape": float(np.abs(err).sum() / max(actual.sum(), 1e-12)),
                             "n_points": int(actual.size)})
                if keep_errors:
                    scale = np.maximum(fc[:, hh], config.error_scale_floor_units)
                    errors.setdefault((method, hh + 1), []).append(err / scale)
    frame = pd.DataFrame(rows)
    return (frame, errors) if keep_errors else frame


def forecast_demand(values: np.ndarray, years: list[int], future_years: list[int],
                    config: ForecastConfig = ForecastConfig(), method: str | None = None) -> ForecastResult:
    """Backtest, choose the best method by MAE (unless `method` is given), forecast with quantiles."""
    values = validate_history(values, years)
    future_years = [int(y) for y in future_years]
    if not future_years or min(future_years) <= years[-1]:
        raise ValueError(f"forecast years {future_years} must all be after the last history year {years[-1]}")
    horizons = [y - years[-1] for y in future_years]
    hmax = max(horizons)
    bt, errors = backtest(values, years, hmax, config, keep_errors=True)
    summary = (bt.groupby("method")[["mae", "mape", "wape"]].mean().reset_index().sort_values("mae"))
    chosen = method or str(summary.iloc[0]["method"])
    full = _method(values, chosen, hmax, config)
    point = full[:, [h - 1 for h in horizons]]
    quants: dict[float, np.ndarray] = {}
    for q in config.quantiles:
        cols = []
        for col, h in enumerate(horizons):
            # errors of this horizon, or of the longest horizon the history could score
            avail = [hh for (m, hh) in errors if m == chosen and hh <= h]
            rel = np.concatenate(errors[(chosen, max(avail))]) if avail else np.zeros(1)
            rel = rel - np.median(rel)
            scale = np.maximum(point[:, col], config.error_scale_floor_units)
            cols.append(np.maximum(point[:, col] + np.quantile(rel, q) * scale, 0.0))
        quants[float(q)] = np.column_stack(cols)
    return ForecastResult(method=chosen, years=future_years, point=point, quantiles=quants, backtest=bt,
                          summary=summary.reset_index(drop=True))
