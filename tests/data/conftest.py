"""Factories for hand-written tiny VOC and COCO datasets (the tests write the XML/JSON themselves)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from data_helpers import write_jpeg
from PIL import Image


@pytest.fixture
def make_voc(tmp_path: Path) -> Callable[..., Path]:
    """``make_voc({id: xml_text}, split="train", size=(H, W), seg={id: uint8 array}) -> root``."""

    def make(
        xmls: dict[str, str],
        split: str = "train",
        size: tuple[int, int] = (30, 40),
        seg: dict[str, np.ndarray] | None = None,
        classes: list[str] | None = None,
    ) -> Path:
        root = tmp_path / "voc"
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        for k, (image_id, xml) in enumerate(xmls.items()):
            (root / "Annotations" / f"{image_id}.xml").write_text(xml)
            write_jpeg(root / "JPEGImages" / f"{image_id}.jpg", *size, seed=k)
        for image_id, arr in (seg or {}).items():
            (root / "SegmentationObject").mkdir(exist_ok=True)
            im = Image.fromarray(arr.astype(np.uint8), mode="P")
            im.putpalette([0, 0, 0] * 256)
            im.save(root / "SegmentationObject" / f"{image_id}.png")
        (root / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in xmls))
        if classes is not None:
            (root / "classes.txt").write_text("\n".join(classes) + "\n")
        return root

    return make


@pytest.fixture
def make_coco(tmp_path: Path) -> Callable[..., Path]:
    """``make_coco(data_dict_or_text, split="val", images={file_name: (H, W)}) -> root``."""

    def make(data: dict | str, split: str = "val", images: dict[str, tuple[int, int]] | None = None) -> Path:
        root = tmp_path / "coco"
        (root / "annotations").mkdir(parents=True, exist_ok=True)
        text = data if isinstance(data, str) else json.dumps(data)
        (root / "annotations" / f"instances_{split}.json").write_text(text)
        if images is None and isinstance(data, dict):
            images = {im["file_name"]: (im["height"], im["width"]) for im in data.get("images", [])}
        for k, (name, (h, w)) in enumerate((images or {}).items()):
            write_jpeg(root / split / name, h, w, seed=k)
        return root

    return make
