"""WSLNet: a timm backbone + CAM head, returning image scores and class maps in one pass."""

from __future__ import annotations

import torch
from torch import nn

from wsl.models.backbone import create_backbone
from wsl.models.flips import check_cam_flips, flip_averaged
from wsl.models.head import CAMHead
from wsl.pooling import replace_stem_maxpool

__all__ = ["WSLNet"]


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
        cam_flips: str = "none",
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        self.backbone = create_backbone(
            backbone, pretrained, out_index=out_index, output_stride=output_stride, img_size=img_size
        )
        if softpool_stem:
            replace_stem_maxpool(self.backbone.body)
        self.head = CAMHead(self.backbone.out_channels, num_classes, pool, pool_kwargs, num_maps)
        self.cam_flips = check_cam_flips(cam_flips)

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
