"""Stand-in photos for the tools that read a folder of images (``predict``, ``explain --images``)."""

from __future__ import annotations

from pathlib import Path

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
