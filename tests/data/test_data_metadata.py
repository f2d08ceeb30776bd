"""Metadata files a realistic user brings (issue 35 items 6, 8, 13, 22): a byte-order mark, a conflicting
duplicate label, paths outside the root, a box ending at x1 = width. The WSOL cases start from the real
wsolevaluation metadata (tests/wsol_metadata.py) and change one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import voc_object, voc_xml, write_jpeg
from wsol_metadata import write_standin

from wsl.cam.frames import WSOL_SIZE, frame_boxes
from wsl.data import COCODataset, DatasetError, VOCDataset, WSLDataModule, WSOLDataset
from wsl.data.metadata import check_relative_name

BOM = "\ufeff"


@pytest.fixture
def cub(tmp_path: Path) -> tuple[Path, Path]:
    """Real CUB metadata lines of classes 0 and 1 (test: 2 images each), with stand-in images."""
    return write_standin("CUB", tmp_path / "CUB", per_class={"train": 1, "val": 1, "test": 2})


def _spec(cub: tuple[Path, Path]) -> str:
    root, meta = cub
    return f"CUB:{root}:metadata={meta}"


def _test_dir(cub: tuple[Path, Path]) -> Path:
    return cub[1] / "CUB" / "test"


# ------------------------------------------------------------------------------------ item 22: the BOM


def test_a_bom_in_every_wsol_metadata_file_is_read_as_utf_8_sig(cub):
    plain = WSOLDataset(_spec(cub), "test", with_annotations=True)
    for path in _test_dir(cub).glob("*.txt"):
        path.write_text(BOM + path.read_text(), encoding="utf-8")
    ds = WSOLDataset(_spec(cub), "test", with_annotations=True)
    assert [r.image_id for r in ds.records] == [r.image_id for r in plain.records]
    assert not ds.records[0].image_id.startswith(BOM)
    assert ds[0]["box_coords"].tolist() == plain[0]["box_coords"].tolist()


def test_a_bom_in_voc_split_and_classes_files(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(voc_xml([voc_object("cat", (1, 1, 4, 3))]))
    write_jpeg(root / "JPEGImages" / "a.jpg", 30, 40)
    (root / "ImageSets" / "Main" / "train.txt").write_text(BOM + "a\n", encoding="utf-8")
    (root / "classes.txt").write_text(BOM + "cat\ndog\n", encoding="utf-8")
    ds = VOCDataset(root, "train")
    assert ds.class_names == ["cat", "dog"] and ds.records[0].image_id == "a"


def test_a_bom_in_a_coco_json(make_coco):
    data = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    root = make_coco(BOM + json.dumps(data), images={"a.jpg": (30, 40)})
    assert COCODataset(root, "val").records[0].image_id == "a"


def test_a_metadata_file_that_is_not_utf_8_names_the_file(cub):
    path = _test_dir(cub) / "class_labels.txt"
    path.write_bytes(path.read_bytes().replace(b"_", b"\xe9", 1))
    with pytest.raises(DatasetError, match=r"class_labels\.txt: encoding: not UTF-8 \(byte \d+"):
        WSOLDataset(_spec(cub), "test", with_annotations=True)


# ------------------------------------------------------------------- item 6: conflicting duplicate labels


def test_a_conflicting_duplicate_class_label_names_the_file_line_and_id(cub):
    path = _test_dir(cub) / "class_labels.txt"
    lines = path.read_text().splitlines()
    image_id, label = lines[0].split(",")
    other = 1 - int(label)
    path.write_text("\n".join([*lines, f"{image_id},{other}"]) + "\n")
    number = len(lines) + 1
    with pytest.raises(
        DatasetError,
        match=rf"class_labels\.txt:{number}: class label: '{image_id}' has label {other} here and {label} "
        r"on line 1",
    ):
        WSOLDataset(_spec(cub), "test", with_annotations=True)


def test_a_repeated_identical_class_label_line_is_accepted(cub):
    path = _test_dir(cub) / "class_labels.txt"
    path.write_text(path.read_text() + path.read_text().splitlines()[0] + "\n")
    assert len(WSOLDataset(_spec(cub), "test", with_annotations=True)) == 4


def test_a_conflicting_duplicate_image_size_names_the_line(cub):
    path = _test_dir(cub) / "image_sizes.txt"
    image_id, w, h = path.read_text().splitlines()[0].split(",")
    path.write_text(path.read_text() + f"{image_id},{int(w) + 1},{h}\n")
    with pytest.raises(
        DatasetError, match=rf"image_sizes\.txt:5: image size: '{image_id}' is {int(w) + 1}x{h}"
    ):
        WSOLDataset(_spec(cub), "test", with_annotations=True)


# --------------------------------------------------------------------- item 8: paths outside the root


def _replace_first_id(folder: Path, new: str) -> str:
    old = (folder / "image_ids.txt").read_text().splitlines()[0]
    for path in folder.glob("*.txt"):
        path.write_text(path.read_text().replace(old, new))
    return old


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_a_wsol_id_outside_the_root_is_refused_naming_the_file_and_line(cub, tmp_path, kind):
    outside = tmp_path / "outside.jpg"
    write_jpeg(outside, 30, 40)  # a readable image: before the fix it was read
    name = "../outside.jpg" if kind == "dotdot" else str(outside)
    _replace_first_id(_test_dir(cub), name)
    with pytest.raises(DatasetError, match=r"image_ids\.txt:1: image id: .*outside\.jpg.* (absolute|'\.\.')"):
        WSOLDataset(_spec(cub), "test", with_annotations=True)


def test_a_mask_file_outside_the_root_is_refused(tmp_path):
    root, meta = write_standin("OpenImages", tmp_path / "OI", per_class={"train": 1, "val": 1, "test": 1})
    loc = meta / "OpenImages" / "test" / "localization.txt"
    first = loc.read_text().splitlines()[0].split(",")
    loc.write_text(loc.read_text().replace(first[1], "../../mask.png", 1))
    with pytest.raises(
        DatasetError, match=r"localization\.txt:1: mask file: '\.\./\.\./mask\.png' has a '\.\.'"
    ):
        WSOLDataset(f"OpenImages:{root}:metadata={meta}", "test", with_annotations=True)


def test_a_voc_id_outside_the_root_is_refused(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(voc_xml([voc_object("cat", (1, 1, 4, 3))]))
    (tmp_path / "x.xml").write_text(voc_xml([voc_object("cat", (1, 1, 4, 3))]))
    write_jpeg(root / "JPEGImages" / "a.jpg", 30, 40)
    write_jpeg(tmp_path / "x.jpg", 30, 40)
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\n\n../../x\n")
    with pytest.raises(DatasetError, match=r"train\.txt:3: image id: '\.\./\.\./x' has a '\.\.' part"):
        VOCDataset(root, "train", class_names=["cat"])


@pytest.mark.parametrize("name", ["../a.jpg", "/tmp/a.jpg", "sub/../../a.jpg"])
def test_a_coco_file_name_outside_the_image_folder_is_refused(make_coco, name):
    data = {
        "images": [{"id": 7, "file_name": name, "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    root = make_coco(data, images={})
    with pytest.raises(DatasetError, match=r"instances_val\.json: images\[0\]: file_name: .*outside"):
        COCODataset(root, "val")


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a/b.jpg", True), (".hidden.jpg", True), ("a..b.jpg", True), ("../b", False), ("/b", False),
     ("C:\\b.jpg", False), ("a\\..\\..\\b", False)],
)  # fmt: skip
def test_check_relative_name(name, ok):
    if ok:
        check_relative_name(name, "f.txt:1", "image id")
    else:
        with pytest.raises(DatasetError, match=r"f\.txt:1: image id: .*Fix: write the path relative"):
            check_relative_name(name, "f.txt:1", "image id")


# ------------------------------------------------------------- item 13: a box ending at x1 = width


def _box_at_the_edge(cub: tuple[Path, Path]) -> tuple[str, int, int, int]:
    """Set x1 of the first box of test/localization.txt to the image width; return (id, line, w, h)."""
    folder = _test_dir(cub)
    sizes = {r.split(",")[0]: r.split(",")[1:] for r in (folder / "image_sizes.txt").read_text().splitlines()}
    lines = (folder / "localization.txt").read_text().splitlines()
    image_id, x0, y0, _, y1 = lines[0].split(",")
    w, h = (int(v) for v in sizes[image_id])
    lines[0] = f"{image_id},{x0},{y0},{w},{y1}"
    (folder / "localization.txt").write_text("\n".join(lines) + "\n")
    return image_id, 1, w, h


def test_a_box_ending_at_the_width_is_clipped_with_one_warning_naming_file_line_and_id(cub):
    image_id, line, w, h = _box_at_the_edge(cub)
    with pytest.warns(UserWarning, match=rf"clipped 1 box.*localization\.txt:{line}: '{image_id}'"):
        ds = WSOLDataset(_spec(cub), "test", with_annotations=True)
    index = [r.image_id for r in ds.records].index(image_id)
    item = ds[index]
    assert item["box_coords"][0, 2].item() == w - 1 and item["boxes"][0, 2].item() == w - 1
    in_frame = frame_boxes("wsolevaluation", item["box_coords"], item["orig_size"])
    assert in_frame[:, 2].max().item() == int((w - 1) * WSOL_SIZE / w) < WSOL_SIZE


def test_a_box_ending_at_the_width_is_an_error_at_data_setup_when_strict(cub):
    image_id, line, w, _ = _box_at_the_edge(cub)
    root, meta = cub
    dm = WSLDataModule(f"wsol:{_spec(cub)}", num_workers=0, box_policy="strict", test_split="test")
    with pytest.raises(
        DatasetError, match=rf"localization\.txt:{line}: box: the box .* of '{image_id}' ends past the {w}x"
    ):
        dm.setup("test")


def test_before_the_fix_such_a_box_left_the_224_frame():
    """Why item 13 crashed at the first validation: x1 = W maps to column 224 of a 224-wide frame."""
    w = 500
    assert frame_boxes("wsolevaluation", torch.tensor([[0.0, 0.0, w, 10.0]]), (335, w))[0, 2] == WSOL_SIZE
    assert np.floor(w - 1e-9) == w - 1  # a float x1 just below W stays inside
