"""Contact sheets: many RGB images in one grid image, each with an optional caption."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from wsl.viz._utils import check_color, check_rgb, text_block, text_extent

__all__ = ["contact_sheet", "fit_image"]

_CAPTION_SCALE = 0.35


def fit_image(
    image: Any,
    size: tuple[int, int],
    background: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """Resize an image to fit inside ``size`` with its aspect ratio kept, centred on a background.

    Args:
        image: ``uint8 (H, W, 3)`` RGB image.
        size: target ``(h, w)`` of the tile.
        background: RGB colour of the letterbox bars.

    Returns:
        ``uint8 (h, w, 3)`` RGB tile.
    """
    image = check_rgb(image)
    tile_h, tile_w = (int(s) for s in size)
    src_h, src_w = image.shape[:2]
    factor = min(tile_h / src_h, tile_w / src_w)
    new_h = min(tile_h, max(1, round(src_h * factor)))
    new_w = min(tile_w, max(1, round(src_w * factor)))
    if (new_h, new_w) != (src_h, src_w):
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
        image = cv2.resize(image, (new_w, new_h), interpolation=interp)
    tile = np.empty((tile_h, tile_w, 3), np.uint8)
    tile[:] = background
    y, x = (tile_h - new_h) // 2, (tile_w - new_w) // 2
    tile[y : y + new_h, x : x + new_w] = image
    return tile


def contact_sheet(
    images: Sequence[Any],
    ncols: int = 8,
    tile_size: tuple[int, int] | None = None,
    captions: Sequence[str] | None = None,
    pad: int = 4,
    background: tuple[int, int, int] = (255, 255, 255),
    text_color: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """Arrange images in a grid, row by row, with a caption strip under each tile.

    Geometry (tested): with ``n`` images, ``c = min(ncols, n)`` columns and ``r = ceil(n / c)`` rows,
    tiles of ``(th, tw)`` and a caption strip of height ``ch`` (0 without captions), the sheet is
    ``(r · (th + ch) + (r + 1) · pad, c · tw + (c + 1) · pad)`` and tile ``i`` starts at
    ``y = pad + (i // c) · (th + ch + pad)``, ``x = pad + (i % c) · (tw + pad)``.

    Args:
        images: non-empty list of ``uint8 (H, W, 3)`` RGB images of any sizes (gray ``(H, W)`` is
            accepted). Each is resized to fit its tile with the aspect ratio kept and letterboxed.
        ncols: maximum number of columns.
        tile_size: ``(th, tw)`` of every tile; ``None`` uses the largest height and width among the
            images.
        captions: optional one string per image, written (any Unicode, cut to the tile width) in a strip
            under its tile.
        pad: pixels of background between tiles and around the sheet.
        background: RGB colour of the padding, letterbox bars and caption strips.
        text_color: RGB colour of the captions.

    Returns:
        ``uint8`` RGB sheet.

    Example:
        >>> tiles = [np.zeros((32, 48, 3), np.uint8)] * 5
        >>> contact_sheet(tiles, ncols=4, pad=2).shape
        (70, 202, 3)
    """
    checked = _checked(images, ncols, pad, captions)
    background = check_color(background, "background")
    text_color = check_color(text_color, "text_color")
    if tile_size is None:
        tile_h = max(img.shape[0] for img in checked)
        tile_w = max(img.shape[1] for img in checked)
    else:
        if len(tile_size) != 2 or min(int(s) for s in tile_size) < 1:
            raise ValueError(f"tile_size must be (h, w) with h, w >= 1, or None; got {tile_size!r}")
        tile_h, tile_w = (int(s) for s in tile_size)

    caption_h = text_extent("Ag", _CAPTION_SCALE)[1] + 4 if captions is not None else 0
    cols = min(int(ncols), len(checked))
    rows = math.ceil(len(checked) / cols)
    sheet = np.empty(
        (rows * (tile_h + caption_h) + (rows + 1) * pad, cols * tile_w + (cols + 1) * pad, 3), np.uint8
    )
    sheet[:] = background
    for i, img in enumerate(checked):
        y = pad + (i // cols) * (tile_h + caption_h + pad)
        x = pad + (i % cols) * (tile_w + pad)
        sheet[y : y + tile_h, x : x + tile_w] = fit_image(img, (tile_h, tile_w), background)
        if captions is not None:
            text = _fit_text(str(captions[i]), tile_w)
            if text:
                block = text_block(text, _CAPTION_SCALE, text_color, background, pad=0)
                h, w = min(block.shape[0], caption_h - 2), min(block.shape[1], tile_w)
                sheet[y + tile_h + 2 : y + tile_h + 2 + h, x : x + w] = block[:h, :w]
    return sheet


def _checked(images: Sequence[Any], ncols: Any, pad: Any, captions: Sequence[str] | None) -> list[np.ndarray]:
    """The images as RGB arrays, after checking the arguments of :func:`contact_sheet`."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    if len(images) == 0:
        raise ValueError("images must be a non-empty list of (H, W, 3) uint8 arrays; got an empty list")
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be an int >= 1; got {ncols!r}")
    if isinstance(pad, bool) or not isinstance(pad, (int, np.integer)) or pad < 0:
        raise ValueError(f"pad must be an int >= 0; got {pad!r}")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"captions must have one string per image ({len(images)}); got {len(captions)}")
    return [check_rgb(img, f"images[{i}]") for i, img in enumerate(images)]


def _fit_text(text: str, width: int) -> str:
    """Cut ``text`` (ending it with '..') so that it fits in ``width`` pixels at the caption scale."""
    if text_extent(text, _CAPTION_SCALE)[0] <= width:
        return text
    while text and text_extent(text + "..", _CAPTION_SCALE)[0] > width:
        text = text[:-1]
    return text + ".." if text else ""
