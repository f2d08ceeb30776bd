"""The WILDCAT-style classification head: 1×1 conv to C·M maps, class-wise mean, spatial pooling."""

from __future__ import annotations

import torch
from torch import nn

from wsl.pooling import build_pool
from wsl.pooling.functional import class_wise_mean

__all__ = ["CAMHead"]


class CAMHead(nn.Module):
    """Features (N, D, h, w) → (scores (N, C), class maps (N, C, h, w)).

    maps = conv1x1(features) ∈ R^(N, C·M, h, w); class_maps_c = (1/M) Σ_m maps_(c·M+m);
    scores_c = pool(class_maps_c). With M = 1 and a GAP pool the class maps are the classic CAM of
    Zhou et al. (W·features + b).

    Args:
        in_channels: D.
        num_classes: C.
        pool: a pooling-head name from ``wsl.pooling.POOLS``.
        pool_kwargs: keyword arguments of that head (e.g. ``{"kmax": 0.2, "alpha": 0.7}`` for weldon).
        num_maps: M, maps per class.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        pool: str = "weldon",
        pool_kwargs: dict | None = None,
        num_maps: int = 1,
    ) -> None:
        super().__init__()
        if num_maps < 1:
            raise ValueError(f"num_maps must be >= 1; got {num_maps}")
        self.num_classes = num_classes
        self.num_maps = num_maps
        self.conv = nn.Conv2d(in_channels, num_classes * num_maps, kernel_size=1)
        self.pool = build_pool(pool, num_classes=num_classes, **(pool_kwargs or {}))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        class_maps = class_wise_mean(self.conv(features), self.num_classes)
        return self.pool(class_maps), class_maps
