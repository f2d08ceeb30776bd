"""Private helpers shared by the viz modules: array conversion, image validation, text blocks (Unicode)."""

from __future__ import annotations

from typing import Any

import numpy as np

from wsl.viz.text import draw_text, text_size


def to_numpy(array: Any) -> np.ndarray:
    """Numpy array from a numpy array, a torch tensor on any device (bfloat16 → float32) or a list."""
    if hasattr(array, "detach"):  # torch tensor, without importing torch here
        tensor = array.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":
            tensor = tensor.float()  # numpy has no bfloat16
        return tensor.numpy()
    return np.asarray(array)


def check_rgb(image: Any, name: str = "image") -> np.ndarray:
    """Validate a ``uint8 (H, W, 3)`` RGB image; a ``(H, W)`` or ``(H, W, 1)`` gray image becomes RGB."""
    image = to_numpy(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array; got shape {image.shape}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8; got dtype {image.dtype} (scale to 0..255 and cast first)")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name} must not be empty; got shape {image.shape}")
    return image


def check_color(color: Any, name: str = "color") -> tuple[int, int, int]:
    """Validate an RGB triple of ints in 0..255."""
    try:
        rgb = tuple(int(c) for c in color)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an (r, g, b) triple of ints; got {color!r}") from None
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise ValueError(f"{name} must be an (r, g, b) triple of ints in 0..255; got {color!r}")
    return rgb  # type: ignore[return-value]


def text_px(scale: float) -> int:
    """The font size in pixels of :func:`wsl.viz.text.draw_text` for an OpenCV-style font ``scale``:
    ``max(6, round(30 · scale))`` (scale 0.4 → 12 px; the mapping :mod:`wsl.viz.text` uses for Hershey)."""
    return max(6, round(30.0 * float(scale)))


def text_extent(text: Any, scale: float) -> tuple[int, int]:
    """``(width, height)`` in pixels of one line of ``text`` drawn at ``scale`` (:func:`text_block`)."""
    return text_size(str(text), text_px(scale))


def text_block(
    text: Any,
    scale: float,
    color: tuple[int, int, int],
    background: tuple[int, int, int],
    pad: int = 1,
) -> np.ndarray:
    """A tight ``uint8 (h + 2·pad, w + 2·pad, 3)`` RGB image of one line of Unicode text on a solid
    background, ``(w, h) = text_extent(text, scale)``; drawn by :func:`wsl.viz.text.draw_text` (TrueType
    fonts, so "Fußball" and "鸟" are drawn, not "?")."""
    width, height = text_extent(text, scale)
    block = np.empty((height + 2 * pad, width + 2 * pad, 3), np.uint8)
    block[:] = background
    draw_text(block, str(text), (pad, pad), text_px(scale), color)
    return block
