"""wsolevaluation checkpoints into wsl: a CAM network trained by clovaai/wsolevaluation's ``main.py``.

This module converts ResNet50-CAM state dicts (below) and writes wsl checkpoints of every architecture and
method (:func:`convert_wsolevaluation_checkpoint`): VGG16-CAM (:mod:`wsl.models.wsolevaluation_vgg`),
InceptionV3-CAM (:mod:`wsl.models.wsolevaluation_inception`), and the method networks
(:mod:`wsl.models.wsolevaluation_methods`, :mod:`wsl.models.wsolevaluation_spg`).

Upstream (commit 96f4b88) saves ``{"architecture", "epoch", "state_dict", "optimizer"}`` where
``state_dict`` is its ``ResNetCam``'s: torchvision's ResNet50 keys (``conv1.weight``,
``layer1.0.conv1.weight`` …, ``layer4.2.bn3.running_var``) and ``fc.weight`` (C, 2048), ``fc.bias``
(C,); a model wrapped in ``DataParallel`` prefixes every key with ``module.``. Its strides follow
``large_feature_map``, which no weight records, so the conversion is told it.

What is equal. Upstream computes f = layer4(…) (N, 2048, h, w), ``logits = fc(GAP(f)) = W GAP(f) + b`` and,
for class c, ``cams = (W_c · f) / 2048`` (the channel *mean* of W_c ⊙ f, no bias). The converted wsl
network is the same backbone (:func:`~wsl.models.create_backbone` with the same ``large_feature_map``)
and a 1×1 conv head with weight W (C, 2048, 1, 1) and bias b under a GAP pool, so

- scores = GAP(W f + b) = W GAP(f) + b = upstream's logits (equal up to floating-point rounding);
- class_maps[c] = W_c · f + b_c = 2048 · upstream cams + b_c: a positive scale and a shift, which the
  per-image min–max normalisation of every CAM evaluation removes, so the normalised CAMs, the boxes and
  every localization score are upstream's.

:func:`wsolevaluation_state_dict_to_wsl` converts ``architecture_type cam`` ResNet50 state dicts;
:func:`convert_wsolevaluation_checkpoint` takes ``--architecture`` resnet50, vgg16 and inception_v3 with
``--wsol_method`` cam, has, cutmix, adl, acol and spg.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "UPSTREAM_ARCHITECTURES",
    "convert_wsolevaluation_checkpoint",
    "wsolevaluation_state_dict_to_wsl",
]

#: wsolevaluation's ``--architecture`` → the wsl backbone its networks are built on (with the run's
#: ``large_feature_map``: ResNet50's strides, VGG16-CAM, InceptionV3-CAM).
UPSTREAM_ARCHITECTURES = {"resnet50": "resnet50", "vgg16": "vgg16", "inception_v3": "inception_v3"}
#: Blocks per stage of ResNet50 (upstream ``resnet50``: ``Bottleneck, [3, 4, 6, 3]``).
_RESNET50_BLOCKS = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}
_STEM = ("conv1.", "bn1.")
_LAYER_KEY = re.compile(r"^(layer[1-4])\.(\d+)\.")


def _strip_data_parallel(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    keys = list(state_dict)
    prefixed = [k.startswith("module.") for k in keys]
    if any(prefixed) and not all(prefixed):
        raise ValueError(
            "state_dict: some keys start with 'module.' (DataParallel) and others do not, e.g. "
            f"{[k for k in keys if not k.startswith('module.')][:3]}; pass the state_dict of one model"
        )
    if keys and all(prefixed):
        return {k[len("module.") :]: v for k, v in state_dict.items()}
    return dict(state_dict)


def wsolevaluation_state_dict_to_wsl(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Rename a wsolevaluation ResNet50-CAM ``state_dict`` to a :class:`~wsl.models.WSLNet`'s.

    ``conv1.*``, ``bn1.*``, ``layerK.*`` → ``backbone.body.<same key>`` (timm's ResNet keys are
    torchvision's); ``fc.weight`` (C, 2048) → ``head.conv.weight`` (C, 2048, 1, 1); ``fc.bias`` →
    ``head.conv.bias``. A leading ``module.`` (DataParallel) is removed.

    Args:
        state_dict: upstream's ``checkpoint["state_dict"]``.

    Returns:
        The WSLNet state dict (``backbone.*``, ``head.*``), the tensors themselves (not copies).

    Raises:
        ValueError: keys of another layout (the message names them: ADL's shifted block indices, ACoL's
            or SPG's classifiers, VGG / Inception), no ``fc``, or an ``fc`` of the wrong shape.

    Example:
        >>> import torchvision
        >>> upstream = torchvision.models.resnet50(weights=None, num_classes=200).state_dict()
        >>> net = wsolevaluation_state_dict_to_wsl(upstream)
        >>> tuple(net["head.conv.weight"].shape), "backbone.body.layer4.2.bn3.weight" in net
        ((200, 2048, 1, 1), True)
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict: expected a mapping of tensors; got {type(state_dict).__name__}")
    plain = _strip_data_parallel(state_dict)
    out: dict[str, torch.Tensor] = {}
    foreign: list[str] = []
    for key, value in plain.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"state_dict[{key!r}]: expected a tensor; got {type(value).__name__}")
        match = _LAYER_KEY.match(key)
        if key in ("fc.weight", "fc.bias"):
            continue
        if key.startswith(_STEM) or (match and int(match.group(2)) < _RESNET50_BLOCKS[match.group(1)]):
            out[f"backbone.body.{key}"] = value
        else:
            foreign.append(key)
    if foreign:
        raise ValueError(
            f"state_dict: {len(foreign)} keys are not those of wsolevaluation's ResNet50 CAM network, "
            f"e.g. {sorted(foreign)[:5]}; only --architecture resnet50 --architecture_type cam checkpoints "
            "convert here (ADL's layer indices, ACoL / SPG classifiers, VGG16 and InceptionV3: "
            "wsl.models.wsolevaluation_methods.method_state_dict_to_wsl)"
        )
    out.update(fc_classifier_to_wsl(plain, 2048, "ResNet50", "main.py"))
    return out


def fc_classifier_to_wsl(
    state: Mapping[str, torch.Tensor], width: int, network: str, checkpoint: str
) -> dict[str, torch.Tensor]:
    """Upstream's linear classifier as wsl's 1×1 conv head: ``fc.weight`` (C, width) → ``head.conv.weight``
    (C, width, 1, 1), ``fc.bias`` (C,) → ``head.conv.bias`` (the tensors themselves, reshaped).

    Args:
        state: the ``module.``-free state dict.
        width: the classifier's input channels (ResNet50: 2048; VGG16-CAM's ``conv6``: 1024).
        network: the network in the shape error (``"ResNet50"``, ``"VGG16-CAM"``).
        checkpoint: the checkpoint in the missing-key error (``"main.py"``, ``"VGG16 cam / adl"``).

    Raises:
        ValueError: no ``fc.weight`` / ``fc.bias``, or shapes other than (C, width) and (C,).

    Example:
        >>> fc = {"fc.weight": torch.ones(3, 8), "fc.bias": torch.zeros(3)}
        >>> head = fc_classifier_to_wsl(fc, 8, "N", "x")
        >>> {k: tuple(v.shape) for k, v in head.items()}
        {'head.conv.weight': (3, 8, 1, 1), 'head.conv.bias': (3,)}
    """
    weight, bias = state.get("fc.weight"), state.get("fc.bias")
    if weight is None or bias is None:
        raise ValueError(
            f"state_dict: no 'fc.weight' / 'fc.bias'; a wsolevaluation {checkpoint} checkpoint holds its "
            "classifier (pass checkpoint['state_dict'] of a *_checkpoint.pth.tar)"
        )
    if weight.ndim != 2 or weight.shape[1] != width or bias.shape != (weight.shape[0],):
        raise ValueError(
            f"state_dict: fc.weight has shape {tuple(weight.shape)} and fc.bias {tuple(bias.shape)}; "
            f"{network}'s classifier is (C, {width}) and (C,)"
        )
    return {"head.conv.weight": weight.reshape(*weight.shape, 1, 1), "head.conv.bias": bias}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_options(large_feature_map: Any, image_size: Any) -> None:
    if not isinstance(large_feature_map, bool):
        raise ValueError(
            f"large_feature_map: expected True or False (upstream's --large_feature_map); got "
            f"{large_feature_map!r}"
        )
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size: expected a positive int; got {image_size!r}")


def _architecture(payload: Mapping[str, Any], state: Mapping[str, Any], path: Path) -> str:
    """The payload's ``architecture``, checked against the keys; a bare state dict: read from the keys."""
    from wsl.models.wsolevaluation_methods import upstream_architecture

    keys = [str(k).removeprefix("module.") for k in state]
    by_keys = upstream_architecture(keys)
    architecture = payload.get("architecture", by_keys)
    if architecture not in UPSTREAM_ARCHITECTURES:
        raise ValueError(
            f"source {str(path)!r} is a wsolevaluation {architecture!r} checkpoint; converted are "
            f"{sorted(UPSTREAM_ARCHITECTURES)}"
        )
    if architecture != by_keys:
        raise ValueError(
            f"source {str(path)!r} says architecture {architecture!r} but its state_dict keys are those of "
            f"upstream's {by_keys} (e.g. {keys[:2]}); pass the checkpoint of one run, unchanged"
        )
    return str(architecture)


