"""Photos for the ``predict`` memory benchmark (docs/benchmarks.md, "predict on large photos").

Writes ``N`` 4000 × 3000 (12-megapixel) JPEGs of smooth gradients with noise, quality 90, and one large
PNG (``--png-side``² pixels, mostly flat so that it is small on disk, as in issue 35 item 11)::

    python bench/predict_photos.py OUT --photos 16 --png-side 7072
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def photo(rng: np.random.Generator, height: int = 3000, width: int = 4000) -> np.ndarray:
    """A ``uint8 (H, W, 3)`` picture: per-channel linear gradients plus Gaussian noise (σ 12)."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    a, b, c = rng.uniform(40, 200, (3, 1, 1, 3)).astype(np.float32)
    image = a + (b - a) * y + (c - a) * x * 0.5
    image += rng.normal(0, 12, (height, width, 1)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--png-side", type=int, default=0, help="side of the large PNG (0: none)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    (args.out / "photos").mkdir(parents=True, exist_ok=True)
    for k in range(args.photos):
        Image.fromarray(photo(rng)).save(args.out / "photos" / f"photo{k:02d}.jpg", quality=90)
    if args.png_side:
        (args.out / "png").mkdir(exist_ok=True)
        big = np.full((args.png_side, args.png_side, 3), 200, np.uint8)
        big[: args.png_side // 2, : args.png_side // 2] = (40, 90, 160)
        Image.fromarray(big).save(args.out / "png" / "large.png", optimize=True)


if __name__ == "__main__":
    main()
