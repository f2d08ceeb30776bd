"""Every bad input raises DatasetError naming file, field and fix; skip_bad skips and counts."""

from __future__ import annotations

import json

import pytest
from data_helpers import voc_object, voc_xml, write_jpeg

from wsl.data import COCODataset, DatasetError, VOCDataset

GOOD = voc_xml([voc_object("dog", (1, 1, 10, 10))])


def _voc_case(make_voc, case: str):
    """Build a VOC set with one good image 'ok' and one bad image 'bad'; return (root, match)."""
    xmls = {"ok": GOOD, "bad": GOOD}
    if case == "malformed_xml":
        xmls["bad"] = "<annotation><object><name>dog</name"
        match = r"bad\.xml: XML: malformed"
    elif case == "unknown_class":
        xmls["bad"] = voc_xml([voc_object("unicorn", (1, 1, 5, 5))])
        match = r"bad\.xml: object\[0\]/name: unknown class name 'unicorn'.*Fix: .*class_names"
    elif case == "degenerate_box":
        xmls["bad"] = voc_xml([voc_object("dog", (1, 1, 5, 5)), voc_object("cat", (9, 1, 4, 5))])
        match = r"bad\.xml: object\[1\]/bndbox: degenerate box xmin=9 xmax=4"
    elif case == "box_outside":
        xmls["bad"] = voc_xml([voc_object("dog", (45, 1, 50, 5))])  # past the edge only: clipped
        match = r"bad\.xml: object\[0\]/bndbox: .*lies outside the 40x30 image"
    elif case == "non_numeric_box":
        xmls["bad"] = voc_xml([voc_object("dog", (1, 1, "ten", 5))])
        match = r"bad\.xml: object\[0\]/bndbox/xmax: 'ten' is not a number"
    elif case == "no_objects":
        xmls["bad"] = voc_xml([])
        match = r"bad\.xml: object: image has no objects.*Fix: "
    elif case in ("missing_xml", "missing_image"):
        match = (
            r"bad\.xml: annotation: file not found"
            if case == "missing_xml"
            else r"bad\.jpg: image: file not found"
        )
    else:
        raise AssertionError(case)
    root = make_voc(xmls)
    if case == "missing_xml":
        (root / "Annotations" / "bad.xml").unlink()
    if case == "missing_image":
        (root / "JPEGImages" / "bad.jpg").unlink()
    return root, match


VOC_CASES = [
    "malformed_xml",
    "unknown_class",
    "degenerate_box",
    "box_outside",
    "non_numeric_box",
    "no_objects",
    "missing_xml",
    "missing_image",
]


@pytest.mark.parametrize("case", VOC_CASES)
def test_voc_bad_sample_raises(make_voc, case):
    root, match = _voc_case(make_voc, case)
    with pytest.raises(DatasetError, match=match):
        VOCDataset(root, "train")


@pytest.mark.parametrize("case", VOC_CASES)
def test_voc_bad_sample_skipped_with_one_warning(make_voc, case):
    root, match = _voc_case(make_voc, case)
    with pytest.warns(UserWarning, match=r"skipped 1 bad sample") as record:
        ds = VOCDataset(root, "train", skip_bad=True)
    assert len([w for w in record if "skipped" in str(w.message)]) == 1
    assert len(ds) == 1 and ds.num_skipped == 1 and ds[0]["image_id"] == "ok"


def test_voc_skip_bad_counts_several(make_voc):
    xmls = {"ok": GOOD, "b1": voc_xml([]), "b2": "<x", "b3": voc_xml([voc_object("emu", (1, 1, 2, 2))])}
    root = make_voc(xmls)
    with pytest.warns(UserWarning, match=r"skipped 3 bad sample\(s\)"):
        ds = VOCDataset(root, "train", skip_bad=True)
    assert [r.image_id for r in ds.records] == ["ok"]


def test_voc_all_bad_is_an_error(make_voc):
    root = make_voc({"b1": voc_xml([])})
    with pytest.raises(DatasetError, match="no usable samples"), pytest.warns(UserWarning):
        VOCDataset(root, "train", skip_bad=True)


def test_voc_missing_split_file_lists_splits(make_voc):
    root = make_voc({"ok": GOOD})
    with pytest.raises(DatasetError, match=r"ImageSets/Main/val\.txt: split: split file not found.*'train'"):
        VOCDataset(root, "val")


def test_voc_empty_split_file(make_voc):
    root = make_voc({"ok": GOOD})
    (root / "ImageSets" / "Main" / "train.txt").write_text("\n  \n")
    with pytest.raises(DatasetError, match=r"train\.txt: split: split file is empty. Fix: list one image id"):
        VOCDataset(root, "train", skip_bad=True)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_voc_undecodable_image_raises_at_load_time(make_voc, damage):
    root = make_voc({"ok": GOOD, "bad": GOOD})
    path = root / "JPEGImages" / "bad.jpg"
    if damage == "truncate":
        _truncate(path)
    else:
        path.write_bytes(b"this is not a jpeg")
    ds = VOCDataset(root, "train")  # only existence is checked up front without skip_bad
    ds[0]
    with pytest.raises(
        DatasetError, match=r"bad\.jpg: image: (cannot be decoded|not an image).*Fix: re-download"
    ):
        ds[1]


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_voc_undecodable_image_skipped_by_header_check(make_voc, damage):
    root = make_voc({"ok": GOOD, "bad": GOOD})
    path = root / "JPEGImages" / "bad.jpg"
    if damage == "truncate":
        _truncate(path)
    else:
        path.write_bytes(b"this is not a jpeg")
    with pytest.warns(UserWarning, match=r"skipped 1 bad sample.*bad\.jpg"):
        ds = VOCDataset(root, "train", skip_bad=True)
    assert len(ds) == 1


