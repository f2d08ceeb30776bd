"""wsolevaluation VGG16 checkpoints (``cam``, ``has``, ``cutmix``, ``adl``) into wsl's VGG16-CAM network.

Upstream (commit 96f4b88, ``wsol/vgg.py``) builds ``features`` as one ``nn.Sequential`` from a list per
``architecture_type`` and feature-map size (``configs_dict``): VGG16's 13 3×3 convs + ReLU with 2×2
max-pools, ``pool4`` only without ``large_feature_map``, never ``pool5``; the ``adl`` list inserts a
parameter-free ADL module after ``pool3``, after ``conv4_3`` (its ReLU) and after ``conv5_3``. Its state
dict holds ``features.<i>.weight`` / ``.bias`` at the index i of the conv in that ``nn.Sequential``,
``conv6.*`` (3×3 512→1024) and ``fc.weight`` (C, 1024), ``fc.bias`` (C,). The conv indices differ in all
four (layout, ``large_feature_map``) cases, so the keys tell both (:func:`vgg16_upstream_layout`):

========================  ============================================================
layout, large_feature_map  conv indices of conv1_1 … conv5_3
========================  ============================================================
cam, false                0 2 5 7 10 12 14 17 19 21 24 26 28 (torchvision's)
cam, true                 0 2 5 7 10 12 14 17 19 21 23 25 27
adl, false                0 2 5 7 10 12 14 18 20 22 26 28 30
adl, true                 0 2 5 7 10 12 14 18 20 22 25 27 29
========================  ============================================================

The renaming: ``features.<i>.*`` → ``backbone.body.features.<conv name>.*`` (:mod:`wsl.models.vgg_cam`'s
named layers), ``conv6.*`` → ``backbone.body.conv6.*``, ``fc.weight`` → ``head.conv.weight`` (C, 1024, 1, 1),
``fc.bias`` → ``head.conv.bias``. What is equal: wsl's scores are upstream's logits, and its class map of
class c is ``1024 · cams_c + fc.bias_c`` (upstream's CAM is the channel *mean* of ``fc.weight_c ⊙ f``), a
positive scale and a shift that the per-image min–max normalisation removes. wsl runs ADL as hooks after
``features.pool3``, ``features.relu4_3`` and ``features.relu5_3`` (identity at eval).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from wsl.models.vgg_cam import vgg16_layer_names

__all__ = [
    "VGG16_UPSTREAM_LAYOUTS",
    "upstream_vgg16_features",
    "vgg16_acol_trunk_to_wsl",
    "vgg16_state_dict_to_wsl",
    "vgg16_upstream_layout",
]

#: The modules after which upstream's ``adl`` list puts an ADL (``configs_dict['adl']``: after the pool of
#: block 3, after the last conv of blocks 4 and 5).
_ADL_AFTER = ("pool3", "relu4_3", "relu5_3")
#: The (layout, large_feature_map) pairs whose keys convert here.
VGG16_UPSTREAM_LAYOUTS: tuple[tuple[str, bool], ...] = (
    ("cam", False),
    ("cam", True),
    ("adl", False),
    ("adl", True),
)


def upstream_vgg16_features(layout: str, large_feature_map: bool) -> list[str]:
    """The names of upstream's ``features`` modules in order (its ``features.<i>`` is the i-th name): wsl's
    layer names, with ``adl`` entries where the ``adl`` layout inserts its modules.

    Example:
        >>> upstream_vgg16_features("adl", True)[16:19]
        ['pool3', 'adl', 'conv4_1']
    """
    if layout not in ("cam", "adl"):
        raise ValueError(f"layout: expected 'cam' or 'adl' (upstream's VGG16 features lists); got {layout!r}")
    names: list[str] = []
    for name in vgg16_layer_names(large_feature_map):
        names.append(name)
        if layout == "adl" and name in _ADL_AFTER:
            names.append("adl")
    return names


def _conv_indices(layout: str, large_feature_map: bool) -> dict[int, str]:
    names = upstream_vgg16_features(layout, large_feature_map)
    return {i: name for i, name in enumerate(names) if name.startswith("conv")}


def _feature_indices(keys: list[str]) -> set[int]:
    out = set()
    for key in keys:
        parts = key.split(".")
        if parts[0] == "features" and len(parts) == 3 and parts[1].isdigit():
            out.add(int(parts[1]))
    return out


def vgg16_upstream_layout(keys: list[str]) -> tuple[str, bool] | None:
    """The ``(layout, large_feature_map)`` of upstream's VGG16 network whose ``features.<i>`` indices the
    (``module.``-free) ``keys`` hold, or None (no such layout: another network, or ACoL / SPG).

    Example:
        >>> convs = (0, 2, 5, 7, 10, 12, 14, 18, 20, 22, 25, 27, 29)
        >>> vgg16_upstream_layout([f"features.{i}.weight" for i in convs])
        ('adl', True)
    """
    if any(k.startswith(("classifier_A.", "classifier_B.")) for k in keys):
        return None  # ACoL: its conv indices are torchvision's with or without large_feature_map
    found = _feature_indices(keys)
    return next(
        (pair for pair in VGG16_UPSTREAM_LAYOUTS if set(_conv_indices(*pair)) == found),
        None,
    )


def vgg16_state_dict_to_wsl(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a wsolevaluation VGG16 ``cam`` / ``adl`` ``state_dict`` to a :class:`~wsl.models.WSLNet`'s
    (module docstring); a leading ``module.`` (DataParallel) is removed.

    Returns:
        The WSLNet state dict, the tensors themselves.

    Raises:
        TypeError: not a mapping of tensors.
        ValueError: ``features`` indices of no upstream VGG16 cam / adl network (named), other keys (ACoL's
            classifiers, SPG's), no ``fc``, or an ``fc`` of the wrong shape.
    """
    from wsl.models.wsolevaluation import _strip_data_parallel, fc_classifier_to_wsl

    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict: expected a mapping of tensors; got {type(state_dict).__name__}")
    plain = _strip_data_parallel(state_dict)
    pair = vgg16_upstream_layout(list(plain))
    if pair is None:
        raise ValueError(
            f"state_dict: its features.<i> conv indices {sorted(_feature_indices(list(plain)))} are those of "
            "none of upstream's VGG16 cam / adl networks (large_feature_map true or false: "
            f"{[sorted(_conv_indices(*p)) for p in VGG16_UPSTREAM_LAYOUTS]}); pass a --architecture vgg16 "
            "state_dict of wsolevaluation's main.py"
        )
    convs = _conv_indices(*pair)
    out: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in plain.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}]: expected a tensor; got {type(value).__name__}")
        parts = key.split(".")
        if parts[0] == "features" and len(parts) == 3 and parts[1].isdigit():
            out[f"backbone.body.features.{convs[int(parts[1])]}.{parts[2]}"] = value
        elif parts[0] == "conv6":
            out[f"backbone.body.{key}"] = value
        elif parts[0] != "fc":
            foreign.append(key)
    if foreign:
        raise ValueError(
            f"state_dict: {len(foreign)} keys are not those of wsolevaluation's VGG16 cam / adl network, "
            f"e.g. {sorted(foreign)[:5]}; its keys are features.<i>.*, conv6.* and fc.*"
        )
    out.update(fc_classifier_to_wsl(plain, 1024, "VGG16-CAM", "VGG16 cam / adl"))
    return out


