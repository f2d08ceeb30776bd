"""Export the CAMs of a model over a dataset: overlay PNGs, raw maps, an HTML gallery and a contact sheet.

:func:`export_cams` runs one forward pass per batch and, for every image and every chosen class
(``present``: the image's ground-truth classes; ``top1``: its top-scoring class; ``all``: every class),
writes a picture and stores the map. :func:`export_from_checkpoint` is the whole
``tools/export_cams.py`` (checkpoint, data spec, split) for use from Python.

Output layout of ``OUT`` (files are overwritten, others are left alone)::

    OUT/index.html                      gallery (thumbnails; filter by class; sort by class/score/IoU)
    OUT/contact_sheet.png               the first ``sheet_size`` overlays in one grid
    OUT/cams.json                       manifest (below)
    OUT/cams/<stem>.npz                 the CAMs of one image
    OUT/overlays/<stem>__<class>.png    one overlay per (image, class)
    OUT/thumbs/<stem>__<class>.png      its thumbnail, only when the overlay is larger than thumb_size

``<stem>`` is the image id made safe by :func:`wsl.viz.safe_filename` (``../../x`` → ``x``), with
``-2``, ``-3`` … appended when two ids map to the same stem; ``<class>`` likewise. Always look names
up in ``cams.json`` rather than rebuilding them.

**Overlay PNG** (``uint8`` RGB): the CAM (min–max normalised, ``inferno``) blended over the original
image at its original size ``(H, W)`` in the top-left ``H × W`` pixels, ground-truth boxes of that
class in :data:`~wsl.viz.GT_COLOR` (green), predicted boxes in :data:`~wsl.viz.PRED_COLOR` (red), a
colour bar to the right (1 at the top, 0 at the bottom) and, below, a white caption strip with
``"<class> <score>"``, ``IoU <best IoU>`` when the image has boxes of that class, and the image id.
The score is the class probability (sigmoid of the logit for multi-label models, softmax over the
classes for single-label ones). Predicted boxes follow the metrics' rule exactly
(:func:`wsl.metrics.cam_to_boxes` on the float32 CAM at ``threshold``): by default the largest
contour's box as in MaxBoxAcc (``multi_contour=False``), or every contour's box as in MaxBoxAccV2. The
IoU is the best inclusive IoU over predicted boxes × ground-truth boxes of the class (``difficult``
boxes included, as in the evaluator) — the quantity MaxBoxAcc thresholds at 0.5.

**CAM file format** (``cams/<stem>.npz``; ``tools/evaluate.py --cams OUT/cams`` reads the folder, matching
files to images by ``<stem>``, which equals the image id whenever the id is already a safe file name, as
VOC and COCO ids are; ``cams.json`` maps every id to its file otherwise): a compressed
numpy ``.npz`` (as :func:`wsl.viz.save_cam_npz` writes, at zlib level 1; :func:`wsl.viz.load_cam_npz`
reads it); ``numpy.load(path)`` gives one array per
exported class, keyed by the **class name** exactly as in ``cams.json["class_names"]``, each
``float16 (H, W)`` at the original image size ``(H, W)`` (the size the boxes refer to). A map is the
class map of the network (``WSLNet`` output at the feature stride) bilinearly upsampled to ``(H, W)``
(:func:`wsl.cam.upsample_class_maps`) and min–max normalised to [0, 1] per map
(:func:`wsl.cam.normalize_cams`; a constant map is all zeros). Normalised values keep float16's full
precision whatever the logit offset; the raw values are ``lo + cam · (hi − lo)`` with
``[lo, hi] = cams.json["images"][i]["cam_range"][class]``. Evaluation min–max normalises again, which
is the identity here, so metrics from the files equal the in-process ones up to float16 rounding (rarely
one level of the 8-bit map). Which classes a file holds follows ``classes``: ``present`` stores exactly
the ground-truth classes (what GT-known Loc, PxAP and the pointing game need), ``top1`` the top class,
``all`` every class.

**Manifest** (``cams.json``, UTF-8 JSON)::

    {"format": "wsl-cams", "version": 1,
     "class_names": [...], "single_label": false, "classes": "present",
     "threshold": 0.5, "multi_contour": false,
     "images": [{"image_id": "000001", "npz": "cams/000001.npz", "size": [H, W],
                 "scores": [C logits], "probs": [C probabilities],
                 "classes": ["dog", ...], "cam_range": {"dog": [lo, hi], ...}}, ...],
     "entries": [{"image_id": ..., "class_name": ..., "score": p, "iou": 0.71 or null,
                  "image": "overlays/...png", "thumb": "...", "npz": "cams/...npz",
                  "pred_boxes": [[x0, y0, x1, y1], ...]}, ...]}

All paths are relative to ``OUT`` with ``/`` separators. ``index.html`` and ``cams.json`` are written
last, each through a temporary file and ``os.replace``, so a reader never sees half of one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from wsl.cam import normalize_cams, upsample_class_maps
from wsl.metrics.boxes import box_iou_inclusive, cam_to_boxes
from wsl.viz._utils import ascii_text, text_block
from wsl.viz.boxes import GT_COLOR, PRED_COLOR, draw_boxes
from wsl.viz.gallery import write_gallery
from wsl.viz.io import safe_filename, safe_join, save_png
from wsl.viz.overlay import add_colorbar, overlay_cam
from wsl.viz.sheet import contact_sheet

__all__ = [
    "CLASS_MODES",
    "DEFAULT_THRESHOLD",
    "export_cams",
    "export_from_checkpoint",
    "best_threshold",
    "parse_threshold",
    "training_image_size",
    "render_overlay",
]

#: Which classes get a picture: the ground-truth classes, the top-scoring class, or all classes.
CLASS_MODES = ("present", "top1", "all")
#: Threshold used when ``best`` is asked for and no ``results.json`` gives one.
DEFAULT_THRESHOLD = 0.5
DEFAULT_IMAGE_SIZE = 128

_CAPTION_SCALE = 0.4
_CAPTION_COLOR = (0, 0, 0)
_CAPTION_BG = (255, 255, 255)
_ImageNetMean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
_ImageNetStd = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


# --------------------------------------------------------------------------------------------- options
def parse_threshold(value: Any) -> float:
    """A box threshold in [0, 1) from a float or a string.

    Raises:
        ValueError: not a number, not finite, or outside [0, 1).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be 'best' or a number in [0, 1); got {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number < 1.0):
        raise ValueError(f"threshold must be in [0, 1) (a fraction of the CAM maximum); got {value!r}")
    return number


