"""Boxes and legible text on RGB images.

Boxes follow the project convention (docs/design.md): ``(x0, y0, x1, y1)``, 0-based, **inclusive**
pixel coordinates. :func:`draw_boxes` draws a rectangle whose *outer* edge is exactly columns x0..x1
and rows y0..y1, growing inwards with ``thickness``, so a drawn box never covers a pixel outside the
box it shows (OpenCV's ``cv2.rectangle`` centres thick lines on the edge instead).
By convention ground truth is drawn in :data:`GT_COLOR` (green) and predictions in
:data:`PRED_COLOR` (red).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from wsl.viz._utils import check_color, check_rgb, text_block, text_extent, text_px, to_numpy
from wsl.viz.text import draw_text

__all__ = ["GT_COLOR", "PRED_COLOR", "draw_boxes", "put_text"]

#: RGB colour of ground-truth boxes.
GT_COLOR: tuple[int, int, int] = (0, 255, 0)
#: RGB colour of predicted boxes.
PRED_COLOR: tuple[int, int, int] = (255, 48, 48)


def draw_boxes(
    image: Any,
    boxes: Any,
    color: tuple[int, int, int] | Sequence[tuple[int, int, int]] = PRED_COLOR,
    thickness: int = 2,
    labels: Sequence[str] | None = None,
    text_scale: float = 0.4,
) -> np.ndarray:
    """Draw inclusive ``xyxy`` boxes on a copy of an image.

    Args:
        image: ``uint8 (H, W, 3)`` RGB image (not modified).
        boxes: ``(K, 4)`` ``(x0, y0, x1, y1)`` 0-based inclusive pixel boxes (numpy or torch; floats
            are rounded). ``K = 0`` is allowed. Parts outside the image are not drawn.
        color: one RGB triple for all boxes, or a sequence of K triples.
        thickness: line width in pixels, ≥ 1, growing inwards from the box edge.
        labels: optional K strings written at each box's top-left corner (on a dark background).
        text_scale: font scale of the labels (see :func:`put_text`).

    Returns:
        A new ``uint8 (H, W, 3)`` RGB image.

    Example:
        >>> img = draw_boxes(np.zeros((10, 10, 3), np.uint8), [[2, 3, 5, 7]], (0, 255, 0), thickness=1)
        >>> img[3, 2:6, 1].tolist(), int(img[3, 6, 1])
        ([255, 255, 255, 255], 0)
    """
    out = check_rgb(image).copy()
    boxes_xyxy = _checked_boxes(boxes)
    if isinstance(thickness, bool) or not isinstance(thickness, (int, np.integer)) or thickness < 1:
        raise ValueError(f"thickness must be an int >= 1; got {thickness!r}")
    num = boxes_xyxy.shape[0]
    colors = _per_box_colors(color, num)
    if labels is not None and len(labels) != num:
        raise ValueError(f"labels must have one string per box ({num}); got {len(labels)}")

    height, width = out.shape[:2]
    for (x0, y0, x1, y1), rgb in zip(boxes_xyxy.tolist(), colors, strict=True):
        t = int(thickness)
        # Four bands, each clipped to the image; a thick line never extends outside the box.
        for ya, yb, xa, xb in (
            (y0, min(y0 + t - 1, y1), x0, x1),  # top
            (max(y1 - t + 1, y0), y1, x0, x1),  # bottom
            (y0, y1, x0, min(x0 + t - 1, x1)),  # left
            (y0, y1, max(x1 - t + 1, x0), x1),  # right
        ):
            ya, yb = max(ya, 0), min(yb, height - 1)
            xa, xb = max(xa, 0), min(xb, width - 1)
            if ya <= yb and xa <= xb:
                out[ya : yb + 1, xa : xb + 1] = rgb
    if labels is not None:
        out = _draw_labels(out, boxes_xyxy, colors, labels, text_scale, int(thickness))
    return out


def _checked_boxes(boxes: Any) -> np.ndarray:
    """``(K, 4)`` int64 inclusive ``xyxy`` boxes (rounded), after checking their shape and order."""
    boxes_xyxy = to_numpy(boxes)
    if boxes_xyxy.size == 0:
        boxes_xyxy = boxes_xyxy.reshape(0, 4)
    if boxes_xyxy.ndim == 1 and boxes_xyxy.shape[0] == 4:
        boxes_xyxy = boxes_xyxy[None]
    if boxes_xyxy.ndim != 2 or boxes_xyxy.shape[1] != 4:
        raise ValueError(f"boxes must be a (K, 4) array of (x0, y0, x1, y1); got shape {boxes_xyxy.shape}")
    if not np.issubdtype(boxes_xyxy.dtype, np.number) or not np.isfinite(boxes_xyxy).all():
        raise ValueError(f"boxes must hold finite numbers; got {boxes_xyxy.tolist()}")
    boxes_xyxy = np.rint(boxes_xyxy).astype(np.int64)
    bad = (boxes_xyxy[:, 2] < boxes_xyxy[:, 0]) | (boxes_xyxy[:, 3] < boxes_xyxy[:, 1])
    if bad.any():
        raise ValueError(f"boxes need x1 >= x0 and y1 >= y0 (inclusive xyxy); got {boxes_xyxy[bad].tolist()}")
    return boxes_xyxy


def _draw_labels(
    out: np.ndarray,
    boxes: np.ndarray,
    colors: list[tuple[int, int, int]],
    labels: Sequence[str],
    scale: float,
    thickness: int,
) -> np.ndarray:
    """Each box's label at its top-left corner: above the box when there is room, else inside its top edge."""
    block_h = text_extent("Ag", scale)[1] + 4  # put_text's block: the line and 2 px of padding each side
    for (x0, y0, _, _), rgb, text in zip(boxes.tolist(), colors, labels, strict=True):
        y = y0 - block_h if y0 - block_h >= 0 else y0 + thickness
        out = put_text(out, str(text), (x0, y), color=rgb, scale=scale)
    return out


