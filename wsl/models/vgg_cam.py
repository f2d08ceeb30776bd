"""VGG16-CAM as clovaai/wsolevaluation builds it (``wsol/vgg.py``, ``VggCam``, commit 96f4b88).

Upstream takes torchvision's VGG16 convolutions (weights ``vgg16-397923af.pth``, timm's ``vgg16.tv_in1k``),
drops ``pool5`` (14×14 at 224 px) and, with ``large_feature_map``, ``pool4`` too (28×28), and adds
``conv6`` = 3×3 conv 512→1024 (padding 1, He init: ``kaiming_normal_(fan_out, relu)``, bias 0) + ReLU.
Then ``logits = fc(GAP(f))`` with f = ReLU(conv6(…)) (N, 1024, h, w), and the CAM of class c is
``(fc.weight[c] · f) / 1024`` (no bias). In wsl the body below ends at f, and :class:`~wsl.models.CAMHead`'s
1×1 conv is ``fc``: class_maps[c] = W_c · f + b_c, a positive scale and a shift of upstream's CAM that the
per-image min–max normalisation removes, and GAP(W f + b) = W GAP(f) + b = upstream's logits.

Module names (``VGG16CAMBody``; inside a :class:`~wsl.models.Backbone` prefix them with ``body.``), for a
method that addresses a position by a dotted name:

- ``features``: an ``nn.Sequential`` of named layers, in execution order: ``conv1_1 relu1_1 conv1_2 relu1_2
  pool1``, ``conv2_1 relu2_1 conv2_2 relu2_2 pool2``, ``conv3_1 … relu3_3 pool3``, ``conv4_1 … relu4_3``,
  ``pool4`` (absent with ``large_feature_map``), ``conv5_1 … relu5_3``. ``pool5`` is never built.
  Upstream's ADL positions are after ``features.pool3``, ``features.relu4_3`` and ``features.relu5_3``.
- ``conv6``, ``relu6``: the added layer; ``relu6``'s output is the feature map the head sees.

Feature stages (``feature_info``, for ``head_lr_stages``): ``features.pool1`` (64 ch, /2),
``features.pool2`` (128, /4), ``features.pool3`` (256, /8), ``features.relu4_3`` (512, /8),
``features.relu5_3`` (512, /16 or /8 with ``large_feature_map``), ``relu6`` (1024, same). The last stage
holds only ``conv6``: ``head_lr_stages: 1`` gives upstream's parameter groups (``main.py``: everything
under ``features.`` at ``lr``, everything else, conv6 and fc, at ``lr × lr_classifier_ratio``).

Upstream's state-dict keys are ``features.<i>.weight`` with the index of its ``nn.Sequential`` (which
shifts after ``pool4`` when that pool is dropped), ``conv6.*`` and ``fc.*``:
:data:`VGG16_LAYER_NAMES` maps them (:mod:`wsl.models.wsolevaluation`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import cast

import torch
from timm.models import FeatureInfo
from torch import nn

__all__ = ["VGG16_LAYER_NAMES", "VGG16CAMBody", "init_vgg16_cam", "vgg16_cam_body", "vgg16_layer_names"]

#: Convolutions per block of VGG16 (torchvision's configuration "D").
_BLOCKS = (2, 2, 3, 3, 3)


def vgg16_layer_names(large_feature_map: bool) -> list[str]:
    """The names of upstream's ``features`` layers in order: its ``features.<i>`` is the i-th name.

    Example:
        >>> vgg16_layer_names(False)[:5]
        ['conv1_1', 'relu1_1', 'conv1_2', 'relu1_2', 'pool1']
        >>> len(vgg16_layer_names(False)), len(vgg16_layer_names(True))
        (30, 29)
    """
    names: list[str] = []
    for block, convs in enumerate(_BLOCKS, start=1):
        for k in range(1, convs + 1):
            names += [f"conv{block}_{k}", f"relu{block}_{k}"]
        if block <= 3 or (block == 4 and not large_feature_map):
            names.append(f"pool{block}")
    return names


#: ``large_feature_map`` → the names of upstream's ``features.<i>`` layers, by index i.
VGG16_LAYER_NAMES: dict[bool, list[str]] = {lfm: vgg16_layer_names(lfm) for lfm in (False, True)}


class VGG16CAMBody(nn.Module):
    """wsolevaluation's VGG16-CAM up to ReLU(conv6): images (N, 3, H, W) → [f (N, 1024, H/s, W/s)],
    s = 16, or 8 with ``large_feature_map`` (see the module docstring for the layer names).

    Args:
        features: torchvision's (or timm's, the same) VGG16 ``features``: 13 × (Conv2d 3×3, ReLU) with a
            2×2 max-pool after each of the 5 blocks; its modules are reused (weights included).
        large_feature_map: drop ``pool4`` too (28×28 at 224 px instead of 14×14).

    Raises:
        ValueError: ``features`` is not VGG16's layer sequence.
    """

    def __init__(self, features: nn.Sequential, large_feature_map: bool) -> None:
        super().__init__()
        layers = list(features)
        kinds = [type(m).__name__ for m in layers]
        expected = []
        for convs in _BLOCKS:
            expected += ["Conv2d", "ReLU"] * convs + ["MaxPool2d"]
        if kinds != expected:
            raise ValueError(
                f"features: expected VGG16's layers (13 conv 3×3 + ReLU, a max-pool after each of the 5 "
                f"blocks: {len(expected)} modules); got {len(layers)} modules {kinds[:6]}…; build it from "
                "timm's or torchvision's 'vgg16' (no batch norm)"
            )
        wanted = set(vgg16_layer_names(large_feature_map))
        named: OrderedDict[str, nn.Module] = OrderedDict()
        for name, module in zip(vgg16_layer_names(False) + ["pool5"], layers, strict=True):
            if name in wanted:
                named[name] = module
        self.large_feature_map = bool(large_feature_map)
        self.features = nn.Sequential(named)
        self.conv6 = nn.Conv2d(512, 1024, kernel_size=3, padding=1)
        self.relu6 = nn.ReLU(inplace=False)
        nn.init.kaiming_normal_(self.conv6.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(cast("torch.Tensor", self.conv6.bias))
        late = 8 if large_feature_map else 16
        self.feature_info = FeatureInfo(
            [
                {"num_chs": 64, "reduction": 2, "module": "features.pool1"},
                {"num_chs": 128, "reduction": 4, "module": "features.pool2"},
                {"num_chs": 256, "reduction": 8, "module": "features.pool3"},
                {"num_chs": 512, "reduction": 8, "module": "features.relu4_3"},
                {"num_chs": 512, "reduction": late, "module": "features.relu5_3"},
                {"num_chs": 1024, "reduction": late, "module": "relu6"},
            ],
            out_indices=(5,),
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return [self.relu6(self.conv6(self.features(images)))]


def vgg16_cam_body(model: nn.Module, large_feature_map: bool) -> VGG16CAMBody:
    """:class:`VGG16CAMBody` on the ``features`` of a built timm / torchvision ``vgg16`` (its weights kept).

    Raises:
        ValueError: ``model`` has no VGG16 ``features``.
    """
    features = getattr(model, "features", None)
    if not isinstance(features, nn.Sequential):
        raise ValueError(
            f"large_feature_map: wsolevaluation's VGG16-CAM is built from a VGG16 with a 'features' "
            f"nn.Sequential; got a {type(model).__name__}"
        )
    return VGG16CAMBody(features, large_feature_map)


def init_vgg16_cam(body: nn.Module) -> None:
    """Upstream's init of a VGG16-CAM that starts from scratch (``initialize_weights(…, 'he')``): every
    conv ``kaiming_normal_(fan_out, relu)``, bias 0. Pretrained runs overwrite ``features`` after it."""
    for module in body.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
