"""Annotation-only items (``with_images=False``): everything but ``image``, and no image decoded."""

from __future__ import annotations

import pytest
import torch
from data_helpers import voc_object, voc_xml

from wsl.data import COCODataset, DatasetError, VOCDataset, collate_wsl


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path):
        raise AssertionError(f"decoded {path}")

    monkeypatch.setattr("wsl.data.base.read_image", fail)


def _same_items(with_images, without) -> None:
    assert len(with_images) == len(without)
    for i in range(len(with_images)):
        a, b = with_images[i], without[i]
        assert "image" in a and "image" not in b
        assert list(b) == [k for k in a if k != "image"]
        for key, value in b.items():
            if isinstance(value, torch.Tensor):
                assert value.dtype == a[key].dtype and torch.equal(value, a[key]), key
            else:
                assert value == a[key], key


@pytest.mark.parametrize("fmt", ["voc", "coco"])
@pytest.mark.parametrize("single_label", [False, True])
def test_items_without_images_equal_items_minus_image(
    synthetic_voc_root, synthetic_coco_root, monkeypatch, fmt, single_label
):
    cls, root = (VOCDataset, synthetic_voc_root) if fmt == "voc" else (COCODataset, synthetic_coco_root)
    kw = {"with_annotations": True, "image_size": 32, "single_label": single_label}
    for split in ("val", "test"):
        with_images = [dict(x) for x in cls(root, split, **kw)]
        ds = cls(root, split, with_images=False, **kw)
        view = cls(root, split, **kw).without_images()
        _no_decoding(monkeypatch)
        _same_items(with_images, ds)
        _same_items(with_images, view)
        monkeypatch.undo()


def test_datamodule_loader_without_images(tiny_datamodule, monkeypatch):
    dm = tiny_datamodule
    expected = list(dm.dataloader("val", batch_size=3))
    image_ds = dm.dataset("val")
    _no_decoding(monkeypatch)
    batches = list(dm.dataloader("val", batch_size=3, with_images=False))
    assert dm.dataset("val", with_images=False).records is image_ds.records  # annotations parsed once
    assert [len(b["image_id"]) for b in batches] == [3, 1]
    for a, b in zip(expected, batches, strict=True):
        assert set(b) == set(a) - {"image"}
        assert torch.equal(a["labels"], b["labels"]) and torch.equal(a["orig_size"], b["orig_size"])
        assert a["image_id"] == b["image_id"]
        for key in ("boxes", "box_labels", "difficult", "masks", "ignore"):
            assert all(torch.equal(x, y) for x, y in zip(a[key], b[key], strict=True)), key
    limited = list(dm.dataloader("train", with_annotations=False, with_images=False, limit=2))
    assert set(limited[0]) == {"labels", "image_id", "orig_size"}


def test_collate_without_images():
    items = [
        {"labels": torch.tensor([1.0, 0.0]), "image_id": str(i), "orig_size": (5, 6 + i)} for i in range(2)
    ]
    b = collate_wsl(items)
    assert set(b) == {"labels", "image_id", "orig_size"} and b["labels"].shape == (2, 2)
    assert b["orig_size"].tolist() == [[5, 6], [5, 7]]


def test_size_comes_from_the_annotation_else_the_header(make_voc, monkeypatch):
    """Without images the declared size is the size (the file is not opened: issue 35 item 20, as
    wsolevaluation); an image whose XML declares none has its header read. A declared size that differs
    from the image is an error where the image is decoded."""
    xml_no_size = "<annotation>" + voc_object("dog", (1, 1, 5, 5)) + "</annotation>"
    root = make_voc({"a": xml_no_size, "b": voc_xml([voc_object("cat", (1, 1, 5, 5))], h=30, w=40)})
    _no_decoding(monkeypatch)
    ds = VOCDataset(root, "train", with_annotations=True, with_images=False)
    assert [ds[i]["orig_size"] for i in range(2)] == [(30, 40), (30, 40)]
    wrong = make_voc({"c": voc_xml([voc_object("cat", (1, 1, 5, 5))], h=31, w=40)})
    assert VOCDataset(wrong, "train", with_images=False)[0]["orig_size"] == (31, 40)
    monkeypatch.undo()
    ds = VOCDataset(wrong, "train")
    with pytest.raises(DatasetError, match=r"c\.jpg.*image is 40x30 but the annotation says 40x31 \(WxH\)"):
        ds[0]
