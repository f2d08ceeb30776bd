"""The recipe card: a training configuration beside clovaai/wsolevaluation's recipe for the same cell.

A cell of wsolevaluation's published table is a (dataset, architecture) pair, trained with CAM; its code
(commit 96f4b88: ``main.py``, ``config.py``, ``data_loaders.py``, ``wsol/*.py``) fixes most of the recipe
and the per-cell values (learning rate, weight decay, ``large_feature_map``, epochs) come from
:data:`UPSTREAM_CELLS`. :func:`recipe_rows` compares every setting that matters for comparability,
:func:`recipe_card` prints them as a table with each difference flagged (``DIFFERS``) and each value that
cannot be checked from the configuration marked (``check``). ``python tools/train.py --config FILE
--print_recipe`` prints the card of a configuration without building or training anything.

Example:
    >>> config = {"model": {"backbone": "resnet50.tv_in1k"}, "data": {"data": "wsol:CUB:data/CUB"}}
    >>> recipe_rows(config)[0].setting
    'dataset / cell'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wsl.data.wsol import WSOL_DATASETS, parse_wsol_options

__all__ = [
    "RecipeRow",
    "UPSTREAM_CELLS",
    "UpstreamCell",
    "recipe_card",
    "recipe_rows",
    "upstream_cell",
]

_UNOFFICIAL = "unofficial"
#: What ``[unofficial]`` means on the card.
UNOFFICIAL_NOTE = (
    "[unofficial]: public experiment script built on wsolevaluation, consistent with upstream issues #38/#60 "
    "(upstream's own values are in a spreadsheet not reachable offline)"
)


@dataclass(frozen=True)
class UpstreamCell:
    """wsolevaluation's CAM recipe for one (dataset, architecture) cell.

    Attributes:
        lr: the base learning rate (``--lr``: every parameter outside the architecture's classifier
            patterns); the classifier parameters train at ``lr · lr_classifier_ratio`` (10).
        weight_decay, large_feature_map, epochs, lr_decay_frequency, batch_size: its flags of those names.
        metric, published: the table's metric (``MaxBoxAccV2`` or ``PxAP``) and its figure (percent).
        source: where the per-cell values come from.
    """

    lr: float
    weight_decay: float
    large_feature_map: bool
    epochs: int
    lr_decay_frequency: int
    metric: str
    published: float
    batch_size: int = 32
    source: str = _UNOFFICIAL


#: (dataset, architecture) → the CAM recipe (published figures: upstream README table, TPAMI version).
UPSTREAM_CELLS: dict[tuple[str, str], UpstreamCell] = {
    ("ILSVRC", "vgg16"): UpstreamCell(1.654502e-5, 5e-4, False, 10, 3, "MaxBoxAccV2", 60.0),
    ("ILSVRC", "resnet50"): UpstreamCell(3.108411e-5, 1e-4, True, 10, 3, "MaxBoxAccV2", 63.7),
    ("ILSVRC", "inception_v3"): UpstreamCell(3.606503e-4, 5e-4, True, 10, 3, "MaxBoxAccV2", 63.4),
    ("CUB", "vgg16"): UpstreamCell(1.268269e-5, 5e-4, False, 50, 15, "MaxBoxAccV2", 63.7),
    ("CUB", "resnet50"): UpstreamCell(2.3222617e-4, 1e-4, True, 50, 15, "MaxBoxAccV2", 63.0),
    ("CUB", "inception_v3"): UpstreamCell(2.24844746e-3, 5e-4, True, 50, 15, "MaxBoxAccV2", 56.7),
    ("OpenImages", "vgg16"): UpstreamCell(3.4052401e-4, 5e-4, False, 10, 3, "PxAP", 58.3),
    ("OpenImages", "resnet50"): UpstreamCell(1.07117324e-3, 1e-4, False, 10, 3, "PxAP", 58.5),
    ("OpenImages", "inception_v3"): UpstreamCell(3e-4, 5e-4, True, 10, 3, "PxAP", 63.2),
}
#: wsolevaluation's ``lr_classifier_ratio`` (config.py:197-198).
LR_CLASSIFIER_RATIO = 10.0
#: Its "classifier" parameters per architecture (main.py:72-77, :141-158).
CLASSIFIER_PARAMS = {
    "resnet50": "layer4 + fc",
    "vgg16": "everything outside features (conv6 + fc)",
    "inception_v3": "everything outside Mixed*/Conv2d_1-4 (SPG_A3/A4)",
}
#: Methods whose ILSVRC model keeps the pretrained ImageNet fc (resnet.py:465-469; ResNet50 only: VGG16 and
#: InceptionV3 drop torchvision's classifier on every dataset, vgg.py:259, inception.py:498-500).
KEEPS_IMAGENET_FC = ("cam", "has", "cutmix", "adl")
#: How upstream gets the map size per architecture and ``large_feature_map``.
FEATURE_MAP_RULES = {
    "resnet50": {True: "stride 1 without dilation", False: "stride 1 without dilation"},
    "vgg16": {True: "pool4 and pool5 dropped", False: "pool5 dropped"},
    "inception_v3": {True: "no extra pool before Mixed_6a", False: "extra 3x3/2 pool before Mixed_6a"},
}
#: The CAM network upstream builds per architecture, and the body stage that ``head_lr_stages: 1`` puts in
#: the classifier group (wsl.models.backbone / vgg_cam / inception_cam).
CAM_NETWORKS = {
    "resnet50": ("resnet50-CAM: last stage, GAP, fc", "layer4"),
    "vgg16": ("VGG16-CAM: no pool5, conv6 3x3 512->1024 + ReLU, GAP, fc", "conv6"),
    "inception_v3": ("InceptionV3-CAM: to Mixed_6e, SPG_A3_1b/2b, SPG_A4 1x1, GAP", "SPG_A3"),
}
#: upstream's method defaults (config.py:210-233) under wsl's option names, and what no option reproduces
#: (the audit's section F).
METHOD_DEFAULTS: dict[str, dict[str, float | str]] = {
    "has": {"grid_size": 4, "drop_rate": 0.5, "grid_unit": "pixels"},
    "cutmix": {"prob": 1.0, "alpha": 1.0},
    "adl": {"drop_rate": 0.75, "gamma": 0.9},
    "acol": {"threshold": 0.7, "branch_layers": 2, "branch_width": 1024},
}
METHOD_GAPS: dict[str, str] = {}
#: upstream's ACoL network per architecture (wsl.methods.acol ACOL_FAMILIES, wsl.methods.acol_bodies): it
#: replaces the CAM network's layers after the trunk, so the classifier group holds the two classifiers.
ACOL_NETWORKS: dict[str, str] = {
    "resnet50": "resnet50 ACoL: classifiers A/B (3x3 1024, 3x3 1024, 1x1) on layer4, He init, base lr group",
    "vgg16": "VGG16 ACoL: 3x3 max-pools (M1/M2), no conv6, 3x3 avg smoothing, classifiers A/B "
    "(3x3 1024, 3x3 1024, 1x1), xavier, classifier lr group",
    "inception_v3": "InceptionV3 ACoL: to Mixed_6e, no SPG_A3, classifiers A/B (3x3 1024, 3x3 1024, 1x1), "
    "xavier, classifier lr group",
}


@dataclass(frozen=True)
class RecipeRow:
    """One setting: this configuration's value, wsolevaluation's, and the verdict.

    Attributes:
        status: ``""`` (the same), ``"DIFFERS"`` or ``"check"`` (not decidable from the configuration,
            e.g. a local weights file).
    """

    setting: str
    ours: str
    upstream: str
    status: str = ""


def _arch(backbone: str) -> str:
    name = backbone.removeprefix("hf-hub:").split("/")[-1].split(".")[0]
    if name not in CLASSIFIER_PARAMS:
        raise ValueError(
            f"model.backbone: got {backbone!r}; the recipe card knows wsolevaluation's architectures "
            f"{sorted(CLASSIFIER_PARAMS)} (timm names, tags allowed, e.g. resnet50.tv_in1k)"
        )
    return name


def _dataset(spec: str) -> tuple[str, dict[str, Any]]:
    kind, _, rest = str(spec).partition(":")
    text, options = parse_wsol_options(rest) if kind == "wsol" else (rest, {})
    dataset = text.partition(":")[0]
    if kind != "wsol" or dataset not in WSOL_DATASETS:
        raise ValueError(
            f"data.data: got {spec!r}; the recipe card compares with wsolevaluation's table: expected "
            f"wsol:DATASET:ROOT[...] with DATASET one of {list(WSOL_DATASETS)}"
        )
    return dataset, options


def upstream_cell(dataset: str, backbone: str) -> UpstreamCell:
    """The cell of ``dataset`` (CUB, ILSVRC, OpenImages) and a timm ``backbone`` name (tags allowed).

    Raises:
        ValueError: a dataset or an architecture outside wsolevaluation's table.
    """
    if dataset not in WSOL_DATASETS:
        raise ValueError(f"dataset: got {dataset!r}; expected one of {list(WSOL_DATASETS)}")
    return UPSTREAM_CELLS[(dataset, _arch(backbone))]


def _close(a: Any, b: float) -> bool:
    return isinstance(a, int | float) and not isinstance(a, bool) and math.isclose(a, b, rel_tol=1e-6)


def _row(setting: str, ours: Any, upstream: Any, same: bool | None) -> RecipeRow:
    status = "check" if same is None else ("" if same else "DIFFERS")
    return RecipeRow(setting, str(ours), str(upstream), status)


def _fmt(x: Any) -> str:
    return f"{x:.10g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class _Config:
    """A configuration's sections and the wsolevaluation cell they fall in (what every rule reads)."""

    model: dict[str, Any]
    data: dict[str, Any]
    trainer: dict[str, Any]
    select: Any
    dataset: str
    options: dict[str, Any]
    backbone: str
    arch: str
    cell: UpstreamCell
    method: str

    @classmethod
    def read(cls, config: Mapping[str, Any]) -> _Config:
        model, data = dict(config.get("model") or {}), dict(config.get("data") or {})
        dataset, options = _dataset(data.get("data", "synthetic"))
        backbone = str(model.get("backbone", "lcnet_050"))
        arch = _arch(backbone)
        return cls(
            model, data, dict(config.get("trainer") or {}), config.get("checkpoint_select", "best"),
            dataset, options, backbone, arch, UPSTREAM_CELLS[(dataset, arch)],
            method=str(model.get("method", "cam")),
        )  # fmt: skip


