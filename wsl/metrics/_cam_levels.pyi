"""Types of the compiled core ``wsl/metrics/_cam_levels.c`` (built by ``pip install``; optional)."""

import numpy as np
from typing_extensions import Buffer

def best_ious_per_value(
    q: Buffer | np.ndarray, height: int, width: int, gt: Buffer | np.ndarray, multi_contour: bool, /
) -> bytes:
    """``q``: C-contiguous uint8 (height, width) map; ``gt``: C-contiguous int64 (K, 4) inclusive boxes.

    Returns 256 native float64 values: entry v in 1..max(q) is the best IoU between the boxes of the
    foreground ``q >= v`` and the GT boxes; the other entries are 0.
    """

def best_ious_per_value_both(
    q: Buffer | np.ndarray, height: int, width: int, gt: Buffer | np.ndarray, /
) -> bytes:
    """Both contour modes from one sort of the values and one foreground union-find.

    Returns 512 native float64 values: the first 256 are ``best_ious_per_value(q, h, w, gt, False)``
    (the largest contour's box), the last 256 ``best_ious_per_value(q, h, w, gt, True)`` (every contour).
    """
