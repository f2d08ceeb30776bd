"""``adl``: Attention-based Dropout Layer (Choe & Shim, CVPR 2019), a network method.

After each chosen backbone stage, in training only, the features x (N, D, h, w) are multiplied by
one of two maps computed from the self-attention a = mean_d x (N, 1, h, w):

- the drop mask ``1[a < γ·max_hw a]`` (drops the most discriminative region), with probability
  ``drop_rate``, one draw per batch and layer;
- else the importance map ``sigmoid(a)``.

In eval mode the layer is the identity, so CAMs are computed on the unmodified network. ADL has no
parameters: the checkpoint's state dict is the plain WSLNet's.

Where wsl deviates from wsolevaluation's ``wsol/method/adl.py`` / ``resnet.py`` and why: the math is
the same (``a < γ·max`` kept, one ``rand`` per batch); the layers go after whole feature stages of any
timm CNN (forward hooks on timm's feature-stage modules, default the last two stages up to
``out_index``) instead of after hand-picked ResNet blocks (wsolevaluation: after block 0 of layer3 and
blocks 0 and 2 of layer4), because stage boundaries exist in every timm backbone and blocks do not.
ViT stages return tokens, not (N, D, h, w) maps, and are refused.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from wsl.methods.base import WSOLMethod
from wsl.methods.registry import register_method
from wsl.models import WSLNet

__all__ = ["ADL", "ADLMethod", "adl_drop_mask", "insert_adl"]


def adl_drop_mask(attention: torch.Tensor, gamma: float) -> torch.Tensor:
    """``1[a < γ·max a]`` per image: attention (N, 1, h, w) → float mask (N, 1, h, w), 0 where dropped."""
    peak = attention.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    return (attention < gamma * peak).to(attention.dtype)


class ADL(nn.Module):
    """The attention-based dropout layer (identity in eval mode).

    Args:
        drop_rate: probability 0 ≤ drop_rate ≤ 1 of the drop branch (default 0.75, the paper's).
        gamma: drop threshold 0 ≤ γ ≤ 1 relative to the attention maximum (default 0.8).
    """

    def __init__(self, drop_rate: float = 0.75, gamma: float = 0.8) -> None:
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


def _after_stage(layer: ADL, module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
    return layer(output)


def insert_adl(net: WSLNet, stages: Sequence[int], drop_rate: float = 0.75, gamma: float = 0.8) -> list[str]:
    """Insert an :class:`ADL` after each of ``stages`` of ``net.backbone`` (in place); returns the stage
    module names. Stage indices count the backbone's feature stages up to ``out_index`` (negative:
    from the last, -1 = the stage the head reads).

    The layers are registered as ``net.backbone.adl`` (so ``train()``/``eval()`` reach them) and run
    as forward hooks on the stage modules (so the state dict keys do not change).
    """
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
    layers = nn.ModuleList()
    for index in sorted(set(resolved)):
        layer = ADL(drop_rate, gamma)
        net.backbone.stages[index][1].register_forward_hook(functools.partial(_after_stage, layer))
        layers.append(layer)
    net.backbone.adl = layers
    return [names[i] for i in sorted(set(resolved))]


@register_method("adl")
class ADLMethod(WSOLMethod):
    """ADL training: the WSLNet with :class:`ADL` layers after ``stages``; the plain CAM loss.

    Args:
        stages: backbone feature stages followed by an ADL (indices as ``out_index``, negative from the
            last kept stage; default ``[-2, -1]``: the last two, as wsolevaluation's layer3/layer4).
        drop_rate: probability of the drop branch (default 0.75).
        gamma: drop threshold relative to the attention maximum (default 0.8).
    """

    def __init__(self, stages: list[int] | None = None, drop_rate: float = 0.75, gamma: float = 0.8) -> None:
        ADL(drop_rate, gamma)  # validates
        self.stages = list(stages) if stages is not None else [-2, -1]
        self.drop_rate, self.gamma = float(drop_rate), float(gamma)

    def options(self) -> dict:
        return {"stages": self.stages, "drop_rate": self.drop_rate, "gamma": self.gamma}

    def build_net(self, **net_kwargs: Any) -> WSLNet:
        net = WSLNet(**net_kwargs)
        insert_adl(net, self.stages if len(net.backbone.stages) > 1 else [-1], self.drop_rate, self.gamma)
        return net
