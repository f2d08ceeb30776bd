"""Classifiers by name: ``timm:NAME`` and ``torchvision:NAME``, with pretrained weights or a local file.

:data:`CLASSIFIER_SOURCES` maps the prefix to a builder ``build(name, pretrained, num_classes)``; a name
without a prefix is a timm name. Weights: ``pretrained=True`` downloads the library's own weights (timm's
tag, e.g. ``timm:resnet50.tv_in1k``; torchvision's ``DEFAULT`` weights), ``weights=PATH`` loads a local
state dict (a plain ``state_dict``, or a dict holding one under ``state_dict`` or ``model``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wsl.registry import Registry

__all__ = ["CLASSIFIER_SOURCES", "load_classifier"]

Builder = Callable[[str, bool, "int | None"], nn.Module]

#: Prefix → builder ``(name, pretrained, num_classes) -> nn.Module``.
CLASSIFIER_SOURCES: Registry[Builder] = Registry("classifier source", what="model")


@CLASSIFIER_SOURCES.register("timm")
def _timm(name: str, pretrained: bool, num_classes: int | None) -> nn.Module:
    import timm

    kwargs: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
    return timm.create_model(name, pretrained=pretrained, **kwargs)


@CLASSIFIER_SOURCES.register("torchvision")
def _torchvision(name: str, pretrained: bool, num_classes: int | None) -> nn.Module:
    from torchvision import models

    kwargs = {} if num_classes is None else {"num_classes": num_classes}
    return models.get_model(name, weights="DEFAULT" if pretrained else None, **kwargs)


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ValueError(f"weights: {path} is not a file; pass the path of a saved state dict")
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict):
        raise ValueError(f"weights: {path} holds a {type(loaded).__name__}, not a state dict")
    return loaded


def load_classifier(
    spec: str, pretrained: bool = False, weights: str | Path | None = None, num_classes: int | None = None
) -> nn.Module:
    """Build a classifier from ``timm:NAME``, ``torchvision:NAME`` or a bare timm ``NAME``, in eval mode.

    Args:
        spec: ``source:name``; the source is a name of :data:`CLASSIFIER_SOURCES`.
        pretrained: download the source's pretrained weights.
        weights: a local state dict loaded after building (strict).
        num_classes: the classifier's number of outputs (None: the source's default, 1000 for ImageNet).

    Example:
        >>> load_classifier("timm:resnet18", num_classes=3).fc.out_features
        3
    """
    source, _, name = spec.rpartition(":")
    builder = CLASSIFIER_SOURCES.lookup(source or "timm")
    if not name:
        raise ValueError(f"model: got {spec!r}; expected SOURCE:NAME, e.g. 'timm:resnet50.tv_in1k'")
    model = builder(name, pretrained, num_classes)
    if weights is not None:
        model.load_state_dict(_state_dict(Path(weights)))
    return model.eval()
