"""``acol``: Adversarial Complementary Learning (Zhang et al., CVPR 2018), a network method.

Two classifiers share the backbone features f (N, D, h, w). Classifier A is the WSLNet's head
(1×1 conv + pooling); classifier B is a second head of the same kind (its own 1×1 conv and its own
instance of the same pooling head). In training:

    A_c = class maps of A;   Â_c = min–max normalised A_c per image (detached; constant map → 0)
    erased = 1[max_{c ∈ T} Â_c ≥ δ]        (N, 1, h, w), T = the image's target classes
    B      = head_B(f ⊙ (1 − erased))
    loss   = loss(scores_A, y) + loss(scores_B, y)        (each with its own pooling regulariser)

so B must find the object parts A does not use. At eval/test both branches give (N, C, h, w) maps and

    scores = scores_A,   class_maps_c = max(Â_c, B̂_c),   B_c computed on f erased by Â_c ≥ δ

(B̂ the min–max normalised B). The maps are fused **normalised**, as wsolevaluation does: the two
heads are trained independently and their raw scales differ, so a max of raw maps would be whichever
branch has the larger logits, not the union of the two regions. Since head_B is a 1×1 conv, B_c on
features erased by class c's own map is ``where(Â_c ≥ δ, bias_c, B_c(f))`` (an erased position's
features are 0, so its output is the bias): every class gets its own erasure in one pass.

Where wsl deviates from wsolevaluation's ``wsol/method/acol.py`` / ``resnet.py`` and why:
- the classifiers are wsl's 1×1-conv CAM head with any pooling head (the brief's design), not three
  conv layers (3×3, 3×3, 1×1) with GAP;
- T in training is the set of present classes (labels > 0), the union of their erasures for
  multi-label data; for single-label data it is the ground-truth class, as in wsolevaluation;
- at test wsolevaluation erases with the ground-truth class it is given; wsl's forward sees no
  labels, so each class is erased by its own map (identical for the ground-truth class, which is the
  one the localization metrics score).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wsl.methods.base import LossFn, WSOLMethod
from wsl.methods.registry import register_method
from wsl.models import CAMHead, WSLNet
from wsl.pooling.functional import class_wise_mean

__all__ = ["ACoL", "ACoLNet", "acol_erase_mask", "normalize_maps"]


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Min–max normalise each (image, class) map of (N, C, h, w) to [0, 1]; a constant map becomes 0."""
    lo = maps.flatten(2).amin(dim=2)[..., None, None]
    hi = maps.flatten(2).amax(dim=2)[..., None, None]
    span = hi - lo
    return torch.where(span > 0, (maps - lo) / torch.where(span > 0, span, 1), 0)


def acol_erase_mask(maps: torch.Tensor, targets: torch.Tensor, threshold: float) -> torch.Tensor:
    """Where ACoL erases: bool (N, 1, h, w), True where max over target classes of Â_c ≥ δ.

    Args:
        maps: classifier A's class maps (N, C, h, w).
        targets: bool (N, C), the classes whose maps erase (an image without any: nothing erased).
        threshold: δ in [0, 1].
    """
    normalized = normalize_maps(maps.detach())
    chosen = torch.where(targets[..., None, None], normalized, -1.0)
    return (chosen.amax(dim=1, keepdim=True) >= threshold) & targets.any(dim=1)[:, None, None, None]


class ACoLNet(WSLNet):
    """A :class:`~wsl.models.WSLNet` with ACoL's second classifier ``head_b`` (see the module doc).

    Args:
        erase_threshold: δ (default 0.6, within the ACoL paper's 0.5 … 0.9).
        **net_kwargs: :class:`~wsl.models.WSLNet`'s arguments.
    """

    def __init__(self, num_classes: int, erase_threshold: float = 0.6, **net_kwargs: Any) -> None:
        super().__init__(num_classes, **net_kwargs)
        self.erase_threshold = float(erase_threshold)
        head = self.head
        pool_kwargs = net_kwargs.get("pool_kwargs")
        pool = net_kwargs.get("pool", "weldon")
        self.head_b = CAMHead(head.conv.in_channels, num_classes, pool, pool_kwargs, head.num_maps)

    def branches(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training forward: ``scores_a, maps_a, scores_b, maps_b`` and the ``erased`` mask (N, 1, h, w).

        ``targets`` bool (N, C): the classes that erase (default: A's top-1 class).
        """
        features = self.backbone(images)
        scores_a, maps_a = self.head(features)
        if targets is None:
            targets = nn.functional.one_hot(scores_a.argmax(dim=1), scores_a.shape[1]).bool()
        erased = acol_erase_mask(maps_a, targets, self.erase_threshold)
        scores_b, maps_b = self.head_b(features * (~erased).to(features.dtype))
        return dict(scores_a=scores_a, maps_a=maps_a, scores_b=scores_b, maps_b=maps_b, erased=erased)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores_A (N, C), max(Â_c, B̂_c) (N, C, h, w))``, B_c on features erased by Â_c ≥ δ."""
        features = self.backbone(images)
        scores_a, maps_a = self.head(features)
        normalized_a = normalize_maps(maps_a.detach())
        head_b = self.head_b
        raw_b = class_wise_mean(head_b.conv(features), head_b.num_classes)
        bias_b = class_wise_mean(head_b.conv.bias.view(1, -1, 1, 1), head_b.num_classes)
        maps_b = torch.where(normalized_a >= self.erase_threshold, bias_b.to(raw_b.dtype), raw_b)
        return scores_a, torch.maximum(normalized_a, normalize_maps(maps_b))


@register_method("acol")
class ACoL(WSOLMethod):
    """ACoL training: :class:`ACoLNet`, ``loss(scores_A, y) + loss(scores_B, y)``.

    Args:
        threshold: the erasing threshold δ in [0, 1] on A's normalised maps (default 0.6).
    """

    def __init__(self, threshold: float = 0.6) -> None:
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"acol: threshold must be in [0, 1]; got {threshold!r}")
        self.threshold = float(threshold)

    def options(self) -> dict:
        return {"threshold": self.threshold}

    def build_net(self, **net_kwargs: Any) -> WSLNet:
        return ACoLNet(erase_threshold=self.threshold, **net_kwargs)

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        out = net.branches(images, labels > 0)
        return loss(out["scores_a"], labels) + loss(out["scores_b"], labels, pool=net.head_b.pool)
