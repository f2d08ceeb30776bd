"""Image ids are unique within a dataset: COCO file names with the same stem in different folders."""

from __future__ import annotations

import pytest
from data_helpers import write_jpeg

from wsl.data import COCODataset, DatasetError
from wsl.jobs.originals import OriginalImages


def _two_folders() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "a/x.jpg", "width": 30, "height": 20},
            {"id": 2, "file_name": "b/x.jpg", "width": 16, "height": 24},
            {"id": 3, "file_name": "y.jpg", "width": 10, "height": 10},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 2, "bbox": [2, 2, 4, 4], "iscrowd": 0},
            {"id": 3, "image_id": 3, "category_id": 1, "bbox": [2, 2, 4, 4], "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }


def test_coco_same_stem_in_two_folders_gets_two_ids(make_coco):
    root = make_coco(_two_folders())
    ds = COCODataset(root, "val", with_annotations=True)
    ids = [ds[i]["image_id"] for i in range(len(ds))]
    assert ids == ["a/x", "b/x", "y"]  # the file name without extension, folder included
    assert ds[0]["orig_size"] == (20, 30) and ds[1]["orig_size"] == (24, 16)
    assert ds[0]["labels"].tolist() == [1.0, 0.0] and ds[1]["labels"].tolist() == [0.0, 1.0]
    assert ds.coco_ids == {"a/x": 1, "b/x": 2, "y": 3}
    # overlays find each image's own file
    originals = OriginalImages(ds)
    assert originals.paths["a/x"].parent.name == "a" and originals.paths["b/x"].parent.name == "b"


def test_coco_same_stem_other_extension_keeps_the_extension(make_coco):
    data = _two_folders()
    data["images"][1]["file_name"] = "a/x.png"
    root = make_coco(data, images={})
    write_jpeg(root / "val" / "a" / "x.jpg", 20, 30)
    write_jpeg(root / "val" / "a" / "x.png", 24, 16)
    write_jpeg(root / "val" / "y.jpg", 10, 10)
    ds = COCODataset(root, "val")
    assert [r.image_id for r in ds.records] == ["a/x.jpg", "a/x.png", "y"]


def test_coco_file_name_listed_twice_is_an_error(make_coco):
    data = _two_folders()
    data["images"][1]["file_name"] = "a/x.jpg"
    root = make_coco(data, images={"a/x.jpg": (20, 30), "y.jpg": (10, 10)})
    with pytest.raises(DatasetError, match=r"images\[1\]\.file_name: 'a/x\.jpg' is also images\[0\]"):
        COCODataset(root, "val")
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        ds = COCODataset(root, "val", skip_bad=True)
    assert [r.image_id for r in ds.records] == ["a/x", "y"]
