"""``ilsvrc:ROOT``: the ILSVRC list files of TS-CAM, SCM, BAS and GenPromp (``ILSVRC2012_list/train.txt``,
``val_folder_new.txt``). The val lines are written from the real wsolevaluation ILSVRC test metadata (ids,
labels, boxes), with stand-in images; the same images read through ``wsol:ILSVRC`` are the reference."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath

import pytest
from wsol_metadata import ILSVRC_WNIDS, write_standin

from wsl.data import DatasetError, ILSVRCListDataset, WSLDataModule, WSOLDataset


def _lines(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def lists(tmp_path: Path) -> tuple[Path, str]:
    """``(TS-CAM root, wsol spec of the same images)``: 2 test images of labels 0 and 1, 2 train each."""
    wsol_root, meta = write_standin("ILSVRC", tmp_path / "wsol", per_class={"train": 2, "val": 1, "test": 2})
    root = tmp_path / "ImageNet_ILSVRC2012"
    (root / "ILSVRC2012_list").mkdir(parents=True)
    test = meta / "ILSVRC" / "test"
    labels = {i: int(c) for i, c in _lines(test / "class_labels.txt")}
    boxes: dict[str, list[str]] = {}
    for image_id, *box in _lines(test / "localization.txt"):
        boxes.setdefault(image_id, []).extend(box)
    val = []
    for (image_id,) in _lines(test / "image_ids.txt"):  # val/<file> -> <wnid>/<file> under ROOT/val
        path = f"{ILSVRC_WNIDS[labels[image_id]]}/{PurePosixPath(image_id).name}"
        (root / "val" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(wsol_root / image_id, root / "val" / path)
        val.append(" ".join([path, str(labels[image_id]), *boxes[image_id]]))
    train = []
    for image_id, label in _lines(meta / "ILSVRC" / "train" / "class_labels.txt"):
        path = image_id.removeprefix("train/")
        (root / "train" / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(wsol_root / image_id, root / "train" / path)
        train.append(f"{path} {label}")
    (root / "ILSVRC2012_list" / "val_folder_new.txt").write_text("\n".join(val) + "\n")
    (root / "ILSVRC2012_list" / "train.txt").write_text("\n".join(train) + "\n")
    return root, f"ILSVRC:{wsol_root}:metadata={meta}"


def test_val_boxes_and_sizes_equal_wsolevaluation_s_reading_of_the_same_images(lists):
    root, spec = lists
    ours = ILSVRCListDataset(root, "test", with_annotations=True)
    ref = WSOLDataset(spec, "test", class_names=list(ILSVRC_WNIDS), with_annotations=True)
    assert ours.class_names == list(ILSVRC_WNIDS)
    assert len(ours) == len(ref) == 4
    for k in range(len(ref)):
        a, b = ours[k], ref[k]
        assert PurePosixPath(a["image_id"]).name == PurePosixPath(b["image_id"]).name
        assert a["orig_size"] == b["orig_size"]
        assert a["boxes"].tolist() == b["boxes"].tolist()
        assert a["labels"].tolist() == b["labels"].tolist()
        assert a["image"].shape == b["image"].shape


def test_train_lines_give_labels_without_boxes_and_the_data_module_reads_the_spec(lists):
    root, _ = lists
    train = ILSVRCListDataset(root, "train")
    assert [r.image_id for r in train.records] == [
        f"{w}/{w}_{k}.JPEG" for w in ILSVRC_WNIDS for k in range(2)
    ]
    assert [int(r.labels.argmax()) for r in train.records] == [0, 0, 1, 1]
    dm = WSLDataModule(f"ilsvrc:{root}", image_size=32, batch_size=4, num_workers=0, single_label=True)
    assert dm.class_names == list(ILSVRC_WNIDS)
    batch = next(iter(dm.dataloader("test")))
    assert batch["image"].shape == (4, 3, 32, 32) and len(batch["boxes"]) == 4


def test_classes_txt_names_the_labels(lists):
    root, _ = lists
    (root / "ILSVRC2012_list" / "classes.txt").write_text("tench\ngoldfish\n")
    assert ILSVRCListDataset(root, "val").class_names == ["tench", "goldfish"]


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("n01440764/x.JPEG 0 1 2 3", r"val_folder_new.txt:3: line: got 5 fields"),
        ("n01440764/x.JPEG zero 1 2 3 4", r"val_folder_new.txt:3: label: 'zero' is not an int"),
        (
            "n01440764/x.JPEG 0 5 2 3 4",
            r"val_folder_new.txt:3: box 0: \[5.0, 2.0, 3.0, 4.0\] is negative or dege",
        ),
        ("n01440764/x.JPEG 0 1 2 3 4 1 2 3", r"val_folder_new.txt:3: line: got 9 fields"),
        ("../x.JPEG 0 1 2 3 4", r"val_folder_new.txt:3: image path: '../x.JPEG' has a '..' part"),
        ("/abs/x.JPEG 0 1 2 3 4", r"val_folder_new.txt:3: image path: '/abs/x.JPEG' is an absolute path"),
        ("n01440764/x.JPEG 7 1 2 3 4", r"val_folder_new.txt:3: label: 7 but there are 2 classes"),
    ],
)
def test_a_bad_val_line_names_the_file_and_line(lists, line, match):
    root, _ = lists
    path = root / "ILSVRC2012_list" / "val_folder_new.txt"
    rows = path.read_text().splitlines()
    path.write_text("\n".join([*rows[:2], line, *rows[2:]]) + "\n")
    with pytest.raises(DatasetError, match=match):
        ILSVRCListDataset(root, "val", with_annotations=True)


def test_an_image_listed_twice_names_both_lines(lists):
    root, _ = lists
    path = root / "ILSVRC2012_list" / "train.txt"
    rows = path.read_text().splitlines()
    path.write_text("\n".join([*rows, rows[0].replace(" 0", " 1")]) + "\n")
    with pytest.raises(DatasetError, match=r"train.txt:5: image path: .* is also listed on line 1"):
        ILSVRCListDataset(root, "train")


def test_an_unknown_split_lists_the_splits(lists):
    with pytest.raises(
        ValueError, match=r"split: got 'trainval'; the ILSVRC lists have \['test', 'train', 'val'\]"
    ):
        ILSVRCListDataset(lists[0], "trainval")
