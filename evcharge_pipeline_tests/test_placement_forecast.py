"""Forecasts: exact on series with a known trend, backtest picks the right family, quantiles behave."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from evcharge_pipeline.placement import forecast as F

YEARS = list(range(2010, 2019))


def linear_series(n=50, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(5, 50, n), rng.uniform(0.5, 4, n)
    t = np.arange(len(YEARS))
    return a[:, None] + b[:, None] * t, (a, b)


def test_linear_method_extrapolates_a_linear_trend_exactly():
    values, (a, b) = linear_series()
    fc = F.forecast_method(values, "linear[w=4]", 3)
    t_future = np.arange(len(YEARS), len(YEARS) + 3)
    np.testing.assert_allclose(fc, a[:, None] + b[:, None] * t_future, rtol=1e-10)


def test_share_of_total_is_exact_for_fixed_shares_of_a_linear_total():
    rng = np.random.default_rng(1)
    shares = rng.dirichlet(np.ones(30))
    total = 1000 + 250 * np.arange(len(YEARS))
    values = shares[:, None] * total[None, :]
    fc = F.forecast_method(values, "share_of_total[w=3,s=2]", 2)
    np.testing.assert_allclose(fc, shares[:, None] * (1000 + 250 * np.array([9, 10]))[None, :], rtol=1e-10)


def test_backtest_picks_a_linear_method_for_linear_data_with_noise():
    values, _ = linear_series(n=200, seed=2)
    values = values + np.random.default_rng(3).normal(0, 0.05, values.shape)
    result = F.forecast_demand(values, YEARS, [2019, 2020])
    assert result.method.startswith("linear") or result.method.startswith("ensemble")
    assert result.summary.iloc[0]["mae"] < 0.2
    bt = result.backtest
    assert set(bt["origin_year"]) == {2016, 2017, 2018}
    assert {"mae", "mape", "wape"} <= set(bt.columns)
    # every candidate is scored for both horizons
    assert set(bt["horizon"]) == {1, 2}
    assert bt["method"].nunique() == len(F.candidates(F.ForecastConfig()))


def test_backtest_prefers_share_of_total_when_points_are_noisy_shares():
    rng = np.random.default_rng(4)
    shares = rng.dirichlet(np.ones(300))
    total = 5000 * 1.3 ** np.arange(len(YEARS))
    values = shares[:, None] * total[None, :] * rng.lognormal(0, 0.15, (300, len(YEARS)))
    result = F.forecast_demand(values, YEARS, [2019])
    lin = result.summary.set_index("method").loc["linear[w=3]", "mae"]
    share = result.summary.set_index("method").loc["share_of_total[w=3,s=4]", "mae"]
    assert share < lin


def test_quantiles_are_ordered_and_centred_on_the_point_forecast():
    values, _ = linear_series(n=100, seed=5)
    values = np.maximum(values + np.random.default_rng(6).normal(0, 2.0, values.shape), 0)
    result = F.forecast_demand(values, YEARS, [2019, 2021])
    qs = sorted(result.quantiles)
    for lo, hi in itertools.pairwise(qs):
        assert (result.quantiles[lo] <= result.quantiles[hi] + 1e-9).all()
    np.testing.assert_allclose(result.quantiles[0.5], result.point)
    assert (result.quantiles[0.1] >= 0).all()
    scen, w = result.scenarios()
    assert scen.shape == (len(qs), 100, 2) and w.sum() == pytest.approx(1.0)


def test_damped_trend_flattens_a_constant_series():
    values = np.full((3, len(YEARS)), 7.0)
    np.testing.assert_allclose(F.forecast_method(values, "damped_trend", 4), 7.0)


@pytest.mark.parametrize("bad, pattern", [
    (np.nan, r"row 2 \(id 1\), year 2013 is missing \(a gap\)"),
    (-1.0, r"row 2 \(id 1\), year 2013 is negative"),
    (np.inf, r"row 2 \(id 1\), year 2013 is not finite"),
])
def test_bad_history_values_are_refused(bad, pattern):
    values, _ = linear_series(n=3)
    values[1, 3] = bad
    with pytest.raises(ValueError, match=pattern):
        F.forecast_demand(values, YEARS, [2019])


def test_non_consecutive_years_and_past_targets_are_refused():
    values, _ = linear_series(n=3)
    with pytest.raises(ValueError, match="consecutive"):
        F.validate_history(values[:, :3], [2010, 2011, 2013])
    with pytest.raises(ValueError, match="must all be after"):
        F.forecast_demand(values, YEARS, [2018])
