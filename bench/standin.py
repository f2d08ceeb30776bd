"""Stand-in JPEGs at the real image sizes of the WSOL benchmark (CUB, ImageNet, OpenImages), for benchmarks.

The sizes come from clovaai/wsolevaluation's metadata (``$WSL_WSOL_METADATA``, else
``<repo root>/../shared/wsolevaluation/metadata``):

- CUB: ``CUB/train/image_sizes.txt`` (5,994 real train sizes).
- ImageNet: ``ILSVRC/val/image_sizes.txt`` (10,000 real sizes; ILSVRC's train sizes are empty upstream,
  and its val images come from the same photo pool).
- OpenImages: ``image_sizes.txt`` is empty upstream, so the sizes of the four real OpenImages mask sets in
  ``test_data/test_masks/val`` (a mask has its image's size: 459 x 632 and 1600 x ~1066).

:func:`real_sizes` takes ``n`` sizes spread evenly over the file (every ``len / n``-th line), so that a
few hundred images follow the real size distribution. The pixels are not flat colour, which JPEG would
compress to almost nothing and decode unrealistically fast: a smooth random field (bilinear upsampling of
a coarse random grid), a few filled ellipses and rectangles, and per-pixel noise (±24 levels), saved at
quality 90 with 4:2:0 subsampling; :func:`write_standins` reports the bytes per pixel, to compare the
file sizes with real photos (ImageNet's JPEGs are about 0.8 bytes per pixel).
"""

from __future__ import annotations

import concurrent.futures
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["DATASETS", "metadata_dir", "real_sizes", "standin_pixels", "write_standins", "write_wsol_split"]

REPO = Path(__file__).resolve().parents[1]

#: dataset → (metadata file of real sizes, relative to the metadata folder).
DATASETS = {
    "CUB": "CUB/train/image_sizes.txt",
    "ILSVRC": "ILSVRC/val/image_sizes.txt",
    "OpenImages": "../test_data/test_masks/val",
}


#: Amplitude of the per-pixel noise (levels): sets the JPEG's bytes per pixel near a real photo's.
NOISE = 24


def metadata_dir() -> Path:
    """``$WSL_WSOL_METADATA``, else ``<repo root>/../shared/wsolevaluation/metadata``."""
    default = REPO.parent / "shared" / "wsolevaluation" / "metadata"
    return Path(os.environ.get("WSL_WSOL_METADATA", default))


def _all_sizes(dataset: str, metadata: Path) -> list[tuple[int, int]]:
    if dataset not in DATASETS:
        raise ValueError(f"dataset: got {dataset!r}; expected one of {sorted(DATASETS)}")
    source = metadata / DATASETS[dataset]
    if dataset == "OpenImages":
        masks = sorted(p for p in source.glob("*/*.png") if not p.name.endswith("_ignore.png"))
        sizes = []
        for p in masks:
            with Image.open(p) as im:
                sizes.append(im.size)
    else:
        lines = source.read_text().splitlines() if source.is_file() else []
        sizes = [(int(w), int(h)) for _, w, h in (line.rsplit(",", 2) for line in lines if line.strip())]
    if not sizes:
        raise ValueError(f"no real image sizes for {dataset} under {source} (set WSL_WSOL_METADATA)")
    return sizes


def real_sizes(dataset: str, n: int, metadata: Path | None = None) -> list[tuple[int, int]]:
    """``n`` real ``(w, h)`` sizes of ``dataset``, every ``len / n``-th line of the real list (cycled when
    the list is shorter than ``n``)."""
    sizes = _all_sizes(dataset, metadata or metadata_dir())
    step = len(sizes) / n
    return [sizes[int(i * step) % len(sizes)] for i in range(n)]


def standin_pixels(width: int, height: int, seed: int) -> np.ndarray:
    """RGB ``uint8 (height, width, 3)``: smooth random field + shapes + mild noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(40, 215, (max(2, height // 48), max(2, width // 48), 3)).astype(np.uint8)
    base = Image.fromarray(coarse).resize((width, height), Image.BILINEAR)
    draw = ImageDraw.Draw(base)
    for _ in range(int(rng.integers(3, 8))):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1 + 1, y1 + 1), fill=colour)
    # Per-pixel noise from one random 128 x 128 tile (drawing it per pixel dominated the writing time).
    tile = rng.integers(-NOISE, NOISE + 1, (128, 128, 3), dtype=np.int16)
    noise = np.tile(tile, (height // 128 + 1, width // 128 + 1, 1))[:height, :width]
    return np.clip(np.asarray(base, dtype=np.int16) + noise, 0, 255).astype(np.uint8)


def _write_one(job: tuple[Path, int, int, int, int]) -> int:
    path, w, h, seed, quality = job
    Image.fromarray(standin_pixels(w, h, seed)).save(path, quality=quality, subsampling=2)
    return path.stat().st_size


def write_standins(
    out: Path, dataset: str, n: int, metadata: Path | None = None, quality: int = 90, workers: int = 1
) -> tuple[list[Path], float]:
    """Write ``n`` stand-in JPEGs of ``dataset``'s real sizes under ``out`` (``workers`` processes).

    Returns:
        ``(paths, bytes per pixel)`` of the files written.
    """
    out.mkdir(parents=True, exist_ok=True)
    sizes = real_sizes(dataset, n, metadata)
    jobs = [(out / f"{dataset}_{k:06d}.jpg", w, h, k, quality) for k, (w, h) in enumerate(sizes)]
    if workers > 1:
        with concurrent.futures.ProcessPoolExecutor(workers) as pool:
            nbytes = sum(pool.map(_write_one, jobs, chunksize=8))
    else:
        nbytes = sum(map(_write_one, jobs))
    return [job[0] for job in jobs], nbytes / sum(w * h for w, h in sizes)


def write_wsol_split(
    root: Path, dataset: str, n: int, num_classes: int, metadata: Path | None = None, workers: int = 1
) -> str:
    """Stand-ins at ``dataset``'s real sizes in wsolevaluation's box layout: ``root/images/*.jpg`` and
    ``root/metadata/CUB/{train,val,test}`` (the same ``n`` images in every split, ``k mod num_classes`` as
    label, one box per image; read as CUB whatever the sizes, since OpenImages' layout needs masks).

    Returns:
        The data spec ``wsol:CUB:ROOT:metadata=ROOT/metadata``.
    """
    paths, _ = write_standins(root / "images", dataset, n, metadata, workers=workers)
    ids = [f"images/{p.name}" for p in paths]
    sizes = []
    for p in paths:
        with Image.open(p) as im:
            sizes.append(im.size)
    for split in ("train", "val", "test"):
        folder = root / "metadata" / "CUB" / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "image_ids.txt").write_text("".join(f"{i}\n" for i in ids))
        (folder / "class_labels.txt").write_text(
            "".join(f"{i},{k % num_classes}\n" for k, i in enumerate(ids))
        )
        (folder / "image_sizes.txt").write_text(
            "".join(f"{i},{w},{h}\n" for i, (w, h) in zip(ids, sizes, strict=True))
        )
        (folder / "localization.txt").write_text(
            "".join(
                f"{i},{w // 4},{h // 4},{w // 2},{h // 2}\n" for i, (w, h) in zip(ids, sizes, strict=True)
            )
        )
    return f"wsol:CUB:{root}:metadata={root / 'metadata'}"
