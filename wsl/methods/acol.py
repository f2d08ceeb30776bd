"""``acol``: Adversarial Complementary Learning (Zhang et al., CVPR 2018), a network method.

Two classifiers share the backbone features f (N, D, h, w). Each classifier is its own stack of
``branch_layers`` 3×3 conv + ReLU layers (width ``branch_width``; wsolevaluation's ACoL has 2 of width
1024) followed by a CAM head (1×1 conv + pooling): A's CAM head is the WSLNet's ``head`` (its stack
``branch_a``), B is ``branch_b`` + ``head_b`` with its own instance of the same pooling head. In training:

    A_c = class maps of A(f);   Â_c = min–max normalised A_c per image (detached; constant map → 0)
    erased = 1[max_{c ∈ T} Â_c ≥ δ]        (N, 1, h, w), T = the image's target classes
    B      = B(f ⊙ (1 − erased))
    loss   = loss(scores_A, y) + loss(scores_B, y)        (each with its own pooling regulariser)

so B must find the object parts A does not use. At eval/test both branches give (N, C, h, w) maps and

    scores = scores_A,   class_maps_c = max(Â_c, B̂_c),   B_c = B(f ⊙ (1 − 1[Â_c ≥ δ]))_c

(B̂ the min–max normalised B): each class is erased by its own map, one pass of B per class. The
maps are fused **normalised**, as wsolevaluation does: the two heads are trained independently and
their raw scales differ, so a max of raw maps would be whichever branch has the larger logits, not the
union of the two regions.

``branch_layers`` defaults to 0 (both classifiers are 1×1 convs on the shared features, wsl's CAM
head); 2 is wsolevaluation's architecture. On the synthetic default at 30 epochs both variants localise
worse than the center baseline (MaxBoxAcc 1.9 ± 1.0 over 3 seeds with 0 layers; 1.5 at seed 0 with 2
layers, whose mAP also drops to 85.0), so the own layers are not what fails there; see
docs/benchmarks.md.

Where wsl deviates from wsolevaluation's ``wsol/method/acol.py`` / ``resnet.py`` and why:
- the classifiers are wsl's CAM head with any pooling head (the brief's design), by default without
  wsolevaluation's two 3×3 conv layers of width 1024 (``branch_layers=2`` adds them, width D by default);
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

__all__ = ["ACoL", "ACoLNet", "acol_erase_mask", "conv_stack", "normalize_maps"]


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


def conv_stack(channels: int, width: int, layers: int) -> nn.Sequential:
    """``layers`` × (3×3 conv, padding 1, + ReLU): D = ``channels`` → ``width`` (empty for 0 layers)."""
    stack: list[nn.Module] = []
    for i in range(layers):
        stack += [nn.Conv2d(channels if i == 0 else width, width, 3, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*stack)


class ACoLNet(WSLNet):
    """A :class:`~wsl.models.WSLNet` with ACoL's two classifiers (see the module doc).

    Args:
        erase_threshold: δ (default 0.6, within the ACoL paper's 0.5 … 0.9).
        branch_layers: 3×3 conv + ReLU layers of each classifier before its CAM head (default 0).
        branch_width: their channels (default: the backbone's feature width D).
        **net_kwargs: :class:`~wsl.models.WSLNet`'s arguments.
    """

    def __init__(
        self,
        num_classes: int,
        erase_threshold: float = 0.6,
        branch_layers: int = 0,
        branch_width: int | None = None,
        **net_kwargs: Any,
    ) -> None:
        super().__init__(num_classes, **net_kwargs)
        self.erase_threshold = float(erase_threshold)
        channels = self.backbone.out_channels
        width = int(branch_width or channels) if branch_layers else channels
        pool = net_kwargs.get("pool", "weldon")
        pool_kwargs = net_kwargs.get("pool_kwargs")
        num_maps = self.head.num_maps
        self.branch_a = conv_stack(channels, width, branch_layers)
        self.branch_b = conv_stack(channels, width, branch_layers)
        self.head = CAMHead(width, num_classes, pool, pool_kwargs, num_maps)
        self.head_b = CAMHead(width, num_classes, pool, pool_kwargs, num_maps)

    def branches(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training forward: ``scores_a, maps_a, scores_b, maps_b`` and the ``erased`` mask (N, 1, h, w).

        ``targets`` bool (N, C): the classes that erase (default: A's top-1 class).
        """
        features = self.backbone(images)
        scores_a, maps_a = self.head(self.branch_a(features))
        if targets is None:
            targets = nn.functional.one_hot(scores_a.argmax(dim=1), scores_a.shape[1]).bool()
        erased = acol_erase_mask(maps_a, targets, self.erase_threshold)
        scores_b, maps_b = self.head_b(self.branch_b(features * (~erased).to(features.dtype)))
        return dict(scores_a=scores_a, maps_a=maps_a, scores_b=scores_b, maps_b=maps_b, erased=erased)

    def forward_view(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores_A (N, C), max(Â_c, B̂_c) (N, C, h, w))``, B_c on features erased by Â_c ≥ δ."""
        features = self.backbone(images)
        scores_a, maps_a = self.head(self.branch_a(features))
        normalized_a = normalize_maps(maps_a.detach())
        fused = torch.empty_like(normalized_a)
        for c in range(normalized_a.shape[1]):
            keep = (normalized_a[:, c : c + 1] < self.erase_threshold).to(features.dtype)
            _, maps_b = self.head_b(self.branch_b(features * keep))
            fused[:, c] = torch.maximum(normalized_a[:, c], normalize_maps(maps_b[:, c : c + 1])[:, 0])
        return scores_a, fused


@register_method("acol")
class ACoL(WSOLMethod):
    """ACoL training: :class:`ACoLNet`, ``loss(scores_A, y) + loss(scores_B, y)``.

    Args:
        threshold: the erasing threshold δ in [0, 1] on A's normalised maps (default 0.6).
        branch_layers: 3×3 conv + ReLU layers of each classifier before its CAM head (default 0: both
            classifiers are 1×1 convs on the shared features; 2: wsolevaluation's architecture).
        branch_width: those layers' channels (default: the backbone's feature width).
    """

    def __init__(
        self, threshold: float = 0.6, branch_layers: int = 0, branch_width: int | None = None
    ) -> None:
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"acol: threshold must be in [0, 1]; got {threshold!r}")
        if isinstance(branch_layers, bool) or not isinstance(branch_layers, int) or branch_layers < 0:
            raise ValueError(f"acol: branch_layers must be an int >= 0; got {branch_layers!r}")
        if branch_width is not None and (
            isinstance(branch_width, bool) or not isinstance(branch_width, int) or branch_width < 1
        ):
            raise ValueError(f"acol: branch_width must be a positive int or None; got {branch_width!r}")
        self.threshold = float(threshold)
        self.branch_layers = branch_layers
        self.branch_width = branch_width

    def options(self) -> dict:
        return {
            "threshold": self.threshold,
            "branch_layers": self.branch_layers,
            "branch_width": self.branch_width,
        }

    def build_net(self, **net_kwargs: Any) -> WSLNet:
        return ACoLNet(
            erase_threshold=self.threshold,
            branch_layers=self.branch_layers,
            branch_width=self.branch_width,
            **net_kwargs,
        )

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        out = net.branches(images, labels > 0)
        return loss(out["scores_a"], labels) + loss(out["scores_b"], labels, pool=net.head_b.pool)
