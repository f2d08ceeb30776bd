"""The center baseline: one fixed centred Gaussian as the CAM of every image and class.

It knows nothing about the image, so it is the floor every localization method must beat (high on data
whose objects sit near the centre). clovaai/wsolevaluation's code holds no center map to copy (its
``inference.py`` and ``evaluation.py`` only score a network's CAMs), so this is a fixed centred Gaussian
of our own choosing, with these parameters:

    g(y, x) = exp(−½ · [((y − c_y) / (σ·H))² + ((x − c_x) / (σ·W))²]),   c = ((H − 1)/2, (W − 1)/2),

on the pixel centres of the (H, W) frame (the image, or wsolevaluation's 224×224), ``σ`` = 0.25 of each
side by default. The map is a decreasing function of one normalised distance to the centre, so every
threshold cuts out a centred ellipse with the image's aspect ratio: MaxBoxAcc is that of the best such
ellipse on the threshold grid, PxAP ranks the pixels by that distance, and ``σ`` only moves which
threshold picks which ellipse (up to the threshold grid and the 8-bit quantisation). The pointing game
always points at the centre pixel (the first of the central ones in row-major order on even sides).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import torch

from wsl.cam.frames import frame_size

__all__ = ["CENTER_SIGMA", "center_map", "center_maps_of"]

#: Default standard deviation, as a fraction of each side.
CENTER_SIGMA = 0.25


def center_map(size: tuple[int, int], sigma: float = CENTER_SIGMA) -> torch.Tensor:
    """The centred Gaussian (H, W) float32 map of the module docstring, with its maximum 1 at the centre.

    Args:
        size: (H, W).
        sigma: standard deviation as a fraction of each side (> 0).

    Example:
        >>> m = center_map((3, 5))
        >>> float(m[1, 2]), bool(m[0, 0] < m[1, 1] < m[1, 2]), tuple(m.shape)
        (1.0, True, (3, 5))
    """
    if not (isinstance(sigma, int | float) and sigma > 0):
        raise ValueError(f"center sigma: got {sigma!r}; expected a positive fraction of the image side")
    h, w = int(size[0]), int(size[1])
    return _center_map(h, w, float(sigma)).clone()


@lru_cache(maxsize=64)
def _center_map(h: int, w: int, sigma: float) -> torch.Tensor:
    y = (torch.arange(h, dtype=torch.float64) - (h - 1) / 2) / (sigma * h)
    x = (torch.arange(w, dtype=torch.float64) - (w - 1) / 2) / (sigma * w)
    return torch.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2)).float()


def center_maps_of(
    batch: Mapping[str, Any], frame: str = "original", sigma: float = CENTER_SIGMA
) -> Callable[[int, list[int]], torch.Tensor]:
    """A ``maps_of(i, classes) -> (len(classes), H, W)`` source of center maps for a collated batch, made
    directly in the evaluation frame's size (no resampling), for
    :meth:`wsl.evaluation.LocalizationEvaluator.update_localization` or :meth:`wsl.cam.CamBatch.from_maps`.
    """
    sizes = [frame_size(frame, (int(s[0]), int(s[1]))) for s in batch["orig_size"]]
    center_map(sizes[0] if sizes else (1, 1), sigma)  # validates sigma once

    def maps_of(i: int, classes: list[int]) -> torch.Tensor:
        return _center_map(*sizes[i], float(sigma)).expand(len(classes), *sizes[i])

    return maps_of
