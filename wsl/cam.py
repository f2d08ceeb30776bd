"""Class maps → class activation maps (CAMs) at the image resolution.

A class map is the (h, w) score map of one class that the pooling head reduces to the image score.
The CAM used for evaluation and pictures is that map bilinearly upsampled to the original image size
(the evaluation transform is a plain resize of the whole image, so the map covers the whole image)
and, where a [0, 1] map is needed, min–max normalised per map (a constant or non-finite map → zeros).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["upsample_class_maps", "normalize_cams"]


def upsample_class_maps(class_maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly upsample class maps to ``size``.

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
    squeeze = class_maps.dim() == 3
    maps = class_maps.unsqueeze(0) if squeeze else class_maps
    cams = F.interpolate(maps.float(), size=tuple(int(s) for s in size), mode="bilinear", align_corners=False)
    return cams[0] if squeeze else cams


def normalize_cams(cams: torch.Tensor) -> torch.Tensor:
    """Min–max normalise every (H, W) map of ``cams`` to [0, 1].

    cam' = (cam − min) / (max − min); a map whose range is zero or which holds NaN/Inf becomes zeros.

    Args:
        cams: (..., H, W) float tensor.

    Returns:
        Tensor of the same shape in [0, 1].
    """
    flat = cams.float().flatten(-2)
    finite = torch.isfinite(flat).all(dim=-1, keepdim=True)
    lo = flat.amin(dim=-1, keepdim=True)
    hi = flat.amax(dim=-1, keepdim=True)
    span = hi - lo
    ok = finite & (span > 0)
    out = torch.where(ok, (flat - lo) / torch.where(ok, span, torch.ones_like(span)), torch.zeros_like(flat))
    return out.view_as(cams)
