"""wsolevaluation InceptionV3 checkpoints (``cam``, ``has``, ``cutmix``, ``adl``) into wsl's InceptionV3-CAM.

Upstream (commit 96f4b88, ``wsol/inception.py``) names the modules of ``InceptionCam`` and ``InceptionAdl``
as torchvision's InceptionV3 does (``Conv2d_1a_3x3.conv.weight``, ``Conv2d_1a_3x3.bn.running_var``,
``Mixed_5b.branch1x1.conv.weight`` … ``Mixed_6e.branch_pool.bn.*``; no ``Mixed_7*``, ``AuxLogits`` or
``fc``) and adds ``SPG_A3_1b.0.*`` (3×3 768→1024), ``SPG_A3_2b.0.*`` (3×3 1024→1024) and ``SPG_A4.*`` (1×1
1024→C). Its ADL network's three ADL modules (``ADL_5d``, ``ADL_6e``, ``ADL_A3_2b``) have no parameters, so
``cam`` and ``adl`` state dicts have the same keys: the method is told, not read (``--method adl``).

wsl's :class:`~wsl.models.inception_cam.InceptionV3CAMBody` keeps these names, so the renaming is
``<key>`` → ``backbone.body.<key>`` and ``SPG_A4.*`` → ``head.conv.*`` (already a 1×1 conv). Nothing is
reshaped: the converted network's scores are upstream's logits (GAP of ``SPG_A4``'s map) and its class
maps are upstream's CAMs (``SPG_A4``'s map, bias included), up to floating-point rounding. The dropouts
(absent from upstream's ADL network) act only in training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "INCEPTION_V3_ACOL_PREFIXES",
    "INCEPTION_V3_BODY_PREFIXES",
    "inception_v3_acol_trunk_to_wsl",
    "inception_v3_state_dict_to_wsl",
]

#: Upstream's InceptionV3-CAM key prefixes that wsl's body keeps as they are.
INCEPTION_V3_BODY_PREFIXES = (
    "Conv2d_1a_3x3.",
    "Conv2d_2a_3x3.",
    "Conv2d_2b_3x3.",
    "Conv2d_3b_1x1.",
    "Conv2d_4a_3x3.",
    "Mixed_5b.",
    "Mixed_5c.",
    "Mixed_5d.",
    "Mixed_6a.",
    "Mixed_6b.",
    "Mixed_6c.",
    "Mixed_6d.",
    "Mixed_6e.",
    "SPG_A3_1b.",
    "SPG_A3_2b.",
)


def inception_v3_state_dict_to_wsl(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a wsolevaluation InceptionV3 ``cam`` / ``adl`` ``state_dict`` to a
    :class:`~wsl.models.WSLNet`'s (module docstring); a leading ``module.`` (DataParallel) is removed.

    Returns:
        The WSLNet state dict, the tensors themselves.

    Raises:
        TypeError: not a mapping of tensors.
        ValueError: keys outside upstream's InceptionV3-CAM (named: ``Mixed_7*``, ``AuxLogits``, ``fc``,
            ACoL's classifiers), no ``SPG_A4``, or an ``SPG_A4`` of the wrong shape.

    Example:
        >>> import torch
        >>> out = inception_v3_state_dict_to_wsl({"SPG_A4.weight": torch.zeros(3, 1024, 1, 1),
        ...                                       "SPG_A4.bias": torch.zeros(3)})
        >>> sorted(out)
        ['head.conv.bias', 'head.conv.weight']
    """
    from wsl.models.wsolevaluation import _strip_data_parallel

    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict: expected a mapping of tensors; got {type(state_dict).__name__}")
    out: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in _strip_data_parallel(state_dict).items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}]: expected a tensor; got {type(value).__name__}")
        if key.startswith(INCEPTION_V3_BODY_PREFIXES):
            out[f"backbone.body.{key}"] = value
        elif key.startswith("SPG_A4."):
            out[f"head.conv.{key.removeprefix('SPG_A4.')}"] = value
        else:
            foreign.append(key)
    if foreign:
        raise ValueError(
            f"state_dict: {len(foreign)} keys are not those of wsolevaluation's InceptionV3 cam / adl "
            f"network, e.g. {sorted(foreign)[:5]}; its keys are Conv2d_*, Mixed_5b … Mixed_6e, SPG_A3_1b, "
            "SPG_A3_2b and SPG_A4"
        )
    weight, bias = out.get("head.conv.weight"), out.get("head.conv.bias")
    if weight is None or bias is None:
        raise ValueError(
            "state_dict: no 'SPG_A4.weight' / 'SPG_A4.bias' (upstream InceptionV3's classifier); pass "
            "checkpoint['state_dict'] of a *_checkpoint.pth.tar"
        )
    if weight.shape[1:] != (1024, 1, 1) or bias.shape != (weight.shape[0],):
        raise ValueError(
            f"state_dict: SPG_A4.weight has shape {tuple(weight.shape)} and SPG_A4.bias {tuple(bias.shape)}; "
            "upstream InceptionV3's classifier is (C, 1024, 1, 1) and (C,)"
        )
    return out


#: Upstream's InceptionV3 ACoL trunk key prefixes (``InceptionAcol``: the CAM trunk up to ``Mixed_6e``).
INCEPTION_V3_ACOL_PREFIXES = tuple(p for p in INCEPTION_V3_BODY_PREFIXES if not p.startswith("SPG_"))


def inception_v3_acol_trunk_to_wsl(trunk: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the trunk of a wsolevaluation InceptionV3 ``acol`` state dict (its keys without
    ``classifier_A/B``): ``<key>`` → ``backbone.body.<key>`` for ``Conv2d_*`` and ``Mixed_5b`` …
    ``Mixed_6e`` (:data:`INCEPTION_V3_ACOL_PREFIXES`); ``large_feature_map`` changes no weight.

    Raises:
        ValueError: keys outside that trunk (named).
    """
    foreign = sorted(k for k in trunk if not k.startswith(INCEPTION_V3_ACOL_PREFIXES))
    if foreign:
        raise ValueError(
            f"state_dict: {len(foreign)} keys are not those of wsolevaluation's InceptionV3 ACoL network, "
            f"e.g. {foreign[:5]}; its keys are Conv2d_*, Mixed_5b … Mixed_6e, classifier_A and classifier_B"
        )
    return {f"backbone.body.{key}": value for key, value in trunk.items()}
