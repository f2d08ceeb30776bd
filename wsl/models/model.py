"""WSLNet: a timm backbone + CAM head, returning image scores and class maps in one pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from wsl.models.backbone import (
    WSOL_NETWORKS,
    Backbone,
    create_backbone,
    load_pretrained_classifier,
    resolve_backbone_name,
)
from wsl.models.flips import check_cam_flips, flip_averaged
from wsl.models.head import HeadSpec
from wsl.pooling import replace_stem_maxpool
from wsl.registry import closest

__all__ = ["HEAD_INITS", "NET_ARGS", "BackboneSpec", "WSLNet", "net_specs"]

#: ``head_init`` choices: PyTorch's default init of the 1×1 conv, or the pretrained ImageNet classifier.
HEAD_INITS = ("default", "pretrained_fc")
_WSOL_NAMES = {"vgg16": "VGG16-CAM", "inception_v3": "InceptionV3-CAM"}


@dataclass(frozen=True)
class BackboneSpec:
    """What feature extractor a :class:`WSLNet` gets (each field is WSLNet's argument of that name).

    Attributes:
        name: a timm model name (WSLNet's ``backbone``).
        pretrained, out_index, output_stride, img_size, large_feature_map, softpool_stem: see :class:`WSLNet`.
    """

    name: str = "lcnet_050"
    pretrained: bool | str = False
    out_index: int = -1
    output_stride: int | None = None
    img_size: int | None = None
    large_feature_map: bool | None = None
    softpool_stem: bool = False

    def build(self) -> Backbone:
        """The backbone (:func:`~wsl.models.create_backbone`), its stem max-pool replaced if asked."""
        built = create_backbone(
            self.name,
            self.pretrained,
            out_index=self.out_index,
            output_stride=self.output_stride,
            img_size=self.img_size,
            large_feature_map=self.large_feature_map,
        )
        if self.softpool_stem:
            replace_stem_maxpool(built.body)
        return built


#: WSLNet's flat keyword arguments (WSLModule's ``model.*`` options, saved configs) → (spec, its field).
_FLAT: dict[str, tuple[str, str]] = {
    "pool": ("head", "pool"),
    "pool_kwargs": ("head", "pool_kwargs"),
    "num_maps": ("head", "num_maps"),
    "out_index": ("backbone", "out_index"),
    "pretrained": ("backbone", "pretrained"),
    "output_stride": ("backbone", "output_stride"),
    "softpool_stem": ("backbone", "softpool_stem"),
    "img_size": ("backbone", "img_size"),
    "large_feature_map": ("backbone", "large_feature_map"),
    "head_init": ("head", "init"),
}
#: Every argument of the network in its flat spelling, in WSLModule's order (its ``model.*`` keys).
NET_ARGS = ("num_classes", "backbone", *_FLAT, "cam_flips")


def net_specs(
    backbone: str | BackboneSpec = "lcnet_050", head: HeadSpec | None = None, **flat: Any
) -> tuple[BackboneSpec, HeadSpec]:
    """The two specs from a backbone name or spec, a head spec, and flat arguments (``pool="gap"`` ...).

    Raises:
        TypeError: a flat name that is not WSLNet's (with the closest one), or flat arguments of a part
            that is also given as a spec.
    """
    parts: dict[str, dict[str, Any]] = {"backbone": {}, "head": {}}
    for key, value in flat.items():
        if key not in _FLAT:
            close = closest(key, NET_ARGS)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"WSLNet: unexpected argument {key!r}{hint}; expected one of {list(NET_ARGS)}")
        part, field = _FLAT[key]
        parts[part][field] = value
    given = {"backbone": isinstance(backbone, BackboneSpec), "head": head is not None}
    for part, fields in parts.items():
        if given[part] and fields:
            raise TypeError(
                f"WSLNet: {sorted(fields)} given beside a {part} spec; put them in the spec or pass no spec"
            )
    backbone_spec = (
        backbone if isinstance(backbone, BackboneSpec) else BackboneSpec(backbone, **parts["backbone"])
    )
    return backbone_spec, head if head is not None else HeadSpec(**parts["head"])


def _check_head_init(num_classes: int, backbone: BackboneSpec, head: HeadSpec) -> None:
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")
    if head.init not in HEAD_INITS:
        raise ValueError(f"head_init={head.init!r} is not supported; choose one of {HEAD_INITS}")
    if head.init == "pretrained_fc" and head.num_maps != 1:
        raise ValueError(
            f"head_init='pretrained_fc' copies one classifier row per class, so it needs num_maps=1; "
            f"got num_maps={head.num_maps}"
        )
    if head.init == "pretrained_fc" and backbone.large_feature_map is not None:
        _, arch, _ = resolve_backbone_name(backbone.name)
        if arch in WSOL_NETWORKS:
            raise ValueError(
                f"head_init='pretrained_fc' does not apply to wsolevaluation's {_WSOL_NAMES[arch]} "
                f"(backbone {backbone.name!r} with large_feature_map): upstream drops the ImageNet "
                "classifier on every dataset and trains a new one; use head_init='default'"
            )


class WSLNet(nn.Module):
    """Weakly supervised localization network.

    images (N, 3, H, W) → backbone features (N, D, h, w) → 1×1 conv (N, C·M, h, w)
    → class-wise mean: class maps (N, C, h, w) → pooling head: scores (N, C).

    The network is described by a :class:`BackboneSpec` and a :class:`~wsl.models.head.HeadSpec`; their
    fields can also be given flat, under the names of :data:`NET_ARGS` (``WSLNet(3, pool="gap")``), as
    WSLModule's ``model.*`` options and saved configs spell them.

    Args:
        num_classes: C.
        backbone: a timm model name, or a :class:`BackboneSpec` (then no flat backbone argument).
        head: a :class:`~wsl.models.head.HeadSpec` (then no flat head argument); default: from the flat ones.
        cam_flips: in eval mode, average the class maps over flipped views (:mod:`wsl.models.flips`):
            ``none`` (default), ``h`` (horizontal flip) or ``hv`` (both axes). Scores stay the plain
            view's; training is unchanged.
        **flat: the specs' fields by their flat names (below).

    Flat arguments:
        pool: pooling head name (``gmp gap lse kmax weldon softpool autopool``).
        pool_kwargs: that head's keyword arguments.
        num_maps: M maps per class (WILDCAT multi-map).
        out_index: the backbone feature stage (-1 = last).
        pretrained: False, True (timm hub) or a local weights file.
        output_stride: dilate the backbone to this stride where supported.
        softpool_stem: replace the stem max-pool of a ResNet-like backbone by SoftPool2d.
        img_size: the input side, for backbones built for one size (timm ViTs take ``img_size``);
            ignored by backbones that take any size. The CLI links it to ``data.image_size``.
        large_feature_map: None: timm's strides (and ``output_stride``'s dilation). True/False:
            wsolevaluation's CAM network, a 28×28 (True) or 14×14 (False) map at 224 px
            (:func:`~wsl.models.create_backbone`): ResNets at stride 1 without dilation (layer4 always,
            layer3 only when True); ``vgg16`` becomes VGG16-CAM (:mod:`wsl.models.vgg_cam`, conv6 1024)
            and ``inception_v3`` InceptionV3-CAM (:mod:`wsl.models.inception_cam`, whose ``SPG_A4`` is
            the head's 1×1 conv).
        head_init: ``default`` (PyTorch's init of the 1×1 conv) or ``pretrained_fc``: the 1×1 conv starts
            as the pretrained ImageNet classifier, W (C, D) → conv weight (C, D, 1, 1), as wsolevaluation
            keeps ``fc`` on ILSVRC; needs ``num_maps`` 1, pretrained weights and ``num_classes`` equal to
            the classifier's outputs; not for VGG16-CAM / InceptionV3-CAM, whose classifier upstream
            never keeps. With a GAP pool the scores are then the pretrained model's logits,
            GAP(W f + b) = W GAP(f) + b.

    Example:
        >>> net = WSLNet(num_classes=6, backbone="resnet18", pool="gap")
        >>> scores, class_maps = net(torch.zeros(2, 3, 128, 128))
        >>> scores.shape, class_maps.shape
        (torch.Size([2, 6]), torch.Size([2, 6, 4, 4]))
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str | BackboneSpec = "lcnet_050",
        head: HeadSpec | None = None,
        cam_flips: str = "none",
        **flat: Any,
    ) -> None:
        super().__init__()
        backbone_spec, head_spec = net_specs(backbone, head, **flat)
        _check_head_init(num_classes, backbone_spec, head_spec)
        self.backbone_spec, self.head_spec = backbone_spec, head_spec
        self.backbone = backbone_spec.build()
        self.head = head_spec.build(self.backbone.out_channels, num_classes)
        self.cam_flips = check_cam_flips(cam_flips)
        if head_spec.init == "pretrained_fc":
            self._copy_pretrained_classifier(backbone_spec.name, backbone_spec.pretrained, num_classes)

    def _copy_pretrained_classifier(self, backbone: str, pretrained: bool | str, num_classes: int) -> None:
        weight, bias = load_pretrained_classifier(backbone, pretrained)
        conv = self.head.conv
        if weight.shape != (num_classes, conv.in_channels):
            raise ValueError(
                f"head_init='pretrained_fc': the pretrained classifier of {backbone!r} maps "
                f"{weight.shape[1]} features to {weight.shape[0]} classes, but this network has "
                f"num_classes={num_classes} on {conv.in_channels} features (out_index must be the last "
                "stage); use head_init='default' or the classifier's classes (ImageNet's 1000)"
            )
        with torch.no_grad():
            conv.weight.copy_(weight.reshape(conv.weight.shape))
            conv.bias.copy_(bias)

    @property
    def pool(self) -> nn.Module:
        return self.head.pool

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(scores (N, C), class_maps (N, C, h, w))`` for a batch of images; in eval mode the maps
        are averaged over the ``cam_flips`` views."""
        if self.training:
            return self.forward_view(images)
        return flip_averaged(self.forward_view, images, self.cam_flips)

    def forward_view(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One plain forward: ``(scores (N, C), class_maps (N, C, h, w))``, no flip averaging."""
        return self.head(self.backbone(images))
