"""VGG16-SPG's network as clovaai/wsolevaluation builds it (``wsol/vgg.py`` ``VggSpg``, commit 96f4b88).

Upstream's SPG network on VGG16 is not VGG16-CAM (:mod:`wsl.models.vgg_cam`) plus branches: its
``features`` stop after ``pool3`` (configuration ``spg``), torchvision's conv4 block becomes ``SPG_A_1``
and its conv5 block ``SPG_A_2`` (``batch_replace_layer``: ``features.17/19/21`` → ``SPG_A_1.0/2/4``,
``features.24/26/28`` → ``SPG_A_2.0/2/4``), between them a 3×3 / 2 max-pool with padding 1 only without
``large_feature_map`` (not VGG's 2×2 ``pool4``), then ``SPG_A_3`` = two new 3×3 convs 512→512 + ReLU
(Xavier-uniform, bias 0) and no ``conv6``. ``SPG_A_4`` (1×1 conv 512→C) is the CAM head's conv.

:class:`VGG16SPGBody` keeps upstream's module names, so its state-dict keys are upstream's
(``features.<i>``, ``SPG_A_1.<i>``, ``SPG_A_2.<i>``, ``SPG_A_3.<i>``); ``Pool4`` is the added max-pool
(``nn.Identity`` with ``large_feature_map``). Feature stages (``feature_info``): ``features.4`` (pool1, 64
ch, /2), ``features.9`` (pool2, 128, /4), ``features.16`` (pool3, 256, /8) and ``SPG_A_3`` (512, /16, or /8
with ``large_feature_map``): the last stage holds ``SPG_A_1``, ``SPG_A_2`` and ``SPG_A_3``, so
``head_lr_stages: 1`` (the VGG16 configs' value) gives upstream's VGG "classifier" lr group, everything
outside ``features.``.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from timm.models import FeatureInfo
from torch import nn

__all__ = ["VGG16SPGBody"]


class VGG16SPGBody(nn.Module):
    """wsolevaluation's VggSpg up to ``SPG_A_3``: images (N, 3, H, W) → [f (N, 512, H/s, W/s)], s = 16, or 8
    with ``large_feature_map`` (module docstring).

    Args:
        features: VGG16's 31 ``features`` modules (timm's or torchvision's; their weights are kept), or
            VGG16-CAM's named ``features`` (:class:`~wsl.models.vgg_cam.VGG16CAMBody`, 30 or 29 modules).
        large_feature_map: no max-pool between ``SPG_A_1`` and ``SPG_A_2`` (28×28 at 224 px).

    Raises:
        ValueError: ``features`` is not VGG16's layer sequence.
    """

    def __init__(self, features: nn.Sequential, large_feature_map: bool) -> None:
        super().__init__()
        layers = [m for m in features if not isinstance(m, nn.MaxPool2d)]
        convs = [m for m in layers if isinstance(m, nn.Conv2d)]
        if len(convs) != 13 or len(layers) != 26 or not all(isinstance(m, nn.ReLU) for m in layers[1::2]):
            raise ValueError(
                "features: expected VGG16's 13 conv 3×3 + ReLU layers (no batch norm); got "
                f"{len(convs)} convs in {len(list(features))} modules"
            )
        pools = [nn.MaxPool2d(kernel_size=2, stride=2) for _ in range(3)]
        ordered = layers[:4] + [pools[0]] + layers[4:8] + [pools[1]] + layers[8:14] + [pools[2]]
        self.large_feature_map = bool(large_feature_map)
        #: The timm config of the weights (set by whoever builds it; the family lookup reads it).
        self.pretrained_cfg: dict[str, Any] = {}
        self.features = nn.Sequential(*ordered)
        self.SPG_A_1 = nn.Sequential(*layers[14:20])
        self.Pool4 = nn.Identity() if large_feature_map else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.SPG_A_2 = nn.Sequential(*layers[20:26])
        self.SPG_A_3 = nn.Sequential(
            nn.Conv2d(512, 512, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(512, 512, kernel_size=3, padding=1),
            nn.ReLU(),
        )
        for conv in (cast(nn.Conv2d, self.SPG_A_3[0]), cast(nn.Conv2d, self.SPG_A_3[2])):
            nn.init.xavier_uniform_(conv.weight)
            nn.init.zeros_(cast(torch.Tensor, conv.bias))
        late = 8 if large_feature_map else 16
        self.feature_info = FeatureInfo(
            [
                {"num_chs": 64, "reduction": 2, "module": "features.4"},
                {"num_chs": 128, "reduction": 4, "module": "features.9"},
                {"num_chs": 256, "reduction": 8, "module": "features.16"},
                {"num_chs": 512, "reduction": late, "module": "SPG_A_3"},
            ],
            out_indices=(3,),
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.Pool4(self.SPG_A_1(self.features(images)))
        return [self.SPG_A_3(self.SPG_A_2(x))]
