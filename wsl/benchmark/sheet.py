"""``cams_by_pool.png``: the CAMs of the first test images, one row per image, one column per trained entry
(pooling head or WSOL method).

The first column is the image with its GT boxes; then, per trained entry, the native CAM of its lowest-seed
run for the GT class (policy ``gt``) that the run scores highest, or its top-1 class (policy ``top1``) for
an image without a GT class. CAMs come from :meth:`wsl.cam.CamBatch.from_output` (upsampled to the image
size and normalised once, there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsl.cam import CamBatch, batch_sizes
from wsl.cam.selection import select_classes
from wsl.cam.stream import CamRequest, ClassChoice, cam_batches
from wsl.runs import RunFolder, atomic_path
from wsl.trained import TrainedModel

__all__ = ["GT_ELSE_TOP1", "SheetCam", "cams_by_pool", "sheet_cams", "sheet_picks"]

# The data settings that decide the test split and its transform.
_TEST_KEYS = ("data", "image_size", "test_split", "class_names", "single_label", "cache_dir", "seed")


@dataclass(frozen=True)
class SheetCam:
    """The CAM shown for one image: its class, that class's probability, the (H, W) map in [0, 1]."""

    class_index: int
    probability: float
    cam: np.ndarray


def _gt_else_top1(batch: Mapping[str, Any], scores: torch.Tensor | None) -> list[list[int]]:
    """Per image, its ground-truth classes (policy ``gt``), or its top-1 class when it has none."""
    gt = select_classes("gt", batch)
    top1 = select_classes("top1", batch, scores) if not all(gt) else gt
    return [classes or top1[i] for i, classes in enumerate(gt)]


#: The sheet's class choice (the stream picks the best of them in :func:`sheet_picks`).
GT_ELSE_TOP1 = ClassChoice(_gt_else_top1)


def sheet_picks(cams: CamBatch, single_label: bool) -> list[SheetCam]:
    """Per image of a batch of the CAM stream (choice :data:`GT_ELSE_TOP1`), the CAM of its
    highest-scoring chosen class (the first best in ascending class order, as argmax picks it).

    Args:
        cams: the batch's CAMs, with their scores (B, C).
        single_label: probabilities by softmax (True) or sigmoid (False).
    """
    assert cams.scores is not None
    logits = cams.scores
    probs = logits.softmax(1) if single_label else logits.sigmoid()
    picks = []
    for i in range(len(cams.classes)):
        best = max(cams.of_image(i), key=lambda p: float(logits[i, int(cams.class_index[p])]))
        c = int(cams.class_index[best])
        picks.append(SheetCam(c, float(probs[i, c]), cams.cams[best].numpy()))
    return picks


def sheet_cams(
    scores: torch.Tensor, class_maps: torch.Tensor, batch: dict[str, Any], single_label: bool
) -> list[SheetCam]:
    """Per image of ``batch``, the CAM of its highest-scoring GT class (its top-1 class if it has none),
    from a network output ``scores`` (B, C) and ``class_maps`` (B, C, h, w), at ``batch["orig_size"]``."""
    chosen = _gt_else_top1(batch, scores.detach().float().cpu())
    maps = class_maps.detach()
    return sheet_picks(
        CamBatch.from_maps(lambda i, c: maps[i, c], batch_sizes(batch), chosen, scores), single_label
    )


def _lowest_seed_checkpoints(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per trained entry (in order of appearance), its lowest-seed row whose checkpoint is a file."""
    chosen: dict[str, dict[str, Any]] = {}
    trained = [r for r in rows if r.get("kind", "train") == "train"]
    for row in sorted(trained, key=lambda r: r["seed"]):
        if row["entry"] not in chosen and row.get("checkpoint") and Path(row["checkpoint"]).is_file():
            chosen[row["entry"]] = row
    chosen = {r["entry"]: chosen[r["entry"]] for r in trained if r["entry"] in chosen}
    return chosen


def cams_by_pool(out: Path, rows: Sequence[dict[str, Any]], num_images: int = 6) -> Path | None:
    """Write ``out/cams_by_pool.png`` (layout in the module docstring) atomically.

    Args:
        out: the benchmark folder.
        rows: run rows (``entry``, ``kind``, ``seed``, ``run_dir``, ``checkpoint``); the data settings are
            those of
            the first chosen run's ``config.yaml``.
        num_images: the first test images shown.

    Returns:
        The path, or None when ``num_images < 1`` or no run has a checkpoint.
    """
    chosen = _lowest_seed_checkpoints(rows)
    if num_images < 1 or not chosen:
        return None
    from wsl.data import WSLDataModule
    from wsl.data.base import read_image
    from wsl.viz import GT_COLOR, contact_sheet, draw_boxes, overlay_cam, save_png

    data = (RunFolder(next(iter(chosen.values()))["run_dir"]).config() or {}).get("data") or {}
    module_data = WSLDataModule(num_workers=0, **{k: data[k] for k in _TEST_KEYS if data.get(k) is not None})
    loader = module_data.dataloader(module_data.test_split, limit=num_images, batch_size=num_images)
    batch = next(iter(loader))
    records = module_data.dataset(module_data.test_split).records
    names = module_data.class_names
    count = len(batch["image"])
    images = [read_image(records[i].image_path) for i in range(count)]
    tiles: list[list[np.ndarray]] = [
        [draw_boxes(images[i], np.asarray(batch["boxes"][i]), GT_COLOR, thickness=1)] for i in range(count)
    ]
    captions: list[list[str]] = [[str(records[i].image_id)] for i in range(count)]
    for name, row in chosen.items():
        model = TrainedModel.load(row["checkpoint"], device="cpu")
        request = CamRequest(choice=GT_ELSE_TOP1)
        [(_, cams)] = cam_batches(model.net, [batch], request, inputs=model.inputs, autocast=model.autocast)
        for i, pick in enumerate(sheet_picks(cams, model.single_label)):
            tiles[i].append(overlay_cam(images[i], pick.cam))
            captions[i].append(f"{name}: {names[pick.class_index]} {pick.probability:.2f}")
    side = max(128, *(max(image.shape[:2]) for image in images))  # room for the captions
    sheet = contact_sheet(
        [t for line in tiles for t in line],
        ncols=len(tiles[0]),
        tile_size=(side, side),
        captions=[c for line in captions for c in line],
    )
    path = out / "cams_by_pool.png"
    with atomic_path(path) as tmp:
        save_png(tmp, sheet)
    return path