def best_threshold(ckpt_path: str | os.PathLike[str]) -> tuple[float, str]:
    """The best MaxBoxAcc threshold of the run a checkpoint belongs to.

    ``tools/train.py`` writes ``<run_dir>/results.json`` with ``test.maxboxacc_threshold`` and keeps
    checkpoints in ``<run_dir>/checkpoints/``; the file is looked for in the checkpoint's folder's
    parent, then in its own folder.

    Args:
        ckpt_path: the ``.ckpt`` file.

    Returns:
        ``(threshold, note)``: the threshold and where it came from; :data:`DEFAULT_THRESHOLD` with a note
        saying why when no usable ``results.json`` exists.
    """
    ckpt = Path(ckpt_path)
    candidates = [ckpt.parent.parent / "results.json", ckpt.parent / "results.json"]
    for path in candidates:
        if not path.is_file():
            continue
        try:
            value = json.loads(path.read_text(encoding="utf-8"))["test"]["maxboxacc_threshold"]
            return parse_threshold(value), f"threshold {float(value):.3f} (best MaxBoxAcc) from {path}"
        except (OSError, ValueError, KeyError, TypeError) as err:
            return DEFAULT_THRESHOLD, (
                f"note: {path} has no usable test.maxboxacc_threshold ({type(err).__name__}: {err}); "
                f"using threshold {DEFAULT_THRESHOLD}"
            )
    return DEFAULT_THRESHOLD, (
        f"note: no results.json next to {ckpt.parent} (train with tools/train.py to get one); "
        f"using threshold {DEFAULT_THRESHOLD}"
    )


