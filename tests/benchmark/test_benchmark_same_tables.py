"""The benchmark's tables are byte for byte what they were before the columns came from the metric registry
when the runs have none of the new keys: the committed comparison (docs/benchmark_results/comparison) is
rendered again from its records, and a single-label variant of its rows (Top-1 acc and Top-1 Loc columns, an
own-schedule check) matches the tables the writer of before rendered (golden_single_label/, sha256 of its
JSON and CSV)."""

from __future__ import annotations

import hashlib
import json

from committed_runs import COMPARISON, GOLDEN, committed, render, single_label_case

#: sha256 of results.json and results.csv of the single-label variant, written by the writer of before.
SINGLE_LABEL_SHA256 = {
    "results.json": "2f508ea2745c4aead28531bcdc737042632d5b7ed3504b7de915a9a3ba1c5335",
    "results.csv": "36df40a02084a78395c4665bc3c87767992a403339de88056fa3569d7143d6e9",
}


def test_the_committed_comparison_renders_to_its_committed_tables(tmp_path):
    payload = committed()
    render(tmp_path, payload, payload["runs"])
    assert (tmp_path / "results.md").read_bytes() == (COMPARISON / "results.md").read_bytes()
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8")) == payload


def test_a_single_label_benchmark_renders_the_tables_of_before(tmp_path):
    payload, rows, shared = single_label_case()
    render(tmp_path, payload, rows, shared)
    markdown = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| Top-1 acc |" in markdown and "| Top-1 Loc |" in markdown and "Own schedule" in markdown
    assert markdown == (GOLDEN / "results.md").read_text(encoding="utf-8")
    for name, digest in SINGLE_LABEL_SHA256.items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest, name
