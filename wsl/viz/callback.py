"""Lightning callback that writes a contact sheet of CAM overlays during validation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn

from wsl.cam.stream import CamRequest, cam_batches
from wsl.data.transforms import denormalize
from wsl.viz.io import save_png
from wsl.viz.overlay import overlay_cam
from wsl.viz.sheet import contact_sheet

__all__ = ["CAMLogger", "log_sheet"]

_MIN_TILE = 128


class CAMLogger(pl.Callback):
    """Every ``every_n_epochs`` validation epochs, overlay the top class's CAM on a fixed set of images.

    The first ``num_images`` images of the validation loader (of dataloader 0) are cached once, from
    the batches of the first validation run (the sanity check when there is one), so every sheet
    shows the same images; a validation set smaller than ``num_images`` gives a smaller sheet. At the end of
    validation the callback runs ``pl_module.net(images)`` (eval mode, no grad) →
    ``(scores (B, C), class_maps (B, C, h, w))``, takes each image's top-scoring class's CAM from the
    one CAM pipeline (:meth:`wsl.cam.CamBatch.from_output`, policy ``top1``, at the network input
    size), overlays it on the de-normalised image (:func:`wsl.data.transforms.denormalize`), restores
    the original aspect ratio from ``orig_size`` and writes one contact sheet to
    ``out_dir/epoch_{epoch:03d}.png``. The sheet is also logged as the image ``"cams"`` to every logger
    that takes images: TensorBoard (``experiment.add_image``), loggers with
    ``log_image(key, images, step)`` (Weights & Biases) and MLflow (``experiment.log_image``, as the
    artifact ``cams/epoch_{epoch:03d}.png`` of the logger's run). Captions: ``"<class> <score>"``, and
    the first ground-truth class after ``gt:`` when the top class is not a ground-truth label.

    Batches are dicts with ``image`` ``(B, 3, S, S)`` (normalised), and optionally ``labels``
    ``(B, C)`` and ``orig_size`` ``(B, 2)``. Class names come from ``pl_module.class_names`` when it
    exists, else indices are shown. Sanity-check runs are used for caching but write nothing.

    Args:
        every_n_epochs: write a sheet after every K-th validation epoch (epochs K−1, 2K−1, … 0-based).
        num_images: number of images in the sheet (fewer when the validation set is smaller).
        out_dir: folder of the PNGs; default ``<trainer.log_dir or trainer.default_root_dir>/cams``.
        alpha: overlay weight of the CAM colour.
        colormap: colormap name, see :func:`wsl.viz.colorize_cam`.
        ncols: columns of the contact sheet.

    Example:
        >>> trainer = pl.Trainer(callbacks=[CAMLogger(every_n_epochs=5, num_images=16)])  # doctest: +SKIP
    """

    def __init__(
        self,
        every_n_epochs: int = 1,
        num_images: int = 8,
        out_dir: str | os.PathLike[str] | None = None,
        alpha: float = 0.5,
        colormap: str = "inferno",
        ncols: int = 8,
    ) -> None:
        super().__init__()
        for name, value in (("every_n_epochs", every_n_epochs), ("num_images", num_images), ("ncols", ncols)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1; got {value!r}")
        self.every_n_epochs = every_n_epochs
        self.num_images = num_images
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.alpha = alpha
        self.colormap = colormap
        self.ncols = ncols
        self._images: list[torch.Tensor] = []
        self._labels: list[torch.Tensor | None] = []
        self._sizes: list[tuple[int, int] | None] = []
        self._warned = False
        self._frozen = False

    @property
    def num_cached(self) -> int:
        """How many validation images are cached for the sheets."""
        return len(self._images)

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Cache images of the first validation batches until ``num_images`` are held."""
        if self._frozen or dataloader_idx != 0 or self.num_cached >= self.num_images:
            return
        if not isinstance(batch, dict) or not isinstance(batch.get("image"), torch.Tensor):
            if not self._warned:
                rank_zero_warn("CAMLogger expects dict batches with an 'image' tensor (B, 3, S, S); skipping")
                self._warned = True
            return
        images = batch["image"].detach()
        labels = batch.get("labels")
        sizes = batch.get("orig_size")
        for i in range(min(images.shape[0], self.num_images - self.num_cached)):
            self._images.append(images[i].to("cpu", torch.float32, copy=True))
            self._labels.append(
                labels[i].detach().to("cpu", torch.float32) if isinstance(labels, torch.Tensor) else None
            )
            self._sizes.append(_size_of(sizes, i))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Write (and log) the sheet on every K-th epoch, outside sanity checking, on rank 0."""
        # The first validation run (sanity check included) fixes the set; later runs would re-add it.
        self._frozen = self._frozen or self.num_cached > 0
        if trainer.sanity_checking or not self._images or not trainer.is_global_zero:
            return
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs != 0:
            return
        sheet = self.make_sheet(pl_module)
        save_png(self._resolve_out_dir(trainer) / f"epoch_{epoch:03d}.png", sheet)
        for logger in trainer.loggers:
            log_sheet(logger, sheet, trainer.global_step, f"cams/epoch_{epoch:03d}.png")

    def make_sheet(self, pl_module: pl.LightningModule) -> np.ndarray:
        """Run the network on the cached images and build the ``uint8`` RGB contact sheet."""
        net = getattr(pl_module, "net", pl_module)
        images = torch.stack(self._images)
        count, input_size = images.shape[0], (int(images.shape[-2]), int(images.shape[-1]))
        batch = {
            "image": images,
            "image_id": [str(i) for i in range(count)],
            "orig_size": [input_size] * count,
        }
        # One batch of the CAM stream (eval mode, no grad; the module's mode is restored), policy top1.
        [(_, cams)] = cam_batches(net, [batch], CamRequest(choice="top1"))
        scores = cams.scores  # float32, on the CPU
        assert scores is not None
        top = cams.class_index  # top1: one pair per image, in image order
        pictures = denormalize(images)
        names = _class_names(pl_module, scores.shape[1])
        tiles, captions = [], []
        side = max(input_size)
        for i in range(count):
            tile = overlay_cam(pictures[i], cams.cams[i].numpy(), alpha=self.alpha, colormap=self.colormap)
            original = self._sizes[i]
            if original is not None:  # the network saw a square resize; show the true aspect
                height, width = original
                ratio = side / max(height, width)
                size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
                tile = cv2.resize(tile, size, interpolation=cv2.INTER_AREA)  # a stretch back, not a letterbox
            tiles.append(tile)
            caption = f"{names[int(top[i])]} {float(scores[i, top[i]]):.2f}"
            labels = self._labels[i]
            if labels is not None and labels.numel() == scores.shape[1] and labels[top[i]] <= 0:
                positives = torch.nonzero(labels > 0).flatten().tolist()
                caption += f" gt:{names[positives[0]]}" if positives else " gt:-"
            captions.append(caption)
        # Tiny inputs are shown at least _MIN_TILE px wide so that the captions stay readable.
        tile_h, tile_w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
        zoom = max(1.0, _MIN_TILE / max(tile_h, tile_w))
        tile_size = (round(tile_h * zoom), round(tile_w * zoom))
        return contact_sheet(tiles, ncols=self.ncols, tile_size=tile_size, captions=captions)

    def _resolve_out_dir(self, trainer: pl.Trainer) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        base = getattr(trainer, "log_dir", None) or trainer.default_root_dir
        return Path(base) / "cams"


def _size_of(sizes: Any, i: int) -> tuple[int, int] | None:
    """``(H, W)`` of item ``i`` from a ``(B, 2)`` tensor or a list of pairs; ``None`` if unusable."""
    try:
        height, width = (int(v) for v in sizes[i])
    except (TypeError, ValueError, IndexError):
        return None
    return (height, width) if height > 0 and width > 0 else None


def _class_names(pl_module: pl.LightningModule, num_classes: int) -> list[str]:
    names = getattr(pl_module, "class_names", None)
    if isinstance(names, (list, tuple)) and len(names) == num_classes:
        return [str(n) for n in names]
    return [str(i) for i in range(num_classes)]


def log_sheet(logger: Any, sheet: np.ndarray, step: int, artifact_file: str) -> bool:
    """Log a ``uint8 (H, W, 3)`` RGB sheet as the image ``"cams"`` to a Lightning logger that takes images.

    TensorBoard: ``experiment.add_image("cams", sheet, global_step=step, dataformats="HWC")``; a logger
    with ``log_image`` (``WandbLogger``): ``log_image(key="cams", images=[sheet], step=step)``; MLflow:
    ``experiment.log_image(logger.run_id, sheet, artifact_file)``. Other loggers (CSV) are skipped.

    Returns:
        Whether the logger took the image.
    """
    if callable(getattr(logger, "log_image", None)):
        logger.log_image(key="cams", images=[sheet], step=step)
        return True
    experiment = getattr(logger, "experiment", None)
    if callable(getattr(experiment, "add_image", None)):
        experiment.add_image("cams", sheet, global_step=step, dataformats="HWC")
        return True
    if callable(getattr(experiment, "log_image", None)) and getattr(logger, "run_id", None) is not None:
        experiment.log_image(logger.run_id, sheet, artifact_file)
        return True
    return False