def training_image_size(
    ckpt_path: str | os.PathLike[str], module: nn.Module | None = None
) -> tuple[int, str]:
    """The network input size a checkpoint was trained at, for exporting at the same size.

    Looks at ``module.hparams.image_size`` (when a model stores it), then at ``data.image_size`` in
    ``<run_dir>/config.yaml`` (written by LightningCLI beside ``checkpoints/``), else
    :data:`DEFAULT_IMAGE_SIZE`.

    Returns:
        ``(size, note)`` where ``note`` says where the size came from.
    """
    hparams = getattr(module, "hparams", None) or {}
    if isinstance(hparams, Mapping) and isinstance(hparams.get("image_size"), int):
        return int(hparams["image_size"]), "image size from the checkpoint's hyper-parameters"
    ckpt = Path(ckpt_path)
    for path in (ckpt.parent.parent / "config.yaml", ckpt.parent / "config.yaml"):
        if not path.is_file():
            continue
        try:
            import yaml

            size = yaml.safe_load(path.read_text(encoding="utf-8"))["data"]["image_size"]
            if isinstance(size, int) and size > 0:
                return size, f"image size {size} from {path}"
        except Exception:  # noqa: BLE001 - an unreadable config only means "unknown"
            continue
    return DEFAULT_IMAGE_SIZE, f"note: training image size unknown; using {DEFAULT_IMAGE_SIZE} (--image-size)"


# --------------------------------------------------------------------------------------------- drawing
def _box_thickness(height: int, width: int) -> int:
    return 1 + min(height, width) // 128


def _caption(lines: Sequence[str], width: int) -> np.ndarray:
    """A white strip with one text line per entry, at least ``width`` wide."""
    blocks = [
        text_block(ascii_text(line), _CAPTION_SCALE, _CAPTION_COLOR, _CAPTION_BG, pad=2) for line in lines
    ]
    strip_w = max([width, *(b.shape[1] for b in blocks)])
    strip = np.empty((sum(b.shape[0] for b in blocks) + 2, strip_w, 3), np.uint8)
    strip[:] = _CAPTION_BG
    y = 1
    for block in blocks:
        strip[y : y + block.shape[0], : block.shape[1]] = block
        y += block.shape[0]
    return strip


class _ColorbarCache:
    """Colour bar strips by image height (the strip only depends on the height and the colormap)."""

    def __init__(self, colormap: str) -> None:
        self.colormap = colormap
        self._strips: dict[int, np.ndarray] = {}

    def __call__(self, height: int) -> np.ndarray:
        if height not in self._strips:
            label = "CAM (normalised)" if height >= 160 else None
            dummy = np.zeros((height, 1, 3), np.uint8)
            self._strips[height] = add_colorbar(dummy, self.colormap, label=label)[:, 1:].copy()
        return self._strips[height]


