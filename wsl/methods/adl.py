"""``adl``: Attention-based Dropout Layer (Choe & Shim, CVPR 2019), a network method.

After each chosen backbone module, in training only, the features x (N, D, h, w) are multiplied by
one of two maps computed from the self-attention a = mean_d x (N, 1, h, w):

- the drop mask ``1[a < γ·max_hw a]`` (drops the most discriminative region), with probability
  ``drop_rate``, one draw per batch and layer;
- else the importance map ``sigmoid(a)``.

In eval mode the layer is the identity, so CAMs are computed on the unmodified network. ADL has no
parameters: the checkpoint's state dict is the plain WSLNet's.

Where the layers go (``placement``, :data:`PLACEMENTS`):

- ``wsolevaluation``: after the blocks wsolevaluation lists for the architecture (:data:`ADL_POSITIONS`;
  ResNet50: after ``layer3.0``, ``layer4.0`` and ``layer4.2``, its ``resnet.py`` ``_ADL_POSITION``);
- ``stages`` (wsl's own variant): after whole timm feature stages (``stages``, default the last two),
  which exist in every timm CNN;
- ``auto`` (the default): ``wsolevaluation`` for an architecture of :data:`ADL_POSITIONS`, else ``stages``.

The defaults ``drop_rate`` 0.75 and ``gamma`` 0.9 are wsolevaluation's (``config.py`` ``adl_drop_rate``,
``adl_threshold``). The math is upstream's ``wsol/method/adl.py``: upstream selects the drop branch when
``floor(u + drop_rate) = 1`` for one uniform u per call, i.e. with probability ``drop_rate``, as here.
ViT stages return tokens, not (N, D, h, w) maps, and are refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from wsl.methods.base import WSOLMethod
from wsl.methods.registry import register_method
from wsl.models import WSLNet

__all__ = [
    "ADL",
    "ADLMethod",
    "ADL_POSITIONS",
    "PLACEMENTS",
    "adl_drop_mask",
    "adl_modules",
    "backbone_architecture",
    "insert_adl",
    "insert_adl_after",
]

#: timm architecture → the modules of the backbone body after which wsolevaluation inserts an ADL
#: (upstream ``wsol/resnet.py:24`` ``_ADL_POSITION = [[], [], [], [0], [0, 2]]``, inserted at ``:392-396``).
ADL_POSITIONS: dict[str, tuple[str, ...]] = {
    "resnet50": ("layer3.0", "layer4.0", "layer4.2"),
}


def backbone_architecture(name: str) -> str:
    """The timm architecture of a backbone name: ``resnet50.tv_in1k`` and ``hf-hub:timm/resnet50.a1_in1k``
    are ``resnet50``."""
    return name.removeprefix("hf-hub:").split("/")[-1].split(".")[0]


def adl_drop_mask(attention: torch.Tensor, gamma: float) -> torch.Tensor:
    """``1[a < γ·max a]`` per image: attention (N, 1, h, w) → float mask (N, 1, h, w), 0 where dropped."""
    peak = attention.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    return (attention < gamma * peak).to(attention.dtype)


class ADL(nn.Module):
    """The attention-based dropout layer (identity in eval mode).

    Args:
        drop_rate: probability 0 ≤ drop_rate ≤ 1 of the drop branch (default 0.75, wsolevaluation's).
        gamma: drop threshold 0 ≤ γ ≤ 1 relative to the attention maximum (default 0.9, wsolevaluation's
            ``adl_threshold``).
    """

    def __init__(self, drop_rate: float = 0.75, gamma: float = 0.9) -> None:
        super().__init__()
        if not 0.0 <= float(drop_rate) <= 1.0:
            raise ValueError(f"adl: drop_rate must be in [0, 1]; got {drop_rate!r}")
        if not 0.0 <= float(gamma) <= 1.0:
            raise ValueError(f"adl: gamma must be in [0, 1]; got {gamma!r}")
        self.drop_rate, self.gamma = float(drop_rate), float(gamma)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return features
        if features.ndim != 4:
            raise ValueError(
                f"adl needs (N, D, h, w) stage outputs; this backbone stage returns shape "
                f"{tuple(features.shape)} (a ViT's tokens?). Use a CNN backbone or --model.method cam."
            )
        attention = features.mean(dim=1, keepdim=True)
        if float(torch.rand(())) < self.drop_rate:
            return features * adl_drop_mask(attention, self.gamma)
        return features * torch.sigmoid(attention)

    def extra_repr(self) -> str:
        return f"drop_rate={self.drop_rate}, gamma={self.gamma}"


def _after(layer: ADL, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    return layer(output)


def insert_adl_after(
    net: WSLNet, module_names: Sequence[str], drop_rate: float = 0.75, gamma: float = 0.9
) -> list[str]:
    """Insert an :class:`ADL` after each named module of ``net.backbone.body`` (in place), in the given
    order; returns the names.

    The layers are registered as ``net.backbone.adl`` (so ``train()``/``eval()`` reach them) and run as
    forward hooks on the modules (so the state dict keys do not change: a wsl ADL checkpoint has the
    plain WSLNet's keys); ``net.backbone.adl_positions`` records the names.

    Raises:
        ValueError: a name that is not a module of the backbone (e.g. cut off by ``out_index``).
    """
    modules = dict(net.backbone.body.named_modules())
    missing = [name for name in module_names if name not in modules]
    if missing:
        raise ValueError(
            f"adl: backbone {net.backbone.name!r} has no module(s) {missing} to place ADL after (out_index "
            f"cuts the backbone at {net.backbone.stages[-1][0]!r}); use the last stage (out_index -1) or "
            "placement 'stages'"
        )
    layers = nn.ModuleList()
    for name in module_names:
        layer = ADL(drop_rate, gamma)
        modules[name].register_forward_hook(functools.partial(_after, layer))
        layers.append(layer)
    net.backbone.adl = layers
    setattr(net.backbone, "adl_positions", list(module_names))  # noqa: B010 - not a Tensor/Module
    return list(module_names)


def insert_adl(net: WSLNet, stages: Sequence[int], drop_rate: float = 0.75, gamma: float = 0.9) -> list[str]:
    """wsl's stage placement: an :class:`ADL` after each of ``stages`` of ``net.backbone`` (in place);
    returns the stage module names. Stage indices count the backbone's feature stages up to ``out_index``
    (negative: from the last, -1 = the stage the head reads)."""
    return insert_adl_after(net, _stage_names(net, stages), drop_rate, gamma)


def _stage_names(net: WSLNet, stages: Sequence[int]) -> list[str]:
    count = len(net.backbone.stages)
    names = [name for name, _ in net.backbone.stages]
    resolved = []
    for index in stages:
        if isinstance(index, bool) or not isinstance(index, int) or not -count <= index < count:
            raise ValueError(
                f"adl: stages={list(stages)!r}: {index!r} is not a stage of backbone {net.backbone.name!r}, "
                f"which has {count} feature stages up to out_index ({names}); use -{count} … {count - 1}."
            )
        resolved.append(index % count)
    return [names[i] for i in sorted(set(resolved))]


def _wsolevaluation_positions(net: WSLNet, stages: Sequence[int]) -> list[str]:
    arch = backbone_architecture(net.backbone.name)
    if arch not in ADL_POSITIONS:
        raise ValueError(
            f"adl: placement 'wsolevaluation' knows the positions of {sorted(ADL_POSITIONS)}; backbone "
            f"{net.backbone.name!r} is not one of them: use placement 'stages' (wsl's: after whole feature "
            "stages) or 'auto'"
        )
    return list(ADL_POSITIONS[arch])


def _stage_positions(net: WSLNet, stages: Sequence[int]) -> list[str]:
    return _stage_names(net, stages if len(net.backbone.stages) > 1 else [-1])


def _auto_positions(net: WSLNet, stages: Sequence[int]) -> list[str]:
    known = backbone_architecture(net.backbone.name) in ADL_POSITIONS
    return (_wsolevaluation_positions if known else _stage_positions)(net, stages)


#: ``placement`` → the backbone module names an ADL follows, from the network and ``stages``.
PLACEMENTS: dict[str, Callable[[WSLNet, Sequence[int]], list[str]]] = {
    "auto": _auto_positions,
    "wsolevaluation": _wsolevaluation_positions,
    "stages": _stage_positions,
}


def adl_modules(net: nn.Module) -> list[str]:
    """The backbone modules an ADL follows in ``net`` (empty for a network without ADL)."""
    backbone = getattr(net, "backbone", None)
    return list(getattr(backbone, "adl_positions", []))


@register_method("adl")
class ADLMethod(WSOLMethod):
    """ADL training: the WSLNet with :class:`ADL` layers (see the module doc); the plain CAM loss.

    Args:
        placement: ``auto`` (default: wsolevaluation's blocks for the architectures of
            :data:`ADL_POSITIONS`, else ``stages``), ``wsolevaluation`` (ResNet50: after ``layer3.0``,
            ``layer4.0``, ``layer4.2``) or ``stages`` (wsl's own variant: after whole feature stages).
        stages: with ``stages`` placement, the feature stages followed by an ADL (indices as ``out_index``,
            negative from the last kept stage; default ``[-2, -1]``: the last two).
        drop_rate: probability of the drop branch (default 0.75, wsolevaluation's).
        gamma: drop threshold relative to the attention maximum (default 0.9, wsolevaluation's; wsl's
            earlier default was 0.8).
    """

    def __init__(
        self,
        placement: str = "auto",
        stages: list[int] | None = None,
        drop_rate: float = 0.75,
        gamma: float = 0.9,
    ) -> None:
        ADL(drop_rate, gamma)  # validates
        if placement not in PLACEMENTS:
            raise ValueError(f"adl: placement must be one of {list(PLACEMENTS)}; got {placement!r}")
        self.placement = placement
        self.stages = list(stages) if stages is not None else [-2, -1]
        self.drop_rate, self.gamma = float(drop_rate), float(gamma)

    def options(self) -> dict:
        return {
            "placement": self.placement,
            "stages": self.stages,
            "drop_rate": self.drop_rate,
            "gamma": self.gamma,
        }

    def build_net(self, **net_kwargs: Any) -> WSLNet:
        net = WSLNet(**net_kwargs)
        insert_adl_after(net, PLACEMENTS[self.placement](net, self.stages), self.drop_rate, self.gamma)
        return net
