"""COCODataset on hand-written COCO JSON (non-contiguous ids, polygons, RLE, crowd)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from wsl.data import COCODataset, DatasetError, coco_box_to_xyxy, read_coco_categories

H, W = 20, 30


def _rle_compressed(m: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    return {"size": [H, W], "counts": rle["counts"].decode("ascii")}


def _rle_uncompressed(m: np.ndarray) -> dict:
    flat = m.astype(np.uint8).flatten(order="F")
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


def _data() -> dict:
    m_rle = np.zeros((H, W), bool)
    m_rle[5:10, 2:6] = True
    m_crowd = np.zeros((H, W), bool)
    m_crowd[12:18, 20:29] = True
    return {
        "images": [
            {"id": 7, "file_name": "img_a.jpg", "width": W, "height": H},
            {"id": 9, "file_name": "img_b.jpg", "width": W, "height": H},
        ],
        "annotations": [
            # polygon covering pixels x 10..19, y 2..7 (pixel edges at integer coordinates)
            {"id": 1, "image_id": 7, "category_id": 5, "bbox": [10, 2, 10, 6], "iscrowd": 0,
             "segmentation": [[10, 2, 20, 2, 20, 8, 10, 8]]},
            {"id": 2, "image_id": 7, "category_id": 2, "bbox": [2.0, 5.0, 4.0, 5.0], "iscrowd": 0,
             "segmentation": _rle_compressed(m_rle)},
            {"id": 3, "image_id": 9, "category_id": 11, "bbox": [20.3, 12.0, 8.4, 5.5], "iscrowd": 1,
             "segmentation": _rle_uncompressed(m_crowd)},
            {"id": 4, "image_id": 9, "category_id": 2, "bbox": [25.5, -3.0, 10.0, 6.0], "iscrowd": 0},
        ],
        "categories": [
            {"id": 11, "name": "kite"},
            {"id": 2, "name": "bicycle"},
            {"id": 5, "name": "airplane"},
        ],
    }  # fmt: skip


def test_coco_box_conversion_floor_ceil_clip():
    assert coco_box_to_xyxy([10, 2, 10, 6], W, H) == (10, 2, 19, 7)
    assert coco_box_to_xyxy([20.3, 12.0, 8.4, 5.5], W, H) == (20, 12, 28, 17)
    assert coco_box_to_xyxy([25.5, -3.0, 10.0, 6.0], W, H) == (25, 0, 29, 2)
    with pytest.raises(ValueError, match="degenerate"):
        coco_box_to_xyxy([1, 1, 0, 3], W, H)
    with pytest.raises(ValueError, match="outside"):
        coco_box_to_xyxy([40, 1, 3, 3], W, H)


def test_coco_contiguous_indices_sorted_by_id(make_coco):
    root = make_coco(_data())
    ds = COCODataset(root, "val", with_annotations=True)
    assert ds.class_names == ["bicycle", "airplane", "kite"]  # ids 2, 5, 11
    assert read_coco_categories(root / "annotations" / "instances_val.json") == ds.class_names
    a = ds[0]
    assert a["image_id"] == "img_a" and a["orig_size"] == (H, W)
    assert a["box_labels"].tolist() == [1, 0]
    assert a["labels"].tolist() == [1.0, 1.0, 0.0]
    assert a["boxes"].tolist() == [[10, 2, 19, 7], [2, 5, 5, 9]]
    assert a["difficult"].tolist() == [False, False]
    assert a["ignore"] is None


def test_coco_polygon_and_rle_masks(make_coco):
    ds = COCODataset(make_coco(_data()), "val", with_annotations=True)
    a, b = ds[0], ds[1]
    poly = torch.zeros(H, W, dtype=torch.bool)
    poly[2:8, 10:20] = True
    assert torch.equal(a["masks"][0], poly)
    rle = torch.zeros(H, W, dtype=torch.bool)
    rle[5:10, 2:6] = True
    assert torch.equal(a["masks"][1], rle)
    crowd = torch.zeros(H, W, dtype=torch.bool)
    crowd[12:18, 20:29] = True
    assert torch.equal(b["masks"][0], crowd)
    # no segmentation: the filled box stands in
    box_mask = torch.zeros(H, W, dtype=torch.bool)
    box_mask[0:3, 25:30] = True
    assert torch.equal(b["masks"][1], box_mask)


def test_coco_crowd_is_positive_and_difficult(make_coco):
    b = COCODataset(make_coco(_data()), "val", with_annotations=True)[1]
    assert b["box_labels"].tolist() == [2, 0]
    assert b["difficult"].tolist() == [True, False]
    assert b["labels"].tolist() == [1.0, 0.0, 1.0]


def test_coco_class_subset_drops_other_objects(make_coco):
    ds = COCODataset(make_coco(_data()), "val", class_names=["kite", "bicycle"], with_annotations=True)
    assert ds.num_classes == 2
    a = ds[0]
    assert a["box_labels"].tolist() == [1] and a["masks"].shape == (1, H, W)


def test_coco_single_label(make_coco):
    ds = COCODataset(make_coco(_data()), "val", with_annotations=True, single_label=True)
    a, b = ds[0], ds[1]
    assert a["labels"].tolist() == [0.0, 1.0, 0.0]  # airplane: the larger box
    assert a["box_labels"].tolist() == [1] and a["masks"].shape == (1, H, W)
    assert b["labels"].tolist() == [1.0, 0.0, 0.0]  # the crowd object is ignored when choosing


def test_coco_images_folder_named_like_coco2014(make_coco):
    root = make_coco(_data(), split="val2014")
    assert (root / "val2014" / "img_a.jpg").is_file()
    assert len(COCODataset(root, "val2014")) == 2


def test_coco_unknown_class_name_argument(make_coco):
    with pytest.raises(DatasetError, match=r"instances_val\.json: categories: class_names \['zebra'\]"):
        COCODataset(make_coco(_data()), "val", class_names=["zebra"])