_SIDE = {True: 28, False: 14}


def _cell_row(c: _Config) -> RecipeRow:
    ours, upstream = f"{c.dataset}, {c.arch}, {c.method}", f"{c.dataset}, {c.arch}, CAM"
    return _row("dataset / cell", ours, upstream, c.method == "cam")


def _network_row(c: _Config) -> RecipeRow:
    pool, maps, out_index = (
        c.model.get("pool", "weldon"),
        c.model.get("num_maps", 1),
        c.model.get("out_index", 3),
    )
    # VGG16 / InceptionV3: upstream's CAM network is built only with large_feature_map set (else timm's).
    built = c.arch == "resnet50" or c.model.get("large_feature_map") is not None
    ours = (
        f"{c.backbone}{'' if built else ' (timm)'}, out_index {out_index}, 1x1 conv, {pool}, "
        f"{maps} map(s)/class"
    )
    same = built and pool == "gap" and maps == 1 and out_index == -1
    return _row("network", ours, CAM_NETWORKS[c.arch][0], same)


def _feature_map_row(c: _Config) -> RecipeRow:
    lfm, stride = c.model.get("large_feature_map"), c.model.get("output_stride")
    if stride is not None:
        ours = f"output_stride {stride} (timm, dilated)"
    elif lfm is None:
        ours = "timm strides (7x7)"
    else:
        ours = f"large_feature_map {lfm} ({_SIDE[bool(lfm)]}x{_SIDE[bool(lfm)]})"
    up = c.cell.large_feature_map
    upstream = (
        f"large_feature_map {up} ({_SIDE[up]}x{_SIDE[up]}, {FEATURE_MAP_RULES[c.arch][up]}) [{c.cell.source}]"
    )
    same = stride is None and lfm is not None and bool(lfm) == up
    return _row("feature map", ours, upstream, same)


