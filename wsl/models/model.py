"""WSLNet: a timm backbone + CAM head, returning image scores and class maps in one pass."""

from __future__ import annotations

import torch
from torch import nn

from wsl.models.backbone import (
    WSOL_NETWORKS,
    create_backbone,
    load_pretrained_classifier,
    resolve_backbone_name,
)
from wsl.models.flips import check_cam_flips, flip_averaged
from wsl.models.head import CAMHead
from wsl.pooling import replace_stem_maxpool

__all__ = ["HEAD_INITS", "WSLNet"]

#: ``head_init`` choices: PyTorch's default init of the 1×1 conv, or the pretrained ImageNet classifier.
HEAD_INITS = ("default", "pretrained_fc")
_WSOL_NAMES = {"vgg16": "VGG16-CAM", "inception_v3": "InceptionV3-CAM"}


class WSLNet(nn.Module):
    """Weakly supervised localization network.

    images (N, 3, H, W) → backbone features (N, D, h, w) → 1×1 conv (N, C·M, h, w)
    → class-wise mean: class maps (N, C, h, w) → pooling head: scores (N, C).

    Args:
        num_classes: C.
        backbone: a timm model name.
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
        cam_flips: in eval mode, average the class maps over flipped views (:mod:`wsl.models.flips`):
            ``none`` (default), ``h`` (horizontal flip) or ``hv`` (both axes). Scores stay the plain
            view's; training is unchanged.

    Example:
        >>> net = WSLNet(num_classes=6, backbone="resnet18", pool="gap")
        >>> scores, class_maps = net(torch.zeros(2, 3, 128, 128))
        >>> scores.shape, class_maps.shape
        (torch.Size([2, 6]), torch.Size([2, 6, 4, 4]))
    """

    def __init__(
        self,
        num_classes: int,
        backbone: str = "lcnet_050",
        pool: str = "weldon",
        pool_kwargs: dict | None = None,
        num_maps: int = 1,
        out_index: int = -1,
        pretrained: bool | str = False,
        output_stride: int | None = None,
        softpool_stem: bool = False,
        img_size: int | None = None,
        large_feature_map: bool | None = None,
        head_init: str = "default",
        cam_flips: str = "none",
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        if head_init not in HEAD_INITS:
            raise ValueError(f"head_init={head_init!r} is not supported; choose one of {HEAD_INITS}")
        if head_init == "pretrained_fc" and num_maps != 1:
            raise ValueError(
                f"head_init='pretrained_fc' copies one classifier row per class, so it needs num_maps=1; "
                f"got num_maps={num_maps}"
            )
        if head_init == "pretrained_fc" and large_feature_map is not None:
            _, arch, _ = resolve_backbone_name(backbone)
            if arch in WSOL_NETWORKS:
                raise ValueError(
                    f"head_init='pretrained_fc' does not apply to wsolevaluation's {_WSOL_NAMES[arch]} "
                    f"(backbone {backbone!r} with large_feature_map): upstream drops the ImageNet classifier "
                    "on every dataset and trains a new one; use head_init='default'"
                )
        self.backbone = create_backbone(
            backbone,
            pretrained,
            out_index=out_index,
            output_stride=output_stride,
            img_size=img_size,
            large_feature_map=large_feature_map,
        )
        if softpool_stem:
            replace_stem_maxpool(self.backbone.body)
        self.head = CAMHead(self.backbone.out_channels, num_classes, pool, pool_kwargs, num_maps)
        self.cam_flips = check_cam_flips(cam_flips)
        if head_init == "pretrained_fc":
            self._copy_pretrained_classifier(backbone, pretrained, num_classes)

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
