"""Any classifier as a CAM source: logits plus the (N, D, h, w) activations of one of its layers.

:class:`ClassifierCAM` wraps an ``nn.Module`` whose forward returns logits (a tensor, an object with a
``logits`` attribute as Hugging Face models return, a mapping with a ``"logits"`` key, or a tuple whose
first item is the logits) and the dotted name of one of its layers. Its forward returns
``(logits (N, C), A (N, D, h, w))`` and its child ``backbone`` outputs A, so that
:func:`wsl.cam.class_maps_for` (whose default layer is ``backbone``), the export and the evaluator take it
as they take a ``WSLNet``.

The layer's output is turned into A by its layout (``layout="auto"`` picks one):

- ``nchw``: a convolutional map, used as it is (ResNet ``layer4``, ConvNeXt ``stages.3``);
- ``nhwc``: a channels-last map (timm Swin, ``output_fmt == "NHWC"``; torchvision Swin), permuted;
- ``tokens``: (N, L, D) tokens (ViT, DeiT): the ``p`` prefix tokens (class, distillation, registers:
  ``model.num_prefix_tokens``) are dropped and the remaining ``L − p`` tokens are reshaped row-major to
  the patch grid (h, w): ``grid_size`` if given, else ``model.patch_embed.grid_size`` when its product is
  ``L − p``, else the input size divided by the patch size (``patch_embed.patch_size`` or a Hugging Face
  ``config.patch_size``). Where neither the grid nor the prefix count can be found a ``ValueError`` says
  which argument to pass.

The reshaped map is put back into the layer's own layout (prefix tokens included) before the rest of the
network runs, so the gradient of a score with respect to A is the gradient with respect to the layer's
output, rearranged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from wsl.registry import closest

__all__ = ["LAYOUTS", "ClassifierCAM", "ScoresOf", "classifier_of", "default_classifier_layer", "logits_of"]

#: The layouts a layer's output may have.
LAYOUTS = ("auto", "nchw", "nhwc", "tokens")

Restore = Callable[[torch.Tensor], torch.Tensor]


def logits_of(output: Any) -> torch.Tensor:
    """The (N, C) logits of a classifier's output: a tensor, ``.logits``, ``["logits"]`` or ``output[0]``."""
    if isinstance(output, torch.Tensor):
        logits = output
    elif isinstance(getattr(output, "logits", None), torch.Tensor):
        logits = output.logits
    elif isinstance(output, Mapping) and isinstance(output.get("logits"), torch.Tensor):
        logits = output["logits"]
    elif isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        logits = output[0]
    else:
        raise TypeError(
            f"model output: got {type(output).__name__}; expected logits as a tensor, an object with "
            "'.logits', a mapping with 'logits' or a tuple whose first item is the logits"
        )
    if logits.ndim != 2:
        raise ValueError(f"model output: logits must be (N, C); got shape {tuple(logits.shape)}")
    return logits


def default_classifier_layer(model: nn.Module) -> str:
    """The usual CAM layer of a classifier.

    timm ViT/DeiT (``blocks`` and ``num_prefix_tokens``): ``blocks.{last}.norm1``, the input of the last
    attention (the last block's output reaches a class-token head only through the class token, so its
    patch tokens get no gradient); models with timm's ``feature_info``: the last feature stage's module;
    torchvision-style ResNets: ``layer4``. Anything else raises a ``ValueError`` asking for ``layer``.
    """
    blocks = getattr(model, "blocks", None)
    if isinstance(blocks, nn.Sequential) and hasattr(model, "num_prefix_tokens") and len(blocks):
        return f"blocks.{len(blocks) - 1}.norm1"
    info = getattr(model, "feature_info", None)
    if isinstance(info, list) and info and isinstance(info[-1], dict) and info[-1].get("module"):
        return str(info[-1]["module"])
    if isinstance(getattr(model, "layer4", None), nn.Module):
        return "layer4"
    raise ValueError(
        f"layer: no default layer known for {type(model).__name__}; pass layer=NAME (a dotted name of "
        f"model.named_modules(), e.g. the last convolutional stage)"
    )


