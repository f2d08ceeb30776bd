"""wsl.benchmark.stats: run rows, mean ± sample std per entry, curves averaged per entry, paired tests."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from wsl.benchmark import stats as wa
from wsl.benchmark.entries import parse_entries
from wsl.benchmark.plan import BenchmarkRun

HAND_MADE_ROWS = [
    {"entry": "gmp", "seed": 0, "map": 0.5, "maxboxacc": 0.2, "train_seconds": 10.0},
    {"entry": "gmp", "seed": 1, "map": 0.7, "maxboxacc": 0.4, "train_seconds": 14.0},
    {"entry": "gmp", "seed": 2, "map": 0.6, "maxboxacc": float("nan"), "train_seconds": 12.0},
    {"entry": "gap", "seed": 0, "map": 0.9, "maxboxacc": 0.3},
]


def test_aggregate_mean_and_sample_std_on_hand_made_rows():
    summary = wa.aggregate(HAND_MADE_ROWS)
    assert [e["entry"] for e in summary] == ["gmp", "gap"]
    assert summary[0]["runs"] == 3 and summary[0]["seeds"] == [0, 1, 2]
    gmp, gap = (e["metrics"] for e in summary)
    assert gmp["map"]["mean"] == pytest.approx(0.6) and gmp["map"]["std"] == pytest.approx(0.1)
    assert gmp["maxboxacc"] == {"mean": pytest.approx(0.3), "std": pytest.approx(math.sqrt(0.02)), "n": 2}
    assert gmp["train_seconds"]["std"] == pytest.approx(2.0)
    assert gap["map"] == {"mean": 0.9, "std": None, "n": 1} and "train_seconds" not in gap
    assert [key for key, _, _ in wa.present_metrics(summary)] == ["map", "maxboxacc", "train_seconds"]


def test_run_row_computes_the_training_rate_from_the_images_per_epoch():
    run = BenchmarkRun(parse_entries("gap")[0], 1, Path("out/runs/gap-seed1"))
    results = {"epochs": 2, "train_seconds": 4.0, "data": "synthetic", "test": {"map": 0.5}}
    row = wa.run_row(run, results, images_per_epoch=10)
    assert row["train_images"] == 20 and row["train_images_per_s"] == 5.0 and row["map"] == 0.5
    assert (row["entry"], row["pool"], row["seed"], row["run_dir"]) == (
        "gap",
        "gap",
        1,
        str(Path("out/runs/gap-seed1")),
    )
    assert (row["kind"], row["method"], row["setting"]) == ("train", "cam", "default")
    unknown = wa.run_row(run, results, images_per_epoch=None)
    assert unknown["train_images"] is None and unknown["train_images_per_s"] is None


def test_mean_curves_average_per_entry_and_leave_out_another_threshold_grid():
    rows = [{"entry": "gap", "run_dir": d} for d in ("a", "b", "c")] + [{"entry": "lse", "run_dir": "d"}]
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


# Two-sided p-values of Student's t from printed tables (t, df, p): the 0.05 and 0.01 critical values.
T_TABLE = [
    (12.706205, 1, 0.05), (4.302653, 2, 0.05), (3.182446, 3, 0.05), (2.776445, 4, 0.05),
    (2.570582, 5, 0.05), (2.228139, 10, 0.05), (63.656741, 1, 0.01), (9.924843, 2, 0.01),
    (5.840909, 3, 0.01), (3.169273, 10, 0.01), (0.0, 7, 1.0),
]  # fmt: skip


@pytest.mark.parametrize(("t", "df", "p"), T_TABLE)
def test_student_t_p_values_match_the_printed_table(t, df, p):
    assert wa.student_t_two_sided_p(t, df) == pytest.approx(p, abs=1e-6)
    assert wa.student_t_two_sided_p(-t, df) == pytest.approx(p, abs=1e-6)


def test_student_t_limits_cauchy_and_normal():
    # df = 1 is the Cauchy distribution: P(|T| >= t) = 1 - 2 atan(t) / pi.
    for t in (0.3, 1.0, 7.0):
        assert wa.student_t_two_sided_p(t, 1) == pytest.approx(1 - 2 * math.atan(t) / math.pi)
    # Large df approaches the normal: P(|Z| >= 1.96) = 0.05.
    assert wa.student_t_two_sided_p(1.959964, 4000) == pytest.approx(0.05, abs=2e-4)
    assert wa.student_t_two_sided_p(math.inf, 3) == 0.0
    with pytest.raises(ValueError, match="df"):
        wa.student_t_two_sided_p(1.0, 0)


def test_paired_test_pairs_by_seed_and_compares_the_center_one_sample():
    rows = [
        {"entry": "a", "seed": 0, "m": 0.6}, {"entry": "a", "seed": 1, "m": 0.7},
        {"entry": "a", "seed": 2, "m": 0.8}, {"entry": "b", "seed": 2, "m": 0.6},
        {"entry": "b", "seed": 1, "m": 0.5}, {"entry": "b", "seed": 7, "m": 0.0},
        {"entry": "center", "seed": None, "m": 0.5},
    ]  # fmt: skip
    paired = wa.paired_test(rows, "a", "b", "m")  # seeds 1, 2: differences 0.2, 0.2
    assert paired["n"] == 2 and paired["diff"] == pytest.approx(0.2)
    assert paired["p"] == 0.0 or paired["p"] < 1e-6
    center = wa.paired_test(rows, "a", "center", "m")  # differences 0.1, 0.2, 0.3: t = 0.2 / (0.1 / sqrt 3)
    assert center["diff"] == pytest.approx(0.2) and center["t"] == pytest.approx(2 * math.sqrt(3))
    assert center["p"] == pytest.approx(wa.student_t_two_sided_p(2 * math.sqrt(3), 2))
    assert wa.paired_test(rows, "center", "a", "m")["diff"] == pytest.approx(-0.2)
    assert wa.paired_test(rows, "a", "missing", "m") is None


def test_compare_to_best_ranks_by_the_metric_and_tests_the_others():
    summary = wa.aggregate(HAND_MADE_ROWS)
    comparison = wa.compare_to_best(HAND_MADE_ROWS, summary, "map")
    assert comparison["best"] == "gap" and [o["entry"] for o in comparison["others"]] == ["gmp"]
    assert comparison["others"][0]["map"] is None  # one common seed: no test
    assert wa.compare_to_best(HAND_MADE_ROWS, summary, "pxap") == {
        "best": None,
        "metric": "pxap",
        "others": [],
    }


def test_schedule_check_pairs_own_and_shared_runs_by_seed():
    """Own − shared per seed: diffs 0.3, 0.2, 0.1 → mean 0.2, s_d 0.1, t = 0.2 / (0.1/√3) = 2√3, df 2."""

    def row(entry, seed, epochs, value):
        return {"entry": entry, "seed": seed, "epochs": epochs, "maxboxacc": value}

    own = [row("has", 0, 60, 0.6), row("has", 1, 60, 0.6), row("has", 2, 60, 0.6)]
    shared = [row("has", 0, 30, 0.3), row("has", 1, 30, 0.4), row("has", 2, 30, 0.5)]
    shared += [row("gmp", 0, 30, 0.1)]  # no own-schedule run: left out
    [check] = wa.schedule_check(own, shared)
    assert (check["entry"], check["epochs"], check["shared_epochs"]) == ("has", 60, 30)
    test = check["maxboxacc"]
    assert test["n"] == 3 and test["diff"] == pytest.approx(0.2)
    assert test["t"] == pytest.approx(2 * math.sqrt(3))
    assert test["p"] == pytest.approx(wa.student_t_two_sided_p(2 * math.sqrt(3), 2))
    assert "map" not in check  # no score, no test
