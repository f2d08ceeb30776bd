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

``VggSpg`` (``wsol/vgg.py``) and ``InceptionSpg`` (``wsol/inception.py``) keep their body keys in wsl
(:class:`~wsl.models.vgg_spg.VGG16SPGBody`: ``features.*``, ``SPG_A_1.*``, ``SPG_A_2.*``, ``SPG_A_3.*``;
wsl's InceptionV3-CAM body: ``Conv2d_*``, ``Mixed_5b`` … ``Mixed_6e``, ``SPG_A3_1b.*``, ``SPG_A3_2b.*``) under
``backbone.body.``; their classifier (``SPG_A_4`` / ``SPG_A4``) becomes ``head.conv`` and B and C are renamed
as above. The family is told by the keys (``SPG_A_1.*``: VGG16; ``Mixed_*``: InceptionV3; else ResNet50).

The conversion is :data:`wsl.models.wsolevaluation_methods.LAYOUTS`' ``spg`` entry (detected by the
``SPG_B_*`` keys), so ``convert_wsolevaluation_checkpoint`` / ``tools/convert_wsolevaluation.py`` write an
``spg`` wsl checkpoint. Nothing is reshaped, so the converted network's scores are upstream's logits (GAP
of ``SPG_A4``'s map) and its class maps are upstream's CAMs (``SPG_A4``'s map, bias included) exactly, up
to floating-point rounding; the branches B and C give upstream's ``logits_b1``, ``logits_b2``,
``logits_c``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from wsl.models.wsolevaluation import _strip_data_parallel

__all__ = [
    "SPG_BLOCKS",
    "is_spg_layout",
    "spg_family",
    "spg_state_dict_to_wsl",
]

#: Blocks of upstream's ResNet50 SPG stages (``SPG_A1`` + ``SPG_A2`` = layer3's 6).
SPG_BLOCKS = {"layer1": 3, "layer2": 4, "SPG_A1": 1, "SPG_A2": 5, "layer4": 3}
_BRANCHES = {"SPG_B_1a": "spg_b1", "SPG_B_2a": "spg_b2", "SPG_B_shared": "spg_b_shared", "SPG_C": "spg_c"}
_BLOCK_KEY = re.compile(r"^(layer[124]|SPG_A[12])\.(\d+)\.(.+)$")
#: VGG16 / InceptionV3: upstream's body keys that wsl keeps (under ``backbone.body.``), and the classifier.
_KEPT_BODY = {
    "vgg16": (("features.", "SPG_A_1.", "SPG_A_2.", "SPG_A_3."), "SPG_A_4"),
    "inception_v3": (
        ("Conv2d_1a_3x3.", "Conv2d_2a_3x3.", "Conv2d_2b_3x3.", "Conv2d_3b_1x1.", "Conv2d_4a_3x3.", "Mixed_5")
        + ("Mixed_6", "SPG_A3_1b.", "SPG_A3_2b."),
        "SPG_A4",
    ),
}


def spg_family(state_dict: Mapping[str, Any]) -> str:
    """The upstream architecture of an SPG ``state_dict``: ``vgg16``, ``inception_v3`` or ``resnet50``."""
    keys = [k.removeprefix("module.") for k in state_dict]
    if any(k.startswith("SPG_A_1.") for k in keys):
        return "vgg16"
    return "inception_v3" if any(k.startswith("Mixed_") for k in keys) else "resnet50"


def _resnet_key(key: str) -> str | None:
    head, _, rest = key.partition(".")
    block = _BLOCK_KEY.match(key)
    if head in ("conv1", "bn1"):
        return f"backbone.body.{key}"
    if head == "SPG_A4":
        return f"head.conv.{rest}"
    if block and int(block.group(2)) < SPG_BLOCKS[block.group(1)]:
        stage, index, tail = block.group(1), int(block.group(2)), block.group(3)
        if stage == "SPG_A1":
            stage = "layer3"
        elif stage == "SPG_A2":
            stage, index = "layer3", index + 1
        return f"backbone.body.{stage}.{index}.{tail}"
    return None


def _kept_body_key(family: str, key: str) -> str | None:
    prefixes, classifier = _KEPT_BODY[family]
    head, _, rest = key.partition(".")
    if head == classifier:
        return f"head.conv.{rest}"
    return f"backbone.body.{key}" if key.startswith(prefixes) else None


def is_spg_layout(keys: list[str]) -> bool:
    """Whether the (``module.``-free) state-dict ``keys`` are an upstream SPG network's (``SPG_B_*``)."""
    return any(k.startswith("SPG_B_") for k in keys)


def spg_state_dict_to_wsl(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a wsolevaluation SPG ``state_dict`` to a :class:`~wsl.methods.spg.SPGNet`'s (module doc).

    Args:
        state_dict: upstream's ``checkpoint["state_dict"]`` of ``--wsol_method spg`` (ResNet50, VGG16 or
            InceptionV3); a leading ``module.`` (DataParallel) on every key is removed.

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
    family = spg_family(state_dict)
    out: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in _strip_data_parallel(state_dict).items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}]: expected a tensor; got {type(value).__name__}")
        head, _, rest = key.partition(".")
        new: str | None
        if head in _BRANCHES:
            new = f"{_BRANCHES[head]}.{rest}"
        else:
            new = _resnet_key(key) if family == "resnet50" else _kept_body_key(family, key)
        if new is None:
            foreign.append(key)
        else:
            out[new] = value
    if foreign:
        raise ValueError(
            f"state_dict: {len(foreign)} keys are not those of wsolevaluation's {family} SPG network, e.g. "
            f"{sorted(foreign)[:5]}; only --wsol_method spg checkpoints of resnet50, vgg16 and inception_v3 "
            "convert here"
        )
    return out
