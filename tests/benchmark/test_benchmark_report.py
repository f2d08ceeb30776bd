"""wsl.benchmark.report: the Markdown tables (mean ± std in percent, paired tests, the grid), the CSV and
the atomic writes."""

from __future__ import annotations

import csv
import json

from test_benchmark_stats import HAND_MADE_ROWS

from wsl.benchmark import aggregate
from wsl.benchmark import report as wr


def test_markdown_rows_show_mean_and_std_in_percent_and_seconds_as_is():
    table = wr.format_markdown(aggregate(HAND_MADE_ROWS)).splitlines()
    assert table[0].startswith("| entry | setting | runs | mAP | MaxBoxAcc | train time (s) |")
    assert table[1] == "|---|---|---:|---:|---:|---:|"
    assert table[2] == "| gmp | – | 3 | 60.0 ± 10.0 | 30.0 ± 14.1 | 12.0 ± 2.0 |"
    assert table[3] == "| gap | – | 1 | 90.0 | 30.0 | – |"


def test_the_val_gain_column_flags_an_entry_still_improving():
    convergence = {
        "gmp": {"gain": 0.025, "still_improving": True},
        "gap": {"gain": -0.004, "still_improving": False},
    }
    table = wr.format_markdown(aggregate(HAND_MADE_ROWS), convergence).splitlines()
    assert table[0].endswith("| val gain, last third |") and table[1].endswith("---:|---:|")
    assert table[2].endswith("| 12.0 ± 2.0 | +2.5 † |") and table[3].endswith("| – | -0.4 |")


def test_single_label_rows_show_top1_columns():
    rows = [{"entry": "gap", "seed": 0, "top1_acc": 0.8, "top1_loc": 0.5, "maxboxacc": 0.6}]
    header = wr.format_markdown(aggregate(rows)).splitlines()[0]
    assert "Top-1 acc" in header and "Top-1 Loc" in header and "mAP" not in header


def test_comparison_marks_differences_larger_than_the_seed_spread():
    comparison = {
        "best": "gap",
        "metric": "maxboxacc",
        "others": [
            {"entry": "gmp", "maxboxacc": {"diff": 0.123, "n": 3, "t": 9.0, "p": 0.012}, "map": None},
            {"entry": "center", "maxboxacc": {"diff": 0.301, "n": 3, "t": 1.0, "p": 0.42}, "map": None},
        ],
    }
    assert wr.format_comparison(comparison).splitlines() == [
        "| gap − entry | Δ MaxBoxAcc (p) |",
        "|---|---:|",
        "| gmp | +12.3 (0.012)* |",
        "| center | +30.1 (0.420) |",
    ]
    assert wr.format_comparison({"best": None, "others": []}) == ""
    one_seed = {"best": "cutmix", "metric": "maxboxacc", "others": [{"entry": "has", "maxboxacc": None}]}
    assert wr.format_comparison(one_seed).startswith("No paired test against cutmix")  # not an empty table


def test_grid_table_marks_the_chosen_setting():
    grid = [{"entry": "lse", "setting": "beta2", "val": 0.4, "chosen": False},
            {"entry": "lse", "setting": "beta5", "val": 0.55, "chosen": True}]  # fmt: skip
    assert wr.format_grid(grid, "maxboxacc").splitlines()[2:] == [
        "| lse | beta2 | 40.0 |  |",
        "| lse | beta5 | 55.0 | ✓ |",
    ]
    assert wr.format_grid([], "maxboxacc") == ""


def test_write_tables_writes_three_files_atomically(tmp_path):
    rows = [{"entry": "gap", "seed": 0, "map": 0.5}, {"entry": "gap", "seed": 1, "map": 0.7, "pxap": 0.1}]
    summary = aggregate(rows)
    state = {"rows": rows, "curves": {"x": None}, "summary": summary, "convergence": {},
             "comparison": {"best": "gap", "metric": "map", "others": []}, "grid": []}  # fmt: skip
    meta = {"entries": ["gap"], "seeds": [0, 1, 2], "data": None, "planned_runs": 3, "select_metric": "map"}
    written = wr.write_tables(tmp_path, state, meta)
    assert [p.name for p in written] == ["results.csv", "results.json", "results.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.json", "results.md"]
    assert list(csv.DictReader((tmp_path / "results.csv").open())) == [
        {"entry": "gap", "seed": "0", "map": "0.5", "pxap": ""},
        {"entry": "gap", "seed": "1", "map": "0.7", "pxap": "0.1"},
    ]
    text = (tmp_path / "results.json").read_text()
    payload = json.loads(text)
    assert payload["runs"] == rows and payload["summary"] == summary and payload["curves"] == {"x": None}
    assert payload["entries"] == ["gap"] and "rows" not in payload
    assert text == json.dumps(payload, indent=2, sort_keys=True)
    markdown = (tmp_path / "results.md").read_text()
    assert "Data: default; entries gap; seeds 0, 1, 2; 2/3 test runs finished." in markdown
    assert wr.format_markdown(summary, {}) in markdown and "Grid on val" not in markdown


