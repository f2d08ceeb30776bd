"""The three steps from a class map to a scored CAM: upsample, normalise, quantise.

A class map is the (h, w) score map of one class that the pooling head reduces to the image score.
The CAM used for evaluation and pictures is that map bilinearly upsampled to the original image size
(the evaluation transform is a plain resize of the whole image, so the map covers the whole image),
min–max normalised per map in float64 (a constant or non-finite map becomes zeros), and, for the box
rule, truncated to 8 bits. Normalisation and quantisation are defined once, in numpy, in
:mod:`wsl.metrics.normalize`; :func:`normalize_cams` / :func:`quantize_cams` are their batched torch
front ends, as the metrics' ``normalize_cam`` / ``quantize_cam`` are their one-map front ends.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from wsl.metrics.normalize import map_ranges, normalize_maps, quantize_maps

__all__ = ["upsample_class_maps", "normalize_cams", "quantize_cams", "cam_range"]


def upsample_class_maps(class_maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly upsample class maps to ``size`` (``align_corners=False``), in float32.

    Args:
        class_maps: (N, C, h, w) or (C, h, w) float tensor of per-class scores.
        size: target (H, W), usually the original image size.

    Returns:
        Tensor of the same rank with spatial size (H, W), in float32.

    Example:
        >>> upsample_class_maps(torch.zeros(2, 6, 8, 8), (128, 96)).shape
        torch.Size([2, 6, 128, 96])
    """
    if class_maps.dim() not in (3, 4):
        raise ValueError(f"class_maps must be (N, C, h, w) or (C, h, w); got shape {tuple(class_maps.shape)}")
    size = (int(size[0]), int(size[1]))
    if tuple(class_maps.shape[-2:]) == size:  # bilinear at scale 1 (align_corners=False) is the identity
        return class_maps.float()
    squeeze = class_maps.dim() == 3
    maps = class_maps.unsqueeze(0) if squeeze else class_maps
    cams = F.interpolate(maps.float(), size=size, mode="bilinear", align_corners=False)
    return cams[0] if squeeze else cams


_NUMPY_DTYPES = {torch.float64: np.float64, torch.float32: np.float32}


def _host_array(cams: torch.Tensor) -> np.ndarray:
    """The values of ``cams`` as a numpy array on the host (bfloat16, which numpy lacks, widened exactly)."""
    cams = cams.detach().cpu()
    return (cams.float() if cams.dtype == torch.bfloat16 else cams).numpy()


def _numpy_dtype(dtype: torch.dtype) -> type:
    if dtype not in _NUMPY_DTYPES:
        raise ValueError(f"dtype must be torch.float64 or torch.float32; got {dtype}")
    return _NUMPY_DTYPES[dtype]


def normalize_cams(cams: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Min–max normalise every (H, W) map of ``cams`` to [0, 1], computed in ``dtype``, returned in float64.

    cam' = (cam − min) / (max − min); a map whose range is zero or which holds NaN/±Inf becomes zeros.
    float64 because the 8-bit truncation that follows is sensitive to the last bit: this is
    wsolevaluation's ``normalize_scoremap`` (which works on float64 maps). ``dtype=torch.float32``
    computes in float32 (kept for callers that want it; no frame uses it). The arithmetic is
    :func:`wsl.metrics.normalize.normalize_maps` (numpy, the one definition); the result is on the
    device of ``cams``.

    Args:
        cams: (..., H, W) float tensor.
        dtype: the precision of the arithmetic (float64 or float32).

    Returns:
        float64 tensor of the same shape in [0, 1].

    Example:
        >>> normalize_cams(torch.tensor([[[1.0, 3.0]], [[2.0, 2.0]]]))
        tensor([[[0., 1.]],
        <BLANKLINE>
                [[0., 0.]]], dtype=torch.float64)
    """
    out = torch.from_numpy(normalize_maps(_host_array(cams), _numpy_dtype(dtype)))
    return out.to(cams.device)


def quantize_cams(normalized: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``uint8(trunc(cam · 255))`` of maps already in [0, 1]: the 8-bit maps the box rule thresholds.

    The arithmetic is :func:`wsl.metrics.normalize.quantize_maps` (numpy); the result is on the device
    of ``normalized``.

    Args:
        normalized: (..., H, W) output of :func:`normalize_cams`.
        dtype: the precision of the product (float64 in both frames, as wsolevaluation's
            ``(scoremap * 255)`` on its float64 maps).

    Returns:
        uint8 tensor of the same shape.

    Example:
        >>> quantize_cams(torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
        tensor([  0, 127, 255], dtype=torch.uint8)
    """
    out = torch.from_numpy(quantize_maps(_host_array(normalized), _numpy_dtype(dtype)))
    return out.to(normalized.device)


def cam_range(cams: torch.Tensor) -> torch.Tensor:
    """``(..., 2)`` float64 ``[min, max]`` of every (H, W) map: the raw values are ``lo + cam'·(hi − lo)``."""
    return torch.from_numpy(map_ranges(_host_array(cams))).to(cams.device)