def _find(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        close = closest(layer, modules, n=3)
        names = [n for n in modules if n and n.count(".") < 3]
        raise ValueError(
            f"layer: got {layer!r}, which is no module of {type(model).__name__}; "
            f"closest: {close or 'none'}; "
            f"names (dotted, from model.named_modules()) include {names[:40]}"
        )
    return modules[layer]


class ClassifierCAM(nn.Module):
    """A classifier and one of its layers as ``forward(images) -> (logits (N, C), A (N, D, h, w))``.

    Args:
        model: any classifier whose forward returns logits (see :func:`logits_of`).
        layer: dotted module name of ``model`` whose output is A; None: :func:`default_classifier_layer`.
        layout: ``auto`` (3-D output: ``tokens``; 4-D: ``nhwc`` for a model with ``output_fmt == "NHWC"``
            or a class name containing ``Swin``, else ``nchw``), ``nchw``, ``nhwc`` or ``tokens``.
        grid_size: (h, w) of the token grid, when it cannot be inferred.
        prefix_tokens: tokens before the patch tokens, when the model has no ``num_prefix_tokens``.

    Example:
        >>> import timm
        >>> vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64, num_classes=5)
        >>> logits, a = ClassifierCAM(vit)(torch.rand(2, 3, 64, 64))
        >>> tuple(logits.shape), tuple(a.shape)
        ((2, 5), (2, 192, 4, 4))
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str | None = None,
        layout: str = "auto",
        grid_size: tuple[int, int] | None = None,
        prefix_tokens: int | None = None,
    ) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout: got {layout!r}; expected one of {list(LAYOUTS)}")
        self.classifier = model
        #: Identity whose output is A: the layer ``class_maps_for`` hooks by default.
        self.backbone = nn.Identity()
        self.layer = layer if layer is not None else default_classifier_layer(model)
        self.target = _find(model, self.layer)
        self.layout = layout
        self.grid_size = None if grid_size is None else (int(grid_size[0]), int(grid_size[1]))
        self.prefix_tokens = prefix_tokens
        self._input_size: tuple[int, int] = (0, 0)
        self.train(model.training)  # the wrapper takes the model's mode, and explain() restores it

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}, layout={self.layout!r}"

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (N, C), A (N, D, h, w))`` of one forward pass."""
        self._input_size = (int(images.shape[-2]), int(images.shape[-1]))
        seen: list[torch.Tensor] = []
        with self._hooked(seen):
            logits = logits_of(self.classifier(images))
        if len(seen) != 1:
            raise ValueError(
                f"layer {self.layer!r} ran {len(seen)} times in one forward pass; "
                "choose a layer that runs once"
            )
        return logits, seen[0]

    @contextmanager
    def _hooked(self, seen: list[torch.Tensor]) -> Iterator[None]:
        def hook(_: nn.Module, __: Any, output: Any) -> torch.Tensor:
            grid, restore = self.to_grid(output)
            a = self.backbone(grid)
            seen.append(a)
            return restore(a)

        handle = self.target.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def resolved_layout(self, output: torch.Tensor) -> str:
        """The layout of one output of the layer (``auto`` resolved)."""
        if self.layout != "auto":
            return self.layout
        if output.ndim == 3:
            return "tokens"
        swin = "swin" in type(self.classifier).__name__.lower()
        return "nhwc" if getattr(self.classifier, "output_fmt", None) == "NHWC" or swin else "nchw"

    def to_grid(self, output: Any) -> tuple[torch.Tensor, Restore]:
        """The layer's output as A (N, D, h, w) and the function that puts an A back into that layout."""
        if not isinstance(output, torch.Tensor) or output.ndim not in (3, 4):
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(
                f"layer {self.layer!r} outputs {shape}; a CAM needs a (N, D, h, w), (N, h, w, D) or "
                "(N, L, D) token output: choose a convolutional stage or a transformer block's norm"
            )
        layout = self.resolved_layout(output)
        expected = 3 if layout == "tokens" else 4
        if output.ndim != expected:
            raise ValueError(
                f"layout={layout!r} needs a {expected}-D output of layer {self.layer!r}; got "
                f"{tuple(output.shape)} (pass layout='auto' or the layout the layer has)"
            )
        if layout == "nchw":
            return output, lambda a: a
        if layout == "nhwc":
            return output.permute(0, 3, 1, 2), lambda a: a.permute(0, 2, 3, 1)
        return self._tokens_to_grid(output)

    def _tokens_to_grid(self, tokens: torch.Tensor) -> tuple[torch.Tensor, Restore]:
        n, length, d = tokens.shape
        h, w = self._grid(length)
        prefix = length - h * w
        head, body = tokens[:, :prefix], tokens[:, prefix:]
        grid = body.transpose(1, 2).reshape(n, d, h, w)
        return grid, lambda a: torch.cat([head, a.flatten(2).transpose(1, 2)], dim=1)

    def _grid(self, length: int) -> tuple[int, int]:
        """(h, w) of the patch tokens among ``length`` tokens, with the prefix count it implies checked."""
        prefix = self.prefix_tokens
        if prefix is None:
            prefix = getattr(self.classifier, "num_prefix_tokens", None)
        for grid in (self.grid_size, self._model_grid(), self._input_grid()):
            if grid is None:
                continue
            rest = length - grid[0] * grid[1]
            if rest >= 0 and (prefix is None or rest == int(prefix)):
                return grid
        raise ValueError(
            f"layer {self.layer!r}: cannot infer the token grid of {length} tokens (prefix tokens: "
            f"{prefix}, input {self._input_size}, patch grid {self._model_grid()}); pass "
            "grid_size=(h, w) and/or prefix_tokens=P to ClassifierCAM"
        )

    def _model_grid(self) -> tuple[int, int] | None:
        grid = getattr(getattr(self.classifier, "patch_embed", None), "grid_size", None)
        return (int(grid[0]), int(grid[1])) if isinstance(grid, (tuple, list)) and len(grid) == 2 else None

    def _input_grid(self) -> tuple[int, int] | None:
        patch = getattr(getattr(self.classifier, "patch_embed", None), "patch_size", None)
        if patch is None:
            patch = getattr(getattr(self.classifier, "config", None), "patch_size", None)
        if patch is None or not all(self._input_size):
            return None
        ph, pw = (patch, patch) if isinstance(patch, int) else (int(patch[0]), int(patch[1]))
        return math.ceil(self._input_size[0] / ph), math.ceil(self._input_size[1] / pw)


class ScoresOf(nn.Module):
    """A network returning ``(scores, maps)`` (a ``WSLNet``) as a classifier: ``images → scores``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)[0]


def classifier_of(net: nn.Module) -> nn.Module:
    """``images → logits`` of a CAM network: a :class:`ClassifierCAM`'s own classifier, else
    :class:`ScoresOf` the network (e.g. for :mod:`wsl.faithfulness`, which perturbs the input).

    Example:
        >>> linear = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        >>> classifier_of(ClassifierCAM(linear, layer="1", layout="nchw")) is linear
        True
    """
    return net.classifier if isinstance(net, ClassifierCAM) else ScoresOf(net)
