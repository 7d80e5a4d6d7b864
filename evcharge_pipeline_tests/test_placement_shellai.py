"""Shell.ai 2022 benchmark CLI: a synthetic mini instance always, the published data when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evcharge_pipeline.benchmarks import shellai
from evcharge_pipeline.placement import evaluator, shellai_case, shellai_io

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "shellai_2022"
PUBLISHED_BEST_2018 = 2_276_577.0


def mini_instance(folder: Path, seed: int = 0) -> Path:
    """A 6x6 grid of demand points and 4 supply points in the official file layout."""
    rng = np.random.default_rng(seed)
    xs, ys = np.meshgrid(np.arange(6) + 0.5, np.arange(6) + 0.5)
    n = xs.size
    base = rng.uniform(5, 30, n)
    years = list(range(2010, 2019))
    hist = pd.DataFrame({"demand_point_index": np.arange(n), "x_coordinate": xs.ravel(), "y_coordinate": ys.ravel()})
    for k, y in enumerate(years):
        hist[str(y)] = base * (1 + 0.25 * k) * rng.uniform(0.9, 1.1, n)
    folder.mkdir(parents=True, exist_ok=True)
    hist.to_csv(folder / shellai_io.DEMAND_FILE, index=False)
    supply = pd.DataFrame({"supply_point_index": np.arange(4), "x_coordinate": [1.2, 4.6, 1.7, 4.1],
                           "y_coordinate": [1.1, 1.9, 4.4, 4.8], "total_parking_slots": [8, 9, 7, 10],
                           "existing_num_SCS": [1, 2, 0, 1], "existing_num_FCS": [0, 1, 1, 1]})
    supply.to_csv(folder / shellai_io.SUPPLY_FILE, index=False)
    return folder


def check_written(out: Path, data: Path, truth_years=()):
    hist, supply = shellai_io.load_benchmark(data)
    plans = shellai_io.read_solution(out / "solution.csv", hist.n_points, supply.n_points)
    ev = evaluator.evaluate(plans, supply, hist.xy, {y: hist.year(y) for y in truth_years})
    assert ev.valid, ev.violations
    return plans, ev


def test_mini_instance_all_three_cases(tmp_path):
    data = mini_instance(tmp_path / "data")
    assert shellai.main(["--data", str(data), "--out", str(tmp_path / "ref"), "--true-demand", "--years", "2018",
                         "--nearest", "2"]) == 0
    plans, ev = check_written(tmp_path / "ref", data, [2018])
    hist, _ = shellai_io.load_benchmark(data)
    # the reference case serves the recorded demand exactly (to the written precision)
    np.testing.assert_allclose(plans[0].flows.sum(axis=1), hist.year(2018), atol=1e-4)

    assert shellai.main(["--data", str(data), "--out", str(tmp_path / "bt"), "--history-until", "2017",
                         "--years", "2018"]) == 0
    _, ev_bt = check_written(tmp_path / "bt", data, [2018])
    assert ev_bt.years[0].cost_demand_mismatch > 0
    # planning for the truth can never cost more than planning for a forecast, scored on the truth
    assert ev.years[0].cost <= ev_bt.years[0].cost * (1 + 1e-4)

    assert shellai.main(["--data", str(data), "--out", str(tmp_path / "fc")]) == 0
    plans, ev = check_written(tmp_path / "fc", data)
    assert [p.year for p in plans] == [2019, 2020]
    assert (plans[1].slow >= plans[0].slow).all() and (plans[1].fast >= plans[0].fast).all()
    frame = pd.read_csv(tmp_path / "fc" / "solution.csv")
    assert len(frame) == 2 * (4 + 4 + 36 * 4)


def test_cli_refuses_bad_input_with_exit_status_2(tmp_path, capsys):
    data = mini_instance(tmp_path / "data")
    supply = pd.read_csv(data / shellai_io.SUPPLY_FILE)
    supply.loc[2, "total_parking_slots"] = 0
    supply.to_csv(data / shellai_io.SUPPLY_FILE, index=False)
    assert shellai.main(["--data", str(data), "--out", str(tmp_path / "o")]) == 2
    assert "row 3" in capsys.readouterr().err


def _require_shared():
    if not (SHARED / shellai_io.DEMAND_FILE).exists():
        pytest.skip("Shell.ai 2022 data: ../shared/data not present")


def test_reference_case_reaches_the_published_best(tmp_path):
    _require_shared()
    summary = shellai_case.run(SHARED, tmp_path, years=[2018], true_demand=True, log=lambda *_: None)
    assert summary["valid"], summary["violations"]
    assert summary["status"] == "optimal" and summary["mip_gap"] <= 1e-4
    # the all-pairs LP bound proves the gap for the unrestricted problem too
    assert summary["global_gap"] is not None and summary["global_gap"] <= 1e-4
    (year,) = summary["per_year"]
    assert year["cost"] <= PUBLISHED_BEST_2018
    check_written(tmp_path, SHARED, [2018])


@pytest.mark.slow
def test_backtest_2018_scored_on_the_truth(tmp_path):
    _require_shared()
    summary = shellai_case.run(SHARED, tmp_path, years=[2018], history_until=2017, log=lambda *_: None)
    assert summary["valid"]
    (year,) = summary["per_year"]
    assert year["cost_demand_mismatch"] > 0
    assert year["cost"] > PUBLISHED_BEST_2018  # a forecast cannot beat planning for the truth


@pytest.mark.slow
def test_joint_2019_2020_plan_is_valid(tmp_path):
    _require_shared()
    summary = shellai_case.run(SHARED, tmp_path, log=lambda *_: None)
    assert summary["valid"] and summary["years"] == [2019, 2020]
    plans, _ = check_written(tmp_path, SHARED)
    assert (plans[1].slow >= plans[0].slow).all()