def render_overlay(
    image: np.ndarray,
    cam: Any,
    gt_boxes: Any = None,
    pred_boxes: Any = None,
    caption: Sequence[str] = (),
    alpha: float = 0.5,
    colormap: str = "inferno",
    colorbar: np.ndarray | None = None,
) -> np.ndarray:
    """One exported picture: CAM overlay, GT and predicted boxes, colour bar, caption strip.

    Args:
        image: ``uint8 (H, W, 3)`` RGB image at its original size.
        cam: ``(H, W)`` CAM (any scale; min–max normalised for the colours).
        gt_boxes: ``(K, 4)`` inclusive ``xyxy`` ground-truth boxes, drawn in ``GT_COLOR``, or None.
        pred_boxes: ``(P, 4)`` predicted boxes, drawn in ``PRED_COLOR`` (on top), or None.
        caption: text lines written under the picture.
        alpha: weight of the CAM colours.
        colormap: colormap name (see :func:`wsl.viz.colorize_cam`).
        colorbar: a precomputed colour bar strip of height ``H`` (internal speed-up), or None.

    Returns:
        ``uint8`` RGB image whose top-left ``(H, W)`` pixels are the overlay with its boxes; the colour
        bar is to its right and the caption strip (white, possibly wider) below.
    """
    height, width = image.shape[:2]
    out = overlay_cam(image, cam, alpha=alpha, colormap=colormap)
    thickness = _box_thickness(height, width)
    if gt_boxes is not None and len(gt_boxes):
        out = draw_boxes(out, gt_boxes, GT_COLOR, thickness=thickness)
    if pred_boxes is not None and len(pred_boxes):
        out = draw_boxes(out, pred_boxes, PRED_COLOR, thickness=thickness)
    out = add_colorbar(out, colormap) if colorbar is None else np.concatenate([out, colorbar], axis=1)
    if not caption:
        return out
    strip = _caption(caption, out.shape[1])
    if strip.shape[1] > out.shape[1]:
        pad = np.empty((out.shape[0], strip.shape[1] - out.shape[1], 3), np.uint8)
        pad[:] = _CAPTION_BG
        out = np.concatenate([out, pad], axis=1)
    return np.concatenate([out, strip], axis=0)


def _thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    factor = size / max(image.shape[:2])
    new = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return cv2.resize(image, new, interpolation=cv2.INTER_AREA)


# --------------------------------------------------------------------------------------------- files
def _save_npz(path: Path, cams: Mapping[str, np.ndarray]) -> None:
    """Write float16 maps as a compressed ``.npz`` (deflate level 1) through a temporary file.

    The same format as :func:`wsl.viz.save_cam_npz` / ``numpy.savez_compressed`` (a zip of ``.npy``
    members named ``<key>.npy``, read by ``numpy.load``), at zlib level 1 instead of 6: about 3x faster
    with files within 1% of the size (smooth float16 maps gain little from harder compression). The maps
    are already in [0, 1] here, so no clipping to the float16 range is needed.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with (
            os.fdopen(fd, "wb") as handle,
            zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        ):
            for key, value in cams.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(value, np.float16), allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_atomic(path: Path, text: str) -> None:
    """Write text through a temporary file in the same folder and ``os.replace`` it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_gallery_atomic(out_dir: Path, entries: list[dict[str, Any]], title: str) -> Path:
    """``write_gallery`` into a private folder inside ``out_dir``, then move ``index.html`` into place."""
    for entry in entries:  # the gallery must only reference files that exist
        for key in ("image", "thumb", "npz"):
            if not (out_dir / entry[key]).is_file():
                raise OSError(f"gallery entry {entry['image_id']!r} references a missing file {entry[key]!r}")
    tmp_dir = Path(tempfile.mkdtemp(dir=out_dir, prefix=".gallery-"))
    try:
        written = write_gallery(tmp_dir, entries, title=title, check_files=False)
        index = out_dir / "index.html"
        os.replace(written, index)
        return index
    finally:
        for leftover in tmp_dir.iterdir():
            leftover.unlink()
        tmp_dir.rmdir()


class _Names:
    """Unique safe file stems: ``safe_filename`` of a name, with ``-2``, ``-3`` … on collisions."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, name: str) -> str:
        base = safe_filename(name)[:120]
        stem, k = base, 1
        while stem.lower() in self._used:  # lower(): case-insensitive file systems
            k += 1
            stem = f"{base}-{k}"
        self._used.add(stem.lower())
        return stem


def _image_paths(dataset: Any) -> dict[str, Path]:
    """``image_id → image file`` from a wsl dataset's ``records`` (through ``Subset`` wrappers)."""
    while hasattr(dataset, "dataset") and not hasattr(dataset, "records"):
        dataset = dataset.dataset
    records = getattr(dataset, "records", None) or []
    return {str(r.image_id): Path(r.image_path) for r in records if hasattr(r, "image_path")}


