"""CAM → colour image: colormaps, overlays on the input image and a colour bar.

Images are numpy ``uint8 (H, W, 3)`` **RGB** arrays; CAMs are ``float (H, W)`` arrays of any scale
(numpy arrays or CPU/GPU torch tensors). OpenCV's colormaps are BGR; every function here converts, so
callers never see BGR. A CAM is min–max normalised inside with the metrics' own
:func:`wsl.metrics.normalize_cam` (SPEC section 3; float64, and the identity on a map that the CAM
pipeline, :class:`wsl.cam.CamBatch`, already normalised): 0 is the coldest colour of the colormap, 1
the hottest, and a constant or non-finite map is all zeros (the coldest colour).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from wsl.metrics import normalize_cam
from wsl.registry import Registry
from wsl.viz._utils import check_rgb, text_block, text_extent, to_numpy

__all__ = ["COLORMAPS", "colormap_lut", "colorize_cam", "overlay_cam", "add_colorbar"]

#: Colormap names accepted by the functions of this package → OpenCV colormap ids.
#: ``inferno`` and ``viridis`` are perceptually uniform (the default is ``inferno``); ``turbo`` is a
#: smoother rainbow; ``jet`` is kept for comparison with older papers' figures.
COLORMAPS: Registry[int] = Registry("colormap")
for _name, _cv2_id in (
    ("inferno", cv2.COLORMAP_INFERNO),
    ("viridis", cv2.COLORMAP_VIRIDIS),
    ("turbo", cv2.COLORMAP_TURBO),
    ("jet", cv2.COLORMAP_JET),
):
    COLORMAPS.add(_name, _cv2_id)


def colormap_lut(colormap: str = "inferno") -> np.ndarray:
    """The 256-entry RGB lookup table of a colormap.

    Args:
        colormap: one of :data:`COLORMAPS`.

    Returns:
        ``uint8 (256, 3)`` RGB; row 0 is the colour of 0 (coldest), row 255 the colour of 1 (hottest).

    Example:
        >>> colormap_lut("inferno")[0].tolist()  # almost black
        [0, 0, 4]
    """
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    return cv2.applyColorMap(ramp, COLORMAPS.lookup(colormap))[:, 0, ::-1].copy()


def colorize_cam(cam: Any, colormap: str = "inferno") -> np.ndarray:
    """Colour a CAM with a colormap after min–max normalising it (:func:`wsl.metrics.normalize_cam`).

    Args:
        cam: ``(H, W)`` float map of any scale (numpy or torch).
        colormap: ``"inferno"`` (default, perceptual), ``"viridis"``, ``"turbo"`` or ``"jet"``.

    Returns:
        ``uint8 (H, W, 3)`` RGB image. The map's maximum gets the hottest colour, its minimum the
        coldest; a constant or NaN map is uniformly the coldest colour (``colormap_lut(colormap)[0]``).

    Example:
        >>> colorize_cam(np.random.rand(7, 5)).shape
        (7, 5, 3)
    """
    lut = colormap_lut(colormap)
    levels = np.rint(normalize_cam(cam) * 255.0).astype(np.uint8)
    return lut[levels]


def overlay_cam(
    image: Any,
    cam: Any,
    alpha: float = 0.5,
    colormap: str = "inferno",
) -> np.ndarray:
    """Blend a coloured CAM over an image: ``(1 − alpha) · image + alpha · colorize_cam(cam)``.

    Args:
        image: ``uint8 (H, W, 3)`` RGB image.
        cam: ``(H, W)`` map, or ``(h, w)`` at any other resolution (e.g. the raw class map at the
            feature stride), which is bilinearly resized to ``(H, W)`` before normalising; the map is
            assumed to cover the whole image.
        alpha: weight of the colour map in [0, 1]; 0 returns the image, 1 the coloured map.
        colormap: see :func:`colorize_cam`.

    Returns:
        A new ``uint8 (H, W, 3)`` RGB image.

    Example:
        >>> img = np.zeros((64, 48, 3), np.uint8)
        >>> overlay_cam(img, np.random.rand(8, 6)).shape
        (64, 48, 3)
    """
    image = check_rgb(image, "image")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha!r}")
    cam = to_numpy(cam)
    if cam.ndim != 2:
        raise ValueError(f"cam must be a 2-D (h, w) map; got shape {cam.shape}")
    height, width = image.shape[:2]
    cam = cam.astype(np.float64)
    if cam.shape != (height, width):
        if cam.size == 0:
            raise ValueError(f"cam must not be empty; got shape {cam.shape}")
        cam = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    colour = colorize_cam(cam, colormap).astype(np.float32)
    blended = (1.0 - float(alpha)) * image.astype(np.float32) + float(alpha) * colour
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def add_colorbar(
    image: Any,
    colormap: str = "inferno",
    label: str | None = None,
    background: tuple[int, int, int] = (255, 255, 255),
    text_color: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """Append a vertical colour bar (1 at the top, 0 at the bottom) to the right of an image.

    Args:
        image: ``uint8 (H, W, 3)`` RGB image, usually an overlay.
        colormap: the colormap the image was coloured with.
        label: optional text written vertically (bottom to top) beside the bar, e.g. ``"CAM (normalised)"``.
        background: RGB colour of the strip.
        text_color: RGB colour of the tick labels and the label.

    Returns:
        ``uint8 (H, W + strip, 3)`` RGB image; the input occupies the left ``W`` columns unchanged.
    """
    image = check_rgb(image, "image")
    height = image.shape[0]
    lut = colormap_lut(colormap)
    scale = float(np.clip(height / 400.0, 0.3, 0.8))
    tick_w, tick_h = text_extent("0", scale)
    margin = max(2, height // 40)
    bar_w = max(6, height // 25)
    gap = max(2, bar_w // 3)
    label_img = _bar_label(label, scale, text_color, background, max(1, height - 2 * margin))
    label_w = 0 if label_img is None else label_img.shape[1] + gap
    strip = np.empty((height, margin + bar_w + gap + tick_w + gap + label_w, 3), np.uint8)
    strip[:] = background

    # Bar: keep the tick text inside the image, so the bar spans tick_h/2 from the top and bottom.
    top = margin + tick_h // 2
    bottom = height - margin - tick_h // 2  # exclusive
    if bottom - top >= 2:
        levels = np.rint(np.linspace(255, 0, bottom - top)).astype(np.int64)
        strip[top:bottom, margin : margin + bar_w] = lut[levels][:, None, :]
    else:  # a tiny image: fill the whole height
        levels = np.rint(np.linspace(255, 0, height)).astype(np.int64)
        strip[:, margin : margin + bar_w] = lut[levels][:, None, :]
        top, bottom = 0, height
    text_x = margin + bar_w + gap
    for tick, centre in (("1", top), ("0", bottom - 1)):  # each tick's text centred on its end of the bar
        _paste(strip, text_block(tick, scale, text_color, background, pad=0), centre - tick_h // 2, text_x)
    if label_img is not None:
        _paste(strip, label_img, (height - label_img.shape[0]) // 2, text_x + tick_w + gap)
    return np.concatenate([image, strip], axis=1)


def _bar_label(
    label: str | None, scale: float, color: tuple[int, int, int], background: tuple[int, int, int], room: int
) -> np.ndarray | None:
    """The colour bar's label read bottom to top, cropped to ``room`` rows keeping its start; None: none."""
    if not label:
        return None
    block = np.rot90(text_block(label, scale, color, background, pad=1))
    return block[block.shape[0] - room :] if block.shape[0] > room else block


def _paste(canvas: np.ndarray, block: np.ndarray, y: int, x: int) -> None:
    """Copy ``block`` into ``canvas`` with its top-left corner at ``(y, x)``, clipped to the canvas."""
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + block.shape[0], canvas.shape[0]), min(x + block.shape[1], canvas.shape[1])
    if y0 < y1 and x0 < x1:
        canvas[y0:y1, x0:x1] = block[y0 - y : y1 - y, x0 - x : x1 - x]
