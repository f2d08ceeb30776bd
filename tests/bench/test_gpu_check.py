"""bench/gpu_check.py: ``--smoke`` runs every section on the CPU, and one failing section never stops the
others (the script must not rot before a GPU is drawn)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.wsol_metadata import require_wsol_metadata

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failing_section_is_reported_not_raised():
    gpu_check = _load()

    def broken(ctx):
        raise ValueError("boom")

    out = gpu_check.section(broken, {})
    assert out["status"] == "failed"
    assert out["error"] == "ValueError: boom"
    assert out["seconds"] >= 0
    assert gpu_check.section(lambda ctx: {"x": 1}, {})["result"] == {"x": 1}


def test_projection_without_a_step_rate_fails_as_a_section():
    gpu_check = _load()
    out = gpu_check.section(gpu_check.projection, {})
    assert out["status"] == "failed" and "no step rate" in out["error"]


def test_projection_is_epochs_times_images_over_the_rate():
    gpu_check = _load()
    res = gpu_check.projection({"step_rate": 1000.0, "loader_rate": 500.0})
    cub = res["cells"]["cub"]
    # configs/wsol/cub/resnet50.yaml: 50 epochs; CUB train: 5,994 images
    assert cub["epochs"] == 50
    assert math.isclose(cub["train_hours_at_step_rate"], round(50 * 5994 / 1000 / 3600, 3))
    assert math.isclose(cub["train_hours_at_min_step_loader"], round(50 * 5994 / 500 / 3600, 3))
    assert cub["limited_by"] == "loader"
    assert res["cells"]["ilsvrc"]["epochs"] == 10


def test_sections_that_do_not_fit_the_budget_are_skipped_and_the_json_is_written(tmp_path):
    gpu_check = _load()
    out = tmp_path / "partial.json"
    results: dict = {"sections": {}}
    ctx = {"smoke": False}
    # 5 s: projection (expects 1 s) runs (and fails: no step rate), train (200 s) and pooling do not.
    gpu_check.run_sections(["projection", "train", "pooling"], ctx, results, 5.0, out)
    sections = json.loads(out.read_text())["sections"]
    assert [s["status"] for s in sections.values()] == ["failed", "skipped", "skipped"]
    assert "section expects 200 s" in sections["train"]["error"]
    assert set(gpu_check.SECTION_COST_S) == set(gpu_check.SECTIONS)
    assert sum(gpu_check.SECTION_COST_S.values()) <= 420  # the documented budget holds every section
    assert "skipped" in gpu_check.markdown({"smoke": False, "sections": sections})


def test_pytest_counts_reads_the_summary_line():
    gpu_check = _load()
    text = "....\n3 passed, 2 skipped, 1 failed, 7 deselected in 4.1s\n"
    assert gpu_check._pytest_counts(text) == {"passed": 3, "skipped": 2, "failed": 1, "deselected": 7}


def test_smoke_runs_every_section_on_cpu(tmp_path):
    require_wsol_metadata()  # the loader section writes stand-ins at CUB's real sizes
    out = tmp_path / "smoke.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    sections = results["sections"]
    assert list(sections) == [
        "environment",
        "cuda_tests",
        "train",
        "loader",
        "decode",
        "pooling",
        "projection",
    ]
    failed = {k: v.get("error") for k, v in sections.items() if v["status"] != "ok"}
    assert not failed, failed
    arms = sections["train"]["result"]["arms"]
    assert [(a["precision"], a["compile"]) for a in arms] == [
        ("32-true", False),
        ("32-true", True),
        ("bf16-mixed", False),
        ("bf16-mixed", True),
    ]
    assert all("error" not in a and a["lightning_images_s"] > 0 and a["bare_images_s"] > 0 for a in arms), (
        arms
    )
    pools = sections["pooling"]["result"]["rows"]
    assert {r["dtype"] for r in pools} == {"float16", "bfloat16"}
    assert "softpool2d_stem" in {r["head"] for r in pools}
    assert all(r["finite"] for r in pools), pools
    assert sections["cuda_tests"]["result"]["counts"].get("collected", 0) >= 1
    assert sections["projection"]["result"]["cells"]["cub"]["epochs"] == 50
    decoded = sections["decode"]["result"]  # on the CPU the batched decode is the one-by-one decode
    assert decoded["images"] == 8 and decoded["max_abs_diff"] == 0 and decoded["device_images_s"] > 0
    assert "| section | status | seconds |" in proc.stdout


@pytest.mark.parametrize("dataset", ["CUB", "ILSVRC", "OpenImages"])
def test_standin_sizes_are_the_real_ones(dataset):
    folder = require_wsol_metadata()
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import standin
    finally:
        sys.path.remove(str(REPO / "bench"))
    sizes = standin.real_sizes(dataset, 4, folder)
    if dataset == "CUB":  # every 5994/4-th line of CUB/train/image_sizes.txt
        lines = (folder / "CUB/train/image_sizes.txt").read_text().splitlines()
        want = [tuple(int(v) for v in lines[int(i * len(lines) / 4)].split(",")[1:]) for i in range(4)]
        assert sizes == want
    assert len(sizes) == 4 and all(w > 100 and h > 100 for w, h in sizes)
    with pytest.raises(ValueError, match="dataset: got 'VOC'; expected one of"):
        standin.real_sizes("VOC", 1, folder)
