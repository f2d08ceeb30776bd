"""The synthetic shapes dataset: rendering, and the on-disk cache of it written in a registered format.

Every image has 1-3 filled shapes of the classes (circle, square, triangle, cross, ring, star; the
``hard`` preset adds hexagon and heart) on a textured, cluttered background (smooth noise, a colour
gradient, thin lines) with distractors that belong to no class (elongated ellipses, thick segments,
open arcs, zig-zags). Colours are random for objects and distractors alike, so only the silhouette tells
the class; each colour keeps a minimum RGB distance to the background under it. Objects are fully
inside the image, overlap each other by at most ``max_overlap`` of the smaller one, and distractors
touch neither objects nor each other. Boxes are the exact bounding boxes of the visible masks.

Each image is drawn from its own ``numpy.random.Generator`` seeded by ``(seed, split, index)``, and
files are written with fixed encoder settings, so a seed gives byte-identical files whatever the
number of worker processes. The files themselves are written by the format's writer
(:class:`~wsl.data.voc.VOCWriter`, :class:`~wsl.data.coco.COCOWriter`, see :mod:`wsl.data.formats`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .coco import mask_to_coco_segmentation  # re-exported: its home was this module
from .formats import DatasetWriter, get_format
from .shapes import DISTRACTORS, SHAPE_CLASSES, draw_distractor, draw_shape

__all__ = [
    "SyntheticParams",
    "SyntheticSample",
    "PRESETS",
    "synthetic_params",
    "render_sample",
    "make_synthetic",
    "ensure_synthetic",
    "synthetic_cache_name",
    "default_cache_dir",
    "mask_to_coco_segmentation",
]

GENERATOR_VERSION = 1  # bump when the rendering changes, so caches are regenerated
SPLITS = ("train", "val", "test")
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
# COCO category ids are 1, 3, 5, ... so that readers must map ids to contiguous indices.
COCO_CATEGORY_ID_STEP = 2


@dataclass(frozen=True)
class SyntheticParams:
    """Parameters of a synthetic dataset (sizes relative to the image side)."""

    classes: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "star")
    image_size: int = 128
    num_train: int = 3000
    num_val: int = 500
    num_test: int = 500
    min_objects: int = 1
    max_objects: int = 3
    min_distractors: int = 1
    max_distractors: int = 4
    min_object_size: float = 0.20
    max_object_size: float = 0.50
    max_overlap: float = 0.2
    min_contrast: float = 100.0
    jpeg_quality: int = 90
    distractors: tuple[str, ...] = field(default=DISTRACTORS)

    def validate(self) -> SyntheticParams:
        """Raise ``ValueError`` naming the bad field; return self."""
        unknown = [c for c in self.classes if c not in SHAPE_CLASSES]
        if unknown or not self.classes:
            raise ValueError(f"classes: got {list(self.classes)}; choose from {list(SHAPE_CLASSES)}")
        bad_d = [d for d in self.distractors if d not in DISTRACTORS]
        if bad_d:
            raise ValueError(f"distractors: got {bad_d}; choose from {list(DISTRACTORS)}")
        if self.image_size < 32:
            raise ValueError(f"image_size: got {self.image_size}; expected >= 32")
        if min(self.num_train, self.num_val, self.num_test) < 0:
            raise ValueError("num_train/num_val/num_test: expected >= 0")
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"min_objects/max_objects: got {self.min_objects}/{self.max_objects}; need 1 <= min <= max"
            )
        if not 0 <= self.min_distractors <= self.max_distractors:
            raise ValueError("min_distractors/max_distractors: need 0 <= min <= max")
        if not 0 < self.min_object_size <= self.max_object_size <= 0.9:
            raise ValueError("min_object_size/max_object_size: need 0 < min <= max <= 0.9")
        return self


PRESETS: dict[str, SyntheticParams] = {
    # Measured learnable from image labels in minutes by a small timm CNN (mAP ~0.7 after 16 epochs).
    "easy": SyntheticParams(),
    # For GPU runs; 8 classes, more clutter and smaller objects were NOT learnable in minutes on CPU.
    "hard": SyntheticParams(
        classes=("circle", "square", "triangle", "cross", "ring", "star", "hexagon", "heart"),
        image_size=224,
        num_train=10000,
        num_val=1000,
        num_test=1000,
        min_distractors=3,
        max_distractors=8,
        min_object_size=0.15,
    ),
}


def synthetic_params(preset: str = "easy", **overrides: Any) -> SyntheticParams:
    """The parameters of ``preset`` with ``overrides`` (field names of :class:`SyntheticParams`)."""
    if preset not in PRESETS:
        raise ValueError(f"preset: got {preset!r}; expected one of {list(PRESETS)}")
    fields = set(SyntheticParams.__dataclass_fields__)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"synthetic overrides: unknown {unknown}; accepted: {sorted(fields)}")
    for key in ("classes", "distractors"):
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    return replace(PRESETS[preset], **overrides).validate()


@dataclass
class SyntheticSample:
    """In-memory truth of one synthetic image.

    Attributes:
        image: uint8 ``(H, W, 3)`` RGB (before JPEG compression).
        masks: bool ``(K, H, W)`` visible instance masks (disjoint).
        boxes: int64 ``(K, 4)`` 0-based inclusive, the masks' exact bounding boxes.
        labels: int64 ``(K,)`` class indices into ``params.classes``.
    """

    image: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


@functools.lru_cache(maxsize=8)
def _unit_grid(s: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s - 0.5
    return xx, yy


def _background(rng: np.random.Generator, s: int) -> np.ndarray:
    base = rng.uniform(40, 215, 3).astype(np.float32)
    low = cv2.resize(rng.normal(0, 1, (5, 5, 3)).astype(np.float32), (s, s), interpolation=cv2.INTER_CUBIC)
    mid = cv2.resize(
        rng.normal(0, 1, (s // 8, s // 8, 3)).astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR
    )
    theta = rng.uniform(0, 2 * math.pi)
    xx, yy = _unit_grid(s)
    ramp = cv2.addWeighted(xx, math.cos(theta), yy, math.sin(theta), 0.0)[..., None]
    img = low * np.float32(rng.uniform(12, 28))
    img += mid * np.float32(rng.uniform(4, 10))
    img += ramp * rng.uniform(-60, 60, 3).astype(np.float32)
    img += base
    for _ in range(int(rng.integers(3, 9))):
        p0 = tuple(int(v) for v in rng.integers(0, s, 2))
        p1 = tuple(int(v) for v in rng.integers(0, s, 2))
        color = tuple(float(v) for v in base + rng.normal(0, 35, 3))
        cv2.line(img, p0, p1, color, 1, cv2.LINE_AA)
    return img


def _pick_color(rng: np.random.Generator, under: np.ndarray, min_contrast: float) -> np.ndarray:
    best, best_d = None, -1.0
    for _ in range(30):
        c = rng.uniform(0, 255, 3)
        d = float(np.linalg.norm(c - under))
        if d >= min_contrast:
            return c
        if d > best_d:
            best, best_d = c, d
    # The first draw sets best: d >= 0 > -1.0, as c and ``under`` are finite colours.
    assert best is not None
    return best


def _box_of(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(mask.any(1))
    xs = np.flatnonzero(mask.any(0))
    return int(xs[0]), int(ys[0]), int(xs[-1]), int(ys[-1])


def render_sample(params: SyntheticParams, seed: int, split: str, index: int) -> SyntheticSample:
    """Render image ``index`` of ``split`` deterministically from ``(seed, split, index)``.

    Returns:
        The :class:`SyntheticSample` (image, visible masks, tight boxes, labels).
    """
    rng = np.random.default_rng([seed, _SPLIT_CODE[split], index])
    s = params.image_size
    img = _background(rng, s)

    # Place objects first (masks only), rejecting placements that overlap an earlier object too much.
    num_objects = int(rng.integers(params.min_objects, params.max_objects + 1))
    full_masks: list[np.ndarray] = []
    labels: list[int] = []
    for _ in range(num_objects):
        label = int(rng.integers(len(params.classes)))
        for _attempt in range(40):
            r = rng.uniform(params.min_object_size, params.max_object_size) * s / 2
            cx, cy = rng.uniform(r, s - r), rng.uniform(r, s - r)
            m = draw_shape(
                np.zeros((s, s), np.uint8), params.classes[label], cx, cy, r, rng.uniform(0, 2 * math.pi)
            ).astype(bool)
            area = m.sum()
            if area == 0:
                continue
            if all((m & e).sum() <= params.max_overlap * min(area, e.sum()) for e in full_masks):
                full_masks.append(m)
                labels.append(label)
                break
    taken = np.zeros((s, s), bool)
    for m in full_masks:
        taken |= m
    taken = cv2.dilate(taken.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)

    # Distractors: touching neither an object nor another distractor.
    num_distractors = int(rng.integers(params.min_distractors, params.max_distractors + 1))
    for _ in range(num_distractors):
        name = params.distractors[int(rng.integers(len(params.distractors)))]
        for _attempt in range(20):
            size = rng.uniform(params.min_object_size, params.max_object_size) * s
            d = draw_distractor(np.zeros((s, s), np.uint8), name, rng, size).astype(bool)
            if d.any() and not (d & taken).any():
                under = img[d].mean(0)
                img[d] = _pick_color(rng, under, params.min_contrast * 0.8)
                taken |= cv2.dilate(d.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
                break

    # Objects, in order: a later object occludes an earlier one, masks are the visible parts.
    for m in full_masks:
        ring = cv2.dilate(m.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        under = img[ring].mean(0)
        img[m] = _pick_color(rng, under, params.min_contrast)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(4.0)
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)

    visible = []
    later = np.zeros((s, s), bool)
    for m in reversed(full_masks):
        visible.append(m & ~later)
        later |= m
    visible.reverse()
    masks = np.stack(visible) if visible else np.zeros((0, s, s), bool)
    boxes = np.asarray([_box_of(m) for m in masks], np.int64).reshape(-1, 4)
    return SyntheticSample(image, masks, boxes, np.asarray(labels, np.int64))


# ----------------------------------------------------------------------------------------------- writing


def _image_id(split: str, index: int) -> str:
    return f"{split}_{index:05d}"


def _work_one(job: tuple[SyntheticParams, int, str, int, DatasetWriter]) -> Any:
    """Render one image and write its files; return what the split-level files need."""
    params, seed, split, index, writer = job
    sample = render_sample(params, seed, split, index)
    return writer.write_image(
        split, _image_id(split, index), sample.image, sample.boxes, sample.labels, sample.masks
    )


def _progress(iterable: Any, total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", leave=False)


def make_synthetic(
    out_dir: str | Path,
    fmt: str = "voc",
    preset: str = "easy",
    seed: int = 0,
    num_workers: int | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Generate the synthetic dataset as real files in a registered layout (``voc``, ``coco``, ...).

    The files are written by the format's writer (:mod:`wsl.data.formats`). VOC
    (:class:`~wsl.data.voc.VOCWriter`): ``JPEGImages/``, ``Annotations/`` (1-based inclusive
    ``bndbox``), ``SegmentationObject/`` and ``SegmentationClass/`` (palette PNGs, value ``k+1`` =
    ``k``-th object / class ``k``), ``ImageSets/Main|Segmentation/{train,val,test,trainval}.txt`` and
    ``classes.txt``. COCO (:class:`~wsl.data.coco.COCOWriter`): ``SPLIT/*.jpg`` and
    ``annotations/instances_SPLIT.json`` with category ids 1, 3, 5, ..., ``bbox``
    ``[x0, y0, x1-x0+1, y1-y0+1]``, polygon or RLE segmentations (see
    :func:`~wsl.data.coco.mask_to_coco_segmentation`). All also get ``synthetic.json`` with the
    parameters.

    Args:
        out_dir: output folder (created; existing files with the same names are overwritten).
        fmt: a registered format with a writer (:func:`~wsl.data.formats.format_names`).
        preset: ``"easy"`` (6 classes, 128 px, 3000/500/500) or ``"hard"`` (8 classes, 224 px).
        seed: base seed; the files are byte-identical for a seed.
        num_workers: worker processes; default: the CPU count (at most 8) for large sets, else 0.
        progress: show a tqdm progress bar.
        **overrides: fields of :class:`SyntheticParams` (e.g. ``num_train=12, image_size=64``).

    Returns:
        ``Path(out_dir)``.

    Example:
        >>> make_synthetic("/tmp/shapes", "coco", num_train=10, num_val=2, num_test=2)  # doctest: +SKIP
    """
    writer_cls = get_format(fmt, writable=True, what="fmt").writer
    assert writer_cls is not None  # get_format(writable=True) returns formats with a writer
    params = synthetic_params(preset, **overrides)
    root = Path(out_dir)
    counts = {"train": params.num_train, "val": params.num_val, "test": params.num_test}
    splits = [sp for sp in SPLITS if counts[sp] > 0]
    writer = writer_cls(
        root,
        params.classes,
        info={
            "folder": "synthetic",
            "database": f"wsl synthetic v{GENERATOR_VERSION} seed {seed}",
            "description": f"wsl synthetic {preset} seed {seed}",
            "supercategory": "shape",
        },
        category_ids=[k * COCO_CATEGORY_ID_STEP + 1 for k in range(len(params.classes))],
        jpeg_quality=params.jpeg_quality,
    )
    writer.prepare(splits)
    total = sum(counts.values())
    if num_workers is None:
        num_workers = min(os.cpu_count() or 1, 8) if total >= 400 else 0
    jobs = [(params, seed, sp, i, writer) for sp in splits for i in range(counts[sp])]
    if num_workers > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        with ctx.Pool(num_workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
            results = list(_progress(pool.imap(_work_one, jobs, chunksize=16), total, "synthetic", progress))
    else:
        results = [_work_one(j) for j in _progress(jobs, total, "synthetic", progress)]

    by_split: dict[str, list[Any]] = {sp: [] for sp in splits}
    for job, res in zip(jobs, results, strict=True):
        by_split[job[2]].append(res)
    writer.finish(by_split)
    meta = {
        "generator_version": GENERATOR_VERSION,
        "preset": preset,
        "seed": seed,
        "format": fmt,
        "params": asdict(params),
    }
    (root / "synthetic.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return root


def default_cache_dir() -> Path:
    """``$WSL_CACHE`` or ``~/.cache/wsl``."""
    return Path(os.environ.get("WSL_CACHE") or Path.home() / ".cache" / "wsl")


def synthetic_cache_name(preset: str = "easy", seed: int = 0, fmt: str = "voc", **overrides: Any) -> str:
    """Folder name of a cached set: preset, seed, format and a short hash of the parameters."""
    params = synthetic_params(preset, **overrides)
    blob = json.dumps({"v": GENERATOR_VERSION, "params": asdict(params)}, sort_keys=True)
    digest = hashlib.sha1(blob.encode()).hexdigest()[:8]
    return f"synthetic-{preset}-seed{seed}-{fmt}-{digest}"


def ensure_synthetic(
    cache_dir: str | Path | None = None,
    preset: str = "easy",
    seed: int = 0,
    fmt: str = "voc",
    progress: bool = True,
    **overrides: Any,
) -> Path:
    """Return the root of the cached synthetic set, generating it on first use.

    The set is generated into a temporary sibling folder and renamed into place only when complete, so
    an interrupted generation is never reused (its ``.tmp-*`` folder can be deleted).

    Args:
        cache_dir: cache folder; default :func:`default_cache_dir`.
        preset, seed, fmt, **overrides: as in :func:`make_synthetic`.
        progress: show a tqdm progress bar while generating.

    Returns:
        The dataset root, e.g. ``~/.cache/wsl/synthetic-easy-seed0-voc-1a2b3c4d``.
    """
    get_format(fmt, writable=True, what="fmt")
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    final = base / synthetic_cache_name(preset, seed, fmt, **overrides)
    if (final / "synthetic.json").is_file():
        return final
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        make_synthetic(tmp, fmt, preset, seed, progress=progress, **overrides)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "synthetic.json").is_file():  # not a concurrent winner: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
