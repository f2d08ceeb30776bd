"""VOCDataset on hand-written VOC files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_helpers import voc_object, voc_xml

from wsl.data import VOC_CLASSES, DatasetError, VOCDataset


def test_voc_boxes_labels_difficult(make_voc):
    root = make_voc(
        {
            "a": voc_xml([voc_object("dog", (1, 2, 10, 20)), voc_object("cat", (5, 5, 40, 30), difficult=1)]),
            "b": voc_xml([voc_object("person", (3, 4, 3, 4), truncated=1)]),
        }
    )
    ds = VOCDataset(root, "train", with_annotations=True, image_size=32)
    assert ds.class_names == list(VOC_CLASSES) and ds.num_classes == 20
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["image_id"] == "a" and item["orig_size"] == (30, 40)
    # 1-based inclusive -> 0-based inclusive
    assert item["boxes"].tolist() == [[0, 1, 9, 19], [4, 4, 39, 29]]
    assert item["boxes"].dtype == torch.int64
    cat, dog = VOC_CLASSES.index("cat"), VOC_CLASSES.index("dog")
    assert item["box_labels"].tolist() == [dog, cat]
    assert item["difficult"].tolist() == [False, True]
    # a difficult-only class is still positive
    assert item["labels"][cat] == 1 and item["labels"][dog] == 1 and item["labels"].sum() == 2
    assert item["masks"] is None and item["ignore"] is None
    assert ds[1]["boxes"].tolist() == [[2, 3, 2, 3]]


def test_voc_without_annotations_has_only_image_level_keys(make_voc):
    root = make_voc({"a": voc_xml([voc_object("dog", (1, 1, 5, 5))])})
    item = VOCDataset(root, "train", image_size=16)[0]
    assert set(item) == {"image", "labels", "image_id", "orig_size"}


def test_voc_segmentation_object_masks_and_ignore(make_voc):
    seg = np.zeros((30, 40), np.uint8)
    seg[2:10, 3:8] = 1
    seg[20:25, 30:35] = 2
    seg[10, 3:8] = 255
    root = make_voc(
        {"a": voc_xml([voc_object("dog", (4, 3, 8, 10)), voc_object("cat", (31, 21, 35, 25))])},
        seg={"a": seg},
    )
    item = VOCDataset(root, "train", with_annotations=True)[0]
    masks = item["masks"]
    assert masks.shape == (2, 30, 40) and masks.dtype == torch.bool
    assert torch.equal(masks[0], torch.from_numpy(seg == 1))
    assert torch.equal(masks[1], torch.from_numpy(seg == 2))
    assert torch.equal(item["ignore"], torch.from_numpy(seg == 255))


def test_voc_single_label_picks_largest_non_difficult(make_voc):
    root = make_voc(
        {
            "a": voc_xml(
                [
                    voc_object("dog", (1, 1, 5, 5)),
                    voc_object("cat", (1, 1, 30, 20)),
                    voc_object("bird", (1, 1, 40, 30), difficult=1),
                    voc_object("cat", (10, 10, 12, 12)),
                ]
            )
        }
    )
    item = VOCDataset(root, "train", with_annotations=True, single_label=True)[0]
    cat = VOC_CLASSES.index("cat")
    assert item["labels"].sum() == 1 and item["labels"][cat] == 1
    assert item["box_labels"].tolist() == [cat, cat]
    assert item["boxes"].tolist() == [[0, 0, 29, 19], [9, 9, 11, 11]]


def test_voc_class_names_from_classes_txt_and_argument(make_voc):
    root = make_voc({"a": voc_xml([voc_object("blob", (1, 1, 5, 5))])}, classes=["blob", "other"])
    ds = VOCDataset(root, "train")
    assert ds.class_names == ["blob", "other"]
    assert ds[0]["labels"].tolist() == [1.0, 0.0]
    ds = VOCDataset(root, "train", class_names=["other", "blob"])
    assert ds[0]["labels"].tolist() == [0.0, 1.0]


def test_voc_train_transform_shapes(make_voc):
    root = make_voc({"a": voc_xml([voc_object("dog", (1, 1, 5, 5))])})
    ds = VOCDataset(root, "train", train=True, image_size=24)
    torch.manual_seed(0)
    assert ds[0]["image"].shape == (3, 24, 24)


def test_voc_mask_with_too_many_values_is_an_error(make_voc):
    seg = np.zeros((30, 40), np.uint8)
    seg[0:3, 0:3] = 3
    root = make_voc({"a": voc_xml([voc_object("dog", (1, 1, 3, 3))])}, seg={"a": seg})
    ds = VOCDataset(root, "train", with_annotations=True)
    with pytest.raises(DatasetError, match=r"a\.png: mask values: values \[3\]"):
        ds[0]
