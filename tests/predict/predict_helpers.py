"""Shared by the predict tests: a tiny trained COCO run and a folder of mixed image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from wsl.cli import train

#: Files of :func:`mixed_folder` that are images, with the (H, W) they have as shown.
READABLE = {
    "good.jpg": (64, 64),
    "good.png": (30, 50),
    "rotated.jpg": (48, 32),  # stored 32 x 48 (H x W) with EXIF orientation 6: shown rotated
    "gray.png": (40, 36),
    "cmyk.jpg": (36, 44),
    "rgba.png": (20, 24),
    "photo.webp": (28, 28),
}
#: Files that are not readable images.
UNREADABLE = ("corrupt.jpg", "notes.txt")


def train_tiny_coco(coco_root: Path, run_dir: Path) -> dict:
    """A seconds-long ``tools/train.py`` run on the synthetic COCO set (64 px, GAP head)."""
    return train([
        "--dataset", f"coco:{coco_root}", "--data.image_size", "64", "--data.batch_size", "4",
        "--data.num_workers", "0", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
        "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
        "--trainer.accelerator", "cpu", "--trainer.precision", "32-true",
        "--run_dir", str(run_dir), "--pool", "gap",
    ])  # fmt: skip


def _picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
    pixels[height // 4 : height // 2, width // 4 : width // 2] = (230, 40, 40)
    return pixels


def mixed_folder(folder: Path, source_jpg: Path) -> Path:
    """Write the files of :data:`READABLE` and :data:`UNREADABLE` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.jpg").write_bytes(source_jpg.read_bytes())
    Image.fromarray(_picture(30, 50)).save(folder / "good.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to show
    Image.fromarray(_picture(32, 48, 1)).save(folder / "rotated.jpg", exif=exif)
    Image.fromarray(_picture(40, 36, 2)).convert("L").save(folder / "gray.png")
    Image.fromarray(_picture(36, 44, 3)).convert("CMYK").save(folder / "cmyk.jpg")
    rgba = np.dstack([_picture(20, 24, 4), np.full((20, 24), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(_picture(28, 28, 5)).save(folder / "photo.webp")
    (folder / "corrupt.jpg").write_bytes(source_jpg.read_bytes()[:200])
    (folder / "notes.txt").write_text("not a picture\n")
    return folder
