"""Issue 32 item 4: ``BenchmarkOptions(faithfulness=True)`` (``tools/benchmark.py --faithfulness``) fills the
declared faithfulness columns: the trained entry's tested checkpoint and the post-hoc entry report the
means of the evaluate job's faithfulness in ``results.csv``; without the option the columns stay away."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from tiny_training import CPU_FP32, TINY_TRAIN

from wsl.cam.explain_eval import FaithfulnessSums

KEYS = FaithfulnessSums.KEYS


@pytest.fixture(scope="module")
def wsol_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wsl.data import make_synthetic

    out = tmp_path_factory.mktemp("wsol_faith") / "s"
    return make_synthetic(out, "wsol", progress=False, num_train=8, num_val=4, num_test=4, image_size=48)


def test_a_benchmark_with_faithfulness_has_the_columns_in_results_csv(wsol_root, tmp_path):
    from wsl.jobs.benchmark import BenchmarkOptions, run_benchmark

    extra = ["--data.single_label", "true", *TINY_TRAIN, *CPU_FP32]
    options = BenchmarkOptions("gap,gradcam@gap", "0", tmp_path / "bench", data=f"wsol:{wsol_root}",
                               extra_args=extra, num_cam_images=0, faithfulness=True)  # fmt: skip
    out = run_benchmark(options)
    assert len(out["rows"]) == 2
    with open(tmp_path / "bench" / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["entry"] for row in rows} == {"gap", "gradcam@gap"}
    for row in rows:
        assert all(0.0 <= float(row[key]) <= 1.0 for key in KEYS), row
    for row in out["rows"]:
        test = json.loads(Path(row["run_dir"], "results.json").read_text())["test"]
        assert set(KEYS) <= set(test) and "maxboxacc" in test
    assert "Deletion AUC" in (tmp_path / "bench" / "results.md").read_text()
