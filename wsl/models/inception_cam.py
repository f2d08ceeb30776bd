"""InceptionV3-CAM as clovaai/wsolevaluation builds it (``wsol/inception.py`` ``InceptionCam``, 96f4b88).

Upstream takes torchvision's InceptionV3 (Google's weights ``inception_v3_google-1a9a5a14.pth``, timm's
``inception_v3.tv_in1k``) up to ``Mixed_6e`` and changes it:

- ``Conv2d_1a_3x3`` gets padding 1; the two stem max-pools are 3×3 / 2 with padding 1 and ``ceil_mode``;
- ``Mixed_6a`` runs at stride 1 with padding 1 (its 3×3 conv, its last double-3×3 conv and its max-pool,
  which becomes 3×3 / 1, padding 1);
- without ``large_feature_map``, a 3×3 / 2 max-pool (``ceil_mode``, no padding) runs before ``Mixed_6a``;
- ``Mixed_7*``, ``AuxLogits`` and ``fc`` are dropped;
- added: dropout 0.5, ``SPG_A3_1b`` = 3×3 conv 768→1024 (padding 1) + ReLU, dropout 0.5, ``SPG_A3_2b`` =
  3×3 conv 1024→1024 + ReLU, dropout 0.5, ``SPG_A4`` = 1×1 conv 1024→C; the added convs start from
  ``xavier_uniform_`` with bias 0.

Then ``logits = GAP(SPG_A4(x))`` and the CAM of class c is ``SPG_A4(x)[c]`` (bias included, no ReLU).
At 224 px the map is 28×28 with ``large_feature_map``, 14×14 without. In wsl the body below ends after
the third dropout and :class:`~wsl.models.CAMHead`'s 1×1 conv is ``SPG_A4``, so the class maps *are*
upstream's CAMs and the GAP scores its logits.

Module names (``InceptionV3CAMBody``, in execution order; inside a :class:`~wsl.models.Backbone` prefix
them with ``body.``), for a method that addresses a position by a dotted name: ``Conv2d_1a_3x3``,
``Conv2d_2a_3x3``, ``Conv2d_2b_3x3``, ``Pool1``, ``Conv2d_3b_1x1``, ``Conv2d_4a_3x3``, ``Pool2``,
``Mixed_5b``, ``Mixed_5c``, ``Mixed_5d``, ``Pool3`` (the extra pool; ``nn.Identity`` with
``large_feature_map``), ``Mixed_6a`` … ``Mixed_6e``, ``Mixed_6e_drop``, ``SPG_A3_1b``,
``SPG_A3_1b_drop``, ``SPG_A3_2b``, ``SPG_A3_2b_drop``. ``<block>_drop`` is the dropout on that block's
output. Upstream's ADL positions are after ``Mixed_5d``, ``Mixed_6e`` and ``SPG_A3_2b`` (its ADL network
has no dropout: replace the three ``*_drop`` modules by ``nn.Identity``).

Feature stages (``feature_info``, for ``head_lr_stages``): ``Conv2d_2b_3x3`` (64 ch, /2),
``Conv2d_4a_3x3`` (192, /4), ``Mixed_5d`` (288, /8), ``Mixed_6e`` (768, /16 or /8 with
``large_feature_map``), ``SPG_A3_2b_drop`` (1024, same). The last stage holds only the ``SPG_A3_*``
convs: ``head_lr_stages: 1`` gives upstream's parameter groups (``main.py``: the ``Mixed*`` and
``Conv2d_1…4*`` parameters at ``lr``, ``SPG_A3_*`` and ``SPG_A4`` at ``lr × lr_classifier_ratio``).
Upstream's state-dict keys are these names' (``SPG_A3_1b.0.weight``, ``Mixed_6a.branch3x3.conv.weight`` …).
"""

from __future__ import annotations

from typing import cast

import torch
from timm.models import FeatureInfo
from torch import nn

__all__ = ["InceptionV3CAMBody", "Mixed6aStride1", "inception_v3_cam_body", "init_inception_v3_cam"]

_STEM = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
_MIXED = ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e")


def _conv_of(block: nn.Module, name: str) -> nn.Conv2d:
    conv = getattr(block, "conv", None)
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(
            f"large_feature_map: {name} is not a conv + batch-norm block with a plain nn.Conv2d 'conv' "
            f"({type(block).__name__}); build it from timm's or torchvision's 'inception_v3'"
        )
    return conv


