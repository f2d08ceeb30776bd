"""timm backbones as spatial feature extractors (N, 3, H, W) → (N, D, h, w)."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import timm
import torch
from torch import nn

if TYPE_CHECKING:
    from timm.models import FeatureInfo

__all__ = ["Backbone", "create_backbone"]

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


class Backbone(nn.Module):
    """A timm model cut at one feature stage.

    CNNs and ViTs alike return a (N, D, h, w) map: timm's ``features_only`` wrapper reshapes ViT
    tokens to the patch grid, so no model-specific code lives here.

    Attributes:
        out_channels: D, the channel count of the chosen stage.
        stride: the total reduction h = H / stride of the chosen stage.
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        info = cast("FeatureInfo", body.feature_info)
        self.out_channels = int(info.channels()[-1])
        self.stride = int(info.reduction()[-1])
        #: State-dict prefixes of the stages dropped after the chosen one (see :func:`_prune_stages`).
        self.dropped_prefixes = _prune_stages(body, info)
        self._register_load_state_dict_pre_hook(self._ignore_dropped_stages)
        #: The input side the model was built for; None for models that take any size.
        self.img_size: int | None = None
        #: The timm model name (set by :func:`create_backbone`), for messages.
        self.name = type(body).__name__
        #: ``(timm module name, module)`` of each feature stage up to the chosen one, in order.
        self.stages: list[tuple[str, nn.Module]] = _stage_modules(body, info)

    def _ignore_dropped_stages(self, state_dict: dict, prefix: str, *args) -> None:
        # Checkpoints written before the pruning hold weights of the dropped stages, which no output used.
        dropped = tuple(prefix + p for p in self.dropped_prefixes)
        for key in [k for k in state_dict if dropped and k.startswith(dropped)]:
            del state_dict[key]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)[-1]

    def split_last_stages(self, num_stages: int) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """The backbone's parameters split into ``(early, late)``: ``late`` are the last ``num_stages``
        feature stages (up to the chosen ``out_index``), ``early`` everything before them.

        A stage is everything the model registers after the previous stage's module up to and
        including its own (so the stem's conv/bn belong to stage 0, whose module is ResNet's ``act1``);
        the parameter order follows ``named_modules``, which is the execution order of timm's models.

        Raises:
            ValueError: ``num_stages`` is negative or exceeds the number of stages.

        Example:
            >>> early, late = create_backbone("resnet18", out_index=3).split_last_stages(1)
            >>> sum(p.numel() for p in late)  # layer3
            2099712
        """
        count = len(self.stages)
        if not isinstance(num_stages, int) or not 0 <= num_stages <= count:
            raise ValueError(
                f"head_lr_stages={num_stages!r} is out of range: backbone {self.name!r} has {count} feature "
                f"stages up to its out_index ({[name for name, _ in self.stages]}); use 0 … {count}."
            )
        params = list(self.body.named_parameters())
        if num_stages == 0:
            return [p for _, p in params], []
        if num_stages == count:
            return [], [p for _, p in params]
        order = {name: i for i, (name, _) in enumerate(self.body.named_modules())}
        boundary = self.stages[count - num_stages - 1][0]
        end = max(i for name, i in order.items() if name == boundary or name.startswith(boundary + "."))
        early: list[nn.Parameter] = []
        late: list[nn.Parameter] = []
        for name, param in params:
            owner = name.rpartition(".")[0]
            (late if order[owner] > end else early).append(param)
        return early, late


def _stage_modules(body: nn.Module, info: FeatureInfo) -> list[tuple[str, nn.Module]]:
    """The modules whose outputs are timm's feature stages 0 … out_index, as named in ``body``.

    timm's feature wrappers keep the names (``blocks.3``), flatten them (``blocks_3``) or nest the
    model (``model.blocks.3``, ViTs).
    """
    modules = dict(body.named_modules())
    stages = []
    for entry in info.info[: max(info.out_indices) + 1]:
        timm_name = str(entry["module"])
        for name in (timm_name, timm_name.replace(".", "_"), f"model.{timm_name}"):
            if name in modules:
                stages.append((name, modules[name]))
                break
        else:
            raise ValueError(f"feature stage module {timm_name!r} not found in {type(body).__name__}")
    return stages


def _prune_stages(body: nn.Module, info: FeatureInfo) -> tuple[str, ...]:
    """Drop the blocks after the chosen stage, which timm's EfficientNet / MobileNet feature models keep
    and run; returns the state-dict prefixes of the dropped blocks.

    Their parameters reach no loss, which DDP refuses ("parameters that were not used in producing the
    loss"), and they cost compute. timm's generic feature wrappers (ResNet, RegNet, ViT …) already stop
    at the last requested stage.
    """
    blocks = getattr(body, "blocks", None)
    module = str(info.get_dicts()[-1]["module"])
    if not (isinstance(blocks, nn.Sequential) and hasattr(body, "_stage_out_idx")):
        return ()
    if getattr(body, "feature_hooks", None) is not None or not module.startswith("blocks."):
        return ()
    keep = int(module.split(".")[1]) + 1
    dropped = tuple(f"body.blocks.{i}." for i in range(keep, len(blocks)))
    body.blocks = blocks[:keep]
    return dropped


