"""wsl.benchmark.paths and the portable tables: written relative to the benchmark folder, read either way;
the committed records hold no machine's folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from wsl.benchmark import report as wr
from wsl.benchmark.entries import parse_entries
from wsl.benchmark.paths import anchored, portable_path, resolve_path
from wsl.benchmark.plan import BenchmarkRun
from wsl.benchmark.stats import run_row

RECORDS = Path(__file__).resolve().parents[2] / "docs" / "benchmark_results" / "comparison"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/b/out/runs/gap-seed0", "runs/gap-seed0"),
        ("/b/out/runs/gap-seed0/checkpoints/last.ckpt", "runs/gap-seed0/checkpoints/last.ckpt"),
        ("/b/out", "."),
        ("/b/outside/x.ckpt", "/b/outside/x.ckpt"),  # not under the folder: kept, never ../
        ("/b/out2/runs/x", "/b/out2/runs/x"),  # a sibling whose name starts alike is not under it
        ("runs/gap-seed0", "runs/gap-seed0"),  # already relative
        (None, None),
    ],
)
def test_portable_path(path, expected):
    assert portable_path(path, "/b/out") == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("runs/gap-seed0", "/new/out/runs/gap-seed0"), ("/old/out/runs/gap-seed0", "/old/out/runs/gap-seed0")],
)
def test_resolve_path_reads_both_forms(path, expected):
    assert resolve_path(path, "/new/out") == expected


def test_anchored_moves_a_path_with_its_recorded_folder():
    assert anchored("/old/runs/a/checkpoints/last.ckpt", "/old/runs/a", "/new/runs/a") == (
        "/new/runs/a/checkpoints/last.ckpt"
    )
    assert anchored("checkpoints/last.ckpt", None, "/new/runs/a") == "/new/runs/a/checkpoints/last.ckpt"
    assert anchored("/elsewhere/x.ckpt", "/old/runs/a", "/new/runs/a") == "/elsewhere/x.ckpt"
    assert anchored(None, "/old/runs/a", "/new/runs/a") is None


def test_a_row_finds_the_checkpoint_of_a_moved_run_and_of_a_posthoc_source(tmp_path):
    [gap] = parse_entries("gap")
    [_, posthoc] = parse_entries("gap,gradcam@gap")
    run = BenchmarkRun(gap, 0, tmp_path / "runs" / "gap-seed0")
    trained = {"run_dir": "/old/runs/gap-seed0", "checkpoint": "/old/runs/gap-seed0/checkpoints/last.ckpt"}
    assert run_row(run, trained, None)["checkpoint"] == str(tmp_path / "runs/gap-seed0/checkpoints/last.ckpt")
    cam = BenchmarkRun(posthoc, 0, tmp_path / "runs" / "gradcam-on-gap-seed0", source_dir=run.run_dir)
    scored = {"source_run": "/old/runs/gap-seed0", "checkpoint": trained["checkpoint"]}
    assert run_row(cam, scored, None)["checkpoint"] == str(tmp_path / "runs/gap-seed0/checkpoints/last.ckpt")


def _state(out: Path) -> dict:
    rows = [
        {"entry": "gap", "seed": 0, "run_dir": str(out / "runs" / "gap-seed0"),
         "checkpoint": str(out / "runs" / "gap-seed0" / "checkpoints" / "last.ckpt"), "map": 0.5},
        {"entry": "center", "seed": None, "run_dir": str(out / "runs" / "center"), "checkpoint": None},
    ]  # fmt: skip
    curves = {str(out / "runs" / "gap-seed0"): {"thresholds": [0.0]}, str(out / "runs" / "center"): None}
    return {"rows": rows, "curves": curves, "summary": [], "convergence": {}, "grid": [],
            "comparison": {"best": None, "metric": "map", "others": []}}  # fmt: skip


META = {"entries": ["gap", "center"], "seeds": [0], "data": None, "planned_runs": 2, "select_metric": "map"}


def test_the_tables_store_paths_relative_to_the_benchmark_folder(tmp_path):
    wr.write_tables(tmp_path, _state(tmp_path), META)
    text = (tmp_path / "results.json").read_text()
    payload = json.loads(text)
    assert str(tmp_path) not in text and str(tmp_path) not in (tmp_path / "results.csv").read_text()
    assert [r["run_dir"] for r in payload["runs"]] == ["runs/gap-seed0", "runs/center"]
    assert payload["runs"][0]["checkpoint"] == "runs/gap-seed0/checkpoints/last.ckpt"
    assert payload["runs"][1]["checkpoint"] is None
    assert payload["curves"] == {"runs/gap-seed0": {"thresholds": [0.0]}, "runs/center": None}
    assert [r["run_dir"] for r in csv.DictReader((tmp_path / "results.csv").open())] == [
        "runs/gap-seed0",
        "runs/center",
    ]


def test_read_tables_gives_this_machines_paths_for_both_forms(tmp_path):
    new, old = tmp_path / "new", tmp_path / "old"
    wr.write_tables(new, _state(new), META)
    old.mkdir()
    payload = json.loads((new / "results.json").read_text())
    payload["runs"][0]["run_dir"] = "/producer/out/runs/gap-seed0"  # a record from before: absolute
    payload["curves"] = {"/producer/out/runs/gap-seed0": {"thresholds": [0.0]}}
    (old / "results.json").write_text(json.dumps(payload))
    read_new, read_old = wr.read_tables(new), wr.read_tables(old)
    assert read_new["runs"][0]["run_dir"] == str(new / "runs" / "gap-seed0")
    assert read_new["runs"][0]["checkpoint"] == str(new / "runs" / "gap-seed0" / "checkpoints" / "last.ckpt")
    assert set(read_new["curves"]) == {str(new / "runs" / "gap-seed0"), str(new / "runs" / "center")}
    assert read_old["runs"][0]["run_dir"] == "/producer/out/runs/gap-seed0"
    assert read_old["curves"] == {"/producer/out/runs/gap-seed0": {"thresholds": [0.0]}}
    with pytest.raises(ValueError, match="out: .* has no readable results.json"):
        wr.read_tables(tmp_path / "nowhere")


@pytest.mark.skipif(not RECORDS.is_dir(), reason=f"no committed records at {RECORDS}")
def test_the_committed_comparison_tables_hold_no_machines_folders():
    for name in ("results.json", "results.csv", "results.md"):
        assert "/work/" not in (RECORDS / name).read_text(), name
    tables = wr.read_tables(RECORDS)
    assert all(Path(r["run_dir"]).parent == RECORDS / "runs" for r in tables["runs"])
    assert all((Path(r["run_dir"]) / "results.json").is_file() for r in tables["runs"])
    assert set(tables["curves"]) == {r["run_dir"] for r in tables["runs"]}