def _original_image(
    image_id: str, size: tuple[int, int], paths: Mapping[str, Path], tensor: torch.Tensor
) -> np.ndarray:
    """The original image: decoded from its file when known and of the expected size, else the network
    input de-normalised and resized back to ``size`` (blurrier, but always available)."""
    path = paths.get(image_id)
    if path is not None:
        try:
            from wsl.data.base import read_image

            image = read_image(path)
            if image.shape[:2] == size:
                return image
        except ValueError:
            pass
    pixels = (tensor.detach().float().cpu() * _ImageNetStd + _ImageNetMean).clamp(0, 1).mul(255).round()
    image = pixels.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    if image.shape[:2] != size:
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return image


def _check_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"out_dir {str(root)!r} exists and is not a folder; pass a folder path")
    try:
        for sub in ("", "cams", "overlays", "thumbs"):
            (root / sub).mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise ValueError(f"out_dir {str(root)!r} cannot be created ({err}); pass a folder path") from err
    return root


# --------------------------------------------------------------------------------------------- export
def _chosen_classes(mode: str, labels: torch.Tensor | None, scores: torch.Tensor) -> list[int]:
    if mode == "all":
        return list(range(scores.shape[0]))
    if mode == "top1":
        return [int(scores.argmax())]
    if labels is None:
        raise ValueError("classes='present' needs batches with 'labels'; use classes='top1' or 'all'")
    return torch.nonzero(labels > 0).flatten().tolist()


