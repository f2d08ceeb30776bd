"""``acol``: Adversarial Complementary Learning (Zhang et al., CVPR 2018), a network method.

Two classifiers share the backbone features f (N, D, h, w) (for VGG16, smoothed by a 3×3 average pool
first, as wsolevaluation's ``vgg.py:108``). Each classifier is its own stack of ``branch_layers``
3×3 conv + ReLU layers (width ``branch_width``) followed by a CAM head (1×1 conv + pooling): A's CAM
head is the WSLNet's ``head`` (its stack ``branch_a``), B is ``branch_b`` + ``head_b`` with its own
instance of the same pooling head. In training:

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

Two variants (``variant``, :data:`VARIANTS`); ``threshold``, ``branch_layers`` and ``branch_width``
override a variant's value when given:

- ``wsolevaluation`` (the default; ``wsol/method/acol.py``, ``resnet.py:152-168``, ``vgg.py:86-108``,
  ``inception.py:238-255``): δ = 0.7 (``config.py`` ``acol_threshold``); each classifier 3×3 conv D→1024
  + ReLU, 3×3 conv 1024→1024 + ReLU, 1×1 conv 1024→C (``branch_layers`` 2, ``branch_width`` 1024, with a
  GAP pool); their init and learning-rate group per architecture (:data:`ACOL_FAMILIES`): ResNet50 He
  init (``kaiming_normal_``, fan_out, bias 0) and the classifiers in the **base** lr group (upstream's
  ResNet "classifier" patterns ``layer4.``/``fc.`` do not match ``classifier_A``/``classifier_B``,
  ``main.py:72-77``, ``:141-153``), so they train at ``backbone_lr``; VGG16 and InceptionV3 xavier init
  (``xavier_uniform_``, bias 0) and the head group (upstream's classifier group: everything outside
  ``features.`` / ``Mixed*``, ``Conv2d_1…4*``), VGG16 with the 3×3 average-pool smoothing; with
  ``large_feature_map`` set, their wsolevaluation CAM body becomes upstream's ACoL trunk
  (:mod:`wsl.methods.acol_bodies`: VGG16 with 3×3 max-pools and no ``conv6``, D = 512; InceptionV3 up to
  ``Mixed_6e`` without dropout, D = 768); other timm backbones PyTorch's default init and the head group;
- ``wsl`` (wsl's own variant): δ = 0.6 (within the ACoL paper's 0.5 … 0.9) and no 3×3 layers, both
  classifiers 1×1 convs on the shared features (width D), PyTorch's default init, the head lr group.
  On the synthetic default at 30 epochs both this and the 2-layer network localise worse than the
  center baseline (docs/benchmarks.md).

Where wsl deviates from wsolevaluation and why:
- T in training is the set of present classes (labels > 0), the union of their erasures for
  multi-label data; for single-label data it is the ground-truth class, as in wsolevaluation;
- at test wsolevaluation erases with the ground-truth class it is given; wsl's forward sees no
  labels, so each class is erased by its own map (identical for the ground-truth class, which is the
  one the localization metrics score);
- a constant map normalises to 0 here; upstream's ``normalize_tensor`` divides 0 by 0 (NaN).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from wsl.methods.acol_bodies import ACOL_BODIES
from wsl.methods.adl import backbone_architecture
from wsl.methods.base import LossFn, WSOLMethod
from wsl.methods.registry import register_method
from wsl.models import CAMHead, WSLNet
from wsl.models.backbone import Backbone

__all__ = [
    "ACOL_FAMILIES",
    "ACoL",
    "ACoLFamily",
    "ACoLNet",
    "CLASSIFIER_INITS",
    "VARIANTS",
    "acol_erase_mask",
    "conv_stack",
    "normalize_maps",
]


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


def _he(conv: nn.Conv2d) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")


def _xavier(conv: nn.Conv2d) -> None:
    nn.init.xavier_uniform_(conv.weight)


#: ``init`` → how a classifier conv's weight starts (its bias starts at 0 except for ``default``):
#: ``default`` (PyTorch's), ``he`` (``kaiming_normal_`` fan_out, upstream's ResNet ACoL) or ``xavier``
#: (``xavier_uniform_``, upstream's VGG16 and InceptionV3 ACoL; ``wsol/util.py`` ``initialize_weights``).
CLASSIFIER_INITS: dict[str, Callable[[nn.Conv2d], None] | None] = {
    "default": None,
    "he": _he,
    "xavier": _xavier,
}


@dataclass(frozen=True)
class ACoLFamily:
    """wsolevaluation's ACoL details for one architecture.

    Attributes:
        init: the classifiers' init (a key of :data:`CLASSIFIER_INITS`).
        classifier_lr: ``base`` (the classifiers train at ``backbone_lr``) or ``head`` (at ``lr``).
        smoothing: a 3×3 stride-1 average pool (padding 1, zeros counted) on the features first.
    """

    init: str
    classifier_lr: str
    smoothing: bool = False


#: timm architecture → its wsolevaluation ACoL details; other backbones get :data:`OTHER_FAMILY`.
ACOL_FAMILIES: dict[str, ACoLFamily] = {
    "resnet50": ACoLFamily(init="he", classifier_lr="base"),  # resnet.py:168, main.py:141-153
    "vgg16": ACoLFamily(init="xavier", classifier_lr="head", smoothing=True),  # vgg.py:99, :108
    "inception_v3": ACoLFamily(init="xavier", classifier_lr="head"),  # inception.py:255
}
#: ACoL on a backbone wsolevaluation does not have: PyTorch's init, the head lr group, no smoothing.
OTHER_FAMILY = ACoLFamily(init="default", classifier_lr="head")
#: ``variant`` → ``(threshold, branch_layers, branch_width or None for D, uses ACOL_FAMILIES)``.
VARIANTS: dict[str, tuple[float, int, int | None, bool]] = {
    "wsolevaluation": (0.7, 2, 1024, True),
    "wsl": (0.6, 0, None, False),
}


class ACoLNet(WSLNet):
    """A :class:`~wsl.models.WSLNet` with ACoL's two classifiers (see the module doc).

    Args:
        erase_threshold: δ (default 0.6, wsl's variant; wsolevaluation's is 0.7).
        branch_layers: 3×3 conv + ReLU layers of each classifier before its CAM head (default 0).
        branch_width: their channels (default: the backbone's feature width D).
        init: the classifiers' init, a key of :data:`CLASSIFIER_INITS` (default PyTorch's).
        classifier_lr: ``head`` (default: the classifiers train at the head's ``lr``) or ``base`` (at
            ``backbone_lr``, :meth:`base_lr_parameters`).
        smoothing: average-pool the features 3×3 / stride 1 / padding 1 before both classifiers
            (wsolevaluation's VGG16 ACoL).
        **net_kwargs: :class:`~wsl.models.WSLNet`'s arguments.
    """

    def __init__(
        self,
        num_classes: int,
        erase_threshold: float = 0.6,
        branch_layers: int = 0,
        branch_width: int | None = None,
        init: str = "default",
        classifier_lr: str = "head",
        smoothing: bool = False,
        **net_kwargs: Any,
    ) -> None:
        if init not in CLASSIFIER_INITS:
            raise ValueError(f"acol: init must be one of {list(CLASSIFIER_INITS)}; got {init!r}")
        if classifier_lr not in ("head", "base"):
            raise ValueError(f"acol: classifier_lr must be 'head' or 'base'; got {classifier_lr!r}")
        super().__init__(num_classes, **net_kwargs)
        self._to_upstream_trunk()
        self.erase_threshold = float(erase_threshold)
        self.classifier_lr = classifier_lr
        channels = self.backbone.out_channels
        width = int(branch_width or channels) if branch_layers else channels
        pool = net_kwargs.get("pool", "weldon")
        pool_kwargs = net_kwargs.get("pool_kwargs")
        num_maps = self.head.num_maps
        self.smooth: nn.Module = nn.AvgPool2d(3, stride=1, padding=1) if smoothing else nn.Identity()
        self.branch_a = conv_stack(channels, width, branch_layers)
        self.branch_b = conv_stack(channels, width, branch_layers)
        self.head = CAMHead(width, num_classes, pool, pool_kwargs, num_maps)
        self.head_b = CAMHead(width, num_classes, pool, pool_kwargs, num_maps)
        rule = CLASSIFIER_INITS[init]
        if rule is not None:
            for conv in self._classifier_convs():
                rule(conv)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)

    def _to_upstream_trunk(self) -> None:
        """On wsolevaluation's VGG16 / InceptionV3 CAM body (``large_feature_map`` set), rebuild the backbone
        as upstream's ACoL trunk (:data:`~wsl.methods.acol_bodies.ACOL_BODIES`)."""
        old = self.backbone
        convert = ACOL_BODIES.get(type(old.body))
        if convert is None:
            return
        convert(old.body, old.weights.get("source") == "none")
        new = Backbone(old.body)
        new.img_size, new.name, new.weights = old.img_size, old.name, old.weights
        new.large_feature_map = old.large_feature_map
        self.backbone = new

    def _classifier_convs(self) -> Iterator[nn.Conv2d]:
        for part in (self.branch_a, self.head, self.branch_b, self.head_b):
            yield from (m for m in part.modules() if isinstance(m, nn.Conv2d))

    def base_lr_parameters(self) -> list[nn.Parameter]:
        """Parameters outside the backbone that train at ``backbone_lr`` (WSLModule's base group): the two
        classifiers with ``classifier_lr`` ``base`` (wsolevaluation's ResNet50 ACoL), else none."""
        if self.classifier_lr != "base":
            return []
        return [
            p for part in (self.branch_a, self.head, self.branch_b, self.head_b) for p in part.parameters()
        ]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The shared features f (N, D, h, w) both classifiers read (smoothed where configured)."""
        return self.smooth(self.backbone(images))

    def branches(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training forward: ``scores_a, maps_a, scores_b, maps_b`` and the ``erased`` mask (N, 1, h, w).

        ``targets`` bool (N, C): the classes that erase (default: A's top-1 class).
        """
        features = self.features(images)
        scores_a, maps_a = self.head(self.branch_a(features))
        if targets is None:
            targets = nn.functional.one_hot(scores_a.argmax(dim=1), scores_a.shape[1]).bool()
        erased = acol_erase_mask(maps_a, targets, self.erase_threshold)
        scores_b, maps_b = self.head_b(self.branch_b(features * (~erased).to(features.dtype)))
        return dict(scores_a=scores_a, maps_a=maps_a, scores_b=scores_b, maps_b=maps_b, erased=erased)

    def forward_view(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores_A (N, C), max(Â_c, B̂_c) (N, C, h, w))``, B_c on features erased by Â_c ≥ δ."""
        features = self.features(images)
        scores_a, maps_a = self.head(self.branch_a(features))
        normalized_a = normalize_maps(maps_a.detach())
        fused = torch.empty_like(normalized_a)
        for c in range(normalized_a.shape[1]):
            keep = (normalized_a[:, c : c + 1] < self.erase_threshold).to(features.dtype)
            _, maps_b = self.head_b(self.branch_b(features * keep))
            fused[:, c] = torch.maximum(normalized_a[:, c], normalize_maps(maps_b[:, c : c + 1])[:, 0])
        return scores_a, fused


def _positive_int_or_none(name: str, value: object, low: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
        raise ValueError(f"acol: {name} must be an int >= {low} or None (the variant's); got {value!r}")


@register_method("acol")
class ACoL(WSOLMethod):
    """ACoL training: :class:`ACoLNet`, ``loss(scores_A, y) + loss(scores_B, y)``.

    Args:
        variant: ``wsolevaluation`` (default: δ 0.7, two 3×3 layers of width 1024, upstream's init and lr
            group per architecture) or ``wsl`` (wsl's own: δ 0.6, 1×1 classifiers on the features);
            :data:`VARIANTS`.
        threshold: the erasing threshold δ in [0, 1] on A's normalised maps (None: the variant's).
        branch_layers: 3×3 conv + ReLU layers of each classifier before its CAM head (None: the
            variant's, 2 or 0).
        branch_width: those layers' channels (None: the variant's, 1024 or the backbone's width).
    """

    def __init__(
        self,
        variant: str = "wsolevaluation",
        threshold: float | None = None,
        branch_layers: int | None = None,
        branch_width: int | None = None,
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"acol: variant must be one of {list(VARIANTS)}; got {variant!r}")
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"acol: threshold must be in [0, 1] or None (the variant's); got {threshold!r}")
        _positive_int_or_none("branch_layers", branch_layers, 0)
        _positive_int_or_none("branch_width", branch_width, 1)
        own_threshold, own_layers, own_width, self.upstream_family = VARIANTS[variant]
        self.variant = variant
        self.threshold = float(own_threshold if threshold is None else threshold)
        self.branch_layers = own_layers if branch_layers is None else branch_layers
        self.branch_width = own_width if branch_width is None else branch_width

    def options(self) -> dict:
        return {
            "variant": self.variant,
            "threshold": self.threshold,
            "branch_layers": self.branch_layers,
            "branch_width": self.branch_width,
        }

    def family(self, backbone: str) -> ACoLFamily:
        """The init / lr group / smoothing this method uses on ``backbone`` (a timm name)."""
        if not self.upstream_family:
            return OTHER_FAMILY
        return ACOL_FAMILIES.get(backbone_architecture(backbone), OTHER_FAMILY)

    def build_net(self, **net_kwargs: Any) -> WSLNet:
        family = self.family(str(net_kwargs.get("backbone", "lcnet_050")))
        return ACoLNet(
            erase_threshold=self.threshold,
            branch_layers=self.branch_layers,
            branch_width=self.branch_width,
            init=family.init,
            classifier_lr=family.classifier_lr,
            smoothing=family.smoothing,
            **net_kwargs,
        )

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        out = net.branches(images, labels > 0)
        return loss(out["scores_a"], labels) + loss(out["scores_b"], labels, pool=net.head_b.pool)