def _probe(name: str, img_size: int | None) -> tuple[FeatureInfo, dict]:
    """The feature stages of timm's ``name``, and ``{"img_size": img_size}`` if the model takes it.

    Models built for one input size (ViTs) take ``img_size``; the others refuse the argument.
    """
    extra: dict[str, Any] = {} if img_size is None else {"img_size": img_size}
    try:
        probe = timm.create_model(name, pretrained=False, features_only=True, **extra)
    except TypeError as err:
        if "img_size" not in str(err):
            raise
        extra = {}
        probe = timm.create_model(name, pretrained=False, features_only=True)
    return cast("FeatureInfo", probe.feature_info), extra  # typed Tensor | Module by nn.Module


def _resolve_out_index(name: str, out_index: int, feature_info: FeatureInfo) -> int:
    num_stages = len(feature_info)
    if not -num_stages <= out_index < num_stages:
        raise ValueError(
            f"out_index={out_index} is out of range for backbone {name!r}, which has {num_stages} feature "
            f"stages (strides {feature_info.reduction()}); use -{num_stages} … {num_stages - 1}."
        )
    return out_index % num_stages


def _pretrained_kwargs(pretrained: bool | str) -> dict:
    if pretrained is False or pretrained in ("", "none", "None", "false", "False"):
        return {"pretrained": False}
    if pretrained is True or pretrained in ("true", "True", "timm"):
        return {"pretrained": True}
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        raise ValueError(
            f"pretrained={pretrained!r}: no such weights file. Pass a local .pth/.safetensors file, "
            "true (download from the timm hub), or false (train from scratch)."
        )
    if path.suffix not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"pretrained={pretrained!r}: unsupported weights file type; accepted: {WEIGHT_SUFFIXES}"
        )
    # timm's overlay loads the file with torch.load(weights_only=True) or safetensors.
    return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path)}}


def create_backbone(
    name: str,
    pretrained: bool | str = False,
    out_index: int = -1,
    output_stride: int | None = None,
    img_size: int | None = None,
    **timm_kwargs,
) -> Backbone:
    """Create a timm backbone that returns the feature map of one stage.

    Args:
        name: any timm model name (``timm.list_models()``), e.g. ``"resnet50"``, ``"regnetx_002"``,
            ``"vit_small_patch16_224"``.
        pretrained: False (random init), True (timm hub; needs a network), or a local weights file
            (``.pth``/``.safetensors``) loaded through timm's ``pretrained_cfg_overlay``. When the hub
            cannot be reached the model is built from scratch with a warning.
        out_index: which feature stage to return (timm's ``out_indices``; -1 = last, 3 = after the
            third stage of a 5-stage CNN, i.e. stride 16).
        output_stride: dilate the last stages to this stride (8 or 16) where timm supports it.
        img_size: the input side, passed to timm for models built for one size (ViTs, which otherwise
            refuse any input but 224 px); models that take any size are built without it.
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``img_size`` for ViTs).

    Returns:
        A :class:`Backbone` mapping (N, 3, H, W) to (N, D, H/stride, W/stride).
    """
    if name not in timm.list_models():
        close = difflib.get_close_matches(name, timm.list_models(), n=3)
        raise ValueError(
            f"unknown backbone {name!r}; closest timm names: {close or 'none'} (see timm.list_models())."
        )
    feature_info, size_kwargs = _probe(name, img_size)
    out_indices = (_resolve_out_index(name, out_index, feature_info),)
    kwargs = dict(features_only=True, out_indices=out_indices, **size_kwargs, **timm_kwargs)
    if output_stride is not None:
        kwargs["output_stride"] = output_stride
    weights = _pretrained_kwargs(pretrained)
    try:
        body = timm.create_model(name, **weights, **kwargs)
    except (OSError, RuntimeError) as err:
        if weights.get("pretrained_cfg_overlay") or not weights["pretrained"]:
            raise
        log.warning(
            "Could not fetch pretrained weights for %r (%s). Training from scratch; pass a local weights "
            "file with --model.pretrained PATH to start from pretrained weights offline.",
            name,
            type(err).__name__,
        )
        body = timm.create_model(name, pretrained=False, **kwargs)
    backbone = Backbone(body)
    backbone.img_size = size_kwargs.get("img_size")
    backbone.name = name
    return backbone
