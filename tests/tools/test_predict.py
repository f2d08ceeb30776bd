"""tools/predict.py: a trained checkpoint on a folder of mixed files; COCO detections pycocotools scores."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tests.predict.predict_helpers import READABLE, UNREADABLE, mixed_folder, train_tiny_coco
from tools.predict import main, run
from wsl.viz import load_cam_npz


@pytest.fixture(scope="module")
def ckpt(synthetic_coco_root, tmp_path_factory):
    return train_tiny_coco(synthetic_coco_root, tmp_path_factory.mktemp("coco_run"))["checkpoint"]


def test_a_mixed_folder_gives_every_output_and_one_warning(ckpt, synthetic_coco_root, tmp_path, capsys):
    folder = mixed_folder(tmp_path / "photos", synthetic_coco_root / "test" / "test_00000.jpg")
    out = tmp_path / "out"
    summary = run(["--ckpt", ckpt, "--images", str(folder), "--out", str(out), "--top-k", "2",
                   "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err
    assert err.count("warning: skipped 2 path(s)") == 1 and all(name in err for name in UNREADABLE)
    assert summary["num_images"] == len(READABLE) and summary["skipped"]
    for name in ("index.html", "contact_sheet.png", "cams.json", "detections.json", "images.json"):
        assert (out / name).is_file()
    listed = json.loads((out / "images.json").read_text())
    files = {m["file_name"]: m for m in listed["images"]}
    assert set(files) == set(READABLE)
    for name, (height, width) in READABLE.items():
        assert (files[name]["height"], files[name]["width"]) == (height, width)
    manifest = json.loads((out / "cams.json").read_text())
    assert len(manifest["entries"]) == 2 * len(READABLE)
    for image in manifest["images"]:
        maps = load_cam_npz(out / image["npz"])
        assert sorted(maps) == sorted(image["classes"]) and len(maps) == 2
        assert all(m.shape == tuple(image["size"]) and m.dtype == np.float16 for m in maps.values())
    sizes = {image["image_id"]: image["size"] for image in manifest["images"]}
    for entry in manifest["entries"]:
        overlay = np.asarray(Image.open(out / entry["image"]))
        assert overlay.shape[0] >= sizes[entry["image_id"]][0] and overlay.shape[2] == 3
    detections = json.loads((out / "detections.json").read_text())
    assert len(detections) == summary["num_detections"] >= 2 * len(READABLE)
    ids = {m["id"] for m in listed["images"]}
    for d in detections:
        assert set(d) == {"image_id", "category_id", "bbox", "score"}
        assert d["image_id"] in ids and 1 <= d["category_id"] <= 6
        x, y, w, h = d["bbox"]
        image = next(m for m in listed["images"] if m["id"] == d["image_id"])
        assert w >= 1 and h >= 1 and x + w <= image["width"] and y + h <= image["height"]


def test_detections_load_and_evaluate_with_pycocotools(ckpt, synthetic_coco_root, tmp_path):
    gt_path = synthetic_coco_root / "annotations" / "instances_test.json"
    out = tmp_path / "out"
    assert main(["--ckpt", ckpt, "--images", str(synthetic_coco_root / "test" / "*.jpg"), "--out", str(out),
                 "--min-score", "0", "--top-k", "3", "--coco-gt", str(gt_path), "--no-progress",
                 "--device", "cpu"]) == 0  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(out / "detections.json"))
        evaluation = COCOeval(gt, dt, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert len(dt.getAnnIds()) >= 3 * len(gt.getImgIds())
    assert len(evaluation.stats) == 12 and all(-1 <= s <= 1 for s in evaluation.stats)
    by_name = {m["file_name"]: m["id"] for m in json.loads(gt_path.read_text())["images"]}
    listed = json.loads((out / "images.json").read_text())["images"]
    assert {m["file_name"]: m["id"] for m in listed} == by_name


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--top-k", "0"], "--top-k must be a positive int"),
        (["--threshold", "2"], "--threshold must be in"),
        (["--coco-gt", "/no/such.json"], "--coco-gt '/no/such.json' cannot be read as COCO annotations"),
        (["--cam-method", "gradcam", "--cam-layer", "backbone.nope"], "--cam-layer: got 'backbone.nope'"),
    ],
)
def test_bad_flags_are_one_error_line(ckpt, synthetic_coco_root, tmp_path, capsys, extra, match):
    argv = ["--ckpt", ckpt, "--images", str(synthetic_coco_root / "test"), "--out", str(tmp_path / "o"),
            "--device", "cpu", "--no-progress", *extra]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert match in err


def test_a_posthoc_cam_method_writes_its_maps_and_says_so(ckpt, synthetic_coco_root, tmp_path):
    out = tmp_path / "out"
    run(["--ckpt", ckpt, "--images", str(synthetic_coco_root / "test"), "--out", str(out), "--device", "cpu",
         "--no-progress", "--cam-method", "layercam", "--cam-layer", "backbone.body.blocks.2"])  # fmt: skip
    manifest = json.loads((out / "cams.json").read_text())
    assert manifest["cam_method"] == "layercam" and manifest["cam_layer"] == "backbone.body.blocks.2"
    assert "layercam@backbone.body.blocks.2 CAMs" in (out / "index.html").read_text()
    assert len(manifest["entries"]) == len(manifest["images"]) > 0


def test_no_images_and_a_missing_checkpoint_are_errors(ckpt, tmp_path, capsys):
    assert main(["--ckpt", ckpt, "--images", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or folder; pass image files" in capsys.readouterr().err
    assert main(["--ckpt", str(tmp_path / "x.ckpt"), "--images", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
