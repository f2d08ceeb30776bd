"""The fixed-threshold dialect end to end: ``--model.cam_threshold`` (test only, single-label data) puts
GT-known / Top-1 / Top-5 Loc at t and Top-5 Cls into a run's results, and the benchmark shows them as columns
(through the metric registry's columns)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_training import CPU_FP32, TINY_TRAIN

from wsl.lit import WSLModule

FIXED = ("gt_known_loc_at_t", "top1_loc_at_t", "top5_loc_at_t", "top5_cls")


def test_cam_threshold_builds_the_fixed_threshold_metric_for_the_test_only():
    model = WSLModule(num_classes=6, backbone="resnet18", single_label=True, cam_threshold=0.3)
    assert "fixed_loc" in model.test_metrics.metric_names
    assert "fixed_loc" not in model.val_metrics.metric_names
    assert "fixed_loc" not in WSLModule(num_classes=6, backbone="resnet18").test_metrics.metric_names


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"single_label": True, "cam_threshold": 1.0}, r"^cam_threshold: got 1.0; expected .* in \[0, 1\)"),
        ({"cam_threshold": 0.3}, r"^cam_threshold: got 0.3 with multi-label data; .* --model.cam_threshold"),
    ],
)
def test_a_bad_cam_threshold_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WSLModule(num_classes=6, backbone="resnet18", **kwargs)


@pytest.fixture(scope="module")
def wsol_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wsl.data import make_synthetic

    out = tmp_path_factory.mktemp("wsol") / "s"
    return make_synthetic(out, "wsol", progress=False, num_train=8, num_val=4, num_test=4, image_size=48)


def test_a_benchmark_with_cam_threshold_has_the_fixed_threshold_columns(wsol_root, tmp_path):
    from wsl.jobs.benchmark import BenchmarkOptions, run_benchmark

    extra = ["--data.single_label", "true", *TINY_TRAIN, *CPU_FP32, "--model.cam_threshold", "0.3"]
    options = BenchmarkOptions("gap", "0", tmp_path / "bench", data=f"wsol:{wsol_root}", extra_args=extra,
                               num_cam_images=0)  # fmt: skip
    out = run_benchmark(options)
    [row] = out["rows"]
    run = json.loads(Path(row["run_dir"], "results.json").read_text())
    assert set(FIXED) <= set(run["test"]) and run["test"]["fixed_cam_threshold"] == pytest.approx(0.3)
    assert all(0.0 <= row[k] <= 1.0 for k in FIXED)
    assert row["top1_loc_at_t"] <= min(row["gt_known_loc_at_t"], row["top1_acc"])
    assert row["top1_loc_at_t"] <= row["top5_loc_at_t"] <= row["gt_known_loc_at_t"]
    markdown = (tmp_path / "bench" / "results.md").read_text()
    columns = "| Top-1 Loc | GT-known Loc@t | Top-1 Loc@t | Top-5 Loc@t | Top-5 Cls | train time (s) |"
    assert columns in markdown
    assert "@t: at the fixed CAM threshold t = 0.3." in markdown