def export_cams(
    module: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    classes: str = "present",
    limit: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    class_names: Sequence[str] | None = None,
    multi_contour: bool = False,
    single_label: bool | None = None,
    sheet_size: int = 32,
    thumb_size: int = 256,
    alpha: float = 0.5,
    colormap: str = "inferno",
    progress: bool = True,
) -> dict[str, Any]:
    """Write overlays, CAM files, a gallery and a contact sheet for the images of a loader.

    One forward pass per batch (on the module's device, no grad) gives the scores ``(B, C)`` and every
    class map ``(B, C, h, w)``; the chosen classes' maps are upsampled to each image's original size.
    See the module docstring for the files, the picture and the ``.npz`` format.

    Args:
        module: a :class:`~wsl.lit.WSLModule` (its ``.net`` is called) or any module whose forward
            returns ``(scores (N, C), class_maps (N, C, h, w))``. It is put in eval mode.
        dataloader: batches from :func:`wsl.data.collate_wsl`: ``image`` ``(B, 3, S, S)``, ``image_id``,
            ``orig_size`` ``(B, 2)``, ``labels`` ``(B, C)`` and, for boxes and IoUs, ``boxes`` and
            ``box_labels`` (evaluation loaders).
        out_dir: output folder (created; existing files of the same names are overwritten).
        classes: ``"present"`` (ground-truth classes), ``"top1"`` (top-scoring class) or ``"all"``.
        limit: export only the first ``limit`` images (None: all).
        threshold: box threshold in [0, 1) for :func:`wsl.metrics.cam_to_boxes`.
        class_names: the C class names (default ``module.class_names``, else ``"0"``, ``"1"`` …).
        multi_contour: every contour's box (MaxBoxAccV2) instead of the largest one (MaxBoxAcc).
        single_label: softmax instead of sigmoid probabilities (default ``module.hparams.single_label``).
        sheet_size: number of overlays in ``contact_sheet.png`` (0: no sheet).
        thumb_size: longest side of gallery thumbnails; smaller overlays are their own thumbnail.
        alpha: overlay weight of the CAM colours.
        colormap: colormap name.
        progress: show a tqdm bar over batches.

    Returns:
        Summary dict: ``out_dir``, ``index``, ``manifest``, ``contact_sheet`` (or None), ``num_images``,
        ``num_cams``, ``mean_iou`` (over CAMs with ground truth, None if none), ``box_acc`` (fraction of
        those with IoU ≥ 0.5), ``threshold``, ``classes``, ``seconds``.

    Raises:
        ValueError: bad ``classes``/``limit``/``threshold``/``sheet_size``, an ``out_dir`` that is a file,
            class names that do not match the model's output, or batches without the needed keys.

    Example:
        >>> module = load_module("runs/synthetic-weldon/checkpoints/best.ckpt")  # doctest: +SKIP
        >>> loader = WSLDataModule("synthetic", num_workers=0).dataloader("test", limit=16)  # doctest: +SKIP
        >>> export_cams(module, loader, "cams_out", classes="top1")["num_cams"]  # doctest: +SKIP
        16
    """
    if classes not in CLASS_MODES:
        raise ValueError(f"classes must be one of {list(CLASS_MODES)}; got {classes!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive int or None; got {limit!r}")
    threshold = parse_threshold(threshold)
    for name, value, least in (("sheet_size", sheet_size, 0), ("thumb_size", thumb_size, 16)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}; got {value!r}")
    root = _check_out_dir(out_dir)
    net = getattr(module, "net", module)
    if class_names is None:
        class_names = getattr(module, "class_names", None)
    if single_label is None:
        hparams = getattr(module, "hparams", None) or {}
        single_label = bool(hparams.get("single_label", False)) if isinstance(hparams, Mapping) else False
    try:
        device = next(module.parameters()).device
    except StopIteration:
        device = torch.device("cpu")
    module.eval()

    started = time.perf_counter()
    file_names, class_files = _Names(), {}  # image stems; class name -> file-safe name
    colorbar = _ColorbarCache(colormap)
    paths = _image_paths(getattr(dataloader, "dataset", None))
    images_meta: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    sheet_tiles: list[np.ndarray] = []
    num_images = 0
    batches: Iterable[Mapping[str, Any]] = dataloader
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = len(dataloader) if hasattr(dataloader, "__len__") else None
        bar = tqdm(dataloader, total=total, desc="export CAMs", unit="batch", dynamic_ncols=True)
        batches = bar
    try:
        for batch in batches:
            if limit is not None and num_images >= limit:
                break
            if not isinstance(batch, Mapping) or not {"image", "image_id", "orig_size"} <= set(batch):
                raise ValueError(
                    "batches must be dicts with 'image', 'image_id' and 'orig_size' (wsl.data.collate_wsl); "
                    f"got {type(batch).__name__}"
                    + (f" with keys {sorted(batch)}" if isinstance(batch, Mapping) else "")
                )
            count = len(batch["image_id"])
            if limit is not None:
                count = min(count, limit - num_images)
            images = batch["image"][:count]
            with torch.inference_mode():
                scores, class_maps = net(images.to(device, non_blocking=True))
            scores = scores.float()
            probs = (scores.softmax(dim=1) if single_label else scores.sigmoid()).cpu()
            if class_names is None:
                class_names = [str(c) for c in range(scores.shape[1])]
            class_names = [str(n) for n in class_names]
            if len(class_names) != scores.shape[1]:
                raise ValueError(
                    f"class_names has {len(class_names)} names but the model outputs "
                    f"{scores.shape[1]} classes"
                )
            if not class_files:
                class_stems = _Names()
                class_files = {name: class_stems(name) for name in class_names}
            scores_cpu = scores.cpu()
            labels = batch.get("labels")
            for i in range(count):
                size = tuple(int(s) for s in batch["orig_size"][i])
                image_id = str(batch["image_id"][i])
                chosen = _chosen_classes(classes, None if labels is None else labels[i], scores_cpu[i])
                stem = file_names(image_id)
                npz_rel = f"cams/{stem}.npz"
                meta: dict[str, Any] = {
                    "image_id": image_id,
                    "npz": npz_rel,
                    "size": list(size),
                    "scores": scores_cpu[i].tolist(),
                    "probs": probs[i].tolist(),
                    "classes": [class_names[c] for c in chosen],
                    "cam_range": {},
                }
                if not chosen:  # e.g. an image without labels: keep an (empty) file for evaluate.py
                    _save_npz(safe_join(root / "cams", f"{stem}.npz"), {})
                    images_meta.append(meta)
                    continue
                raw = upsample_class_maps(class_maps[i, chosen].float(), size)  # (k, H, W), on device
                cams = normalize_cams(raw).cpu().numpy()
                lo = raw.flatten(1).amin(1).tolist()
                hi = raw.flatten(1).amax(1).tolist()
                _save_npz(
                    safe_join(root / "cams", f"{stem}.npz"),
                    {class_names[c]: cams[k] for k, c in enumerate(chosen)},
                )
                picture = _original_image(image_id, size, paths, images[i])
                gt_all = batch["boxes"][i] if "boxes" in batch and "box_labels" in batch else None
                for k, c in enumerate(chosen):
                    name = class_names[c]
                    meta["cam_range"][name] = [lo[k], hi[k]]
                    entry = _export_one(
                        root, picture, cams[k], gt_all, batch, i, c, name, stem, class_files[name],
                        float(probs[i, c]), threshold, multi_contour, thumb_size, alpha, colormap, colorbar,
                        image_id,
                    )  # fmt: skip
                    entry["npz"] = npz_rel
                    if len(sheet_tiles) < sheet_size:
                        sheet_tiles.append(entry.pop("_picture"))
                    else:
                        entry.pop("_picture")
                    entries.append(entry)
                images_meta.append(meta)
            num_images += count
    finally:
        if bar is not None:
            bar.close()

    sheet_path = None
    if sheet_tiles:
        sheet_path = save_png(root / "contact_sheet.png", contact_sheet(sheet_tiles, ncols=8))
    title = (
        f"CAMs ({classes} classes) - GT boxes green, predicted boxes red "
        f"({'all contours' if multi_contour else 'largest contour'}, threshold {threshold:.2f})"
    )
    manifest = {
        "format": "wsl-cams",
        "version": 1,
        "class_names": list(class_names or []),
        "single_label": bool(single_label),
        "classes": classes,
        "threshold": threshold,
        "multi_contour": bool(multi_contour),
        "images": images_meta,
        "entries": entries,
    }
    _write_atomic(root / "cams.json", json.dumps(manifest, indent=1))
    index = _write_gallery_atomic(root, entries, title)
    ious = [e["iou"] for e in entries if e["iou"] is not None]
    return {
        "out_dir": str(root),
        "index": str(index),
        "manifest": str(root / "cams.json"),
        "contact_sheet": str(sheet_path) if sheet_path is not None else None,
        "num_images": num_images,
        "num_cams": len(entries),
        "mean_iou": float(np.mean(ious)) if ious else None,
        "box_acc": float(np.mean([iou >= 0.5 for iou in ious])) if ious else None,
        "threshold": threshold,
        "classes": classes,
        "seconds": time.perf_counter() - started,
    }


