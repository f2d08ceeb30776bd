"""timm backbones as spatial feature extractors (N, 3, H, W) → (N, D, h, w).

Names: any timm architecture (``resnet50``), with a pretrained tag (``resnet50.tv_in1k``: torchvision's
ImageNet weights, the ones wsolevaluation starts from) or from the Hugging Face hub
(``hf-hub:timm/resnet50.tv_in1k``). Weights: ``pretrained`` False (random init), True (timm's hub) or a
local file. ``large_feature_map`` builds wsolevaluation's CAM networks (ResNet50 strides, VGG16-CAM,
InceptionV3-CAM). A requested pretrained model that cannot be loaded is a :class:`PretrainedWeightsError`,
never a silent random init; :attr:`Backbone.weights` records where the weights came from.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import timm
import torch
from timm.models import is_model_in_modules, parse_model_name, split_model_name_tag
from torch import nn

from wsl.models.inception_cam import inception_v3_cam_body, init_inception_v3_cam
from wsl.models.vgg_cam import init_vgg16_cam, vgg16_cam_body

if TYPE_CHECKING:
    from timm.models import FeatureInfo

__all__ = [
    "FEATURE_MAP_RULES",
    "WSOL_NETWORKS",
    "Backbone",
    "PretrainedWeightsError",
    "WsolNetwork",
    "create_backbone",
    "load_pretrained_classifier",
    "resolve_backbone_name",
]

log = logging.getLogger(__name__)

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")
#: Weights a pretrained file may hold beyond the network: InceptionV3's auxiliary classifier.
_AUX_PREFIXES = ("AuxLogits.",)
#: How every pretrained-weights error ends: the two ways out.
PRETRAINED_FIX = (
    "pass a local weights file (--model.pretrained /path/to/file.pth, e.g. torchvision's "
    "resnet50-19c8e357.pth) or train from scratch (--model.pretrained false)"
)


class PretrainedWeightsError(ValueError):
    """Requested pretrained weights could not be loaded (no network, missing file, bad tag …).

    A ``ValueError``, so that the tools print it as one ``error:`` line.
    """


class Backbone(nn.Module):
    """A timm model cut at one feature stage.

    CNNs and ViTs alike return a (N, D, h, w) map: timm's ``features_only`` wrapper reshapes ViT
    tokens to the patch grid, so no model-specific code lives here.

    Attributes:
        out_channels: D, the channel count of the chosen stage.
        stride: the total reduction h = H / stride of the chosen stage.
        weights: where the weights came from (set by :func:`create_backbone`): ``{"source": "none" |
            "timm" | "hf-hub" | "file", "name": ...}``, plus the resolved ``tag`` (timm), the ``file`` and
            its ``sha256`` (file).
        large_feature_map: wsolevaluation's stride rule applied (True/False), or None (timm's strides).
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
        self.weights: dict[str, Any] = {"source": "none", "name": self.name}
        self.large_feature_map: bool | None = None
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


