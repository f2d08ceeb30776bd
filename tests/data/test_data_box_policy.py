"""One rule for boxes past the image edge (VOC and COCO): box_policy='clip' (default) or 'strict'."""

from __future__ import annotations

import warnings

import pytest
from data_helpers import voc_object, voc_xml

from wsl.data import COCODataset, DatasetError, VOCDataset, WSLDataModule

H, W = 30, 40  # make_voc's image size


def _voc_edges(make_voc):
    # xmin=0 and xmax=width+1 / ymax=height+1: common off-by-one VOC boxes, one pixel past the image
    xml = voc_xml([voc_object("dog", (1, 1, 10, 10)), voc_object("cat", (0, 2, W + 1, H + 1))], h=H, w=W)
    return make_voc({"ok": voc_xml([voc_object("dog", (2, 2, 5, 5))]), "edge": xml})


def test_voc_box_past_the_edge_is_clipped_with_one_count_warning(make_voc):
    root = _voc_edges(make_voc)
    with pytest.warns(
        UserWarning, match=r"clipped 1 box\(es\) .*box_policy='clip'.*edge\.xml: object\[1\]/bndbox"
    ):
        ds = VOCDataset(root, "train", with_annotations=True)
    assert ds[1]["boxes"].tolist() == [[0, 0, 9, 9], [0, 1, W - 1, H - 1]]


def test_voc_box_past_the_edge_is_an_error_when_strict(make_voc):
    root = _voc_edges(make_voc)
    match = (
        r"edge\.xml: object\[1\]/bndbox: box xmin=0 ymin=2 xmax=41 ymax=31 \(1-based inclusive\) extends "
        r"past the 40x30 image.*Fix: .*box_policy='clip'"
    )
    with pytest.raises(DatasetError, match=match):
        VOCDataset(root, "train", box_policy="strict")
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        ds = VOCDataset(root, "train", box_policy="strict", skip_bad=True)
    assert [r.image_id for r in ds.records] == ["ok"]


@pytest.mark.parametrize("policy", ["clip", "strict"])
def test_voc_box_entirely_outside_is_an_error_under_both_policies(make_voc, policy):
    root = make_voc({"bad": voc_xml([voc_object("dog", (45, 1, 50, 5))])})
    with pytest.raises(DatasetError, match=r"bad\.xml: object\[0\]/bndbox: .*lies outside the 40x30 image"):
        VOCDataset(root, "train", box_policy=policy)


def test_voc_without_declared_size_is_clipped_when_the_image_is_read(make_voc):
    xml = "<annotation>" + voc_object("dog", (0, 1, W + 1, 5)) + "</annotation>"
    root = make_voc({"a": xml})
    assert VOCDataset(root, "train", with_annotations=True)[0]["boxes"].tolist() == [[0, 0, W - 1, 4]]
    ds = VOCDataset(root, "train", with_annotations=True, box_policy="strict")
    with pytest.raises(DatasetError, match=r"a\.xml: object\[0\]/bndbox: .*extends past the 40x30 image"):
        ds[0]


def _coco() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "ok.jpg", "width": 30, "height": 20},
            {"id": 2, "file_name": "edge.jpg", "width": 30, "height": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [25.5, -3.0, 10.0, 6.0], "iscrowd": 0},
        ],
        "categories": [{"id": 3, "name": "cat"}],
    }


def test_coco_box_past_the_edge_is_clipped_with_one_count_warning(make_coco):
    root = make_coco(_coco())
    with pytest.warns(UserWarning, match=r"clipped 1 box\(es\).*annotations\[1\] \(image_id=2\)\.bbox"):
        ds = COCODataset(root, "val", with_annotations=True)
    assert ds[1]["boxes"].tolist() == [[25, 0, 29, 2]]


def test_coco_box_past_the_edge_is_an_error_when_strict(make_coco):
    root = make_coco(_coco())
    match = (
        r"instances_val\.json: annotations\[1\] \(image_id=2\)\.bbox: box \[x, y, w, h\]=\[25\.5, -3\.0, "
        r"10\.0, 6\.0\] extends past the 30x20 image.*box_policy='clip'"
    )
    with pytest.raises(DatasetError, match=match):
        COCODataset(root, "val", box_policy="strict")


def test_boxes_inside_the_image_give_no_warning(make_coco):
    data = _coco()
    data["annotations"][1]["bbox"] = [0, 0, 30, 20]  # the whole image, edges included
    root = make_coco(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = COCODataset(root, "val", with_annotations=True, box_policy="strict")
    assert ds[1]["boxes"].tolist() == [[0, 0, 29, 19]]


def test_unknown_box_policy_lists_the_choices(make_coco):
    with pytest.raises(ValueError, match=r"box_policy: got 'clamp'.*\['clip', 'strict'\]"):
        COCODataset(make_coco(_coco()), "val", box_policy="clamp")


def test_datamodule_passes_box_policy(make_voc):
    root = _voc_edges(make_voc)
    dm = WSLDataModule(f"voc:{root}", train_split="train", val_split="train", box_policy="strict")
    with pytest.raises(DatasetError, match="extends past"):
        dm.dataset("train")


def test_voc_split_file_ids_with_spaces_are_read_whole(make_voc):
    root = make_voc(
        {
            "my photo 1": voc_xml([voc_object("dog", (1, 1, 5, 5))]),
            "b": voc_xml([voc_object("cat", (1, 1, 5, 5))]),
        }
    )
    (root / "ImageSets" / "Main" / "train.txt").write_text("  my photo 1  \nb\n\n")
    ds = VOCDataset(root, "train")
    assert [r.image_id for r in ds.records] == ["my photo 1", "b"]
    assert ds[0]["image_id"] == "my photo 1"


def test_voc_class_split_file_reads_the_id_before_the_label(make_voc):
    root = make_voc(
        {"a b": voc_xml([voc_object("dog", (1, 1, 5, 5))]), "c": voc_xml([voc_object("dog", (1, 1, 5, 5))])}
    )
    (root / "ImageSets" / "Main" / "dog_train.txt").write_text("a b  1\nc -1\n")
    assert [r.image_id for r in VOCDataset(root, "dog_train").records] == ["a b", "c"]