def put_text(
    image: Any,
    text: str,
    org: tuple[int, int],
    color: tuple[int, int, int] = (255, 255, 255),
    scale: float = 0.4,
    background: tuple[int, int, int] | None = (0, 0, 0),
    thickness: int = 1,
) -> np.ndarray:
    """Write one line of text on a dark box, on a copy of an image.

    Args:
        image: ``uint8 (H, W, 3)`` RGB image (not modified).
        text: the text, any Unicode (drawn with TrueType fonts by :func:`wsl.viz.text.draw_text`).
        org: ``(x, y)`` of the **top-left** corner of the text box (not OpenCV's baseline origin). The
            box is shifted to stay inside the image where it fits.
        color: RGB text colour.
        scale: font scale as OpenCV's (the font is ``round(30 · scale)`` px: 0.4 gives 12 px).
        background: RGB colour of the box behind the text, or ``None`` for no box.
        thickness: accepted for compatibility; TrueType glyphs are drawn at the font's own weight.

    Returns:
        A new ``uint8 (H, W, 3)`` RGB image.
    """
    out = check_rgb(image).copy()
    rgb = check_color(color)
    if not scale > 0:
        raise ValueError(f"scale must be > 0; got {scale!r}")
    text = str(text)
    if not text:
        return out
    bg = check_color(background, "background") if background is not None else None
    block = text_block(text, scale, rgb, bg if bg is not None else (0, 0, 0), pad=2)
    height, width = out.shape[:2]
    bh, bw = block.shape[:2]
    x = int(min(max(int(org[0]), 0), max(width - bw, 0)))
    y = int(min(max(int(org[1]), 0), max(height - bh, 0)))
    h, w = min(bh, height - y), min(bw, width - x)
    if bg is not None:
        out[y : y + h, x : x + w] = block[:h, :w]
    else:  # draw the glyphs straight onto the image
        out = np.ascontiguousarray(out)
        draw_text(out, text, (x + 2, y + 2), text_px(scale), rgb)
    return out


def _per_box_colors(color: Any, num: int) -> list[tuple[int, int, int]]:
    """One RGB triple per box from a single triple or a sequence of K triples."""
    if len(color) == 3 and all(np.isscalar(c) for c in color):
        return [check_color(color)] * num
    if len(color) != num:
        raise ValueError(f"color must be one (r, g, b) triple or one per box ({num}); got {len(color)} items")
    return [check_color(c) for c in color]