def _weights_row(c: _Config) -> RecipeRow:
    pretrained = c.model.get("pretrained", False)
    tag = f"{c.arch}.tv_in1k"
    same: bool | None
    if isinstance(pretrained, str) and pretrained.lower() not in ("true", "false"):
        weights, same = f"local file {pretrained} (must hold torchvision's weights)", None
    else:
        on = pretrained is True or str(pretrained).lower() == "true"
        weights = f"{c.backbone}, pretrained {on}"
        same = on and c.backbone.removeprefix("hf-hub:") in (tag, f"timm/{tag}")
    return _row("weights", weights, f"torchvision ImageNet ({tag})", same)


def _head_init_row(c: _Config) -> RecipeRow:
    head_init = c.model.get("head_init", "default")
    keeps_fc = c.dataset == "ILSVRC" and c.method in KEEPS_IMAGENET_FC and c.arch == "resnet50"
    want = "pretrained_fc" if keeps_fc else "default"
    return _row("head init", head_init, want, head_init == want)


def _optimizer_row(c: _Config) -> RecipeRow:
    optimizer, sgd = _spec_text(c.model.get("optimizer", "adamw")), "SGD momentum 0.9, Nesterov"
    return _row("optimizer", sgd if optimizer == "sgd" else optimizer, sgd, optimizer == "sgd")


