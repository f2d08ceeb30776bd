"""The exported picture of one (image, class): overlay, boxes, colour bar, caption; and its thumbnail.

**Overlay PNG** (``uint8`` RGB): the CAM (min–max normalised, ``inferno``) blended over the original
image at its original size ``(H, W)`` in the top-left ``H × W`` pixels, ground-truth boxes of that
class in :data:`~wsl.viz.GT_COLOR` (green), predicted boxes in :data:`~wsl.viz.PRED_COLOR` (red), a
colour bar to the right (1 at the top, 0 at the bottom) and, below, a white caption strip with
``"<class> <score>"``, ``IoU <best IoU>`` when the image has boxes of that class, and the image id.
The score is the class probability (sigmoid of the logit for multi-label models, softmax over the
classes for single-label ones). Predicted boxes follow the metrics' rule exactly: they are
:func:`wsl.metrics.boxes.quantized_to_boxes` at ``threshold`` of the 8-bit map the metrics score,
:attr:`wsl.cam.CamBatch.quantized` (not quantised again; equal to :func:`wsl.metrics.cam_to_boxes` of
the pipeline's float CAM, since normalising a normalised map is the identity): by default the largest
contour's box as in MaxBoxAcc (``multi_contour=False``), or every contour's box as in MaxBoxAccV2.
The IoU is the best inclusive IoU over predicted boxes × ground-truth boxes of the class
(``difficult`` boxes included, as in the evaluator) — the quantity MaxBoxAcc thresholds at 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from wsl.metrics.boxes import box_iou_inclusive, quantized_to_boxes
from wsl.metrics.normalize import quantize_cam
from wsl.viz._utils import text_block
from wsl.viz.boxes import GT_COLOR, PRED_COLOR, draw_boxes
from wsl.viz.overlay import add_colorbar, overlay_cam

__all__ = ["CamPanel", "ColorbarCache", "PanelStyle", "caption_strip", "render_overlay", "thumbnail"]

_CAPTION_SCALE = 0.4
_CAPTION_COLOR = (0, 0, 0)
_CAPTION_BG = (255, 255, 255)


def _box_thickness(height: int, width: int) -> int:
    return 1 + min(height, width) // 128


def caption_strip(lines: Sequence[str], width: int) -> np.ndarray:
    """A white ``uint8 (h, w, 3)`` strip, one black (Unicode) text line per entry, at least ``width`` wide."""
    blocks = [text_block(line, _CAPTION_SCALE, _CAPTION_COLOR, _CAPTION_BG, pad=2) for line in lines]
    strip_w = max([width, *(b.shape[1] for b in blocks)])
    strip = np.empty((sum(b.shape[0] for b in blocks) + 2, strip_w, 3), np.uint8)
    strip[:] = _CAPTION_BG
    y = 1
    for block in blocks:
        strip[y : y + block.shape[0], : block.shape[1]] = block
        y += block.shape[0]
    return strip


class ColorbarCache:
    """Colour bar strips by image height (a strip depends only on the height and the colormap).

    Example:
        >>> ColorbarCache("inferno")(64).shape[0]
        64
    """

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
        colorbar: a precomputed colour bar strip of height ``H`` (:class:`ColorbarCache`), or None.

    Returns:
        ``uint8`` RGB image whose top-left ``(H, W)`` pixels are the overlay with its boxes; the colour
        bar is to its right and the caption strip (white, possibly wider) below.

    Example:
        >>> render_overlay(np.zeros((30, 50, 3), np.uint8), np.random.rand(30, 50)).shape[0]
        30
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
    strip = caption_strip(caption, out.shape[1])
    if strip.shape[1] > out.shape[1]:
        pad = np.empty((out.shape[0], strip.shape[1] - out.shape[1], 3), np.uint8)
        pad[:] = _CAPTION_BG
        out = np.concatenate([out, pad], axis=1)
    return np.concatenate([out, strip], axis=0)


def thumbnail(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` shrunk (area interpolation) so that its longest side is ``size``."""
    factor = size / max(image.shape[:2])
    new = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return cv2.resize(image, new, interpolation=cv2.INTER_AREA)


@dataclass
class PanelStyle:
    """How the (image, class) pictures of one export are drawn and boxed.

    Attributes:
        threshold: box threshold in [0, 1) for :func:`wsl.metrics.boxes.quantized_to_boxes`.
        multi_contour: every contour's box (MaxBoxAccV2) instead of the largest one (MaxBoxAcc).
        alpha: overlay weight of the CAM colours.
        colormap: colormap name.
    """

    threshold: float
    multi_contour: bool = False
    alpha: float = 0.5
    colormap: str = "inferno"
    colorbar: ColorbarCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.colorbar = ColorbarCache(self.colormap)


@dataclass(frozen=True)
class CamPanel:
    """The boxes, IoU and picture of one (image, class).

    Attributes:
        pred_boxes: ``(P, 4)`` int64 predicted boxes (inclusive ``xyxy``).
        iou: best IoU of the predicted boxes with the class's ground-truth boxes, None without any.
        picture: the ``uint8`` RGB picture of :func:`render_overlay`.
    """

    pred_boxes: np.ndarray
    iou: float | None
    picture: np.ndarray

    @classmethod
    def draw(
        cls,
        image: np.ndarray,
        cam: np.ndarray,
        gt_boxes: np.ndarray | None,
        title: str,
        image_id: str,
        style: PanelStyle,
        quantized: np.ndarray | None = None,
    ) -> CamPanel:
        """Boxes of ``cam`` at the style's threshold, their IoU with ``gt_boxes`` and the captioned picture.

        The boxes are ``quantized_to_boxes(q, threshold)`` with ``q = quantized`` (the pipeline's
        :attr:`wsl.cam.CamBatch.quantized` map of ``cam``), else ``q = quantize_cam(cam)``; the colours
        come from ``cam``.

        Args:
            image: ``uint8 (H, W, 3)`` original image.
            cam: ``(H, W)`` normalised CAM of the class.
            gt_boxes: ``(K, 4)`` ground-truth boxes of the class, or None when the image has no boxes.
            title: first caption words, ``"<class> <score>"``.
            image_id: the image id (second caption line, cut to 40 characters).
            style: threshold, contour mode and colours.
            quantized: ``uint8 (H, W)`` quantised ``cam`` (None: quantised here).
        """
        q = quantize_cam(cam) if quantized is None else quantized
        pred = quantized_to_boxes(q, style.threshold, multi_contour=style.multi_contour)
        has_gt = gt_boxes is not None and len(gt_boxes) > 0
        iou = float(box_iou_inclusive(pred, gt_boxes).max()) if has_gt else None
        text = title + (f"  IoU {iou:.2f}" if iou is not None else "")
        picture = render_overlay(
            image,
            cam,
            gt_boxes,
            pred,
            caption=[text, image_id[:40]],
            alpha=style.alpha,
            colormap=style.colormap,
            colorbar=style.colorbar(image.shape[0]),
        )
        return cls(pred_boxes=pred, iou=iou, picture=picture)
