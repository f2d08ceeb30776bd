"""The three steps from a class map to a scored CAM: upsample, normalise, quantise.

A class map is the (h, w) score map of one class that the pooling head reduces to the image score.
The CAM used for evaluation and pictures is that map bilinearly upsampled to the original image size
(the evaluation transform is a plain resize of the whole image, so the map covers the whole image),
min–max normalised per map in float64 (a constant or non-finite map becomes zeros), and, for the box
rule, truncated to 8 bits. These are the only implementations in ``wsl``; the metrics' numpy
``wsl.metrics.normalize_cam`` / ``quantize_cam`` compute exactly the same numbers for one map (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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


def normalize_cams(cams: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Min–max normalise every (H, W) map of ``cams`` to [0, 1], computed in ``dtype``, returned in float64.

    cam' = (cam − min) / (max − min); a map whose range is zero or which holds NaN/±Inf becomes zeros.
    float64 because the 8-bit truncation that follows is sensitive to the last bit: this is
    wsolevaluation's ``normalize_scoremap`` (which works on float64 maps). ``dtype=torch.float32``
    computes in float32 (kept for callers that want it; no frame uses it).

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
    flat = cams.to(dtype).flatten(-2)
    finite = torch.isfinite(flat).all(dim=-1, keepdim=True)
    lo = flat.amin(dim=-1, keepdim=True)
    hi = flat.amax(dim=-1, keepdim=True)
    span = hi - lo
    ok = finite & (span > 0)
    out = torch.where(ok, (flat - lo) / torch.where(ok, span, torch.ones_like(span)), torch.zeros_like(flat))
    return out.double().view(cams.shape)


def quantize_cams(normalized: torch.Tensor, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``uint8(trunc(cam · 255))`` of maps already in [0, 1]: the 8-bit maps the box rule thresholds.

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
    return (normalized.to(dtype) * 255).to(torch.uint8)


def cam_range(cams: torch.Tensor) -> torch.Tensor:
    """``(..., 2)`` float64 ``[min, max]`` of every (H, W) map: the raw values are ``lo + cam'·(hi − lo)``."""
    flat = cams.double().flatten(-2)
    return torch.stack([flat.amin(dim=-1), flat.amax(dim=-1)], dim=-1)