def _check_recorded_feature_map(architecture: str, state: Mapping[str, Any], large_feature_map: bool) -> None:
    """VGG16 cam / adl keys record ``large_feature_map`` (pool4 shifts the indices): it must be the given."""
    from wsl.models.wsolevaluation_vgg import vgg16_upstream_layout

    if architecture != "vgg16":
        return
    found = vgg16_upstream_layout([str(k).removeprefix("module.") for k in state])
    if found is not None and found[1] != large_feature_map:
        raise ValueError(
            f"large_feature_map: got {large_feature_map}, but the checkpoint's features.<i> indices are "
            f"those of upstream's VGG16 {found[0]} network with large_feature_map {found[1]}; pass "
            f"--large-feature-map {str(found[1]).lower()}"
        )


def _converted_module(
    architecture: str,
    num_classes: int,
    class_names: list[str] | None,
    large_feature_map: bool,
    method: str,
    method_kwargs: Mapping[str, Any],
) -> Any:
    from wsl.lit import WSLModule

    return WSLModule(
        num_classes=num_classes,
        class_names=class_names or [f"class_{k}" for k in range(num_classes)],
        backbone=UPSTREAM_ARCHITECTURES[architecture],
        pool="gap",
        num_maps=1,
        out_index=-1,
        pretrained=False,
        large_feature_map=large_feature_map,
        single_label=True,
        optimizer="sgd",
        cam_curve_interval=None,
        protocol="wsolevaluation",
        method=method,
        method_kwargs=dict(method_kwargs),
        channels_last=False,
    )


