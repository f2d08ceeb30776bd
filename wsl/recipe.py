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
from collections.abc import Mapping
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


def recipe_rows(config: Mapping[str, Any]) -> list[RecipeRow]:
    """Every setting that matters for comparability, beside wsolevaluation's value for that cell.

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
    model, data = dict(config.get("model") or {}), dict(config.get("data") or {})
    trainer = dict(config.get("trainer") or {})
    dataset, options = _dataset(data.get("data", "synthetic"))
    backbone = str(model.get("backbone", "lcnet_050"))
    arch = _arch(backbone)
    cell = UPSTREAM_CELLS[(dataset, arch)]
    method = str(model.get("method", "cam"))
    rows = [
        _row("dataset / cell", f"{dataset}, {arch}, {method}", f"{dataset}, {arch}, CAM", method == "cam")
    ]
    pool, maps, out_index = model.get("pool", "weldon"), model.get("num_maps", 1), model.get("out_index", 3)
    lfm, stride = model.get("large_feature_map"), model.get("output_stride")
    # VGG16 / InceptionV3: upstream's CAM network is built only with large_feature_map set (else timm's).
    built = arch == "resnet50" or lfm is not None
    rows.append(
        _row(
            "network",
            f"{backbone}{'' if built else ' (timm)'}, out_index {out_index}, 1x1 conv, {pool}, "
            f"{maps} map(s)/class",
            CAM_NETWORKS[arch][0],
            built and pool == "gap" and maps == 1 and out_index == -1,
        )
    )
    side = {True: 28, False: 14}
    ours_map = (
        f"output_stride {stride} (timm, dilated)"
        if stride is not None
        else (
            "timm strides (7x7)"
            if lfm is None
            else f"large_feature_map {lfm} ({side[bool(lfm)]}x{side[bool(lfm)]})"
        )
    )
    rows.append(
        _row(
            "feature map",
            ours_map,
            f"large_feature_map {cell.large_feature_map} ({side[cell.large_feature_map]}x"
            f"{side[cell.large_feature_map]}, {FEATURE_MAP_RULES[arch][cell.large_feature_map]}) "
            f"[{cell.source}]",
            stride is None and lfm is not None and bool(lfm) == cell.large_feature_map,
        )
    )
    pretrained = model.get("pretrained", False)
    tag = f"{arch}.tv_in1k"
    if isinstance(pretrained, str) and pretrained.lower() not in ("true", "false"):
        weights, same_weights = f"local file {pretrained} (must hold torchvision's weights)", None
    else:
        on = pretrained is True or str(pretrained).lower() == "true"
        weights = f"{backbone}, pretrained {on}"
        same_weights = on and backbone.removeprefix("hf-hub:") in (tag, f"timm/{tag}")
    rows.append(_row("weights", weights, f"torchvision ImageNet ({tag})", same_weights))
    head_init = model.get("head_init", "default")
    keeps_fc = dataset == "ILSVRC" and method in KEEPS_IMAGENET_FC and arch == "resnet50"
    want_head = "pretrained_fc" if keeps_fc else "default"
    rows.append(_row("head init", head_init, want_head, head_init == want_head))
    optimizer = _spec_text(model.get("optimizer", "adamw"))
    rows.append(
        _row(
            "optimizer",
            "SGD momentum 0.9, Nesterov" if optimizer == "sgd" else optimizer,
            "SGD momentum 0.9, Nesterov",
            optimizer == "sgd",
        )
    )
    lr = model.get("lr", 2e-2)
    backbone_lr = model.get("backbone_lr") or lr
    stages = model.get("head_lr_stages", 0)
    late = {0: "", 1: f"{CAM_NETWORKS[arch][1]} + "}.get(stages, f"last {stages} stages + ")
    rows.append(
        _row(
            "lr, base group",
            _fmt(backbone_lr),
            f"{cell.lr:.10g} [{cell.source}]",
            _close(backbone_lr, cell.lr),
        )
    )
    rows.append(
        _row(
            "lr, classifier group",
            f"{_fmt(lr)} ({late}head)",
            f"{cell.lr * LR_CLASSIFIER_RATIO:.10g} ({CLASSIFIER_PARAMS[arch]}; lr_classifier_ratio 10)",
            _close(lr, cell.lr * LR_CLASSIFIER_RATIO) and stages == 1,
        )
    )
    wd = model.get("weight_decay", 1e-4)
    rows.append(_row("weight decay", _fmt(wd), f"{cell.weight_decay:g}", _close(wd, cell.weight_decay)))
    batch = data.get("batch_size", 64)
    devices = trainer.get("devices", "auto")
    batch_text = f"{batch}" + (
        "" if devices in ("auto", 1, "1", None) else f" per device x devices {devices}"
    )
    rows.append(
        _row("batch size", batch_text, cell.batch_size, batch == cell.batch_size and batch_text == str(batch))
    )
    epochs = trainer.get("max_epochs")
    rows.append(_row("epochs", epochs, cell.epochs, epochs == cell.epochs))
    scheduler = _spec_text(model.get("scheduler", "cosine"))
    step, gamma = model.get("step_epochs", 30), model.get("gamma", 0.1)
    warmup = model.get("warmup_epochs", 1.0)
    rule = {
        "wsolevaluation": f"x{gamma} at the start of 1-based epochs divisible by {step}",
        "step": f"StepLR({step}, {gamma}): x{gamma} one epoch after upstream's",
    }.get(scheduler, scheduler)
    rows.append(
        _row(
            "lr schedule",
            rule + (f", warm-up {warmup} epochs" if warmup and scheduler == "cosine" else ""),
            f"x0.1 at the start of 1-based epochs divisible by {cell.lr_decay_frequency}",
            scheduler == "wsolevaluation" and step == cell.lr_decay_frequency and _close(gamma, 0.1),
        )
    )
    augment, size = data.get("augment", "auto"), data.get("image_size", 128)
    rows.append(
        _row(
            "augmentation",
            f"{augment}, {size} px",
            "wsol: Resize(256x256), RandomCrop(224), flip; test Resize(224x224)",
            augment == "wsol" and size == 224,
        )
    )
    k = options.get("num_val_sample_per_class", 0)
    val_rule = options.get("val_sample", "random")
    ours_val = (
        "all"
        if k == 0
        else f"{k} per class, {val_rule}" + (f" (seed {data.get('seed', 0)})" if val_rule == "random" else "")
    )
    rows.append(_row("val subset", ours_val, "all (num_val_sample_per_class 0)", k == 0))
    precision = trainer.get("precision")
    rows.append(
        _row(
            "precision",
            "null (bf16-mixed on a bf16 GPU)" if precision is None else precision,
            "32-true (fp32)",
            str(precision) in ("32-true", "32"),
        )
    )
    select = config.get("checkpoint_select", "best")
    rows.append(_row("checkpoint tested", select, "last", select == "last"))
    protocol = model.get("protocol", "original")
    rows.append(
        _row("evaluation frame", protocol, "wsolevaluation (224x224, float64)", protocol == "wsolevaluation")
    )
    flips = model.get("cam_flips", "hv")  # tools/train.py's default (wsl.cli.MODEL_DEFAULTS)
    rows.append(_row("class maps", f"cam_flips {flips}", "one plain view (cam_flips none)", flips == "none"))
    interval = model.get("cam_curve_interval", 0.01)
    shown = "0.001" if interval is None and protocol == "wsolevaluation" else interval
    rows.append(
        _row(
            "CAM thresholds",
            f"numpy.arange(0, 1, {shown})" + (" (the frame's default)" if interval is None else ""),
            "numpy.arange(0, 1, 0.001)",
            (interval is None and protocol == "wsolevaluation") or _close(interval, 0.001),
        )
    )
    if method != "cam":
        rows += _method_rows(method, dict(model.get("method_kwargs") or {}), backbone)
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
