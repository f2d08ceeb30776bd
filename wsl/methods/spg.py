"""``spg``: Self-produced Guidance (Zhang et al., ECCV 2018) as wsolevaluation trains it, a network method.

The classifier (branch A) is the :class:`~wsl.models.WSLNet` with a GAP head: its 1×1 conv is upstream's
``SPG_A4``, scores = GAP(class maps) are upstream's logits and the eval CAM is the class map itself (with
its bias, no ReLU; upstream ``feat_map[labels]``). In training three one-channel maps are added:

- ``b1 = B_shared(B_1a(t1))``, ``b2 = B_shared(B_2a(t2))``: two taps t1, t2 of the backbone, each
  through its own 3×3 conv + ReLU, then one *shared* 3×3 conv + ReLU + 1×1 conv to one map;
- ``c = C(f)``: f the input of the classifier's 1×1 conv (after InceptionV3's last dropout), through
  3×3 conv + ReLU + 1×1 conv.

With up(·) the bilinear resize (``align_corners=False``) to the input's H × W (upstream: 224 × 224, its
crop size), σ the sigmoid and y the image's class:

    attention = minmax(up(class_maps)_y)                 (N, 1, H, W), detached
    fused     = (σ(up(b1)) + σ(up(b2))) / 2               detached
    mask(a, h, l) = 1 where a > h (fewer than 30 such pixels in an image: where a > 0.7 · max a),
                    then 0 where a < l, 255 (ignored) elsewhere
    L(z, a, h, l) = mean BCE-with-logits(up(z), mask(a, h, l)) over the pixels of the batch not ignored
    loss = loss(scores, y) + L(b2, attention, h1, l1) + L(b1, σ(up(b2)), h2, l2) + L(c, fused, h3, l3)

with (h1, l1), (h2, l2), (h3, l3) = ``thresholds`` (upstream config.py:213-224 and :249-251:
(0.7, 0.01), (0.5, 0.05), (0.7, 0.1); the same for every backbone). No gradient flows through a mask.

Where the taps sit, the branch widths and which learning rate the branches take depend on the backbone:
:data:`SPG_LAYOUTS` maps a timm model family to its :class:`SPGLayout` (upstream ``ResNetSpg``:
t1 = the output of layer3's first block, t2 = layer3's output, width 1024, C width 512; the branches and
``SPG_A4`` at the base lr, because upstream's ResNet "classifier" lr group is ``layer4.`` and ``fc.``
only; upstream ``InceptionSpg`` on wsl's InceptionV3-CAM (``large_feature_map`` set): t1 = after
``Mixed_5d`` and the optional pool (``Pool3``, 288 channels), t2 = ``Mixed_6d``'s output (768; not
``Mixed_6e``'s, as upstream), width 512, C width 512, everything added at the head's lr). A backbone of
another family gets :data:`GENERIC_LAYOUT` (wsl's own: the ends of the third- and second-to-last feature
stages), named as such in ``SPGNet.layout.name``.

Where wsl deviates from wsolevaluation's ``wsol/method/spg.py`` and why:
- the masks are made at the input's size, not a hard-coded 224 × 224 (the same for 224 px inputs);
- a constant class map normalises to 0, not 0/0 = NaN, and a loss term with no pixel left after the
  masking is 0, not the NaN of a mean over nothing (upstream's run would stop at NaN);
- y for a multi-label image is every present class (attention = the max of their normalised maps); an
  image without a present class uses the top-1 class (upstream's ``labels=None`` rule); single-label
  data is upstream's rule exactly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from timm.models import is_model_in_modules
from torch import nn

from wsl.methods.base import LossFn, WSOLMethod
from wsl.methods.registry import register_method
from wsl.models import WSLNet
from wsl.models.backbone import Backbone, resolve_backbone_name
from wsl.models.vgg_cam import VGG16CAMBody
from wsl.models.vgg_spg import VGG16SPGBody

if TYPE_CHECKING:
    from timm.models import FeatureInfo

__all__ = [
    "DEFAULT_THRESHOLDS",
    "GENERIC_LAYOUT",
    "IGNORE",
    "SPG",
    "SPGLayout",
    "SPGNet",
    "SPG_LAYOUTS",
    "spg_attention",
    "spg_fused_attention",
    "spg_loss_term",
    "spg_mask",
]

#: (high, low) of the three loss terms: b2 on the attention, b1 on σ(up(b2)), c on the fused map
#: (upstream config.py:213-224).
DEFAULT_THRESHOLDS = ((0.7, 0.01), (0.5, 0.05), (0.7, 0.1))
#: The mask value of ignored pixels (upstream fills the mask with 255).
IGNORE = 255.0
#: Fewer foreground pixels than this in an image and the foreground threshold falls back to
#: ``FALLBACK_RATIO`` × the image's maximum (upstream spg.py ``mask_fg``).
MIN_FOREGROUND = 30
FALLBACK_RATIO = 0.7


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def spg_mask(attention: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """SPG's three-valued target: 1 (foreground), 0 (background), :data:`IGNORE` elsewhere.

    Per image: foreground = ``a > high``; if that holds for fewer than :data:`MIN_FOREGROUND` pixels,
    foreground = ``a > FALLBACK_RATIO · max(a)`` instead; then background = ``a < low`` (overriding
    foreground).

    Args:
        attention: (N, 1, H, W) guidance map (values in [0, 1] in SPG's use).
        high: the foreground threshold.
        low: the background threshold.

    Returns:
        (N, 1, H, W) float tensor of 0, 1 and 255, without gradient.

    Example:
        >>> spg_mask(torch.tensor([[[[0.9, 0.5, 0.0]]]]), 0.7, 0.1).flatten().tolist()  # 1 px > 0.7: fallback
        [1.0, 255.0, 0.0]
    """
    a = attention.detach()
    count = (a > high).flatten(1).sum(dim=1)
    peak = a.flatten(1).amax(dim=1)
    threshold = torch.where(count < MIN_FOREGROUND, FALLBACK_RATIO * peak, torch.full_like(peak, high))
    foreground = a > threshold.view(-1, 1, 1, 1)
    mask = torch.full_like(a, IGNORE)
    mask = torch.where(foreground, 1.0, mask)
    return torch.where(a < low, 0.0, mask)


def spg_loss_term(logits: torch.Tensor, guide: torch.Tensor, high: float, low: float) -> torch.Tensor:
    """One SPG loss term: mean BCE-with-logits of up(``logits``) against ``spg_mask(guide, high, low)``
    over the batch's pixels that are not ignored (0 when every pixel is ignored).

    Args:
        logits: (N, 1, h, w) map of a branch, resized bilinearly to ``guide``'s (H, W).
        guide: (N, 1, H, W) the map the mask is made from.
        high: foreground threshold.
        low: background threshold.
    """
    target = spg_mask(guide, high, low)
    keep = target != IGNORE
    up = _upsample(logits, (guide.shape[-2], guide.shape[-1]))
    if not bool(keep.any()):
        return up.sum() * 0.0
    return F.binary_cross_entropy_with_logits(up[keep], target[keep].to(up.dtype))


def _normalize(maps: torch.Tensor) -> torch.Tensor:
    lo = maps.flatten(2).amin(dim=2)[..., None, None]
    hi = maps.flatten(2).amax(dim=2)[..., None, None]
    span = hi - lo
    return torch.where(span > 0, (maps - lo) / torch.where(span > 0, span, 1), 0)


def spg_attention(class_maps: torch.Tensor, targets: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The attention of the classifier: per image, the max over its ``targets`` of the min–max normalised
    up(class map), detached (upstream ``get_attention`` on the upsampled ``feat_map``).

    Args:
        class_maps: (N, C, h, w).
        targets: bool (N, C), at least one True per image.
        size: (H, W) of the result.

    Returns:
        (N, 1, H, W) in [0, 1]; a constant map gives 0.
    """
    normalized = _normalize(_upsample(class_maps.detach().float(), size))
    chosen = torch.where(targets[..., None, None], normalized, -1.0)
    return chosen.amax(dim=1, keepdim=True)


def spg_fused_attention(b1: torch.Tensor, b2: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``(σ(up(b1)) + σ(up(b2))) / 2``, detached: (N, 1, h, w) twice → (N, 1, H, W)."""
    return (torch.sigmoid(_upsample(b1.detach(), size)) + torch.sigmoid(_upsample(b2.detach(), size))) / 2


# ---------------------------------------------------------------------------------------------------------
# Per-family wiring.


def _conv_relu(channels: int, width: int) -> list[nn.Module]:
    return [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]


@dataclass(frozen=True)
class SPGLayout:
    """How SPG attaches to one family of backbones.

    Attributes:
        name: shown in :meth:`SPG.options`.
        taps: ``net → (module for t1, module for t2)``, modules of ``net.backbone`` whose outputs feed B.
        tap_channels: the channels of t1 and t2 (None: those of the feature stages holding the taps).
        b_width: channels of B's 3×3 convs (upstream ``SPG_B_*``); None: t2's channels.
        c_width: channels of C's 3×3 conv (upstream ``SPG_C``); None: the classifier's input channels.
        branches_at_backbone_lr: the branches and the classifier's 1×1 conv train at ``backbone_lr``
            (upstream's ResNet lr groups) instead of the head's ``lr``.
        xavier: initialise the branches and the classifier's 1×1 conv as upstream (Xavier-uniform
            weights, zero biases; upstream ``initialize_weights(..., 'xavier')``).
        prepare: ``net → None``, run first: rebuilds the network where upstream's SPG network is not its
            CAM network plus branches (VGG16).
    """

    name: str
    taps: Callable[[WSLNet], tuple[nn.Module, nn.Module]]
    tap_channels: tuple[int, int] | None
    b_width: int | None
    c_width: int | None
    branches_at_backbone_lr: bool
    xavier: bool
    prepare: Callable[[WSLNet], None] | None = None


def _stage(net: WSLNet, index: int, family: str) -> nn.Module:
    stages = net.backbone.stages
    if len(stages) < abs(index):
        raise ValueError(
            f"spg ({family} layout) taps feature stage {index} of backbone {net.backbone.name!r}, which has "
            f"{len(stages)} feature stages up to out_index ({[n for n, _ in stages]}); use a larger out_index"
        )
    return stages[index][1]


def _resnet_taps(net: WSLNet) -> tuple[nn.Module, nn.Module]:
    # Upstream ResNetSpg: SPG_A1 = layer3's first block, SPG_A2 = its other blocks (resnet.py:247-254).
    names = [name for name, _ in net.backbone.stages]
    layer = dict(net.backbone.stages).get("layer3")
    if names[-1] != "layer4" or not isinstance(layer, nn.Sequential) or len(layer) < 2:
        raise ValueError(
            f"spg (resnet layout): upstream's ResNetSpg taps layer3 and reads layer4, but backbone "
            f"{net.backbone.name!r} ends at its feature stage {names[-1]!r} (stages {names}); "
            "use out_index -1"
        )
    return layer[0], layer


def _inception_taps(net: WSLNet) -> tuple[nn.Module, nn.Module]:
    # Upstream InceptionSpg (inception.py:364-377): B1 after Mixed_5d and the extra pool, B2 after Mixed_6d.
    body = net.backbone.body
    pool, mixed = getattr(body, "Pool3", None), getattr(body, "Mixed_6d", None)
    if pool is None or mixed is None:
        raise ValueError(
            f"spg (inception_v3 layout) taps wsolevaluation's InceptionV3 network (Pool3, Mixed_6d), which "
            f"backbone {net.backbone.name!r} builds only with large_feature_map true or false; set it"
        )
    return pool, mixed


def _vgg_prepare(net: WSLNet) -> None:
    # Upstream VggSpg (vgg.py:124-213): features to pool3, SPG_A_1/2 = conv4/conv5 blocks, SPG_A_3, no conv6.
    body = net.backbone.body
    if not isinstance(body, VGG16CAMBody):
        raise ValueError(
            f"spg (vgg16 layout) rebuilds wsolevaluation's VGG16 network, which backbone "
            f"{net.backbone.name!r} builds only with large_feature_map true or false; set it"
        )
    spg_body = VGG16SPGBody(body.features, body.large_feature_map)
    spg_body.pretrained_cfg = dict(getattr(body, "pretrained_cfg", None) or {})
    old = net.backbone
    net.backbone = Backbone(spg_body)
    net.backbone.name, net.backbone.weights = old.name, old.weights
    net.backbone.img_size, net.backbone.large_feature_map = old.img_size, old.large_feature_map
    conv = net.head.conv
    net.head.conv = nn.Conv2d(spg_body.feature_info.channels()[-1], conv.out_channels, 1)


def _vgg_taps(net: WSLNet) -> tuple[nn.Module, nn.Module]:
    # B1 after SPG_A_1 and the optional pool, B2 after SPG_A_2 (vgg.py:183-192).
    body = cast(VGG16SPGBody, net.backbone.body)
    return body.Pool4, body.SPG_A_2


def _generic_taps(net: WSLNet) -> tuple[nn.Module, nn.Module]:
    return _stage(net, -3, "generic"), _stage(net, -2, "generic")


#: timm model family (module name) → its SPG layout, as wsolevaluation builds it for that family.
SPG_LAYOUTS: dict[str, SPGLayout] = {
    "resnet": SPGLayout(
        "resnet", _resnet_taps, None, b_width=1024, c_width=512, branches_at_backbone_lr=True, xavier=True
    ),
    # Upstream's VGG "classifier" lr group is everything outside features. (head_lr_stages 1: SPG_A_1-3).
    "vgg": SPGLayout(
        "vgg16",
        _vgg_taps,
        (512, 512),
        b_width=512,
        c_width=512,
        branches_at_backbone_lr=False,
        xavier=True,
        prepare=_vgg_prepare,
    ),
    # Upstream's Inception "classifier" lr group is everything outside Mixed*/Conv2d_1-4: SPG_* at lr x 10.
    "inception_v3": SPGLayout(
        "inception_v3",
        _inception_taps,
        (288, 768),
        b_width=512,
        c_width=512,
        branches_at_backbone_lr=False,
        xavier=True,
    ),
}
#: Any other backbone: wsl's own layout (not upstream's), taps at the ends of the third- and
#: second-to-last feature stages, widths from the backbone, everything new at the head's lr.
GENERIC_LAYOUT = SPGLayout(
    "generic (wsl's own)",
    _generic_taps,
    None,
    b_width=None,
    c_width=None,
    branches_at_backbone_lr=False,
    xavier=False,
)


def layout_for(architecture: str) -> SPGLayout:
    """The :class:`SPGLayout` of the timm architecture or tagged name ``architecture`` (:data:`GENERIC_LAYOUT`
    if its family has none).

    Example:
        >>> layout_for("resnet50.tv_in1k").name, layout_for("lcnet_050").name
        ('resnet', "generic (wsl's own)")
    """
    source, arch, _ = resolve_backbone_name(architecture)
    if source is not None:
        return GENERIC_LAYOUT
    family = next((f for f in SPG_LAYOUTS if is_model_in_modules(arch, [f])), None)
    return SPG_LAYOUTS[family] if family is not None else GENERIC_LAYOUT


def _stage_channels(net: WSLNet, module: nn.Module) -> int:
    info = cast("FeatureInfo", net.backbone.body.feature_info)
    for (_, stage), entry in zip(net.backbone.stages, info.info, strict=False):  # stages end at out_index
        channels = entry["num_chs"]
        if stage is module or any(m is module for m in stage.modules()):
            return int(channels)
    raise ValueError(f"spg: tap module {type(module).__name__} is not inside a feature stage")


class SPGNet(WSLNet):
    """A :class:`~wsl.models.WSLNet` with SPG's branches B (``spg_b1``, ``spg_b2``, ``spg_b_shared``) and C
    (``spg_c``), laid out as upstream's ``SPG_B_1a``, ``SPG_B_2a``, ``SPG_B_shared``, ``SPG_C``.

    The eval forward is the WSLNet's (scores, class maps); :meth:`branches` is the training forward.

    Args:
        num_classes: C.
        layout: the :class:`SPGLayout` (default: the backbone family's, :func:`layout_for`).
        **net_kwargs: :class:`~wsl.models.WSLNet`'s other arguments.
    """

    def __init__(self, num_classes: int, layout: SPGLayout | None = None, **net_kwargs: Any) -> None:
        super().__init__(num_classes, **net_kwargs)
        self.layout = layout or layout_for(self._architecture())
        if self.layout.prepare is not None:
            self.layout.prepare(self)
        tap1, tap2 = self.layout.taps(self)
        self._taps = (tap1, tap2)
        c1, c2 = self.layout.tap_channels or (_stage_channels(self, tap1), _stage_channels(self, tap2))
        width = self.layout.b_width or c2
        head_channels = self.head.conv.in_channels
        c_width = self.layout.c_width or head_channels
        self.spg_b1 = nn.Sequential(*_conv_relu(c1, width))
        self.spg_b2 = nn.Sequential(*_conv_relu(c2, width))
        self.spg_b_shared = nn.Sequential(*_conv_relu(width, width), nn.Conv2d(width, 1, 1))
        self.spg_c = nn.Sequential(*_conv_relu(head_channels, c_width), nn.Conv2d(c_width, 1, 1))
        if self.layout.xavier:
            for module in [self.head.conv, *self.branch_modules()]:
                for conv in (m for m in module.modules() if isinstance(m, nn.Conv2d)):
                    nn.init.xavier_uniform_(conv.weight)
                    nn.init.zeros_(cast(torch.Tensor, conv.bias))

    def _architecture(self) -> str:
        # An hf-hub name says its architecture only in the built model's config.
        cfg = getattr(self.backbone.body, "pretrained_cfg", None) or {}
        return str(cfg.get("architecture") or self.backbone.name)

    def branch_modules(self) -> list[nn.Module]:
        """B and C, the modules SPG adds."""
        return [self.spg_b1, self.spg_b2, self.spg_b_shared, self.spg_c]

    def base_lr_parameters(self) -> list[nn.Parameter]:
        """The parameters outside the backbone that train at ``backbone_lr`` (see :class:`SPGLayout`); read by
        ``WSLModule.configure_optimizers``."""
        if not self.layout.branches_at_backbone_lr:
            return []
        return [p for m in [self.head, *self.branch_modules()] for p in m.parameters()]

    @contextlib.contextmanager
    def _tapped(self, store: dict[str, torch.Tensor]) -> Iterator[None]:
        def keep(key: str) -> Callable[..., None]:
            def hook(module: nn.Module, args: Any, output: Any) -> None:
                store[key] = output

            return hook

        def keep_input(module: nn.Module, args: Sequence[torch.Tensor]) -> None:
            store["f"] = args[0]

        handles = [
            self._taps[0].register_forward_hook(keep("t1")),
            self._taps[1].register_forward_hook(keep("t2")),
            self.head.conv.register_forward_pre_hook(keep_input),
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def branches(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training forward: ``scores`` (N, C), ``class_maps`` (N, C, h, w) and the one-channel maps
        ``b1``, ``b2`` (at t1's and t2's resolution) and ``c`` (at the class maps')."""
        taps: dict[str, torch.Tensor] = {}
        with self._tapped(taps):
            scores, class_maps = self.forward_view(images)
        return {
            "scores": scores,
            "class_maps": class_maps,
            "b1": self.spg_b_shared(self.spg_b1(taps["t1"])),
            "b2": self.spg_b_shared(self.spg_b2(taps["t2"])),
            "c": self.spg_c(taps["f"]),
        }


def _check_thresholds(thresholds: Any) -> tuple[tuple[float, float], ...]:
    message = (
        "spg: thresholds must be three (high, low) pairs of numbers in [0, 1], for the b2, b1 and c terms "
        f"(upstream: {[list(p) for p in DEFAULT_THRESHOLDS]}); got {thresholds!r}"
    )
    try:
        pairs = tuple((float(h), float(lo)) for h, lo in thresholds)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if len(pairs) != 3 or not all(0.0 <= v <= 1.0 for pair in pairs for v in pair):
        raise ValueError(message)
    return pairs


@register_method("spg")
class SPG(WSOLMethod):
    """SPG training: :class:`SPGNet` and ``loss(scores, y)`` plus the three mask losses (module doc).

    Args:
        thresholds: ``[[h1, l1], [h2, l2], [h3, l3]]`` of the b2, b1 and c terms (default upstream's
            ``[[0.7, 0.01], [0.5, 0.05], [0.7, 0.1]]``).
    """

    def __init__(self, thresholds: Sequence[Sequence[float]] | None = None) -> None:
        self.thresholds = _check_thresholds(DEFAULT_THRESHOLDS if thresholds is None else thresholds)

    def options(self) -> dict:
        return {"thresholds": [list(p) for p in self.thresholds]}

    def build_net(self, **net_kwargs: Any) -> WSLNet:
        return SPGNet(**net_kwargs)

    def training_loss(
        self, net: nn.Module, images: torch.Tensor, labels: torch.Tensor, loss: LossFn
    ) -> torch.Tensor:
        out = net.branches(images)
        size = (images.shape[-2], images.shape[-1])
        targets = labels > 0
        top1 = F.one_hot(out["scores"].argmax(dim=1), labels.shape[1]).bool()
        targets = torch.where(targets.any(dim=1, keepdim=True), targets, top1)
        attention = spg_attention(out["class_maps"], targets, size)
        b2, b1, c = out["b2"].float(), out["b1"].float(), out["c"].float()
        (h1, l1), (h2, l2), (h3, l3) = self.thresholds
        b2_sigmoid = torch.sigmoid(_upsample(b2.detach(), size))
        return (
            loss(out["scores"], labels)
            + spg_loss_term(b2, attention, h1, l1)
            + spg_loss_term(b1, b2_sigmoid, h2, l2)
            + spg_loss_term(c, spg_fused_attention(b1, b2, size), h3, l3)
        )
