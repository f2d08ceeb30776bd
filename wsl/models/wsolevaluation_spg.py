"""wsolevaluation ``spg`` checkpoints into wsl: upstream's ``ResNetSpg`` state dict → ``SPGNet``.

Upstream (commit 96f4b88, ``wsol/resnet.py`` ``ResNetSpg``) splits ResNet50's layer3 into ``SPG_A1`` (its
first block) and ``SPG_A2`` (the other five) and names its added layers ``SPG_A4`` (the 1×1 classifier),
``SPG_B_1a``, ``SPG_B_2a``, ``SPG_B_shared`` and ``SPG_C``. The renaming:

=======================  ==========================================
upstream                 wsl (``SPGNet``)
=======================  ==========================================
``conv1.*`` ``bn1.*``    ``backbone.body.conv1.*`` ``backbone.body.bn1.*``
``layer1.*`` ``layer2.*`` ``layer4.*``  ``backbone.body.<same key>``
``SPG_A1.0.*``           ``backbone.body.layer3.0.*``
``SPG_A2.k.*``           ``backbone.body.layer3.<k+1>.*``
``SPG_A4.*``             ``head.conv.*`` (already a 1×1 conv)
``SPG_B_1a.*``           ``spg_b1.*``
``SPG_B_2a.*``           ``spg_b2.*``
``SPG_B_shared.*``       ``spg_b_shared.*``
``SPG_C.*``              ``spg_c.*``
=======================  ==========================================

Nothing is reshaped, so the converted network's scores are upstream's logits (GAP of ``SPG_A4``'s map) and
its class maps are upstream's CAMs (``SPG_A4``'s map, bias included) exactly, up to floating-point rounding;
the branches B and C give upstream's ``logits_b1``, ``logits_b2``, ``logits_c``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from wsl.models.wsolevaluation import _strip_data_parallel

__all__ = ["SPG_BLOCKS", "is_spg_state_dict", "method_state_dict_to_wsl", "spg_state_dict_to_wsl"]

#: Blocks of upstream's ResNet50 SPG stages (``SPG_A1`` + ``SPG_A2`` = layer3's 6).
SPG_BLOCKS = {"layer1": 3, "layer2": 4, "SPG_A1": 1, "SPG_A2": 5, "layer4": 3}
_BRANCHES = {"SPG_B_1a": "spg_b1", "SPG_B_2a": "spg_b2", "SPG_B_shared": "spg_b_shared", "SPG_C": "spg_c"}
_BLOCK_KEY = re.compile(r"^(layer[124]|SPG_A[12])\.(\d+)\.(.+)$")


def is_spg_state_dict(state_dict: Mapping[str, Any]) -> bool:
    """Whether ``state_dict`` (``module.``-prefixed or not) is an upstream SPG network's (``SPG_B_*``)."""
    return any(k.removeprefix("module.").startswith("SPG_B_") for k in state_dict)


def spg_state_dict_to_wsl(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a wsolevaluation ResNet50-SPG ``state_dict`` to a :class:`~wsl.methods.spg.SPGNet`'s.

    Args:
        state_dict: upstream's ``checkpoint["state_dict"]`` of ``--architecture resnet50
            --wsol_method spg``; a leading ``module.`` (DataParallel) on every key is removed.

    Returns:
        The SPGNet state dict, the tensors themselves.

    Raises:
        TypeError: not a mapping of tensors.
        ValueError: keys of another layout (named), or a block index beyond ResNet50's.

    Example:
        >>> import torch
        >>> spg_state_dict_to_wsl({"SPG_A2.4.conv1.weight": torch.zeros(1), "SPG_A4.bias": torch.zeros(2)})
        {'backbone.body.layer3.5.conv1.weight': tensor([0.]), 'head.conv.bias': tensor([0., 0.])}
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict: expected a mapping of tensors; got {type(state_dict).__name__}")
    out: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in _strip_data_parallel(state_dict).items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}]: expected a tensor; got {type(value).__name__}")
        head, _, rest = key.partition(".")
        block = _BLOCK_KEY.match(key)
        if head in ("conv1", "bn1"):
            out[f"backbone.body.{key}"] = value
        elif head == "SPG_A4":
            out[f"head.conv.{rest}"] = value
        elif head in _BRANCHES:
            out[f"{_BRANCHES[head]}.{rest}"] = value
        elif block and int(block.group(2)) < SPG_BLOCKS[block.group(1)]:
            stage, index, tail = block.group(1), int(block.group(2)), block.group(3)
            if stage == "SPG_A1":
                stage = "layer3"
            elif stage == "SPG_A2":
                stage, index = "layer3", index + 1
            out[f"backbone.body.{stage}.{index}.{tail}"] = value
        else:
            foreign.append(key)
    if foreign:
        raise ValueError(
            f"state_dict: {len(foreign)} keys are not those of wsolevaluation's ResNet50 SPG network "
            f"(ResNetSpg), e.g. {sorted(foreign)[:5]}; only --architecture resnet50 --wsol_method spg "
            "checkpoints convert here"
        )
    return out


def method_state_dict_to_wsl(state_dict: Mapping[str, Any]) -> tuple[str, dict[str, torch.Tensor]] | None:
    """``("spg", the SPGNet state dict)`` for an upstream SPG ``state_dict``, None for any other (the hook
    :func:`~wsl.models.wsolevaluation.convert_wsolevaluation_checkpoint` calls before its CAM conversion)."""
    return ("spg", spg_state_dict_to_wsl(state_dict)) if is_spg_state_dict(state_dict) else None