def _export_one(
    root: Path,
    picture: np.ndarray,
    cam: np.ndarray,
    gt_all: torch.Tensor | None,
    batch: Mapping[str, Any],
    i: int,
    c: int,
    name: str,
    stem: str,
    class_file: str,
    prob: float,
    threshold: float,
    multi_contour: bool,
    thumb_size: int,
    alpha: float,
    colormap: str,
    colorbar: _ColorbarCache,
    image_id: str,
) -> dict[str, Any]:
    """Boxes, IoU, picture and thumbnail of one (image, class); returns its gallery entry."""
    gt = None
    if gt_all is not None:
        gt = np.asarray(gt_all)[np.asarray(batch["box_labels"][i]) == c].reshape(-1, 4)
    pred = cam_to_boxes(cam.astype(np.float32), threshold, multi_contour=multi_contour)
    iou = float(box_iou_inclusive(pred, gt).max()) if gt is not None and len(gt) else None
    text = f"{name} {prob:.2f}" + (f"  IoU {iou:.2f}" if iou is not None else "")
    height = picture.shape[0]
    panel = render_overlay(
        picture, cam, gt, pred, caption=[text, image_id[:40]], alpha=alpha, colormap=colormap,
        colorbar=colorbar(height),
    )  # fmt: skip
    image_path = safe_join(root / "overlays", f"{stem}__{class_file}.png")
    save_png(image_path, panel)
    image_rel = f"overlays/{image_path.name}"
    thumb_rel = image_rel
    if max(panel.shape[:2]) > thumb_size:
        thumb_path = safe_join(root / "thumbs", f"{stem}__{class_file}.png")
        save_png(thumb_path, _thumbnail(panel, thumb_size))
        thumb_rel = f"thumbs/{thumb_path.name}"
    return {
        "image_id": image_id,
        "class_name": name,
        "score": prob,
        "iou": iou,
        "image": image_rel,
        "thumb": thumb_rel,
        "pred_boxes": pred.tolist(),
        "_picture": panel,
    }


