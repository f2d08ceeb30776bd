"""Image files: VOC images with other extensions, EXIF orientation (read in the stored pixel grid)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from data_helpers import voc_object, voc_xml, write_jpeg
from PIL import Image

from wsl.data import COCODataset, DatasetError, VOCDataset
from wsl.data.base import read_image

GOOD = voc_xml([voc_object("dog", (1, 1, 10, 10))])


def _write_rotated_jpeg(path, h: int, w: int, orientation: int = 6) -> np.ndarray:
    """A JPEG whose stored grid is (h, w) and whose EXIF says viewers should rotate it."""
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())
    return pixels


@pytest.mark.parametrize("ext", [".jpeg", ".png", ".JPG"])
def test_voc_finds_images_with_other_extensions(make_voc, ext):
    root = make_voc({"a": GOOD, "b": GOOD})
    (root / "JPEGImages" / "b.jpg").unlink()
    write_jpeg(root / "JPEGImages" / f"b{ext}", 30, 40)
    ds = VOCDataset(root, "train", with_annotations=True)
    assert ds.records[1].image_path.name == f"b{ext}"
    assert ds[1]["orig_size"] == (30, 40) and ds[1]["image_id"] == "b"
    assert ds.without_images()[1]["orig_size"] == (30, 40)


def test_voc_first_existing_extension_wins(make_voc):
    root = make_voc({"a": GOOD})
    write_jpeg(root / "JPEGImages" / "a.png", 30, 40)
    assert VOCDataset(root, "train").records[0].image_path.name == "a.jpg"


def test_voc_missing_image_names_the_extensions_tried(make_voc):
    root = make_voc({"a": GOOD})
    (root / "JPEGImages" / "a.jpg").unlink()
    with pytest.raises(DatasetError, match=r"a\.jpg: image: file not found.*\.jpeg.*\.png"):
        VOCDataset(root, "train")


def test_exif_rotated_jpeg_is_read_in_its_stored_grid_with_one_warning(make_voc):
    root = make_voc({"a": voc_xml([voc_object("dog", (1, 1, 10, 10))], h=30, w=40), "b": GOOD, "c": GOOD})
    for image_id in ("a", "b"):
        _write_rotated_jpeg(root / "JPEGImages" / f"{image_id}.jpg", 30, 40)
    ds = VOCDataset(root, "train", with_annotations=True)
    with pytest.warns(UserWarning, match=r"a\.jpg.*EXIF orientation 6.*stored pixel grid") as record:
        items = [ds[i] for i in range(3)]
    assert len([w for w in record if "EXIF" in str(w.message)]) == 1  # once per dataset
    assert [it["orig_size"] for it in items] == [(30, 40)] * 3  # not rotated: boxes refer to this grid
    assert read_image(root / "JPEGImages" / "a.jpg").shape == (30, 40, 3)


def test_exif_rotated_jpegs_listed_at_construction_with_skip_bad(make_voc):
    root = make_voc({"a": GOOD, "b": GOOD, "c": GOOD})
    for image_id, orientation in (("a", 6), ("c", 3)):
        _write_rotated_jpeg(root / "JPEGImages" / f"{image_id}.jpg", 30, 40, orientation)
    match = r"2 image\(s\) with an EXIF orientation other than 1.*a\.jpg \(6\).*c\.jpg \(3\)"
    with pytest.warns(UserWarning, match=match):
        ds = VOCDataset(root, "train", skip_bad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds[0], ds[2]  # already reported


def test_coco_exif_rotated_image_keeps_the_declared_size(make_coco):
    data = {
        "images": [{"id": 1, "file_name": "r.jpg", "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], "iscrowd": 0}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    root = make_coco(data, images={})
    (root / "val").mkdir()
    pixels = _write_rotated_jpeg(root / "val" / "r.jpg", 30, 40, 8)
    ds = COCODataset(root, "val", with_annotations=True)
    with pytest.warns(UserWarning, match=r"r\.jpg.*EXIF orientation 8"):
        item = ds[0]
    assert item["orig_size"] == (30, 40)
    assert np.abs(read_image(root / "val" / "r.jpg").astype(int) - pixels).mean() < 3  # stored, unrotated
