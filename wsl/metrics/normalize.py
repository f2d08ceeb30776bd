"""The one min–max normalisation and 8-bit quantisation of CAMs (SPEC section 3, step 1), in numpy.

cam' = (cam − min) / (max − min) per (H, W) map, in float64 (wsolevaluation's ``normalize_scoremap`` on
its float64 maps); a map whose range is zero or which holds NaN/±Inf becomes zeros.
q = uint8(trunc(cam' · 255)), the map the box rule thresholds.

:func:`normalize_maps` and :func:`quantize_maps` are the definitions; every other entry point delegates
to them: :func:`normalize_cam` / :func:`quantize_cam` (one map, numpy or torch, checked) here, and
:func:`wsl.cam.normalize_cams` / :func:`wsl.cam.quantize_cams` (torch, batched) in the CAM pipeline.
Plain numpy on purpose: a map is small work, which torch's intra-op thread pool makes slower, not
faster, on a busy machine (issue 35 item 12).
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalize_maps", "quantize_maps", "map_ranges", "normalize_cam", "quantize_cam"]


def _flat_maps(maps: np.ndarray) -> np.ndarray:
    if maps.ndim < 2:
        raise ValueError(f"maps must be (..., H, W); got shape {maps.shape}")
    return maps.reshape(-1, *maps.shape[-2:])


def normalize_maps(maps: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Min–max normalise every (H, W) map of ``maps`` to [0, 1], computed in ``dtype``, returned in float64.

    cam' = (cam − min) / (max − min); a map with max = min, or with a NaN/±Inf (whose min or max is then
    not finite), becomes zeros. ``dtype=np.float32`` computes in float32 (no frame uses it).

    Args:
        maps: (..., H, W) real array with H, W >= 1.
        dtype: the precision of the arithmetic, ``np.float64`` or ``np.float32``.

    Returns:
        float64 array of the same shape in [0, 1].

    Example:
        >>> normalize_maps(np.array([[[1.0, 3.0]], [[2.0, 2.0]]])).tolist()
        [[[0.0, 1.0]], [[0.0, 0.0]]]
    """
    work: np.ndarray = np.asarray(maps).astype(dtype, copy=False)
    out = np.zeros(work.shape, dtype=np.float64)
    for cam, dst in zip(_flat_maps(work), _flat_maps(out), strict=True):
        lo, hi = cam.min(), cam.max()
        if np.isfinite(lo) and np.isfinite(hi) and hi > lo:  # NaN propagates into min and max
            dst[...] = (cam - lo) / (hi - lo)
    return out


def quantize_maps(normalized: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """``uint8(trunc(cam · 255))`` of maps already in [0, 1], the product computed in ``dtype``.

    Example:
        >>> quantize_maps(np.array([0.0, 0.5, 1.0])).tolist()
        [0, 127, 255]
    """
    return (np.asarray(normalized).astype(dtype, copy=False) * 255).astype(np.uint8)


def map_ranges(maps: np.ndarray) -> np.ndarray:
    """``(..., 2)`` float64 ``[min, max]`` of every (H, W) map (NaN when the map holds one).

    Example:
        >>> map_ranges(np.array([[[1.0, 3.0]], [[2.0, 2.0]]])).tolist()
        [[1.0, 3.0], [2.0, 2.0]]
    """
    arr = np.asarray(maps).astype(np.float64, copy=False)
    flat = _flat_maps(arr)
    ranges = (
        np.stack([flat.min(axis=(1, 2)), flat.max(axis=(1, 2))], axis=-1) if len(flat) else np.zeros((0, 2))
    )
    return ranges.reshape(*arr.shape[:-2], 2)


def _as_2d_float64(cam, name: str = "cam") -> np.ndarray:
    if hasattr(cam, "detach"):  # torch tensor
        cam = cam.detach().cpu().double().numpy()
    arr = np.asarray(cam)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (H, W) map; got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have H, W >= 1; got shape {arr.shape}")
    real = np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    if arr.dtype == np.bool_ or not real:
        raise ValueError(f"{name} must be a real-valued (float or int) map; got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def normalize_cam(cam) -> np.ndarray:
    """Min–max normalise one CAM to [0, 1] in float64: :func:`normalize_maps` of one checked map.

    cam' = (cam − min) / (max − min); a constant map or one holding NaN/±Inf becomes zeros.
    The arithmetic is float64 because the uint8 truncation that follows is sensitive to the last bit.

    Args:
        cam: (H, W) numpy array or torch tensor, any scale.

    Returns:
        (H, W) float64 array in [0, 1].

    Example:
        >>> normalize_cam(np.array([[1.0, 3.0]]))
        array([[0., 1.]])
    """
    return normalize_maps(_as_2d_float64(cam))


def _check_normalized(cam, name: str = "cam") -> np.ndarray:
    """Check that a map is already min–max normalised and return it as float64 (no copy when it is).

    Normalised means what :func:`normalize_cam` returns: finite values in [0, 1]. The check is one
    min and one max, far cheaper than normalising again; it exists so that a raw map passed with
    ``normalized=True`` is an error instead of a silently wrong score.

    Args:
        cam: (H, W) float numpy array or torch tensor with values in [0, 1].
        name: the argument's name, for the error message.

    Returns:
        (H, W) float64 array, the same values.
    """
    arr = _as_2d_float64(cam, name)
    lo, hi = arr.min(), arr.max()
    if not (lo >= 0.0 and hi <= 1.0):  # also false for NaN
        raise ValueError(
            f"{name} must be min–max normalised to [0, 1] (as normalize_cam returns) when normalized=True; "
            f"got min {float(lo)!r}, max {float(hi)!r}"
        )
    return arr


def quantize_cam(cam, normalized: bool = False) -> np.ndarray:
    """``q = uint8(trunc(normalize_cam(cam) · 255))``: the 8-bit map that wsolevaluation thresholds.

    This is SPEC section 3 step 1 (:func:`quantize_maps` of one checked map); :class:`BoxAccuracy`
    takes its uint8 result as is.

    Args:
        cam: (H, W) map (numpy or torch), any scale; or, with ``normalized=True``, a map already
            min–max normalised to [0, 1] (e.g. from :func:`normalize_cam`), which is not normalised again.
        normalized: whether ``cam`` is already normalised; ``quantize_cam(normalize_cam(cam),
            normalized=True)`` equals ``quantize_cam(cam)`` bit for bit.

    Returns:
        (H, W) uint8 array.

    Example:
        >>> quantize_cam(np.array([[0.0, 0.5, 1.0]])).tolist()
        [[0, 127, 255]]
    """
    scores = _check_normalized(cam) if normalized else normalize_cam(cam)
    return quantize_maps(scores)