# --------------------------------------------------------------------------------------------- checkpoint
def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was asked for but CUDA is not available; use --device cpu or auto"
        )
    return torch.device(device)


def export_from_checkpoint(
    ckpt: str | os.PathLike[str],
    data: str,
    split: str,
    out_dir: str | os.PathLike[str],
    classes: str = "present",
    limit: int | None = None,
    threshold: float | str = "best",
    image_size: int | None = None,
    batch_size: int = 32,
    num_workers: int = 2,
    device: str = "auto",
    progress: bool = True,
    log: Any = print,
    **kwargs: Any,
) -> dict[str, Any]:
    """Load a checkpoint, build the loader of a data split and run :func:`export_cams`.

    Args:
        ckpt: ``.ckpt`` written by ``tools/train.py``.
        data: data spec (``synthetic``, ``voc:PATH``, ``coco:PATH`` …).
        split: split name (``test``, ``val`` …).
        out_dir: output folder.
        classes, limit: see :func:`export_cams`.
        threshold: ``"best"`` (:func:`best_threshold`) or a number in [0, 1).
        image_size: network input side; None: :func:`training_image_size`.
        batch_size, num_workers: loader settings.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        progress: tqdm bar.
        log: called with one-line notes (threshold and image size sources).
        **kwargs: passed to :func:`export_cams`.

    Returns:
        :func:`export_cams`'s summary, plus ``ckpt``, ``data``, ``split``, ``image_size``.

    Raises:
        ValueError: missing or foreign checkpoint, class list mismatch, unknown split, bad threshold,
            bad device, ``out_dir`` that is a file.
    """
    from wsl.checkpoint import check_class_names, load_module
    from wsl.data import WSLDataModule

    if isinstance(threshold, str) and threshold == "best":
        value, note = best_threshold(ckpt)
        log(note)
    else:
        value = parse_threshold(threshold)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"out_dir {str(root)!r} exists and is not a folder; pass a folder path")
    torch_device = _resolve_device(device)
    module = load_module(ckpt, map_location=torch_device)
    if image_size is None:
        image_size, note = training_image_size(ckpt, module)
        log(note)
    elif image_size < 1:
        raise ValueError(f"image_size must be >= 1; got {image_size}")
    single_label = bool(module.hparams.get("single_label", False))
    dm = WSLDataModule(
        data=data,
        image_size=image_size,
        batch_size=batch_size,
        num_workers=num_workers,
        single_label=single_label,
        test_split=split,
    )
    check_class_names(module, dm.class_names, f"data {data!r}")
    loader = dm.dataloader(split, limit=limit)
    summary = export_cams(
        module, loader, out_dir, classes=classes, limit=limit, threshold=value, progress=progress, **kwargs
    )
    summary.update(ckpt=str(ckpt), data=data, split=split, image_size=image_size, device=str(torch_device))
    return summary