def test_schedule_check_table_shows_own_minus_shared_with_p():
    checks = [{"entry": "has", "epochs": 60, "shared_epochs": 30,
               "maxboxacc": {"diff": 0.25, "n": 3, "t": 5.0, "p": 0.038}, "map": None}]  # fmt: skip
    text = wr.format_schedule_check(checks)
    assert text.splitlines()[0] == "| entry | epochs: own vs shared | Δ MaxBoxAcc (p) |"
    assert "| has | 60 vs 30 | +25.0 (0.038)* |" in text
    assert wr.format_schedule_check([]) == ""


def _fixed_and_faithful_rows():
    """Two entries at three seeds whose results have the fixed-threshold and faithfulness keys."""
    from pathlib import Path

    from wsl.benchmark.entries import parse_entries
    from wsl.benchmark.plan import BenchmarkRun
    from wsl.benchmark.stats import run_row

    rows = []
    for entry, values in (("gap", (0.6, 0.7, 0.8)), ("gmp", (0.5, 0.5, 0.6))):
        for seed, v in enumerate(values):
            test = {"map": 0.9, "maxboxacc": 0.5, "gt_known_loc_at_t": v, "top1_loc_at_t": v / 2,
                    "top5_loc_at_t": v, "top5_cls": 1.0, "fixed_cam_threshold": 0.2,
                    "deletion_auc": 0.1, "insertion_auc": v, "average_drop": 0.25,
                    "increase_in_confidence": 0.5}  # fmt: skip
            run = BenchmarkRun(parse_entries(entry)[0], seed, Path(f"out/runs/{entry}-seed{seed}"))
            rows.append(run_row(run, {"test": test}, None))
    return rows


def test_fixed_threshold_and_faithfulness_keys_become_columns_after_top1_loc():
    rows = _fixed_and_faithful_rows()
    table = wr.format_markdown(aggregate(rows)).splitlines()
    assert table[0] == (
        "| entry | setting | runs | mAP | MaxBoxAcc | GT-known Loc@t | Top-1 Loc@t | Top-5 Loc@t | Top-5 Cls "
        "| Deletion AUC | Insertion AUC | Average drop | Increase in conf. |"
    )
    assert table[2] == (
        "| gap | default | 3 | 90.0 ± 0.0 | 50.0 ± 0.0 | 70.0 ± 10.0 | 35.0 ± 5.0 | 70.0 ± 10.0 "
        "| 100.0 ± 0.0 | 10.0 ± 0.0 | 70.0 ± 10.0 | 25.0 ± 0.0 | 50.0 ± 0.0 |"
    )


def test_fixed_threshold_scores_are_paired_tested_against_the_best(tmp_path):
    from wsl.benchmark import compare_to_best

    rows = _fixed_and_faithful_rows()
    summary = aggregate(rows)
    comparison = compare_to_best(rows, summary, "maxboxacc")
    [gmp] = comparison["others"]
    # gap − gmp per seed: 0.1, 0.2, 0.2; mean 1/6, sd 1/sqrt(300), t = (1/6) / (sd / sqrt 3) = 5.0, df 2
    test = gmp["top5_loc_at_t"]
    assert test["n"] == 3 and abs(test["diff"] - 1 / 6) < 1e-12 and abs(test["t"] - 5.0) < 1e-9
    assert abs(test["p"] - 0.0377) < 1e-4
    assert gmp["deletion_auc"] == {"diff": 0.0, "n": 3, "t": 0.0, "p": 1.0}
    assert "Δ Top-5 Loc@t (p)" in wr.format_comparison(comparison)
    state = {"rows": rows, "curves": {}, "summary": summary, "convergence": {}, "comparison": comparison,
             "grid": []}  # fmt: skip
    meta = {"entries": ["gap", "gmp"], "seeds": [0, 1, 2], "data": None, "planned_runs": 6,
            "select_metric": "maxboxacc"}  # fmt: skip
    wr.write_tables(tmp_path, state, meta)
    markdown = (tmp_path / "results.md").read_text()
    notes = "@t: at the fixed CAM threshold t = 0.2. Lower is better for Deletion AUC and Average drop."
    assert f"still improving). {notes}\n\n| entry |" in markdown


def test_no_column_note_without_the_new_columns():
    rows = [{"entry": "gap", "seed": 0, "map": 0.5, "fixed_cam_threshold": 0.2}]
    assert wr._column_notes(rows, aggregate(rows)) == ""