def test_voc_image_size_differs_from_xml(make_voc):
    root = make_voc({"ok": GOOD})
    write_jpeg(root / "JPEGImages" / "ok.jpg", 20, 20)
    ds = VOCDataset(root, "train")
    with pytest.raises(DatasetError, match=r"ok\.jpg: size: image is 20x20 but the annotation says 40x30"):
        ds[0]


# ------------------------------------------------------------------------------------------------- COCO


def _coco() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "ok.jpg", "width": 30, "height": 20},
            {"id": 2, "file_name": "bad.jpg", "width": 30, "height": 20},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 0},
        ],
        "categories": [{"id": 3, "name": "cat"}],
    }


def _coco_case(make_coco, case: str):
    data = _coco()
    bad_ann = data["annotations"][1]
    if case == "unknown_category":
        bad_ann["category_id"] = 4
        match = r"instances_val\.json: annotations\[1\] \(image_id=2\)\.category_id: unknown category id 4"
    elif case == "degenerate_box":
        bad_ann["bbox"] = [5, 5, -2, 3]
        match = r"annotations\[1\] \(image_id=2\)\.bbox: degenerate box"
    elif case == "box_outside":
        bad_ann["bbox"] = [35, 1, 3, 3]
        match = r"annotations\[1\] \(image_id=2\)\.bbox: .*outside the 30x20 image"
    elif case == "bad_bbox_field":
        bad_ann["bbox"] = [1, 2, 3]
        match = r"annotations\[1\] \(image_id=2\)\.bbox: \[1, 2, 3\] is not \[x, y, w, h\]"
    elif case == "bad_segmentation":
        bad_ann["segmentation"] = [[1, 2, 3]]
        match = r"annotations\[1\] \(image_id=2\)\.segmentation: a polygon must be"
    elif case == "missing_image":
        match = r"bad\.jpg: image: file not found"
    else:
        raise AssertionError(case)
    root = make_coco(data, images={"ok.jpg": (20, 30), "bad.jpg": (20, 30)})
    if case == "missing_image":
        (root / "val" / "bad.jpg").unlink()
    return root, match


COCO_CASES = [
    "unknown_category",
    "degenerate_box",
    "box_outside",
    "bad_bbox_field",
    "bad_segmentation",
    "missing_image",
]  # images without objects: tests/data/test_data_empty_images.py


@pytest.mark.parametrize("case", COCO_CASES)
def test_coco_bad_sample_raises(make_coco, case):
    root, match = _coco_case(make_coco, case)
    with pytest.raises(DatasetError, match=match):
        COCODataset(root, "val")


@pytest.mark.parametrize("case", COCO_CASES)
def test_coco_bad_sample_skipped(make_coco, case):
    root, _ = _coco_case(make_coco, case)
    with pytest.warns(UserWarning, match=r"COCODataset.*skipped 1 bad sample"):
        ds = COCODataset(root, "val", skip_bad=True)
    assert len(ds) == 1 and ds[0]["image_id"] == "ok"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('{"images": [', r"instances_val\.json: JSON: malformed"),
        ("[1, 2]", r"instances_val\.json: JSON: top level is not an object"),
        ('{"images": [], "annotations": []}', r"instances_val\.json: categories: missing or not a list"),
        (
            json.dumps(
                {"images": [], "annotations": [{"image_id": 5}], "categories": [{"id": 1, "name": "a"}]}
            ),
            r"annotations\[0\]\.image_id: 5 is not an image id",
        ),
        (
            json.dumps({"images": [{"id": 1}], "annotations": [], "categories": [{"id": 1, "name": "a"}]}),
            r"images\[0\]: needs int 'id', 'width', 'height'",
        ),
        (json.dumps({"images": [], "annotations": [], "categories": [{"id": "x"}]}), r"categories\[0\]: "),
    ],
)
def test_coco_malformed_file_raises_even_with_skip_bad(make_coco, text, match):
    root = make_coco(text)
    with pytest.raises(DatasetError, match=match):
        COCODataset(root, "val", skip_bad=True)


def test_coco_missing_annotation_file(make_coco):
    root = make_coco(_coco(), images={})
    with pytest.raises(
        DatasetError, match=r"instances_train\.json: annotation file: not found.*instances_val"
    ):
        COCODataset(root, "train")


def test_coco_truncated_image(make_coco):
    root, _ = _coco_case(make_coco, "missing_image")
    write_jpeg(root / "val" / "bad.jpg", 20, 30)
    _truncate(root / "val" / "bad.jpg")
    ds = COCODataset(root, "val")
    with pytest.raises(DatasetError, match=r"bad\.jpg: image: cannot be decoded"):
        ds[1]
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(COCODataset(root, "val", skip_bad=True)) == 1


def test_errors_are_value_errors():
    assert issubclass(DatasetError, ValueError)