def _write(out: Path, module: Any, info: dict[str, Any], image_size: int) -> None:
    import pytorch_lightning as pl

    from wsl.runs import atomic_path

    epoch = info["epoch"]
    checkpoint = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "datamodule_hyper_parameters": {"image_size": image_size},
        "precision": "32-true",
        "pytorch-lightning_version": pl.__version__,
        "epoch": int(epoch) if isinstance(epoch, int) else 0,
        "global_step": 0,
        "wsolevaluation": info,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        torch.save(checkpoint, tmp)


def convert_wsolevaluation_checkpoint(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    large_feature_map: bool,
    class_names: Sequence[str] | None = None,
    image_size: int = 224,
    method: str | None = None,
    method_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a wsl checkpoint (``.ckpt``) from a wsolevaluation ``main.py`` checkpoint.

    The result loads with :func:`wsl.checkpoint.load_module`, ``WSLModule.load_from_checkpoint`` and
    every tool that takes ``--ckpt`` (``tools/evaluate.py``, ``tools/export_cams.py``,
    ``tools/predict.py``): backbone ``resnet50``, ``vgg16`` or ``inception_v3`` (upstream's
    ``architecture``, :data:`UPSTREAM_ARCHITECTURES`) with upstream's ``large_feature_map``, ``pool`` gap,
    one map per class, single-label, the ``wsolevaluation`` frame, fp32 (``precision`` ``32-true``),
    ``image_size`` stored as the training size. Scores and class maps relate to upstream's logits and
    CAMs as the converting module states (ResNet50 / VGG16 CAM: a positive scale and a shift; InceptionV3,
    SPG: equal).

    Args:
        source: upstream's ``last_checkpoint.pth.tar`` / ``best_checkpoint.pth.tar`` (a dict with
            ``architecture`` and ``state_dict``), or a bare state dict saved with ``torch.save`` (the
            architecture then read from its keys). Read with ``torch.load(weights_only=True)``.
        out: the ``.ckpt`` to write (e.g. ``runs/wsol-CUB-resnet50/checkpoints/last.ckpt``).
        large_feature_map: upstream's ``--large_feature_map`` of that run (only VGG16's cam / adl keys
            record it, and are checked against it).
        class_names: the C class names, in label order (the dataset's, so that the tools accept it:
            :func:`wsl.data.wsol.default_class_names`); None: ``class_0`` … ``class_<C-1>``.
        image_size: the input side the tools use by default (upstream's ``crop_size``, 224).
        method, method_kwargs: upstream's ``--wsol_method`` (None: read from the keys; ``has`` and
            ``cutmix`` train the CAM network, and so does InceptionV3's ``adl``: give it) and wsl method
            options for a run with non-default ones
            (:func:`wsl.models.wsolevaluation_methods.method_state_dict_to_wsl`).

    Returns:
        ``{"out", "num_classes", "large_feature_map", "architecture", "epoch", "method", "source",
        "source_sha256"}``.

    Raises:
        ValueError: unreadable source, keys of another network (or of an architecture other than the
            recorded one), class names of another count, a bad ``large_feature_map`` or ``image_size``.
    """
    from wsl.checkpoint import read_checkpoint
    from wsl.models.wsolevaluation_methods import method_state_dict_to_wsl

    _check_options(large_feature_map, image_size)
    path = Path(source)
    payload = read_checkpoint(path, "source", "pass wsolevaluation's *_checkpoint.pth.tar")
    if not isinstance(payload, Mapping):
        raise ValueError(f"source {str(path)!r} holds a {type(payload).__name__}, not a checkpoint dict")
    state = payload.get("state_dict", payload)
    architecture = _architecture(payload, state, path)
    _check_recorded_feature_map(architecture, state, large_feature_map)
    method, method_kwargs, net_state = method_state_dict_to_wsl(state, method, method_kwargs, architecture)
    num_classes = int(net_state["head.conv.weight"].shape[0])
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"class_names: {len(class_names)} names, but the checkpoint's classifier has {num_classes} "
            "classes"
        )
    names = [str(n) for n in class_names] if class_names is not None else None
    module = _converted_module(architecture, num_classes, names, large_feature_map, method, method_kwargs)
    try:
        module.net.load_state_dict(net_state, strict=True)
    except RuntimeError as err:  # shapes: e.g. a ResNet of another width
        reason = str(err).splitlines()[-1].strip()
        raise ValueError(
            f"source {str(path)!r} does not fit wsolevaluation's {architecture} {method} network: {reason}"
        ) from None
    info = {
        "source": str(path.resolve()),
        "source_sha256": _sha256(path),
        "architecture": architecture,
        "epoch": payload.get("epoch"),
        "large_feature_map": large_feature_map,
        "method": method,
    }
    _write(Path(out), module, info, image_size)
    return {"out": str(out), "num_classes": num_classes, **info}