def resolve_backbone_name(name: str) -> tuple[str | None, str, str]:
    """Check a backbone name and split it into ``(source, architecture, tag)``.

    Accepted: a timm architecture (``resnet50``), an architecture with one of its pretrained tags
    (``resnet50.tv_in1k``; ``timm.list_pretrained("resnet50.*")`` lists them) and a Hugging Face hub id
    (``hf-hub:timm/resnet50.tv_in1k``, source ``"hf-hub"``, checked only when the hub is asked for it).
    timm's own parsing (``parse_model_name``, ``split_model_name_tag``, ``is_model``) decides.

    Raises:
        ValueError: an unknown architecture or tag (the message lists the closest names), or a name
            timm cannot parse.

    Example:
        >>> resolve_backbone_name("resnet50.tv_in1k")
        (None, 'resnet50', 'tv_in1k')
        >>> resolve_backbone_name("hf-hub:timm/resnet50.tv_in1k")
        ('hf-hub', 'timm/resnet50.tv_in1k', '')
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"backbone: expected a timm model name such as 'resnet50'; got {name!r}")
    try:
        source, model_id = parse_model_name(name)
    except ValueError as err:
        raise ValueError(f"backbone {name!r}: {err}") from None
    if source == "hf-hub":
        return source, model_id, ""
    if source is not None:
        raise ValueError(
            f"backbone {name!r}: source {source!r} is not supported; use a timm name, a tagged timm name "
            "(resnet50.tv_in1k) or an hf-hub: id, and a local weights file with --model.pretrained PATH"
        )
    arch, tag = split_model_name_tag(model_id)
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        raise ValueError(
            f"unknown backbone {name!r}; closest timm names: {close or 'none'} (see timm.list_models())."
        )
    if tag:
        tagged = timm.list_pretrained(f"{arch}.*")
        if f"{arch}.{tag}" not in tagged:
            close = difflib.get_close_matches(f"{arch}.{tag}", tagged, n=3)
            raise ValueError(
                f"unknown pretrained tag {tag!r} in backbone {name!r}; closest: {close or 'none'}; "
                f"{arch!r} has the tags {[t.split('.', 1)[1] for t in tagged] or 'none'} "
                f"(timm.list_pretrained({arch + '.*'!r}))"
            )
    return None, arch, tag


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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _weights_file(pretrained: str) -> Path:
    """The local weights file ``pretrained`` names, checked."""
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(
            f"pretrained={pretrained!r}: no such weights file. Pass a local .pth/.safetensors file "
            "(--model.pretrained /path/to/file.pth), true (download from the timm hub), or false (train "
            "from scratch: --model.pretrained false)."
        )
    if path.suffix not in WEIGHT_SUFFIXES:
        raise PretrainedWeightsError(
            f"pretrained={pretrained!r}: unsupported weights file type; accepted: {WEIGHT_SUFFIXES}"
        )
    return path


def _pretrained_kwargs(name: str, pretrained: bool | str) -> tuple[dict, dict[str, Any]]:
    """timm's ``create_model`` keyword arguments for ``pretrained``, and the weights record.

    Returns:
        ``(kwargs, weights)``: ``weights["source"]`` is ``none``, ``timm``, ``hf-hub`` or ``file``.
    """
    hub = name.startswith("hf-hub:")
    if pretrained is False or pretrained in ("", "none", "None", "false", "False"):
        return {"pretrained": False}, {"source": "none", "name": name}
    if pretrained is True or pretrained in ("true", "True", "timm"):
        return {"pretrained": True}, {"source": "hf-hub" if hub else "timm", "name": name}
    path = _weights_file(str(pretrained))
    # timm's overlay loads the file with torch.load(weights_only=True) or safetensors. An hf-hub config
    # names the hub as its source, which timm prefers over a file: the file must win.
    overlay: dict[str, Any] = {"file": str(path)}
    if hub:
        overlay["source"] = ""
    record = {"source": "file", "name": name, "file": str(path.resolve()), "sha256": _sha256(path)}
    return {"pretrained": True, "pretrained_cfg_overlay": overlay}, record


def _weights_error(name: str, weights: dict[str, Any], err: BaseException) -> PretrainedWeightsError:
    reason = (str(err).strip().splitlines() or [""])[0][:300]
    what = (
        f"the weights file {weights['file']!r}" if weights["source"] == "file" else "the pretrained weights"
    )
    return PretrainedWeightsError(
        f"backbone {name!r}: could not load {what} ({type(err).__name__}: {reason}); {PRETRAINED_FIX}"
    )


class _LoadReport(logging.Filter):
    """Collects the keys timm reports after loading pretrained weights non-strictly.

    timm loads a feature model's weights with ``strict=False`` (it drops the classifier) and only logs
    the keys that did not match, so a file of another network would leave most of the backbone at its
    random init without an error. Its messages read ``Missing keys (a, b) discovered …`` and
    ``Unexpected keys (a, b) found …``. As a filter on timm's logger it sees them even when that logger
    is above INFO, and passes on only the records the logger's own level lets through.
    """

    def __init__(self, pass_level: int) -> None:
        super().__init__()
        self.pass_level = pass_level
        self.missing: list[str] = []
        self.unexpected: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        for prefix, keys in (("Missing keys (", self.missing), ("Unexpected keys (", self.unexpected)):
            if text.startswith(prefix):
                keys.extend(k.strip() for k in text[len(prefix) :].split(")", 1)[0].split(",") if k.strip())
        return record.levelno >= self.pass_level


@contextlib.contextmanager
def _load_report() -> Iterator[_LoadReport]:
    logger = logging.getLogger("timm.models._builder")
    level = logger.level
    report = _LoadReport(logger.getEffectiveLevel())
    logger.addFilter(report)
    logger.setLevel(min(logger.getEffectiveLevel(), logging.INFO))
    try:
        yield report
    finally:
        logger.removeFilter(report)
        logger.setLevel(level)


def _create(name: str, weights: dict[str, Any], **kwargs: Any) -> nn.Module:
    """``timm.create_model``; requested weights that fail to load, or load only in part (keys of another
    network: anything but the classifier missing, or keys the network lacks), raise PretrainedWeightsError."""
    if not kwargs.get("pretrained"):
        return timm.create_model(name, **kwargs)
    try:
        with _load_report() as report:
            model = timm.create_model(name, **kwargs)
    except Exception as err:  # noqa: BLE001 - urllib, huggingface_hub, torch.load and timm all raise their own
        raise _weights_error(name, weights, err) from err
    # A feature model's own pretrained_cfg drops the classifier's name: the registry's has it.
    architecture = str((getattr(model, "pretrained_cfg", None) or {}).get("architecture") or "")
    registered = timm.models.get_pretrained_cfg(architecture) if timm.is_model(architecture) else None
    classifier = (registered.classifier if registered is not None else None) or ()
    heads = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    allowed = {f"{head}.{p}" for head in heads for p in ("weight", "bias")}
    missing = [k for k in report.missing if k not in allowed]
    # torchvision's InceptionV3 file holds its auxiliary classifier, which timm builds only on request
    # (aux_logits=True) and loads non-strictly otherwise; no feature reaches it.
    unexpected = [k for k in report.unexpected if not k.startswith(_AUX_PREFIXES)]
    if missing or unexpected:
        what = (
            f"the weights file {weights['file']!r}"
            if weights["source"] == "file"
            else "the pretrained weights"
        )
        raise PretrainedWeightsError(
            f"backbone {name!r}: {what} do not fit the network: {len(missing)} of its weights are not "
            f"in them (e.g. {missing[:3]}) and {len(unexpected)} of theirs are not the network's "
            f"(e.g. {unexpected[:3]}); the weights must be this architecture's (timm's or "
            f"torchvision's keys): {PRETRAINED_FIX}"
        )
    return model


# ---------------------------------------------------------------------------------------------------------
# wsolevaluation's large_feature_map: stride 1 without dilation, a rule per model family.


def _resnet_wsol_strides(body: nn.Module, large_feature_map: bool) -> dict[str, int]:
    """wsolevaluation's ResNet rule (wsol/resnet.py): layer4 always stride 1, layer3 stride 1 only with
    ``large_feature_map``, no dilation; the 1×1 downsample conv of the stage's first block strides alike.

    The stride sits on the first block's 3×3 ``conv2`` (Bottleneck, torchvision's and upstream's "v1.5"
    layout) or ``conv1`` (BasicBlock). Returns the new total reduction of every feature stage changed.
    """
    strides = {"layer3": 1 if large_feature_map else 2, "layer4": 1}
    reduction = 8  # after layer2
    changed: dict[str, int] = {}
    for stage, stride in strides.items():
        layer = getattr(body, stage, None)
        if layer is None:  # cut before it (out_index)
            break
        first = layer[0]
        conv = first.conv2 if type(first).__name__ == "Bottleneck" else getattr(first, "conv1", None)
        down = getattr(first, "downsample", None)
        aa = getattr(first, "aa", None)  # timm's anti-aliased ResNets blur-pool instead of striding
        plain = (
            isinstance(conv, nn.Conv2d)
            and conv.dilation == (1, 1)
            and (aa is None or isinstance(aa, nn.Identity))
        )
        if not plain or not (isinstance(down, nn.Sequential) and isinstance(down[0], nn.Conv2d)):
            raise ValueError(
                f"large_feature_map: the first block of {stage} is not a plain ResNet block (a strided 3×3 "
                "conv and a 1×1 conv downsample, no dilation or anti-aliasing; resnet*d avg-down variants "
                "are not supported); use a plain timm ResNet such as 'resnet50', or large_feature_map None"
            )
        conv.stride = (stride, stride)
        down[0].stride = (stride, stride)
        reduction *= stride
        changed[stage] = reduction
    return changed


#: timm model module (family) → the function applying wsolevaluation's ``large_feature_map`` stride rule
#: to a built feature body in place; it returns ``{stage module name: new total reduction}``.
FEATURE_MAP_RULES: dict[str, Callable[[nn.Module, bool], dict[str, int]]] = {
    "resnet": _resnet_wsol_strides,
}


class WsolNetwork(NamedTuple):
    """How to build one of wsolevaluation's CAM networks.

    Attributes:
        build: ``(built timm classifier, large_feature_map) → body``; the body reuses the classifier's
            modules (their weights), returns ``[features]`` and carries a timm ``FeatureInfo``.
        init_scratch: upstream's initialization of the whole body, applied when no pretrained weights
            are requested (the timm classifier is then built on the meta device: no init cost).
    """

    build: Callable[[nn.Module, bool], nn.Module]
    init_scratch: Callable[[nn.Module], None]


#: timm architecture → the function building wsolevaluation's CAM network body from the built (pretrained)
#: timm classifier and ``large_feature_map``: VGG16-CAM (:mod:`wsl.models.vgg_cam`) and InceptionV3-CAM
#: (:mod:`wsl.models.inception_cam`), whose layers upstream changes beyond strides. The body returns
#: ``[features]`` and carries a timm ``FeatureInfo`` whose last stage is the one the CAM head reads.
WSOL_NETWORKS: dict[str, WsolNetwork] = {
    "vgg16": WsolNetwork(vgg16_cam_body, init_vgg16_cam),
    "inception_v3": WsolNetwork(inception_v3_cam_body, init_inception_v3_cam),
}


def _apply_feature_map_rule(name: str, arch: str, body: nn.Module, large_feature_map: bool) -> None:
    family = next((f for f in FEATURE_MAP_RULES if is_model_in_modules(arch, [f])), None)
    if family is None:
        raise ValueError(
            f"large_feature_map={large_feature_map!r} is wsolevaluation's stride rule, implemented for the "
            f"timm model families {sorted(FEATURE_MAP_RULES)}; backbone {name!r} is not one of them: leave "
            "large_feature_map unset (None), or use output_stride for timm's dilated strides"
        )
    changed = FEATURE_MAP_RULES[family](body, large_feature_map)
    info = cast("FeatureInfo", body.feature_info)
    for entry in info.info:
        if entry["module"] in changed:
            entry["reduction"] = changed[entry["module"]]


def create_backbone(
    name: str,
    pretrained: bool | str = False,
    out_index: int = -1,
    output_stride: int | None = None,
    img_size: int | None = None,
    large_feature_map: bool | None = None,
    **timm_kwargs,
) -> Backbone:
    """Create a timm backbone that returns the feature map of one stage.

    Args:
        name: a timm model name (``timm.list_models()``), optionally with a pretrained tag
            (``"resnet50.tv_in1k"``: torchvision's ImageNet weights) or an ``hf-hub:`` id
            (``"hf-hub:timm/resnet50.tv_in1k"``), e.g. ``"regnetx_002"``, ``"vit_small_patch16_224"``.
        pretrained: False (random init), True (the tag's weights, or timm's default tag, from the timm
            hub; needs a network), or a local weights file (``.pth``/``.safetensors``; a torchvision
            ResNet state dict loads into timm's ResNet, whose keys are the same) loaded through timm's
            ``pretrained_cfg_overlay``. Weights that cannot be loaded raise; there is no fallback.
        out_index: which feature stage to return (timm's ``out_indices``; -1 = last, 3 = after the
            third stage of a 5-stage CNN, i.e. stride 16).
        output_stride: dilate the last stages to this stride (8 or 16) where timm supports it.
        img_size: the input side, passed to timm for models built for one size (ViTs, which otherwise
            refuse any input but 224 px); models that take any size are built without it.
        large_feature_map: None: timm's strides. True/False: wsolevaluation's CAM network, a 28×28
            (True) or 14×14 (False) map at 224 px: for the families of :data:`FEATURE_MAP_RULES` its
            stride rule (ResNets: stride 1 without dilation, layer4 always and layer3 only when True);
            for the architectures of :data:`WSOL_NETWORKS` its network (``vgg16``: VGG16-CAM,
            :mod:`wsl.models.vgg_cam`; ``inception_v3``: InceptionV3-CAM, :mod:`wsl.models.inception_cam`),
            built on timm's classifier with the requested weights; ``out_index`` must then be -1.
        **timm_kwargs: passed to ``timm.create_model``.

    Returns:
        A :class:`Backbone` mapping (N, 3, H, W) to (N, D, H/stride, W/stride).

    Raises:
        ValueError: an unknown name or tag; ``large_feature_map`` with ``output_stride``, on a family
            without a rule, or with an ``out_index`` other than the last for a :data:`WSOL_NETWORKS` body.
        PretrainedWeightsError: requested weights that cannot be loaded (a ``ValueError``).

    Example:
        >>> backbone = create_backbone("resnet50.tv_in1k", large_feature_map=True)
        >>> backbone.stride, backbone.weights["source"]
        (8, 'none')
    """
    source, arch, _ = resolve_backbone_name(name)
    if large_feature_map is not None and output_stride is not None:
        raise ValueError(
            f"large_feature_map={large_feature_map!r} and output_stride={output_stride!r} both set the "
            f"strides of backbone {name!r}: large_feature_map is wsolevaluation's stride 1 without dilation, "
            "output_stride timm's dilation; pass one of them"
        )
    weights_kwargs, weights = _pretrained_kwargs(name, pretrained)
    if large_feature_map is not None and source is None and arch in WSOL_NETWORKS:
        body = _wsol_network(
            name, arch, weights, weights_kwargs, out_index, bool(large_feature_map), timm_kwargs
        )
        return _finish(body, name, weights, large_feature_map, img_size=None)
    try:
        feature_info, size_kwargs = _probe(name, img_size)
    except Exception as err:  # noqa: BLE001 - only hf-hub names reach the network here
        if source != "hf-hub":
            raise
        raise PretrainedWeightsError(
            f"backbone {name!r}: could not fetch its config from the Hugging Face hub "
            f"({type(err).__name__}: {(str(err).splitlines() or [''])[0][:300]}); use the timm name with "
            f"its tag (e.g. resnet50.tv_in1k) and {PRETRAINED_FIX}"
        ) from err
    out_indices = (_resolve_out_index(name, out_index, feature_info),)
    kwargs = dict(features_only=True, out_indices=out_indices, **size_kwargs, **timm_kwargs)
    if output_stride is not None:
        kwargs["output_stride"] = output_stride
    body = _create(name, weights, **weights_kwargs, **kwargs)
    if large_feature_map is not None:
        architecture = arch if source is None else str(body.pretrained_cfg.get("architecture", ""))
        _apply_feature_map_rule(name, architecture, body, bool(large_feature_map))
    return _finish(body, name, weights, large_feature_map, size_kwargs.get("img_size"))


def _finish(
    body: nn.Module,
    name: str,
    weights: dict[str, Any],
    large_feature_map: bool | None,
    img_size: int | None,
) -> Backbone:
    if weights["source"] in ("timm", "hf-hub"):
        cfg = getattr(body, "pretrained_cfg", None) or {}
        weights.update({k: cfg[k] for k in ("architecture", "tag", "hf_hub_id", "url") if cfg.get(k)})
    backbone = Backbone(body)
    backbone.img_size = img_size
    backbone.name = name
    backbone.weights = weights
    backbone.large_feature_map = large_feature_map
    return backbone


def _wsol_network(
    name: str,
    arch: str,
    weights: dict[str, Any],
    weights_kwargs: dict[str, Any],
    out_index: int,
    large_feature_map: bool,
    timm_kwargs: dict[str, Any],
) -> nn.Module:
    """wsolevaluation's CAM body of ``arch`` (:data:`WSOL_NETWORKS`), built on timm's full classifier
    loaded with the requested weights (its classifier, and Inception's ``Mixed_7*``, are left out)."""
    network = WSOL_NETWORKS[arch]
    if weights_kwargs["pretrained"]:
        model = _create(name, weights, **weights_kwargs, **timm_kwargs)
        body = network.build(model, large_feature_map)
    else:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, **timm_kwargs)
        body = network.build(model, large_feature_map).to_empty(device="cpu")
        network.init_scratch(body)
    info = cast("FeatureInfo", body.feature_info)
    last = len(info) - 1
    if _resolve_out_index(name, out_index, info) != last:
        raise ValueError(
            f"out_index={out_index} with large_feature_map={large_feature_map!r}: wsolevaluation's "
            f"{arch} CAM network has one output, its last stage {info.info[last]['module']!r} (stages "
            f"{[entry['module'] for entry in info.info]}); use out_index -1"
        )
    body.pretrained_cfg = getattr(model, "pretrained_cfg", None) or {}  # type: ignore[assignment]
    return body


def load_pretrained_classifier(name: str, pretrained: bool | str) -> tuple[torch.Tensor, torch.Tensor]:
    """The ImageNet classifier ``(weight (K, D), bias (K,))`` of the pretrained weights ``pretrained``.

    The full timm model (not its feature body) is built with the same weights (the file, or timm's
    cached download) and its ``get_classifier()`` read; wsolevaluation keeps this classifier on ILSVRC
    (wsol/resnet.py ``load_pretrained_model``).

    Raises:
        ValueError: ``pretrained`` is False, or the model's classifier is not one linear layer.
        PretrainedWeightsError: the weights cannot be loaded.
    """
    weights_kwargs, weights = _pretrained_kwargs(name, pretrained)
    if not weights_kwargs["pretrained"]:
        raise ValueError(
            f"head_init='pretrained_fc' copies the pretrained classifier of backbone {name!r}, but "
            f"pretrained={pretrained!r}; pass pretrained weights (true, or a file), or head_init='default'"
        )
    model = _create(name, weights, **weights_kwargs)
    classifier = model.get_classifier()
    if not isinstance(classifier, nn.Linear):
        raise ValueError(
            f"head_init='pretrained_fc': backbone {name!r} has no single linear classifier "
            f"({type(classifier).__name__}); use head_init='default'"
        )
    return classifier.weight.detach().clone(), classifier.bias.detach().clone()