class Mixed6aStride1(nn.Module):
    """InceptionV3's ``Mixed_6a`` (InceptionB) at stride 1, as wsolevaluation runs it.

    out = concat(branch3x3(x), branch3x3dbl_3(branch3x3dbl_2(branch3x3dbl_1(x))), maxpool3x3/1/pad1(x)),
    with ``branch3x3`` and ``branch3x3dbl_3`` set to 3×3 / stride 1 / padding 1: (N, 288, h, w) →
    (N, 768, h, w). The four branch modules are the given block's (their weights and key names kept).
    """

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        for name in ("branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"):
            module = getattr(block, name, None)
            if module is None:
                raise ValueError(f"large_feature_map: Mixed_6a has no {name!r}; is it InceptionV3's?")
            setattr(self, name, module)
        for name in ("branch3x3", "branch3x3dbl_3"):
            conv = _conv_of(getattr(self, name), f"Mixed_6a.{name}")
            conv.stride, conv.padding = (1, 1), (1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = nn.functional.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch3x3(x), double, pooled], 1)


def _spg_conv(in_channels: int) -> nn.Sequential:
    conv = nn.Conv2d(in_channels, 1024, kernel_size=3, padding=1)
    nn.init.xavier_uniform_(conv.weight)
    nn.init.zeros_(cast("torch.Tensor", conv.bias))
    return nn.Sequential(conv, nn.ReLU(inplace=False))


class InceptionV3CAMBody(nn.Module):
    """wsolevaluation's InceptionV3-CAM up to the input of ``SPG_A4``: images (N, 3, H, W) →
    [x (N, 1024, h, w)]; h = 28 (``large_feature_map``) or 14 at H = 224 (names: the module docstring).

    Args:
        model: a built timm or torchvision ``inception_v3``; its ``Conv2d_*`` and ``Mixed_5b`` …
            ``Mixed_6e`` modules are reused (weights included) and changed in place as upstream does.
        large_feature_map: skip the extra 3×3 / 2 max-pool before ``Mixed_6a``.

    Raises:
        ValueError: ``model`` lacks InceptionV3's blocks.
    """

    def __init__(self, model: nn.Module, large_feature_map: bool) -> None:
        super().__init__()
        missing = [name for name in _STEM + _MIXED if not isinstance(getattr(model, name, None), nn.Module)]
        if missing:
            raise ValueError(
                f"large_feature_map: wsolevaluation's InceptionV3-CAM is built from an InceptionV3; "
                f"{type(model).__name__} has no {missing[:3]}"
            )
        self.large_feature_map = bool(large_feature_map)
        stem = {name: getattr(model, name) for name in _STEM}
        _conv_of(stem["Conv2d_1a_3x3"], "Conv2d_1a_3x3").padding = (1, 1)
        self.Conv2d_1a_3x3 = stem["Conv2d_1a_3x3"]
        self.Conv2d_2a_3x3 = stem["Conv2d_2a_3x3"]
        self.Conv2d_2b_3x3 = stem["Conv2d_2b_3x3"]
        self.Pool1 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.Conv2d_3b_1x1 = stem["Conv2d_3b_1x1"]
        self.Conv2d_4a_3x3 = stem["Conv2d_4a_3x3"]
        self.Pool2 = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True)
        self.Mixed_5b = model.Mixed_5b
        self.Mixed_5c = model.Mixed_5c
        self.Mixed_5d = model.Mixed_5d
        self.Pool3 = (
            nn.Identity() if large_feature_map else nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)
        )
        self.Mixed_6a = Mixed6aStride1(cast("nn.Module", model.Mixed_6a))
        self.Mixed_6b = model.Mixed_6b
        self.Mixed_6c = model.Mixed_6c
        self.Mixed_6d = model.Mixed_6d
        self.Mixed_6e = model.Mixed_6e
        self.Mixed_6e_drop = nn.Dropout(0.5)
        self.SPG_A3_1b = _spg_conv(768)
        self.SPG_A3_1b_drop = nn.Dropout(0.5)
        self.SPG_A3_2b = _spg_conv(1024)
        self.SPG_A3_2b_drop = nn.Dropout(0.5)
        late = 8 if large_feature_map else 16
        self.feature_info = FeatureInfo(
            [
                {"num_chs": 64, "reduction": 2, "module": "Conv2d_2b_3x3"},
                {"num_chs": 192, "reduction": 4, "module": "Conv2d_4a_3x3"},
                {"num_chs": 288, "reduction": 8, "module": "Mixed_5d"},
                {"num_chs": 768, "reduction": late, "module": "Mixed_6e"},
                {"num_chs": 1024, "reduction": late, "module": "SPG_A3_2b_drop"},
            ],
            out_indices=(4,),
        )

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = images
        for module in self.children():  # registered in execution order
            x = module(x)
        return [x]


def inception_v3_cam_body(model: nn.Module, large_feature_map: bool) -> InceptionV3CAMBody:
    """:class:`InceptionV3CAMBody` from a built timm / torchvision ``inception_v3`` (its weights kept)."""
    return InceptionV3CAMBody(model, large_feature_map)


def init_inception_v3_cam(body: nn.Module) -> None:
    """Upstream's init of an InceptionV3-CAM that starts from scratch (``initialize_weights(…, 'xavier')``):
    every conv ``xavier_uniform_``, bias 0; batch norms weight 1, bias 0, fresh running statistics."""
    for module in body.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
            module.reset_running_stats()
