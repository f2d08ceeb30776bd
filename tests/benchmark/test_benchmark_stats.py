"""wsl.benchmark.stats: run rows, mean ± sample std per pool, curves averaged per pool."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from wsl.benchmark import stats as wa
from wsl.benchmark.plan import BenchmarkRun

HAND_MADE_ROWS = [
    {"pool": "gmp", "seed": 0, "map": 0.5, "maxboxacc": 0.2, "train_seconds": 10.0},
    {"pool": "gmp", "seed": 1, "map": 0.7, "maxboxacc": 0.4, "train_seconds": 14.0},
    {"pool": "gmp", "seed": 2, "map": 0.6, "maxboxacc": float("nan"), "train_seconds": 12.0},
    {"pool": "gap", "seed": 0, "map": 0.9, "maxboxacc": 0.3},
]


def test_aggregate_mean_and_sample_std_on_hand_made_rows():
    summary = wa.aggregate(HAND_MADE_ROWS)
    assert [e["pool"] for e in summary] == ["gmp", "gap"]
    assert summary[0]["runs"] == 3 and summary[0]["seeds"] == [0, 1, 2]
    gmp, gap = (e["metrics"] for e in summary)
    assert gmp["map"]["mean"] == pytest.approx(0.6) and gmp["map"]["std"] == pytest.approx(0.1)
    assert gmp["maxboxacc"] == {"mean": pytest.approx(0.3), "std": pytest.approx(math.sqrt(0.02)), "n": 2}
    assert gmp["train_seconds"]["std"] == pytest.approx(2.0)
    assert gap["map"] == {"mean": 0.9, "std": None, "n": 1} and "train_seconds" not in gap
    assert [key for key, _, _ in wa.present_metrics(summary)] == ["map", "maxboxacc", "train_seconds"]


def test_run_row_computes_the_training_rate_from_the_images_per_epoch():
    run = BenchmarkRun("gap", 1, Path("out/runs/gap-seed1"))
    results = {"epochs": 2, "train_seconds": 4.0, "data": "synthetic", "test": {"map": 0.5}}
    row = wa.run_row(run, results, images_per_epoch=10)
    assert row["train_images"] == 20 and row["train_images_per_s"] == 5.0 and row["map"] == 0.5
    assert (row["pool"], row["seed"], row["run_dir"]) == ("gap", 1, str(Path("out/runs/gap-seed1")))
    unknown = wa.run_row(run, results, images_per_epoch=None)
    assert unknown["train_images"] is None and unknown["train_images_per_s"] is None


def test_mean_curves_average_per_pool_and_leave_out_another_threshold_grid():
    rows = [{"pool": "gap", "run_dir": d} for d in ("a", "b", "c")] + [{"pool": "lse", "run_dir": "d"}]
    curves = {
        "a": {"thresholds": [0.0, 0.5], "maxboxacc": [0.2, 0.4]},
        "b": {"thresholds": [0.0, 0.5], "maxboxacc": [0.4, 0.6]},
        "c": {"thresholds": [0.0, 0.2, 0.5], "maxboxacc": [1.0, 1.0, 1.0]},
        "d": None,
    }
    averaged = wa.mean_curves(curves, rows)
    assert list(averaged) == ["gap"]
    assert averaged["gap"]["runs"] == 2 and averaged["gap"]["thresholds"] == [0.0, 0.5]
    assert averaged["gap"]["maxboxacc"] == pytest.approx([0.3, 0.5])
    assert "maxboxacc_v2_50" not in averaged["gap"]
