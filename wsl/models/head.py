"""The WILDCAT-style classification head: 1×1 conv to C·M maps, class-wise mean, spatial pooling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from wsl.pooling import build_pool
from wsl.pooling.functional import class_wise_mean

__all__ = ["CAMHead", "HeadSpec"]


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


@dataclass(frozen=True)
class HeadSpec:
    """What :class:`CAMHead` a :class:`~wsl.models.WSLNet` gets, and how it starts.

    Attributes:
        pool: a pooling-head name from ``wsl.pooling.POOLS``.
        pool_kwargs: keyword arguments of that head.
        num_maps: M, maps per class.
        init: ``default`` (PyTorch's init of the 1×1 conv) or ``pretrained_fc`` (the pretrained ImageNet
            classifier, see :class:`~wsl.models.WSLNet`); WSLNet's ``head_init``.
    """

    pool: str = "weldon"
    pool_kwargs: dict[str, Any] | None = None
    num_maps: int = 1
    init: str = "default"

    def build(self, in_channels: int, num_classes: int) -> CAMHead:
        """The head on ``in_channels`` features for ``num_classes`` classes (``init`` is WSLNet's job)."""
        return CAMHead(in_channels, num_classes, self.pool, self.pool_kwargs, self.num_maps)
