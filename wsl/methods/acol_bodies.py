"""wsolevaluation's ACoL feature bodies of VGG16 and InceptionV3, made from their CAM bodies in place.

Upstream (commit 96f4b88) builds ACoL's trunk differently from its CAM network:

- VGG16 (``wsol/vgg.py`` ``configs_dict['acol']``, ``make_layers``, ``VggAcol``): no ``conv6``; the pools
  are ``M1`` = 3×3 max-pool stride 2 padding 1 after blocks 1–3 and after block 4 without
  ``large_feature_map``, ``M2`` = 3×3 max-pool stride 1 padding 1 after block 4 with ``large_feature_map``
  and after block 5 always. So f = pool5(relu5_3(…)) (N, 512, H/16 or H/8, …) — at even sizes the ``M1``
  pools halve the side as the 2×2 ones do. Upstream's ``initialize_weights(…, 'xavier')`` covers the whole
  network (``features`` included; pretrained runs then load torchvision's convs over it).
- InceptionV3 (``wsol/inception.py`` ``InceptionAcol``): the CAM trunk up to ``Mixed_6e`` (same stem,
  pools and stride-1 ``Mixed_6a``), no dropout and no ``SPG_A3_*`` layers: f = Mixed_6e(…) (N, 768, h, w).

The functions below change :class:`~wsl.models.vgg_cam.VGG16CAMBody` /
:class:`~wsl.models.inception_cam.InceptionV3CAMBody` into these trunks: the removed layers become
``nn.Identity`` (VGG16's ``conv6``/``relu6``, InceptionV3's ``Mixed_6e_drop``) or are deleted
(InceptionV3's ``SPG_A3_*``), and the last feature stage is a parameter-free module right after the
trunk (``features.pool5``, ``Mixed_6e_drop``), so ``head_lr_stages: 1`` puts no trunk parameter in the head
group: upstream's groups (``main.py``: ``features.*`` / ``Mixed*``, ``Conv2d_*`` at ``lr``, the two
classifiers at ``lr × lr_classifier_ratio``). State-dict keys keep the CAM body's names
(``backbone.body.features.conv1_1.weight``, ``backbone.body.Mixed_6e.branch1x1.conv.weight`` …).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import cast

from timm.models import FeatureInfo
from torch import nn

from wsl.models.inception_cam import InceptionV3CAMBody
from wsl.models.vgg_cam import VGG16CAMBody

__all__ = ["ACOL_BODIES", "acol_vgg16_features", "inception_v3_acol_body", "vgg16_acol_body"]


def _m1() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)


def _m2() -> nn.MaxPool2d:
    return nn.MaxPool2d(kernel_size=3, stride=1, padding=1)


def acol_vgg16_features(features: nn.Sequential, large_feature_map: bool) -> nn.Sequential:
    """VGG16-CAM's named ``features`` with upstream's ACoL pools (module docstring); the convs are reused.

    Example:
        >>> from wsl.models.vgg_cam import vgg16_layer_names
        >>> named = nn.Sequential(OrderedDict((n, nn.Identity()) for n in vgg16_layer_names(True)))
        >>> [n for n in acol_vgg16_features(named, True)._modules if n.startswith("pool")]
        ['pool1', 'pool2', 'pool3', 'pool4', 'pool5']
    """
    named: OrderedDict[str, nn.Module] = OrderedDict()
    for name, module in features.named_children():
        named[name] = _m1() if name.startswith("pool") else module
        if name == "relu4_3" and large_feature_map:
            named["pool4"] = _m2()
    named["pool5"] = _m2()
    return nn.Sequential(named)


def _replace_last_stage(body: nn.Module, channels: int, module: str) -> None:
    info = cast("FeatureInfo", body.feature_info)
    entries = [dict(entry) for entry in info.info]
    entries[-1] = {"num_chs": channels, "reduction": entries[-1]["reduction"], "module": module}
    setattr(body, "feature_info", FeatureInfo(entries, out_indices=(len(entries) - 1,)))  # noqa: B010


def vgg16_acol_body(body: nn.Module, scratch: bool) -> None:
    """VGG16-CAM → upstream's VGG16 ACoL trunk, in place: ACoL's pools, ``conv6``/``relu6`` → identity; the
    last stage ``features.pool5`` (512 ch). ``scratch``: every conv ``xavier_uniform_``, bias 0."""
    assert isinstance(body, VGG16CAMBody)
    body.features = acol_vgg16_features(body.features, body.large_feature_map)
    body.conv6 = nn.Identity()  # type: ignore[assignment]
    body.relu6 = nn.Identity()  # type: ignore[assignment]
    _replace_last_stage(body, 512, "features.pool5")
    if scratch:
        for module in body.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)


def inception_v3_acol_body(body: nn.Module, scratch: bool) -> None:
    """InceptionV3-CAM → upstream's InceptionV3 ACoL trunk, in place: ``Mixed_6e_drop`` → identity (the last
    stage, 768 ch), the ``SPG_A3_*`` layers and their dropouts deleted. Upstream's init of the trunk is the
    CAM body's (xavier, batch norms 1 / 0), so ``scratch`` changes nothing."""
    assert isinstance(body, InceptionV3CAMBody)
    del scratch
    body.Mixed_6e_drop = nn.Identity()  # type: ignore[assignment]
    for name in ("SPG_A3_1b", "SPG_A3_1b_drop", "SPG_A3_2b", "SPG_A3_2b_drop"):
        delattr(body, name)
    _replace_last_stage(body, 768, "Mixed_6e_drop")


#: wsolevaluation CAM body class → the function turning it into upstream's ACoL trunk ``(body, scratch)``.
ACOL_BODIES: dict[type, Callable[[nn.Module, bool], None]] = {
    VGG16CAMBody: vgg16_acol_body,
    InceptionV3CAMBody: inception_v3_acol_body,
}
