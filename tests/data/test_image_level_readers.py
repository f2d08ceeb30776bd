"""Readers of CUB_200_2011's own files, ImageFolder and a CSV of image-level labels, on hand-written
fixtures: ids, labels, boxes, splits, the data module, and file:line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsl.data import CSVLabelsDataset, CUBDataset, DatasetError, ImageFolderDataset, WSLDataModule


def _jpeg(path: Path, w: int = 40, h: int = 30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(path)


def cub(root: Path, boxes: str | None = None) -> Path:
    """Three images of two classes; image 1 and 3 train, image 2 test. Boxes as CUB writes them."""
    files = ["001.Albatross/a_1.jpg", "002.Auklet/b_2.jpg", "002.Auklet/b_3.jpg"]
    for f in files:
        _jpeg(root / "images" / f)
    (root / "images.txt").write_text("".join(f"{i} {f}\n" for i, f in enumerate(files, 1)))
    (root / "image_class_labels.txt").write_text("1 1\n2 2\n3 2\n")
    (root / "train_test_split.txt").write_text("1 1\n2 0\n3 1\n")
    (root / "bounding_boxes.txt").write_text(
        boxes or "1 2.0 3.0 10.0 12.0\n2 0.0 0.0 39.0 29.0\n3 5.0 5.0 4.0 4.0\n"
    )
    return root


def test_cub_splits_labels_and_boxes(tmp_path):
    root = cub(tmp_path / "CUB_200_2011")
    train = CUBDataset(root, "train", with_annotations=True)
    assert train.class_names == ["001.Albatross", "002.Auklet"]
    assert [r.image_id for r in train.records] == ["001.Albatross/a_1.jpg", "002.Auklet/b_3.jpg"]
    item = train[0]
    assert item["labels"].tolist() == [1.0, 0.0] and item["orig_size"] == (30, 40)
    assert item["boxes"].tolist() == [[2, 3, 12, 15]]  # (x, y, x + w, y + h)
    test = CUBDataset(root, "val", with_annotations=True, single_label=True)
    assert [r.image_id for r in test.records] == ["002.Auklet/b_2.jpg"]
    assert test[0]["boxes"].tolist() == [[0, 0, 39, 29]] and test[0]["labels"].tolist() == [0.0, 1.0]


def test_cub_class_names_from_classes_txt_and_the_data_module(tmp_path):
    root = cub(tmp_path / "CUB_200_2011")
    (root / "classes.txt").write_text("2 Auklet\n1 Albatross\n")
    dm = WSLDataModule(f"cub:{root}", image_size=32, batch_size=2, num_workers=0, single_label=True,
                       val_split="test")  # fmt: skip
    assert dm.num_classes == 2 and CUBDataset(root, "test").class_names == ["Albatross", "Auklet"]
    batch = next(iter(dm.dataloader("test")))
    assert batch["image"].shape == (1, 3, 32, 32) and batch["box_labels"][0].tolist() == [1]


@pytest.mark.parametrize(
    ("name", "text", "match"),
    [
        (
            "image_class_labels.txt",
            "1 1\n2 9\n3 2\n",
            r"image_class_labels.txt:2: class: '9' is not in 1 … 2",
        ),
        ("bounding_boxes.txt", "1 2 3 4\n", r"bounding_boxes.txt:1: bounding_boxes.txt: expected 5 fields"),
        (
            "bounding_boxes.txt",
            "1 2 3 4 x\n2 0 0 1 1\n3 0 0 1 1\n",
            r"bounding_boxes.txt:1: bounding box: not",
        ),
        ("train_test_split.txt", "1 1\n1 0\n", r"train_test_split.txt:2: .*image id 1 is listed twice"),
        ("images.txt", "1 ../a.jpg\n", r"images.txt:1: image path: '../a.jpg' has a '..' part"),
    ],
)
def test_cub_errors_name_the_file_and_line(tmp_path, name, text, match):
    root = cub(tmp_path / "CUB_200_2011")
    (root / name).write_text(text)
    with pytest.raises(DatasetError, match=match):
        CUBDataset(root, "test", class_names=["a", "b"], with_annotations=True)


def test_cub_unknown_split_and_missing_file(tmp_path):
    root = cub(tmp_path / "CUB_200_2011")
    with pytest.raises(ValueError, match=r"split: got 'dev'; CUB_200_2011 has \['test', 'train', 'val'\]"):
        CUBDataset(root, "dev")
    (root / "train_test_split.txt").unlink()
    with pytest.raises(DatasetError, match=r"train_test_split.txt: train_test_split.txt: file not found"):
        CUBDataset(root, "train", class_names=["a", "b"])


def test_imagefolder_reads_class_folders_without_boxes(tmp_path):
    for split, names in {"train": ["cat/1.jpg", "cat/2.png", "dog/3.jpg"], "val": ["dog/4.jpg"]}.items():
        for n in names:
            _jpeg(tmp_path / split / n)
    (tmp_path / "train" / "cat" / "notes.txt").write_text("x")
    train = ImageFolderDataset(tmp_path, "train", with_annotations=True)
    assert train.class_names == ["cat", "dog"] and [r.image_id for r in train.records] == [
        "cat/1",
        "cat/2",
        "dog/3",
    ]
    assert [train[i]["labels"].tolist() for i in range(3)] == [[1, 0], [1, 0], [0, 1]]
    assert train[0]["boxes"].shape == (0, 4)
    assert ImageFolderDataset(tmp_path, "val").records[0].labels.tolist() == [0, 1]
    _jpeg(tmp_path / "val" / "bird" / "5.jpg")
    with pytest.raises(DatasetError, match=r"val/bird: class: 'bird' is not one of the 2 class names"):
        ImageFolderDataset(tmp_path, "val")
    with pytest.raises(
        DatasetError, match=r"test: split: folder not found \(the root holds \['train', 'val'\]\)"
    ):
        ImageFolderDataset(tmp_path, "test", class_names=["cat", "dog"])


def test_csv_labels_single_and_multi_label(tmp_path):
    for n in ("a.jpg", "sub/b.jpg", "c.jpg"):
        _jpeg(tmp_path / n)
    (tmp_path / "train.csv").write_text("path,labels\na.jpg,dog\nsub/b.jpg,cat,dog\n\nc.jpg,cat\n")
    data = CSVLabelsDataset(tmp_path, "train")
    assert data.class_names == ["cat", "dog"]
    assert [r.labels.tolist() for r in data.records] == [[0, 1], [1, 1], [1, 0]]
    dm = WSLDataModule(f"csv:{tmp_path}", image_size=16, batch_size=3, num_workers=0)
    assert dm.num_classes == 2 and next(iter(dm.dataloader("train")))["labels"].shape == (3, 2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a.jpg,dog\na.jpg,cat\n", r"train.csv:2: image path: 'a.jpg' is listed twice"),
        ("a.jpg,dog\nb.jpg\n", r"train.csv:2: labels: expected 'path,label\[,label...\]'"),
        ("a.jpg,bird\n", r"train.csv:1: labels: unknown class 'bird'"),
        ("/etc/a.jpg,dog\n", r"train.csv:1: image path: '/etc/a.jpg' is an absolute path"),
        ("../a.jpg,dog\n", r"train.csv:1: image path: '../a.jpg' has a '..' part"),
        ("missing.jpg,dog\n", r"missing.jpg: image: file not found"),
    ],
)
def test_csv_errors_name_the_file_and_line(tmp_path, text, match):
    _jpeg(tmp_path / "a.jpg")
    (tmp_path / "train.csv").write_text(text)
    with pytest.raises(DatasetError, match=match):
        CSVLabelsDataset(tmp_path, "train", class_names=["cat", "dog"])


def test_a_byte_order_mark_in_a_csv_or_cub_file_is_not_part_of_the_first_field(tmp_path):
    """Issue 35 item 22 for the image-level readers: the header ``path,...`` is still recognised and the
    first CUB id is ``1``, not ``\ufeff1``."""
    for n in ("a.jpg", "c.jpg"):
        _jpeg(tmp_path / "csv" / n)
    (tmp_path / "csv" / "train.csv").write_text("\ufeffpath,labels\na.jpg,dog\nc.jpg,cat\n", encoding="utf-8")
    data = CSVLabelsDataset(tmp_path / "csv", "train")
    assert data.class_names == ["cat", "dog"] and [r.image_id for r in data.records] == ["a.jpg", "c.jpg"]
    root = cub(tmp_path / "CUB_200_2011")
    for name in ("images.txt", "image_class_labels.txt", "train_test_split.txt", "bounding_boxes.txt"):
        (root / name).write_text("\ufeff" + (root / name).read_text(), encoding="utf-8")
    train = CUBDataset(root, "train", with_annotations=True)
    assert [r.image_id for r in train.records] == ["001.Albatross/a_1.jpg", "002.Auklet/b_3.jpg"]
    assert train[0]["boxes"].tolist() == [[2, 3, 12, 15]]


def test_a_cub_image_path_outside_the_root_is_refused_naming_the_line(tmp_path):
    root = cub(tmp_path / "CUB_200_2011")
    (root / "images.txt").write_text("1 001.Albatross/a_1.jpg\n2 ../../etc/b_2.jpg\n3 002.Auklet/b_3.jpg\n")
    with pytest.raises(DatasetError, match=r"images.txt:2: image path: '../../etc/b_2.jpg' has a '..' part"):
        CUBDataset(root, "train")
