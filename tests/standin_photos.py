"""Stand-in photos for the tools that read a folder of images (``predict``, ``explain --images``), and the
network inputs a data module gives each image, to compute a job's expected maps by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def write_photos(folder: Path) -> list[Path]:
    """Two noise PNGs of 48x40 and 70x52 (seeded) in a new ``folder``; their paths."""
    folder.mkdir()
    paths = []
    for k, (w, h) in enumerate([(48, 40), (70, 52)]):
        pixels = np.random.default_rng(k).integers(0, 256, (h, w, 3), dtype=np.uint8)
        paths.append(folder / f"p{k}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def inputs_by_id(datamodule: Any, split: str = "test") -> dict[str, tuple[Any, tuple[int, int]]]:
    """``image_id`` → ``(network input (3, S, S), original (H, W))`` of every image of ``split``."""
    images = {}
    for batch in datamodule.dataloader(split):
        rows = zip(batch["image_id"], batch["image"], batch["orig_size"], strict=True)
        images.update({str(i): (x, (int(s[0]), int(s[1]))) for i, x, s in rows})
    return images
