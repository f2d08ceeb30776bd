"""The synthetic generator: truth properties, round trips through VOC/COCO files, determinism, cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wsl.data import (
    COCODataset,
    VOCDataset,
    ensure_synthetic,
    make_synthetic,
    render_sample,
    synthetic_params,
)
from wsl.data.coco import mask_to_coco_segmentation
from wsl.data.synthetic import synthetic_cache_name

TINY = {"num_train": 12, "num_val": 4, "num_test": 4, "image_size": 64}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("preset", ["easy", "hard"])
def test_render_truth_properties(preset):
    params = synthetic_params(preset, image_size=96 if preset == "easy" else 112)
    s = params.image_size
    for index in range(20):
        sample = render_sample(params, 3, "train", index)
        k = len(sample.labels)
        assert sample.image.shape == (s, s, 3) and sample.image.dtype == np.uint8
        assert params.min_objects <= k <= params.max_objects
        assert sample.masks.shape == (k, s, s) and sample.boxes.shape == (k, 4)
        assert sample.labels.min() >= 0 and sample.labels.max() < len(params.classes)
        assert sample.masks.sum(0).max() <= 1  # visible masks are disjoint
        for m, (x0, y0, x1, y1) in zip(sample.masks, sample.boxes.tolist(), strict=True):
            ys, xs = np.nonzero(m)
            assert (xs.min(), ys.min(), xs.max(), ys.max()) == (x0, y0, x1, y1)  # tight box
            side = max(x1 - x0 + 1, y1 - y0 + 1)
            assert side <= params.max_object_size * s + 2


def test_render_is_deterministic_and_seed_dependent():
    p = synthetic_params(image_size=64)
    a, b = render_sample(p, 0, "val", 1), render_sample(p, 0, "val", 1)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.image, render_sample(p, 1, "val", 1).image)
    assert not np.array_equal(a.image, render_sample(p, 0, "test", 1).image)


def test_voc_round_trip_equals_truth(synthetic_voc_root):
    params = synthetic_params(**TINY)
    for split, n in (("train", 12), ("val", 4), ("test", 4)):
        ds = VOCDataset(synthetic_voc_root, split, with_annotations=True, image_size=64)
        assert ds.class_names == list(params.classes) and len(ds) == n
        for i in range(n):
            truth, item = render_sample(params, 0, split, i), ds[i]
            assert item["image_id"] == f"{split}_{i:05d}" and item["orig_size"] == (64, 64)
            assert item["boxes"].tolist() == truth.boxes.tolist()
            assert item["box_labels"].tolist() == truth.labels.tolist()
            assert torch.equal(item["masks"], torch.from_numpy(truth.masks))
            assert not item["difficult"].any() and not item["ignore"].any()
            expected = np.zeros(len(params.classes), np.float32)
            expected[truth.labels] = 1
            assert item["labels"].tolist() == expected.tolist()


def test_coco_round_trip_equals_truth(synthetic_coco_root):
    params = synthetic_params(**TINY)
    data = json.loads((synthetic_coco_root / "annotations" / "instances_train.json").read_text())
    assert [c["id"] for c in data["categories"]] == [1, 3, 5, 7, 9, 11]
    for split, n in (("train", 12), ("val", 4), ("test", 4)):
        ds = COCODataset(synthetic_coco_root, split, with_annotations=True, image_size=64)
        assert ds.class_names == list(params.classes) and len(ds) == n
        for i in range(n):
            truth, item = render_sample(params, 0, split, i), ds[i]
            assert item["image_id"] == f"{split}_{i:05d}"
            assert item["boxes"].tolist() == truth.boxes.tolist()
            assert item["box_labels"].tolist() == truth.labels.tolist()
            assert torch.equal(item["masks"], torch.from_numpy(truth.masks))


def test_coco_segmentations_use_polygons_and_rle(synthetic_coco_root):
    segs = []
    for split in ("train", "val", "test"):
        data = json.loads((synthetic_coco_root / "annotations" / f"instances_{split}.json").read_text())
        segs += [a["segmentation"] for a in data["annotations"]]
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            assert a["iscrowd"] == 0 and a["area"] <= w * h
    assert any(isinstance(s, list) for s in segs)


def test_mask_to_coco_segmentation_is_exact():
    ring = np.zeros((40, 40), bool)
    yy, xx = np.mgrid[:40, :40]
    d = np.hypot(yy - 20, xx - 20)
    ring[(d < 12) & (d > 6)] = True
    seg = mask_to_coco_segmentation(ring)
    assert isinstance(seg, dict)  # a hole cannot be a polygon: RLE
    square = np.zeros((40, 40), bool)
    square[5:15, 8:30] = True
    assert isinstance(mask_to_coco_segmentation(square), list)
    from wsl.data import decode_segmentation

    for m in (ring, square):
        assert np.array_equal(decode_segmentation(mask_to_coco_segmentation(m), 40, 40), m)
    from wsl.data import synthetic

    assert synthetic.mask_to_coco_segmentation is mask_to_coco_segmentation  # the old import path


@pytest.mark.parametrize("fmt", ["voc", "coco"])
def test_same_seed_gives_byte_identical_files(tmp_path, fmt):
    small = {"num_train": 6, "num_val": 2, "num_test": 2, "image_size": 48}
    a = make_synthetic(tmp_path / "a", fmt, seed=5, num_workers=0, progress=False, **small)
    b = make_synthetic(tmp_path / "b", fmt, seed=5, num_workers=2, progress=False, **small)
    c = make_synthetic(tmp_path / "c", fmt, seed=6, num_workers=0, progress=False, **small)
    ta, tb, tc = _tree(a), _tree(b), _tree(c)
    assert ta == tb
    assert ta.keys() == tc.keys() and ta != tc


def test_voc_layout_files(synthetic_voc_root):
    root = synthetic_voc_root
    xml = (root / "Annotations" / "train_00000.xml").read_text()
    for tag in ("<pose>", "<truncated>0</truncated>", "<difficult>0</difficult>", "<bndbox>", "<size>"):
        assert tag in xml
    from PIL import Image

    with Image.open(root / "SegmentationObject" / "train_00000.png") as im:
        assert im.mode == "P"
    with Image.open(root / "SegmentationClass" / "train_00000.png") as im:
        assert im.mode == "P"
    with Image.open(root / "JPEGImages" / "train_00000.jpg") as im:
        assert im.format == "JPEG" and im.size == (64, 64)
    trainval = (root / "ImageSets" / "Main" / "trainval.txt").read_text().split()
    assert len(trainval) == 16


def test_params_validation():
    with pytest.raises(ValueError, match="preset: got 'medium'"):
        synthetic_params("medium")
    with pytest.raises(ValueError, match=r"unknown \['num_imgs'\]"):
        synthetic_params(num_imgs=3)
    with pytest.raises(ValueError, match="classes: got"):
        synthetic_params(classes=["circle", "blob"])
    with pytest.raises(ValueError, match="fmt: got 'yolo'"):
        make_synthetic("/nonexistent", "yolo")


def test_ensure_synthetic_caches_and_ignores_interrupted(tmp_path, monkeypatch):
    small = {"num_train": 3, "num_val": 1, "num_test": 1, "image_size": 48}
    name = synthetic_cache_name("easy", 2, "coco", **small)
    assert name.startswith("synthetic-easy-seed2-coco-") and len(name.split("-")[-1]) == 8
    assert name != synthetic_cache_name("easy", 2, "coco", **{**small, "num_train": 4})
    # an interrupted run leaves only a temp folder, which is never reused
    (tmp_path / f".{name}.tmp-1-dead").mkdir()
    monkeypatch.setenv("WSL_CACHE", str(tmp_path))
    root = ensure_synthetic(preset="easy", seed=2, fmt="coco", progress=False, **small)
    assert root == tmp_path / name and (root / "synthetic.json").is_file()
    stamp = (root / "annotations" / "instances_train.json").stat().st_mtime_ns

    def fail(*args, **kwargs):
        raise AssertionError("regenerated a cached set")

    monkeypatch.setattr("wsl.data.synthetic.make_synthetic", fail)
    assert ensure_synthetic(tmp_path, "easy", 2, "coco", **small) == root
    assert (root / "annotations" / "instances_train.json").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name and "dead" not in p.name]


def test_make_synthetic_tool(tmp_path, capsys):
    from tools.make_synthetic import main

    out = tmp_path / "tool"
    argv = ["--format", "coco", "--out", str(out), "--seed", "1", "--num-train", "2", "--num-val", "1"]
    assert main([*argv, "--num-test", "1", "--image-size", "48", "--workers", "0"]) == 0
    assert "wrote easy synthetic set (coco)" in capsys.readouterr().out
    assert len(COCODataset(out, "train")) == 2
    assert main(["--format", "yolo", "--out", str(out)]) == 2  # argparse's error, returned by run_tool