def vgg16_acol_trunk_to_wsl(trunk: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the trunk of a wsolevaluation VGG16 ``acol`` state dict (its keys without ``classifier_A/B``)
    to wsl's ACoL network's: ``features.<i>.*`` → ``backbone.body.features.<conv name>.*``.

    Upstream's ACoL ``features`` list (``configs_dict['acol']``) has a pool after every block with or
    without ``large_feature_map`` (``M1`` / ``M2``), so its conv indices are torchvision's (those of the
    ``cam`` layout without ``large_feature_map``) in both cases: the keys do not tell ``large_feature_map``;
    the converted weights fit either network (their shapes are the same).

    Raises:
        ValueError: other ``features`` indices, or keys beside ``features.*`` (named).
    """
    convs = _conv_indices("cam", False)
    found = _feature_indices(list(trunk))
    if found != set(convs):
        raise ValueError(
            f"state_dict: its features.<i> conv indices {sorted(found)} are not those of wsolevaluation's "
            f"VGG16 ACoL network ({sorted(convs)}); pass the state_dict of a --architecture vgg16 "
            "--wsol_method acol run"
        )
    out: dict[str, torch.Tensor] = {}
    for key, value in trunk.items():
        parts = key.split(".")
        if not (parts[0] == "features" and len(parts) == 3 and parts[1].isdigit()):
            raise ValueError(
                f"state_dict: {key!r} is not a key of wsolevaluation's VGG16 ACoL network (features.<i>.*, "
                "classifier_A.*, classifier_B.*)"
            )
        out[f"backbone.body.features.{convs[int(parts[1])]}.{parts[2]}"] = value
    return out
