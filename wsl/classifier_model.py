"""Any classifier as a :class:`~wsl.trained.TrainedModel`: the export and predict run it like a checkpoint.

A classifier's forward returns logits (``timm:NAME``, ``torchvision:NAME``, any ``nn.Module``:
:func:`wsl.cam.classifier.logits_of`); it has no class maps. :func:`classifier_model` wraps it in a
:class:`~wsl.cam.ClassifierCAM` on one of its layers (its output is A (N, D, h, w), the ``backbone`` of the
wrapper) and records the post-hoc method (Grad-CAM, …) whose maps are its CAMs
(:attr:`~wsl.trained.TrainedModel.cam_method`), any method :func:`wsl.cam.explain` offers (one list,
:func:`wsl.cam.posthoc.posthoc_names`). The jobs then ask :func:`wsl.cam.class_maps_for` for that
method on the wrapper's ``backbone``: for an image ``n`` and a class ``c``,
``map = rule(A[n], ∂y_n^c/∂A[n])`` for the gradient methods, the perturbed forwards of ScoreCAM and
AblationCAM on that layer, FullGrad on every bias layer of the classifier: the map :func:`wsl.cam.explain`
gives for the same layer, method, image and target (the same functions compute both).

Settings a checkpoint records are given or defaulted here, each default said once in ``notes``:
class names (``"0"`` … ``"C-1"``, C counted from one forward pass), the input size (timm's
``pretrained_cfg["input_size"]``, else :data:`CLASSIFIER_IMAGE_SIZE`), the box threshold
(:data:`wsl.runs.DEFAULT_THRESHOLD`). The data's class label ``k`` is output ``k``
(:attr:`~wsl.trained.TrainedModel.classes_by_index`), as wsolevaluation's ILSVRC labels are ImageNet's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from wsl.cam.classifier import ClassifierCAM
from wsl.cam.explain import layer_list
from wsl.cam.posthoc import check_posthoc_method, posthoc_names
from wsl.cam.sources import load_classifier
from wsl.runs import DEFAULT_THRESHOLD, parse_threshold, resolve_device
from wsl.trained import TrainedModel, parse_class_names

__all__ = ["CLASSIFIER_IMAGE_SIZE", "ClassifierOptions", "classifier_model", "posthoc_method_names"]

#: The input side of a classifier that does not say its own (ImageNet's usual 224).
CLASSIFIER_IMAGE_SIZE = 224


def posthoc_method_names() -> list[str]:
    """The methods a classifier's CAMs can come from: every post-hoc method but ``native``
    (:func:`wsl.cam.posthoc.posthoc_names`, the list :func:`wsl.cam.explain_methods` gives too)."""
    return posthoc_names()


@dataclass(frozen=True)
class ClassifierOptions:
    """How :func:`classifier_model` builds the model.

    Attributes:
        method: the post-hoc CAM method (:func:`posthoc_method_names`: gradcam gradcampp layercam …
            scorecam ablationcam fullgrad).
        layer: dotted module name of the classifier whose output is A; None: its usual CAM layer
            (:func:`wsl.cam.classifier.default_classifier_layer`); ``"a,b"``: several layers, their maps
            fused (:func:`wsl.cam.explain.fuse_layers`; the model's ``net`` is built on the first).
        class_names: the C output names (a list, ``"a,b"`` or a file of one name a line); None: "0" … "C-1".
        single_label: softmax probabilities (an ImageNet classifier) instead of sigmoid.
        image_size: network input side; None: timm's ``pretrained_cfg`` input size, else 224.
        threshold: box threshold in [0, 1); None: :data:`wsl.runs.DEFAULT_THRESHOLD`.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        pretrained, weights, num_classes: for a model given by name (:func:`wsl.cam.load_classifier`):
            download its library's weights, load a local state dict, its number of outputs.
    """

    method: str = "gradcam"
    layer: str | None = None
    class_names: str | os.PathLike[str] | Sequence[str] | None = None
    single_label: bool = True
    image_size: int | None = None
    threshold: float | None = None
    device: str | torch.device = "auto"
    pretrained: bool = False
    weights: str | os.PathLike[str] | None = None
    num_classes: int | None = None

    def check(self) -> None:
        """Raise ``ValueError`` naming the field for a method without a rule, a bad size or threshold."""
        spec = check_posthoc_method(self.method)
        if spec.rule is None:
            raise ValueError(
                f"method: got {self.method!r}; a classifier has no class maps of its own, pass a post-hoc "
                f"method: {', '.join(posthoc_method_names())}"
            )
        if self.layer is not None:
            layer_list(self.layer)  # names, distinct
        if self.layer is not None and not spec.uses_layer:
            raise ValueError(
                f"layer: got {self.layer!r}; method {self.method!r} uses every bias layer of the classifier, "
                "not one layer: leave layer out"
            )
        size = self.image_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"image_size must be a positive int or None; got {size!r}")
        if self.threshold is not None:
            parse_threshold(self.threshold)


def _built(model: nn.Module | str, opts: ClassifierOptions) -> tuple[nn.Module, str | None]:
    """The classifier module and its name (None for a module given in memory)."""
    if isinstance(model, str):
        weights = None if opts.weights is None else os.fspath(opts.weights)
        return load_classifier(model, opts.pretrained, weights, opts.num_classes), model
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be an nn.Module or 'timm:NAME'/'torchvision:NAME'; got {type(model).__name__}"
        )
    if opts.pretrained or opts.weights is not None or opts.num_classes is not None:
        raise ValueError(
            "pretrained, weights and num_classes build a classifier given by name ('timm:NAME'); load them "
            "into your module yourself"
        )
    return model, None


def _image_size(module: nn.Module, opts: ClassifierOptions, notes: list[str]) -> int:
    if opts.image_size is not None:
        return opts.image_size
    cfg = getattr(module, "pretrained_cfg", None)
    size = cfg.get("input_size") if isinstance(cfg, dict) else None
    if isinstance(size, (tuple, list)) and size and isinstance(size[-1], int):
        notes.append(f"image size {size[-1]} from the classifier's pretrained_cfg input_size")
        return int(size[-1])
    notes.append(f"note: the classifier does not say its input size; using {CLASSIFIER_IMAGE_SIZE}")
    return CLASSIFIER_IMAGE_SIZE


def _class_names(opts: ClassifierOptions, num_classes: int) -> list[str]:
    if opts.class_names is None:
        return [str(c) for c in range(num_classes)]
    names = parse_class_names(opts.class_names)
    if len(names) != num_classes:
        raise ValueError(
            f"class_names: {len(names)} names but the classifier has {num_classes} outputs; name each "
            "output once, in output order"
        )
    return names


def classifier_model(
    model: nn.Module | str, options: ClassifierOptions | None = None, **fields: Any
) -> TrainedModel:
    """A :class:`~wsl.trained.TrainedModel` of any classifier whose CAMs are ``options.method``'s on a layer.

    Args:
        model: ``timm:NAME``, ``torchvision:NAME`` (a bare name is timm's) or an ``nn.Module`` returning
            logits (N, C).
        options: :class:`ClassifierOptions` (None: its defaults).
        **fields: fields of :class:`ClassifierOptions` to replace, e.g. ``layer="layer3"``.

    Returns:
        The model: ``net`` the :class:`~wsl.cam.ClassifierCAM` (in eval mode on the device), ``cam_method``
        the method, ``classes_by_index`` True, ``source`` the name (None for a module).

    Raises:
        ValueError: a bad option (naming the field), an unknown layer or one that does not run once per
            forward pass, class names that do not name the C outputs.

    Example:
        >>> model = classifier_model("timm:resnet18", num_classes=4, layer="layer4", device="cpu")
        >>> model.num_classes, model.image_size, model.cam_method, model.source
        (4, 224, 'gradcam', 'timm:resnet18')
    """
    opts = replace(options or ClassifierOptions(), **fields)
    opts.check()
    device = resolve_device(opts.device)
    module, name = _built(model, opts)
    notes: list[str] = []
    size = _image_size(module, opts, notes)
    names = layer_list(opts.layer)
    net = ClassifierCAM(module, names[0]).to(device).eval()
    with torch.no_grad():  # C, and each layer checked (a 4-D map or tokens, run once) before any image
        for other in names[1:]:
            ClassifierCAM(module, other).to(device)(torch.zeros(1, 3, size, size, device=device))
        logits, _ = net(torch.zeros(1, 3, size, size, device=device))
    threshold = DEFAULT_THRESHOLD if opts.threshold is None else parse_threshold(opts.threshold)
    if opts.threshold is None:
        notes.append(f"note: no threshold given; using {DEFAULT_THRESHOLD}")
    fused = ", ".join(repr(n) for n in names) + " fused" if len(names) > 1 else ""
    where = f"layers {fused}" if fused else f"layer {net.layer!r}"
    where = where if check_posthoc_method(opts.method).uses_layer else "every bias layer"
    notes.append(f"CAMs: {opts.method} on {where} of {name or type(module).__name__}")
    return TrainedModel(
        net=net,
        class_names=_class_names(opts, int(logits.shape[1])),
        single_label=bool(opts.single_label),
        image_size=size,
        threshold=threshold,
        precision=None,
        device=device,
        source=name,
        notes=notes,
        cam_method=opts.method,
        classes_by_index=True,
        cam_layer=",".join(str(n) for n in names) if len(names) > 1 else None,
    )
