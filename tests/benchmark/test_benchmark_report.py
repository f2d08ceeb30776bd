"""wsl.benchmark.report: the Markdown table (mean ± std, percent), the CSV and the atomic writes."""

from __future__ import annotations

import csv
import json

from test_benchmark_stats import HAND_MADE_ROWS

from wsl.benchmark import aggregate
from wsl.benchmark import report as wr


def test_markdown_rows_show_mean_and_std_in_percent_and_seconds_as_is():
    table = wr.format_markdown(aggregate(HAND_MADE_ROWS)).splitlines()
    assert table[0].startswith("| pool | runs | mAP | MaxBoxAcc | train time (s) |")
    assert table[1] == "|---|---:|---:|---:|---:|"
    assert table[2] == "| gmp | 3 | 60.0 ± 10.0 | 30.0 ± 14.1 | 12.0 ± 2.0 |"
    assert table[3] == "| gap | 1 | 90.0 | 30.0 | – |"


def test_single_label_rows_show_top1_columns():
    rows = [{"pool": "gap", "seed": 0, "top1_acc": 0.8, "top1_loc": 0.5, "maxboxacc": 0.6}]
    header = wr.format_markdown(aggregate(rows)).splitlines()[0]
    assert "Top-1 acc" in header and "Top-1 Loc" in header and "mAP" not in header


def test_write_tables_writes_three_files_atomically(tmp_path):
    rows = [{"pool": "gap", "seed": 0, "map": 0.5}, {"pool": "gap", "seed": 1, "map": 0.7, "pxap": 0.1}]
    summary = aggregate(rows)
    meta = {"pools": ["gap"], "seeds": [0, 1, 2], "data": None, "planned_runs": 3}
    written = wr.write_tables(tmp_path, rows, {"x": None}, summary, meta)
    assert [p.name for p in written] == ["results.csv", "results.json", "results.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.json", "results.md"]
    assert list(csv.DictReader((tmp_path / "results.csv").open())) == [
        {"pool": "gap", "seed": "0", "map": "0.5", "pxap": ""},
        {"pool": "gap", "seed": "1", "map": "0.7", "pxap": "0.1"},
    ]
    text = (tmp_path / "results.json").read_text()
    assert json.loads(text) == {**meta, "runs": rows, "curves": {"x": None}, "summary": summary}
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True)
    markdown = (tmp_path / "results.md").read_text()
    assert "Data: default; pools gap; seeds 0, 1, 2; 2/3 runs finished." in markdown
    assert markdown.endswith(wr.format_markdown(summary) + "\n")
