"""The format registry (kinds, errors, adding a format) and the VOC/COCO writers beside their readers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from wsl.data import (
    FORMATS,
    COCODataset,
    COCOWriter,
    DatasetFormat,
    VOCDataset,
    VOCWriter,
    WSLDataModule,
    data_kinds,
    format_names,
    get_format,
    make_synthetic,
    parse_data_spec,
    register_format,
)
from wsl.data import voc as voc_module

SMALL = {"num_train": 3, "num_val": 2, "num_test": 1, "image_size": 48}


def test_builtin_formats_are_registered():
    assert format_names() == ["coco", "csv", "cub", "ilsvrc", "imagefolder", "voc", "wsol"]
    assert format_names(writable=True) == [
        "coco",
        "voc",
        "wsol",
    ]
    assert data_kinds() == ["synthetic", "coco", "csv", "cub", "ilsvrc", "imagefolder", "voc", "wsol"]
    assert get_format("voc").dataset is VOCDataset and get_format("voc").writer is VOCWriter
    assert get_format("coco").dataset is COCODataset and get_format("coco").writer is COCOWriter


def test_unknown_format_lists_the_formats():
    with pytest.raises(ValueError, match=r"format: got 'vocc' \(did you mean 'voc'\?\); expected one of "):
        get_format("vocc")
    with pytest.raises(
        ValueError,
        match=r"fmt: got 'yolo'; expected one of \['coco', 'voc', 'wsol'\]",
    ):
        make_synthetic("/nonexistent", "yolo")
    with pytest.raises(
        ValueError,
        match=r"data: got 'yolo:/x'; expected one of \['synthetic', 'coco', 'csv', 'cub', 'ilsvrc', "
        r"'imagefolder', 'voc', 'wsol'\]",
    ):
        WSLDataModule("yolo:/x")


def test_register_format_rejects_bad_names():
    entry = FORMATS["voc"]
    with pytest.raises(ValueError, match="format name: got 'synthetic'"):
        register_format(DatasetFormat("synthetic", VOCDataset, entry.read_class_names))
    with pytest.raises(
        ValueError, match=r"format name 'voc' is already registered to DatasetFormat\(name='voc'"
    ):
        register_format(DatasetFormat("voc", COCODataset, entry.read_class_names))
    assert register_format(entry) is entry  # re-registering the same entry is harmless


def test_a_new_format_is_one_registry_line(tmp_path, monkeypatch):
    monkeypatch.setitem(
        FORMATS, "voc2", DatasetFormat("voc2", VOCDataset, voc_module.default_class_names, VOCWriter)
    )
    assert "voc2" in data_kinds() and "voc2" in format_names(writable=True)
    assert parse_data_spec("voc2:/data") == ("voc2", "/data", "voc2")
    assert parse_data_spec("synthetic:easy:voc2") == ("synthetic", "easy", "voc2")
    root = make_synthetic(tmp_path / "v2", "voc2", seed=1, progress=False, **SMALL)
    dm = WSLDataModule(f"voc2:{root}", image_size=32, batch_size=2, num_workers=0)
    assert dm.class_names[:2] == ["circle", "square"]
    assert next(iter(dm.val_dataloader()))["image"].shape == (2, 3, 32, 32)
    assert json.loads((root / "synthetic.json").read_text())["format"] == "voc2"
    from tools.make_synthetic import build_parser

    assert build_parser().parse_args(["--format", "voc2", "--out", "x"]).format == "voc2"


def test_a_read_only_format_cannot_be_written(tmp_path, monkeypatch):
    monkeypatch.setitem(FORMATS, "ro", DatasetFormat("ro", VOCDataset, voc_module.default_class_names))
    assert parse_data_spec("ro:/data") == ("ro", "/data", "ro")
    assert "ro" not in format_names(writable=True)
    with pytest.raises(ValueError, match="fmt: got 'ro', a format without a writer; expected one of"):
        make_synthetic(tmp_path / "ro", "ro", **SMALL)
    with pytest.raises(ValueError, match="got 'ro', a format without a writer"):
        parse_data_spec("synthetic:easy:ro")


def _sample(h: int = 20, w: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    masks = np.zeros((2, h, w), bool)
    masks[0, 2:6, 3:10] = True
    masks[1, 10:18, 20:29] = True
    boxes = np.array([[3, 2, 9, 5], [20, 10, 28, 17]], np.int64)
    return image, boxes, np.array([1, 0], np.int64), masks


@pytest.mark.parametrize("writer_cls", [VOCWriter, COCOWriter])
def test_writer_round_trips_through_its_reader(tmp_path, writer_cls):
    image, boxes, labels, masks = _sample()
    writer = writer_cls(tmp_path, ["cat", "dog"], category_ids=[10, 4])
    writer.prepare(["val"])
    entries = [writer.write_image("val", f"im{k}", image, boxes, labels, masks) for k in range(2)]
    writer.finish({"val": entries})
    fmt = "voc" if writer_cls is VOCWriter else "coco"
    ds = get_format(fmt).dataset(tmp_path, "val", with_annotations=True, image_size=16)
    assert ds.class_names == (["cat", "dog"] if fmt == "voc" else ["dog", "cat"])  # COCO: sorted by id
    item = ds[1]
    assert item["image_id"] == "im1" and item["orig_size"] == (20, 30)
    assert item["boxes"].tolist() == boxes.tolist()
    assert [ds.class_names[i] for i in item["box_labels"].tolist()] == ["dog", "cat"]
    assert torch.equal(item["masks"], torch.from_numpy(masks))


def test_writer_info_and_category_ids(tmp_path):
    image, boxes, labels, masks = _sample()
    writer = COCOWriter(tmp_path, ["a", "b"], info={"description": "d", "supercategory": "s", "other": "x"})
    writer.prepare(["train"])
    writer.finish({"train": [writer.write_image("train", "x", image, boxes, labels, masks)]})
    data = json.loads((tmp_path / "annotations" / "instances_train.json").read_text())
    assert data["info"] == {"description": "d"}
    assert data["categories"] == [
        {"id": 1, "name": "a", "supercategory": "s"},
        {"id": 2, "name": "b", "supercategory": "s"},
    ]
    assert data["images"] == [{"id": 1, "file_name": "x.jpg", "width": 30, "height": 20}]
    with pytest.raises(ValueError, match="category_ids: got 1 ids for 2 classes"):
        VOCWriter(tmp_path, ["a", "b"], category_ids=[1])