def _base_lr_row(c: _Config) -> RecipeRow:
    backbone_lr = c.model.get("backbone_lr") or c.model.get("lr", 2e-2)
    upstream = f"{c.cell.lr:.10g} [{c.cell.source}]"
    return _row("lr, base group", _fmt(backbone_lr), upstream, _close(backbone_lr, c.cell.lr))


def _classifier_lr_row(c: _Config) -> RecipeRow:
    lr, stages = c.model.get("lr", 2e-2), c.model.get("head_lr_stages", 0)
    late = {0: "", 1: f"{CAM_NETWORKS[c.arch][1]} + "}.get(stages, f"last {stages} stages + ")
    want = c.cell.lr * LR_CLASSIFIER_RATIO
    upstream = f"{want:.10g} ({CLASSIFIER_PARAMS[c.arch]}; lr_classifier_ratio 10)"
    return _row(
        "lr, classifier group", f"{_fmt(lr)} ({late}head)", upstream, _close(lr, want) and stages == 1
    )


def _weight_decay_row(c: _Config) -> RecipeRow:
    wd = c.model.get("weight_decay", 1e-4)
    return _row("weight decay", _fmt(wd), f"{c.cell.weight_decay:g}", _close(wd, c.cell.weight_decay))


def _batch_row(c: _Config) -> RecipeRow:
    batch, devices = c.data.get("batch_size", 64), c.trainer.get("devices", "auto")
    text = f"{batch}" + ("" if devices in ("auto", 1, "1", None) else f" per device x devices {devices}")
    return _row("batch size", text, c.cell.batch_size, batch == c.cell.batch_size and text == str(batch))


def _epochs_row(c: _Config) -> RecipeRow:
    epochs = c.trainer.get("max_epochs")
    return _row("epochs", epochs, c.cell.epochs, epochs == c.cell.epochs)


def _schedule_row(c: _Config) -> RecipeRow:
    scheduler = _spec_text(c.model.get("scheduler", "cosine"))
    step, gamma = c.model.get("step_epochs", 30), c.model.get("gamma", 0.1)
    warmup = c.model.get("warmup_epochs", 1.0)
    rule = {
        "wsolevaluation": f"x{gamma} at the start of 1-based epochs divisible by {step}",
        "step": f"StepLR({step}, {gamma}): x{gamma} one epoch after upstream's",
    }.get(scheduler, scheduler)
    ours = rule + (f", warm-up {warmup} epochs" if warmup and scheduler == "cosine" else "")
    upstream = f"x0.1 at the start of 1-based epochs divisible by {c.cell.lr_decay_frequency}"
    same = scheduler == "wsolevaluation" and step == c.cell.lr_decay_frequency and _close(gamma, 0.1)
    return _row("lr schedule", ours, upstream, same)


