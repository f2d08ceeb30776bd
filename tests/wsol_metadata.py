"""The WSOL benchmark's real metadata (clovaai/wsolevaluation) in tests, with stand-in images.

:func:`wsol_metadata_dir` finds the metadata folder: the environment variable ``WSL_WSOL_METADATA``, else
``<repo root>/../shared/wsolevaluation/metadata``; :func:`require_wsol_metadata` skips the calling test
with a message naming that folder when it is absent (a user's clone). :func:`write_standin` copies a
subset of the real metadata lines (ids, paths, labels, sizes, boxes and mask names verbatim) into a
temporary ``metadata/DATASET`` and writes a stand-in image for each line at the size ``image_sizes.txt``
lists; OpenImages lists no sizes (they come from the image files), so its stand-ins take a fixed size and
its mask and ignore PNGs, named as the real lines name them, are written at that size. ILSVRC's
``train/image_ids.txt`` and ``class_labels.txt`` are not in the shared copy (over its size limit), so its
train lines are stand-ins in ImageNet's layout (``train/<wnid>/<wnid>_<k>.JPEG``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
#: ImageNet's first two class folders (labels 0 and 1 of ILSVRC's class_labels.txt).
ILSVRC_WNIDS = ("n01440764", "n01443537")
#: Stand-in size of OpenImages images (its image_sizes.txt is empty upstream).
OPENIMAGES_SIZE = (320, 240)


def wsol_metadata_dir() -> Path:
    """``$WSL_WSOL_METADATA``, else ``<repo root>/../shared/wsolevaluation/metadata``."""
    default = REPO.parent / "shared" / "wsolevaluation" / "metadata"
    return Path(os.environ.get("WSL_WSOL_METADATA", default))


def require_wsol_metadata() -> Path:
    """The metadata folder; skips the test when it is absent, naming the folder."""
    folder = wsol_metadata_dir()
    if not (folder / "CUB" / "val" / "image_ids.txt").is_file():
        pytest.skip(
            f"wsolevaluation's metadata not found at {folder} (set WSL_WSOL_METADATA to its metadata/ folder)"
        )
    return folder


def _rows(path: Path) -> list[list[str]]:
    return (
        [line.split(",") for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    )


def _pick(folder: Path, classes: tuple[int, ...], per_class: int) -> list[str]:
    """The first ``per_class`` ids of each class in ``classes``, in file order."""
    labels = {row[0]: int(row[1]) for row in _rows(folder / "class_labels.txt")}
    taken: dict[int, int] = {}
    ids = []
    for (image_id,) in _rows(folder / "image_ids.txt"):
        label = labels[image_id]
        if label in classes and taken.get(label, 0) < per_class:
            taken[label] = taken.get(label, 0) + 1
            ids.append(image_id)
    return ids


def _image(path: Path, size: tuple[int, int], boxes: list[list[float]], seed: int) -> None:
    """A JPEG of ``size`` (w, h): noise with a brighter rectangle over each box."""
    w, h = size
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 100, (h, w, 3), dtype=np.uint8)
    for x0, y0, x1, y1 in boxes:
        pixels[int(y0) : int(y1) + 1, int(x0) : int(x1) + 1] += 120
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=80)


def _png(path: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> None:
    w, h = size
    mask = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)


def write_standin(
    dataset: str,
    out: Path,
    classes: tuple[int, ...] = (0, 1),
    per_class: dict[str, int] | None = None,
    metadata: Path | None = None,
) -> tuple[Path, Path]:
    """Stand-in images for a subset of the real metadata of ``dataset``.

    Args:
        dataset: ``CUB``, ``ILSVRC`` or ``OpenImages``.
        out: the image root to write (created).
        classes: the class labels kept (their lines only).
        per_class: images per class of each split (default train 2, val 1, test 1).
        metadata: the real metadata folder (default :func:`require_wsol_metadata`).

    Returns:
        ``(image root, metadata folder)``: ``wsol:DATASET:ROOT:metadata=DIR`` reads the subset.
    """
    real = (metadata or require_wsol_metadata()) / dataset
    counts = {"train": 2, "val": 1, "test": 1, **(per_class or {})}
    meta = out / "metadata"
    for split, n in counts.items():
        src, dst = real / split, meta / dataset / split
        dst.mkdir(parents=True, exist_ok=True)
        if dataset == "ILSVRC" and split == "train":  # absent from the shared copy: stand-in lines
            ids = [f"train/{ILSVRC_WNIDS[c]}/{ILSVRC_WNIDS[c]}_{k}.JPEG" for c in classes for k in range(n)]
            label_of = {i: c for c in classes for i in ids if f"/{ILSVRC_WNIDS[c]}/" in i}
        else:
            ids = _pick(src, classes, n)
            label_of = {row[0]: int(row[1]) for row in _rows(src / "class_labels.txt")}
        keep = set(ids)
        sizes = {r[0]: (int(r[1]), int(r[2])) for r in _rows(src / "image_sizes.txt") if r[0] in keep}
        loc = [r for r in _rows(src / "localization.txt") if r[0] in keep]
        (dst / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
        (dst / "class_labels.txt").write_text("".join(f"{i},{label_of[i]}\n" for i in ids))
        (dst / "image_sizes.txt").write_text("".join(f"{i},{w},{h}\n" for i, (w, h) in sizes.items()))
        (dst / "localization.txt").write_text("".join(",".join(r) + "\n" for r in loc))
        for k, image_id in enumerate(ids):
            size = sizes.get(image_id, OPENIMAGES_SIZE if dataset == "OpenImages" else (320, 240))
            boxes = [[float(v) for v in r[1:]] for r in loc if r[0] == image_id and len(r) == 5]
            _image(out / image_id, size, boxes, seed=k)
        w, h = OPENIMAGES_SIZE
        for j, row in enumerate(r for r in loc if len(r) == 3):  # OpenImages: mask, ignore (real names)
            _png(out / row[1], OPENIMAGES_SIZE, (w // 4 + j, h // 4, w // 2 + j, h // 2))
            if row[2]:
                _png(out / row[2], OPENIMAGES_SIZE, (0, 0, w // 8, h // 8))
    return out, meta
