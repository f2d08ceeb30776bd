"""Helpers for hand-written tiny VOC/COCO files (imported by tests/data/conftest.py and the tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def write_jpeg(path: Path, h: int, w: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=90)


def voc_object(name: str, box1: tuple[Any, Any, Any, Any], difficult: int = 0, truncated: int = 0) -> str:
    """An ``<object>`` element; ``box1`` is VOC's 1-based inclusive (xmin, ymin, xmax, ymax)."""
    x0, y0, x1, y1 = box1
    return (
        f"<object><name>{name}</name><pose>Left</pose><truncated>{truncated}</truncated>"
        f"<difficult>{difficult}</difficult><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
        f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
    )


def voc_xml(objects: list[str], h: int = 30, w: int = 40) -> str:
    return (
        f"<annotation><filename>x.jpg</filename><size><width>{w}</width><height>{h}</height>"
        f"<depth>3</depth></size>{''.join(objects)}</annotation>"
    )