def _augment_row(c: _Config) -> RecipeRow:
    augment, size = c.data.get("augment", "auto"), c.data.get("image_size", 128)
    upstream = "wsol: Resize(256x256), RandomCrop(224), flip; test Resize(224x224)"
    return _row("augmentation", f"{augment}, {size} px", upstream, augment == "wsol" and size == 224)


def _val_row(c: _Config) -> RecipeRow:
    k, rule = c.options.get("num_val_sample_per_class", 0), c.options.get("val_sample", "random")
    seed = f" (seed {c.data.get('seed', 0)})" if rule == "random" else ""
    ours = "all" if k == 0 else f"{k} per class, {rule}{seed}"
    return _row("val subset", ours, "all (num_val_sample_per_class 0)", k == 0)


def _precision_row(c: _Config) -> RecipeRow:
    precision = c.trainer.get("precision")
    ours = "null (bf16-mixed on a bf16 GPU)" if precision is None else precision
    return _row("precision", ours, "32-true (fp32)", str(precision) in ("32-true", "32"))


def _checkpoint_row(c: _Config) -> RecipeRow:
    return _row("checkpoint tested", c.select, "last", c.select == "last")


def _frame_row(c: _Config) -> RecipeRow:
    protocol = c.model.get("protocol", "original")
    upstream = "wsolevaluation (224x224, float64)"
    return _row("evaluation frame", protocol, upstream, protocol == "wsolevaluation")


def _flips_row(c: _Config) -> RecipeRow:
    flips = c.model.get("cam_flips", "hv")  # tools/train.py's default (wsl.cli.MODEL_DEFAULTS)
    return _row("class maps", f"cam_flips {flips}", "one plain view (cam_flips none)", flips == "none")


def _thresholds_row(c: _Config) -> RecipeRow:
    interval, protocol = c.model.get("cam_curve_interval", 0.01), c.model.get("protocol", "original")
    shown = "0.001" if interval is None and protocol == "wsolevaluation" else interval
    ours = f"numpy.arange(0, 1, {shown})" + (" (the frame's default)" if interval is None else "")
    same = (interval is None and protocol == "wsolevaluation") or _close(interval, 0.001)
    return _row("CAM thresholds", ours, "numpy.arange(0, 1, 0.001)", same)


#: The card's rows in order: each rule reads the configuration and returns its row (method rows follow).
RECIPE_RULES: tuple[Callable[[_Config], RecipeRow], ...] = (
    _cell_row, _network_row, _feature_map_row, _weights_row, _head_init_row, _optimizer_row, _base_lr_row,
    _classifier_lr_row, _weight_decay_row, _batch_row, _epochs_row, _schedule_row, _augment_row, _val_row,
    _precision_row, _checkpoint_row, _frame_row, _flips_row, _thresholds_row,
)  # fmt: skip


def recipe_rows(config: Mapping[str, Any]) -> list[RecipeRow]:
    """Every setting that matters for comparability, beside wsolevaluation's value for that cell.

    One row per rule of :data:`RECIPE_RULES`, then a method's own rows (its options beside upstream's
    defaults, its structure) when ``model.method`` is not ``cam``.

    Args:
        config: the training configuration as ``tools/train.py --print_config`` writes it (sections
            ``model``, ``data``, ``trainer``, and ``checkpoint_select``); missing keys take WSLModule's /
            WSLDataModule's defaults where those matter (none is assumed equal to upstream).

    Returns:
        The rows, in the order of the card.

    Raises:
        ValueError: data that is not ``wsol:CUB|ILSVRC|OpenImages:...`` or a backbone outside
            wsolevaluation's architectures.
    """
    c = _Config.read(config)
    rows = [rule(c) for rule in RECIPE_RULES]
    if c.method != "cam":
        rows += _method_rows(c.method, dict(c.model.get("method_kwargs") or {}), c.backbone)
    return rows


