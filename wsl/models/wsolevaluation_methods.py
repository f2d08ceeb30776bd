"""wsolevaluation checkpoints of the WSOL methods (HaS, CutMix, ADL, ACoL, SPG) into wsl's networks.

Upstream (commit 96f4b88) builds one network per ``architecture_type`` (``config.py``
``get_architecture_type``: ``has`` and ``cutmix`` train the ``cam`` network) and saves its state dict;
the method is not recorded, so it is read from the keys (:data:`ARCHITECTURE_LAYOUTS`, per architecture,
itself read from the keys by :func:`upstream_architecture`) or given. ResNet50 (:data:`LAYOUTS`):

- ``cam`` (also ``has``, ``cutmix``): torchvision's keys and ``fc`` (:mod:`wsl.models.wsolevaluation`).
- ``adl``: the same weights, but ``ResNetAdl`` inserts its parameter-free ADL modules into the
  ``nn.Sequential`` stages (``resnet.py:392-396``), so the block indices after an ADL are shifted: layer3
  holds ``0, 2, 3, 4, 5, 6`` and layer4 ``0, 2, 3`` (upstream's ``align_layer``). wsl runs ADL as forward
  hooks (:mod:`wsl.methods.adl`), so the keys are shifted back: ``layer3.k → layer3.(k−1)`` for k ≥ 2,
  ``layer4.2 → layer4.1``, ``layer4.3 → layer4.2``; the network is ``adl`` with placement
  ``wsolevaluation``.
- ``acol``: no ``fc``; ``classifier_A`` / ``classifier_B`` = ``Sequential(conv3×3 D→1024, ReLU, conv3×3
  1024→1024, ReLU, conv1×1 1024→C)`` (``resnet.py:152-165``) become ``branch_a.0``, ``branch_a.2``,
  ``head.conv`` and ``branch_b.0``, ``branch_b.2``, ``head_b.conv`` of :class:`~wsl.methods.acol.ACoLNet`
  (variant ``wsolevaluation``, GAP). Its logits are upstream's ``logits`` (classifier A) exactly, and its
  class map of a class c is upstream's CAM for label c: ``max(norm A_c, norm B_c)`` with B on the
  features erased where ``norm A_c ≥ δ``. δ (``acol_threshold``, default 0.7) is not in the checkpoint:
  pass ``method_kwargs={"threshold": δ}`` for a run that changed it.

VGG16 (:data:`VGG16_LAYOUTS`, :mod:`wsl.models.wsolevaluation_vgg`): ``cam`` and ``adl`` (told apart, with
``large_feature_map``, by the ``features.<i>`` indices), ``spg`` (:mod:`wsl.models.wsolevaluation_spg`).
InceptionV3 (:data:`INCEPTION_V3_LAYOUTS`, :mod:`wsl.models.wsolevaluation_inception`): ``cam`` (also the
``adl`` network: the same keys, so ``method="adl"`` must be given) and ``spg``. ``acol`` of VGG16 and
InceptionV3 (upstream's trunks, :mod:`wsl.methods.acol_bodies`: VGG16 with 3×3 max-pools in ``features``
and no ``conv6``, InceptionV3 up to ``Mixed_6e``): the classifiers renamed as for ResNet50, the trunk by
:func:`~wsl.models.wsolevaluation_vgg.vgg16_acol_trunk_to_wsl` /
:func:`~wsl.models.wsolevaluation_inception.inception_v3_acol_trunk_to_wsl`; the network is built with
``large_feature_map`` (which the keys do not tell: the weights fit both).

ADL's ``drop_rate``/``gamma`` act only in training and are not in the checkpoint either: the converted
network takes wsl's defaults (upstream's), or ``method_kwargs``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from wsl.models.wsolevaluation_inception import inception_v3_acol_trunk_to_wsl, inception_v3_state_dict_to_wsl
from wsl.models.wsolevaluation_spg import is_spg_layout, spg_state_dict_to_wsl
from wsl.models.wsolevaluation_vgg import (
    vgg16_acol_trunk_to_wsl,
    vgg16_state_dict_to_wsl,
    vgg16_upstream_layout,
)

__all__ = [
    "ARCHITECTURE_LAYOUTS",
    "INCEPTION_V3_LAYOUTS",
    "LAYOUTS",
    "MethodLayout",
    "VGG16_LAYOUTS",
    "detect_layout",
    "method_state_dict_to_wsl",
    "upstream_architecture",
]

_BLOCK = re.compile(r"^(layer[1-4])\.(\d+)\.(.*)$")
#: Upstream ResNetAdl's block indices (ADL slots skipped) → torchvision's, per stage.
_ADL_SHIFT = {"layer3": {0: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5}, "layer4": {0: 0, 2: 1, 3: 2}}
#: ``classifier_X.<i>.`` → wsl's module (``Sequential`` indices 0, 2, 4: the two 3×3 convs, the 1×1).
_ACOL_PARTS = {
    "classifier_A.0.": "branch_a.0.",
    "classifier_A.2.": "branch_a.2.",
    "classifier_A.4.": "head.conv.",
    "classifier_B.0.": "branch_b.0.",
    "classifier_B.2.": "branch_b.2.",
    "classifier_B.4.": "head_b.conv.",
}


def _blocks(keys: list[str], stage: str) -> set[int]:
    return {int(m.group(2)) for k in keys if (m := _BLOCK.match(k)) and m.group(1) == stage}


def _is_adl(keys: list[str]) -> bool:
    return _blocks(keys, "layer3") == set(_ADL_SHIFT["layer3"]) and _blocks(keys, "layer4") == set(
        _ADL_SHIFT["layer4"]
    )


def _is_acol(keys: list[str]) -> bool:
    return any(k.startswith("classifier_A.") for k in keys) and not any(k.startswith("fc.") for k in keys)


def _is_cam(keys: list[str]) -> bool:
    return not _is_adl(keys) and not _is_acol(keys)


def _cam_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from wsl.models.wsolevaluation import wsolevaluation_state_dict_to_wsl

    return wsolevaluation_state_dict_to_wsl(state)


def _adl_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    aligned = {}
    for key, value in state.items():
        match = _BLOCK.match(key)
        if match and match.group(1) in _ADL_SHIFT:
            stage, index, rest = match.group(1), int(match.group(2)), match.group(3)
            key = f"{stage}.{_ADL_SHIFT[stage][index]}.{rest}"
        aligned[key] = value
    return _cam_state(aligned)


def _acol_split(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """``(the two classifiers renamed to ACoLNet's, the trunk's keys as they are)``."""
    out: dict[str, torch.Tensor] = {}
    trunk: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        part = next((p for p in _ACOL_PARTS if key.startswith(p)), None)
        if part is not None:
            out[_ACOL_PARTS[part] + key[len(part) :]] = value
        elif key.startswith("classifier_"):
            raise ValueError(
                f"state_dict: {key!r} is not a layer of wsolevaluation's ACoL classifiers "
                f"(classifier_A/B.0, .2, .4: conv3x3, conv3x3, conv1x1)"
            )
        else:
            trunk[key] = value
    missing = [p for p in _ACOL_PARTS if not any(k.startswith(p) for k in state)]
    if missing:
        raise ValueError(f"state_dict: an ACoL checkpoint without {missing}; pass the whole state_dict")
    return out, trunk


def _acol_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out, trunk = _acol_split(state)
    # The trunk's keys are the CAM network's without fc: borrow the CAM rename with a placeholder fc.
    weight = out["head.conv.weight"]
    placeholder = {
        "fc.weight": weight.new_zeros(weight.shape[0], 2048),
        "fc.bias": weight.new_zeros(weight.shape[0]),
    }
    renamed = _cam_state({**trunk, **placeholder})
    out.update({k: v for k, v in renamed.items() if not k.startswith("head.")})
    return out


def _acol_with(
    trunk_to_wsl: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]],
) -> Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """An ACoL converter: the classifiers as :data:`_ACOL_PARTS`, the trunk by ``trunk_to_wsl``."""

    def convert(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out, trunk = _acol_split(state)
        return {**trunk_to_wsl(trunk), **out}

    return convert


def _vgg_is(layout: str) -> Callable[[list[str]], bool]:
    def detect(keys: list[str]) -> bool:
        found = vgg16_upstream_layout(keys)
        return found is not None and found[0] == layout

    return detect


def _vgg_is_cam(keys: list[str]) -> bool:
    return not _is_acol(keys) and not _vgg_is("adl")(keys)


@dataclass(frozen=True)
class MethodLayout:
    """One upstream ``architecture_type``'s state-dict layout.

    Attributes:
        methods: the ``--wsol_method`` values that train this network (first: the one assumed when the
            keys are all that is known).
        detect: whether a (``module.``-free) key list has this layout.
        convert: upstream's state dict → the wsl network's.
        method_kwargs: the wsl method options that rebuild upstream's network.
        per_method: further options for one of ``methods`` (InceptionV3: ``adl`` shares the ``cam`` keys).
    """

    methods: tuple[str, ...]
    detect: Callable[[list[str]], bool]
    convert: Callable[[Mapping[str, torch.Tensor]], dict[str, torch.Tensor]]
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    per_method: dict[str, dict[str, Any]] = field(default_factory=dict)


#: Upstream's ResNet50 ``architecture_type`` → its layout, in detection order.
LAYOUTS: dict[str, MethodLayout] = {
    "spg": MethodLayout(("spg",), is_spg_layout, spg_state_dict_to_wsl),  # before cam, which takes the rest
    "adl": MethodLayout(("adl",), _is_adl, _adl_state, {"placement": "wsolevaluation"}),
    "acol": MethodLayout(("acol",), _is_acol, _acol_state, {"variant": "wsolevaluation"}),
    "cam": MethodLayout(("cam", "has", "cutmix"), _is_cam, _cam_state),
}
#: Upstream's VGG16 ``architecture_type`` → its layout, in detection order.
VGG16_LAYOUTS: dict[str, MethodLayout] = {
    "spg": MethodLayout(("spg",), is_spg_layout, spg_state_dict_to_wsl),
    "acol": MethodLayout(
        ("acol",), _is_acol, _acol_with(vgg16_acol_trunk_to_wsl), {"variant": "wsolevaluation"}
    ),
    "adl": MethodLayout(("adl",), _vgg_is("adl"), vgg16_state_dict_to_wsl, {"placement": "wsolevaluation"}),
    "cam": MethodLayout(("cam", "has", "cutmix"), _vgg_is_cam, vgg16_state_dict_to_wsl),
}
#: Upstream's InceptionV3 ``architecture_type`` → its layout, in detection order (``adl`` has ``cam``'s keys).
INCEPTION_V3_LAYOUTS: dict[str, MethodLayout] = {
    "spg": MethodLayout(("spg",), is_spg_layout, spg_state_dict_to_wsl),
    "acol": MethodLayout(
        ("acol",), _is_acol, _acol_with(inception_v3_acol_trunk_to_wsl), {"variant": "wsolevaluation"}
    ),
    "cam": MethodLayout(
        ("cam", "has", "cutmix", "adl"),
        lambda keys: not _is_acol(keys),
        inception_v3_state_dict_to_wsl,
        per_method={"adl": {"placement": "wsolevaluation"}},
    ),
}
#: wsolevaluation's ``--architecture`` → its layouts.
ARCHITECTURE_LAYOUTS: dict[str, dict[str, MethodLayout]] = {
    "resnet50": LAYOUTS,
    "vgg16": VGG16_LAYOUTS,
    "inception_v3": INCEPTION_V3_LAYOUTS,
}


def upstream_architecture(keys: list[str]) -> str:
    """The wsolevaluation ``--architecture`` of (``module.``-free) state-dict keys: ``vgg16`` (``features.*``
    or ``SPG_A_1.*``), ``inception_v3`` (``Mixed_*``), else ``resnet50``.

    Example:
        >>> upstream_architecture(["Mixed_5b.branch1x1.conv.weight"]), upstream_architecture(["fc.bias"])
        ('inception_v3', 'resnet50')
    """
    if any(k.startswith(("features.", "SPG_A_1.")) for k in keys):
        return "vgg16"
    return "inception_v3" if any(k.startswith("Mixed_") for k in keys) else "resnet50"


def detect_layout(keys: list[str], architecture: str = "resnet50") -> str:
    """The ``architecture_type`` (a key of ``ARCHITECTURE_LAYOUTS[architecture]``) whose layout the
    state-dict keys have."""
    layouts = ARCHITECTURE_LAYOUTS[architecture]
    return next(name for name, layout in layouts.items() if layout.detect(keys))


def method_state_dict_to_wsl(
    state_dict: Mapping[str, Any],
    method: str | None = None,
    method_kwargs: Mapping[str, Any] | None = None,
    architecture: str | None = None,
) -> tuple[str, dict[str, Any], dict[str, torch.Tensor]]:
    """Convert a wsolevaluation state dict of any architecture and method.

    Args:
        state_dict: upstream's ``checkpoint["state_dict"]`` (a leading ``module.`` is removed).
        method: upstream's ``--wsol_method`` (``cam``, ``has``, ``cutmix``, ``adl``, ``acol``, ``spg``);
            None: read from the keys (``has`` and ``cutmix``, and InceptionV3's ``adl``, then read as
            ``cam``, their network).
        method_kwargs: wsl method options beside those that rebuild upstream's network (e.g. ACoL's
            ``threshold`` for a run with another ``acol_threshold``).
        architecture: upstream's ``--architecture`` (``resnet50``, ``vgg16``, ``inception_v3``); None: read
            from the keys (:func:`upstream_architecture`).

    Returns:
        ``(wsl method name, its method_kwargs, the WSLNet / ACoLNet / SPGNet state dict)``.

    Raises:
        ValueError: an architecture or a method outside :data:`ARCHITECTURE_LAYOUTS`, or a method whose
            network is not the keys' layout.
    """
    from wsl.models.wsolevaluation import _strip_data_parallel

    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict: expected a mapping of tensors; got {type(state_dict).__name__}")
    plain = _strip_data_parallel(state_dict)
    architecture = architecture or upstream_architecture(list(plain))
    if architecture not in ARCHITECTURE_LAYOUTS:
        raise ValueError(
            f"architecture: got {architecture!r}; wsolevaluation's architectures are "
            f"{list(ARCHITECTURE_LAYOUTS)}"
        )
    layouts = ARCHITECTURE_LAYOUTS[architecture]
    found = detect_layout(list(plain), architecture)
    accepted = [m for layout in layouts.values() for m in layout.methods]
    if method is not None and method not in accepted:
        raise ValueError(f"method: got {method!r}; wsolevaluation's methods that convert are {accepted}")
    if method is not None and method not in layouts[found].methods:
        raise ValueError(
            f"method: got {method!r}, but the state_dict has the layout of upstream's {found!r} network "
            f"({architecture}; trained by --wsol_method {' / '.join(layouts[found].methods)})"
        )
    layout = layouts[found]
    method = method or layout.methods[0]
    kwargs = {**layout.method_kwargs, **layout.per_method.get(method, {}), **dict(method_kwargs or {})}
    return method, kwargs, layout.convert(plain)
