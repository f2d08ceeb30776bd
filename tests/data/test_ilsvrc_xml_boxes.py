"""``ilsvrc:ROOT`` val lines without boxes take them from ImageNet's PASCAL-style XMLs
(``ILSVRC2012_bbox_val_v3/val/ILSVRC2012_val_XXXXXXXX.xml``). The XMLs are written here from the real
wsolevaluation ILSVRC test metadata (its ``localization.txt`` holds the XML coordinates as written), with
stand-in images; ``wsol:ILSVRC`` reading the same images is the reference."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from wsol_metadata import ILSVRC_WNIDS, write_standin

from wsl.data import DatasetError, ILSVRCListDataset, WSOLDataset
from wsl.data.ilsvrc import XML_DIR, xml_boxes


def _lines(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines() if line.strip()]


def _xml(wnid: str, stem: str, size: tuple[int, int], boxes: list[list[str]]) -> str:
    """An annotation as ILSVRC2012_bbox_val_v3 writes it."""
    objects = "".join(
        f"<object><name>{wnid}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for x0, y0, x1, y1 in boxes
    )
    return (
        f"<annotation><folder>val</folder><filename>{stem}</filename><source><database>ILSVRC_2012</database>"
        f"</source><size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
        f"<segmented>0</segmented>{objects}</annotation>"
    )


@pytest.fixture
def xml_root(tmp_path: Path) -> tuple[Path, str]:
    """``(TS-CAM root whose val lines hold no boxes, wsol spec of the same images)``; the XMLs in ROOT."""
    wsol_root, meta = write_standin("ILSVRC", tmp_path / "wsol", per_class={"train": 1, "val": 1, "test": 2})
    root = tmp_path / "ILSVRC"
    (root / "ILSVRC2012_list").mkdir(parents=True)
    (root / XML_DIR).mkdir(parents=True)
    test = meta / "ILSVRC" / "test"
    labels = {i: int(c) for i, c in _lines(test / "class_labels.txt")}
    sizes = {i: (int(w), int(h)) for i, w, h in _lines(test / "image_sizes.txt")}
    boxes: dict[str, list[list[str]]] = {}
    for image_id, *box in _lines(test / "localization.txt"):
        boxes.setdefault(image_id, []).append(box)
    val = []
    for (image_id,) in _lines(test / "image_ids.txt"):
        wnid, stem = ILSVRC_WNIDS[labels[image_id]], PurePosixPath(image_id).stem
        path = f"{wnid}/{PurePosixPath(image_id).name}"
        (root / "val" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(wsol_root / image_id, root / "val" / path)
        (root / XML_DIR / f"{stem}.xml").write_text(_xml(wnid, stem, sizes[image_id], boxes[image_id]))
        val.append(f"{path} {labels[image_id]}")
    (root / "ILSVRC2012_list" / "val_folder_new.txt").write_text("\n".join(val) + "\n")
    return root, f"ILSVRC:{wsol_root}:metadata={meta}"


def test_boxes_from_the_xmls_equal_wsolevaluation_s(xml_root):
    root, spec = xml_root
    ours = ILSVRCListDataset(root, "test", with_annotations=True)
    ref = WSOLDataset(spec, "test", class_names=list(ILSVRC_WNIDS), with_annotations=True)
    assert len(ours) == len(ref) == 4
    several = 0
    for k in range(len(ref)):
        a, b = ours[k], ref[k]
        assert PurePosixPath(a["image_id"]).name == PurePosixPath(b["image_id"]).name
        assert a["boxes"].tolist() == b["boxes"].tolist()
        assert a["labels"].tolist() == b["labels"].tolist()
        several += len(b["boxes"]) > 1
    assert several, "the subset holds an image with several boxes"


def test_the_xml_coordinates_are_taken_as_written(tmp_path):
    """By hand: ILSVRC_val_00000001's box 111 108 441 193 stays 111 108 441 193 (0-based inclusive)."""
    path = tmp_path / "a.xml"
    path.write_text(_xml("n01751748", "a", (500, 375), [["111", "108", "441", "193"], ["3", "4", "5", "6"]]))
    np.testing.assert_array_equal(xml_boxes(path, "list:1"), [[111, 108, 441, 193], [3, 4, 5, 6]])
    assert xml_boxes(path, "list:1").dtype == np.float64


def test_boxes_on_the_line_win_over_the_xml(xml_root):
    root, _ = xml_root
    lists = root / "ILSVRC2012_list" / "val_folder_new.txt"
    first, *rest = lists.read_text().splitlines()
    lists.write_text("\n".join([f"{first} 1 2 30 40", *rest]) + "\n")
    ours = ILSVRCListDataset(root, "test", with_annotations=True, image_size=32)
    assert ours[0]["boxes"].tolist() == [[1, 2, 30, 40]]


def test_a_line_without_boxes_and_without_its_xml_names_the_line_and_the_path(xml_root):
    root, _ = xml_root
    first = sorted((root / XML_DIR).iterdir())[0]
    first.unlink()
    with pytest.raises(
        DatasetError, match=rf"val_folder_new.txt:1.*{first.name} does not exist.*ILSVRC2012_bbox_val_v3"
    ):
        ILSVRCListDataset(root, "test", with_annotations=True)
    assert len(ILSVRCListDataset(root, "test", with_annotations=False)) == 4  # no boxes asked: no XML read


def test_a_malformed_xml_names_the_file(xml_root):
    root, _ = xml_root
    first = sorted((root / XML_DIR).iterdir())[0]
    first.write_text(
        "<annotation><object><name>x</name><bndbox><xmin>9</xmin></bndbox></object></annotation>"
    )
    with pytest.raises(DatasetError, match=rf"{first.name}.*object\[0\]/bndbox/ymin"):
        ILSVRCListDataset(root, "test", with_annotations=True)


def test_xml_dir_points_elsewhere(xml_root, tmp_path):
    root, _ = xml_root
    moved = tmp_path / "boxes"
    shutil.move(root / XML_DIR, moved)
    assert len(ILSVRCListDataset(root, "test", with_annotations=True, xml_dir=moved)) == 4