def _structure_row(method: str, built: Any, backbone: str) -> RecipeRow | None:
    """ADL's positions and ACoL's classifiers beside upstream's network for the architecture."""
    from wsl.methods.acol import ACOL_FAMILIES
    from wsl.methods.adl import ADL_POSITIONS

    arch = _arch(backbone)
    if method == "adl":
        upstream = ADL_POSITIONS.get(arch)
        where = f"after {', '.join(upstream)}" if upstream else f"upstream's {arch} positions (not in wsl)"
        ours = where if upstream and built.placement in ("auto", "wsolevaluation") else "after whole stages"
        return _row("adl structure", ours, where, ours == where)
    if method == "acol":
        upstream_net = ACOL_NETWORKS.get(arch, f"{arch} ACoL classifiers, init and lr group")
        same = built.variant == "wsolevaluation" and arch in ACOL_FAMILIES
        return _row("acol structure", f"variant {built.variant}", upstream_net, same)
    return None


def _method_rows(method: str, kwargs: dict[str, Any], backbone: str) -> list[RecipeRow]:
    from wsl.methods import get_method

    built = get_method(method, **kwargs)
    rows = []
    for name, want in METHOD_DEFAULTS.get(method, {}).items():
        got = getattr(built, name, None)
        same = got == want if isinstance(want, str) else _close(got, float(want))
        rows.append(_row(f"{method} {name}", got, f"{want} (upstream default)", same))
    structure = _structure_row(method, built, backbone)
    if structure is not None:
        rows.append(structure)
    elif method in METHOD_GAPS:
        rows.append(_row(f"{method} structure", "wsl's", METHOD_GAPS[method], False))
    rows.append(
        _row(
            f"{method} lr / wd",
            "as above",
            "tuned per method (upstream spreadsheet): the rows above compare with CAM's cell",
            None,
        )
    )
    return rows


def _spec_text(spec) -> str:
    """``model.optimizer`` / ``model.scheduler`` as text: a name, or a class with its init_args."""
    if isinstance(spec, dict):
        args = ", ".join(f"{k}={v}" for k, v in (spec.get("init_args") or {}).items() if v is not None)
        return f"{spec.get('class_path')}({args})"
    return str(spec)


def recipe_card(config: Mapping[str, Any], title: str | None = None) -> str:
    """The card as text: one line per :func:`recipe_rows` row and the count of differences.

    Args:
        config: as :func:`recipe_rows`.
        title: printed first (e.g. the config file).
    """
    rows = recipe_rows(config)
    model, data = dict(config.get("model") or {}), dict(config.get("data") or {})
    dataset, _ = _dataset(data.get("data", ""))
    cell = upstream_cell(dataset, str(model.get("backbone", "")))
    head = [
        f"Recipe card{f': {title}' if title else ''}",
        f"beside clovaai/wsolevaluation (commit 96f4b88), CAM {_arch(str(model.get('backbone')))} on "
        f"{dataset}: published {cell.metric} {cell.published} (test split, wsolevaluation frame)",
    ]
    widths = [max(len(r.setting) for r in rows), max(len(r.ours) for r in rows)]
    lines = [f"{'setting':<{widths[0]}}  {'this configuration':<{widths[1]}}  wsolevaluation"]
    for r in rows:
        flag = f"  <- {r.status}" if r.status else ""
        lines.append(f"{r.setting:<{widths[0]}}  {r.ours:<{widths[1]}}  {r.upstream}{flag}")
    differs = sum(r.status == "DIFFERS" for r in rows)
    checks = sum(r.status == "check" for r in rows)
    tail = f"{differs} difference(s) from wsolevaluation's recipe" + (
        f", {checks} to check by hand" if checks else ""
    )
    return "\n".join([*head, *lines, tail, UNOFFICIAL_NOTE]) + "\n"
