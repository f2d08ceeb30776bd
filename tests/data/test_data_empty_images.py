"""COCO images without objects: negatives for training, skipped where there is nothing to localise."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import yaml

from wsl.data import COCODataset, DatasetError, WSLDataModule, collate_wsl


def _coco() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 30, "height": 20},
            {"id": 2, "file_name": "empty.jpg", "width": 30, "height": 20},  # no annotation at all
            {"id": 3, "file_name": "other.jpg", "width": 30, "height": 20},  # only a 'dog'
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0},
            {"id": 2, "image_id": 3, "category_id": 2, "bbox": [2, 2, 5, 5], "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }


def test_training_keeps_images_without_objects_as_negatives(make_coco):
    root = make_coco(_coco())
    with pytest.warns(UserWarning, match=r"kept 1 image\(s\) without objects .*negatives"):
        ds = COCODataset(root, "val", train=True)
    assert [r.image_id for r in ds.records] == ["a", "empty", "other"]
    assert ds[1]["labels"].tolist() == [0.0, 0.0] and ds.num_empty == 1
    # a class subset: an image with objects of other classes only is a negative too
    with pytest.warns(UserWarning, match=r"kept 2 image\(s\)"):
        sub = COCODataset(root, "val", class_names=["cat"])
    assert [r.labels.tolist() for r in sub.records] == [[1.0], [0.0], [0.0]]


def test_evaluation_skips_images_without_objects_with_one_note(make_coco):
    root = make_coco(_coco())
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) without objects.*nothing to localise") as rec:
        ds = COCODataset(root, "val", with_annotations=True)
    assert len([w for w in rec if "without objects" in str(w.message)]) == 1
    assert [r.image_id for r in ds.records] == ["a", "other"] and ds.num_empty == 1
    assert ds.num_skipped == 0  # not bad samples


def test_single_label_skips_images_without_objects(make_coco):
    root = make_coco(_coco())
    with pytest.warns(UserWarning, match=r"skipped 1 image\(s\) without objects"):
        ds = COCODataset(root, "val", single_label=True)
    assert len(ds) == 2
    with pytest.raises(ValueError, match=r"empty_images: got 'keep' with single_label=True"):
        COCODataset(root, "val", single_label=True, empty_images="keep")


def test_keep_with_annotations_gives_empty_box_tensors(make_coco):
    ds = COCODataset(make_coco(_coco()), "val", with_annotations=True, empty_images="keep")
    item = ds[1]
    assert item["boxes"].shape == (0, 4) and item["boxes"].dtype == torch.int64
    assert item["box_labels"].shape == (0,) and item["difficult"].shape == (0,)
    batch = collate_wsl([ds[0], item])
    assert batch["labels"].tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_error_policy_names_the_image_and_the_options(make_coco):
    root = make_coco(_coco())
    match = r"instances_val\.json: annotations \(image_id=2, empty\.jpg\): image has no objects.*empty_images"
    with pytest.raises(DatasetError, match=match):
        COCODataset(root, "val", empty_images="error")
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        assert len(COCODataset(root, "val", empty_images="error", skip_bad=True)) == 2


def test_unknown_empty_images_policy_lists_the_choices(make_coco):
    with pytest.raises(ValueError, match=r"empty_images: got 'drop'.*\['auto', 'keep', 'skip', 'error'\]"):
        COCODataset(make_coco(_coco()), "val", empty_images="drop")


def test_datamodule_keeps_negatives_in_train_and_skips_them_in_val(make_coco):
    root = make_coco(_coco())
    dm = WSLDataModule(f"coco:{root}", train_split="val", val_split="val", num_workers=0)
    with pytest.warns(UserWarning, match="kept 1"):
        assert len(dm.dataset("val", train=True, with_annotations=False)) == 3
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(dm.dataset("val")) == 2
    dm = WSLDataModule(f"coco:{root}", train_split="val", num_workers=0, empty_images="keep")
    with pytest.warns(UserWarning, match="kept 1"):
        assert len(dm.dataset("val")) == 3


def test_coco14_config_needs_no_skip_bad_for_images_without_objects():
    config = Path(__file__).resolve().parents[2] / "configs" / "coco14.yaml"
    data = yaml.safe_load(config.read_text())["data"]
    assert set(data) <= set(inspect.signature(WSLDataModule).parameters)
    assert data.get("empty_images") == "auto" and not data.get("skip_bad", False)
