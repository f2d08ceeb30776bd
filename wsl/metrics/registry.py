"""The localization-metric registry: what :class:`~wsl.evaluation.LocalizationEvaluator` builds and feeds.

Each entry says how to build a metric for an evaluation (:class:`EvalSettings`), how to feed it one batch
of trials (:class:`TrialBatch`) and which result keys it reports. The evaluator builds one ``Metric`` per
entry (as its attribute ``entry.name``), feeds each one every batch and merges their results in
registration order.

How to add a metric (nothing else needs editing; the evaluator, its results and the registry test follow):

1. One module in ``wsl/metrics/`` with the functional core and the ``Metric`` (torchmetrics' split: see
   :mod:`wsl.metrics.boxacc`), and at its end one ``register_metric(MetricEntry(...))``; its ``columns``
   (:class:`Column`: title, unit, place) make its keys columns of the benchmark's tables.
2. Import the module in ``wsl/metrics/__init__.py`` (the import order is the order of the results).
3. Tests of its formula against an independent reference in ``tests/metrics/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchmetrics import Metric

from wsl.registry import Registry

__all__ = [
    "METRICS",
    "OTHER_COLUMNS",
    "Column",
    "EvalSettings",
    "MetricEntry",
    "TrialBatch",
    "register_metric",
    "result_columns",
    "result_keys",
]

#: A column's units: a fraction shown in percent, seconds, a rate.
UNITS = ("%", "s", "img/s")


@dataclass(frozen=True)
class Column:
    """One result key as a column of the benchmark's tables (:mod:`wsl.benchmark.columns`).

    Attributes:
        key: the key in a run's ``results.json`` ``test`` results.
        title: the column title.
        rank: the column's place: columns are ordered by rank (ties: in declaration order).
        unit: ``"%"`` a fraction shown as ``100 · value`` (the default), ``"s"`` seconds, ``"img/s"`` a rate.
        compared: each entry's difference to the best entry is tested (paired over seeds).
        selectable: may be the benchmark's ``select_metric`` (a score also logged on val, higher is better).

    Example:
        >>> Column("maxboxacc", "MaxBoxAcc", 40).unit
        '%'
    """

    key: str
    title: str
    rank: int
    unit: str = "%"
    compared: bool = False
    selectable: bool = False

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(
                f"Column {self.key!r}: unit got {self.unit!r}; expected one of {', '.join(UNITS)}"
            )


@dataclass(frozen=True)
class EvalSettings:
    """What an evaluation is, as the metrics need it.

    Attributes:
        num_classes: C.
        single_label: single-label data (Top-1 Loc is reported).
        cam_curve_interval: the CAM threshold grid step.
        with_subset: a pointing-game subset was given.
        cam_threshold: the fixed CAM threshold of the fixed-threshold metrics, or None (not reported).
    """

    num_classes: int
    single_label: bool
    cam_curve_interval: float
    with_subset: bool = False
    cam_threshold: float | None = None


@dataclass(frozen=True)
class TrialBatch:
    """One batch of trials (image, ground-truth class), in the evaluation frame, as every metric is fed.

    Attributes:
        cams: P float64 (H_p, W_p) min–max normalised CAMs.
        quantized: P uint8 maps ``quantize_cam(cam)`` (computed once, shared).
        boxes: P int64 (K_p, 4) inclusive GT boxes of the trial's class.
        masks: P bool (H_p, W_p) masks of the class (instance masks' union, or the filled boxes).
        has_mask: P flags, True when the mask comes from real segmentation masks.
        ignore: P bool (H_p, W_p) masks of pixels not counted, or None each.
        classes: (P,) int64 class of each trial.
        correct: (P,) bool, the image's top-1 class is right (single-label data with scores), or None.
        outside_subset: (P,) bool, the trial is not in the pointing-game subset, or None without one.
        top5_correct: (P,) bool, the trial's class is among the image's top-5 classes, or None.
    """

    cams: list[torch.Tensor]
    quantized: list[torch.Tensor]
    boxes: list[torch.Tensor]
    masks: list[torch.Tensor]
    has_mask: list[bool]
    ignore: list[torch.Tensor | None]
    classes: torch.Tensor
    correct: torch.Tensor | None = None
    outside_subset: torch.Tensor | None = None
    top5_correct: torch.Tensor | None = None


@dataclass(frozen=True)
class MetricEntry:
    """One registered localization metric.

    Attributes:
        name: the registry name, and the evaluator's attribute holding the metric.
        keys: every result key it may report, in order (e.g. for table columns).
        build: ``build(settings)`` → the ``Metric``, or None when it does not apply to this evaluation.
        update: ``update(metric, trials)`` feeds one batch of trials (P ≥ 1).
        results: ``results(metric, settings)`` → ``{key: fraction}``, a subset of ``keys``.
        columns: the keys shown as benchmark columns (:class:`Column`), each one of ``keys``; a key
            without one (a threshold, a subset's score) is in the results only.
    """

    name: str
    keys: tuple[str, ...]
    build: Callable[[EvalSettings], Metric | None]
    update: Callable[[Metric, TrialBatch], None]
    results: Callable[[Metric, EvalSettings], dict[str, float]]
    columns: tuple[Column, ...] = ()


#: Metric name → :class:`MetricEntry`, in registration (= results) order.
METRICS: Registry[MetricEntry] = Registry("metric")


def register_metric(entry: MetricEntry) -> MetricEntry:
    """Add ``entry`` to :data:`METRICS` under ``entry.name``; returns it.

    Raises:
        ValueError: the name is already registered, or a column's key is not one of ``entry.keys``.
    """
    stray = [c.key for c in entry.columns if c.key not in entry.keys]
    if stray:
        raise ValueError(
            f"metric {entry.name!r}: columns {stray} are not among its keys {list(entry.keys)}; add them to "
            "keys or fix the Column's key"
        )
    return METRICS.add(entry.name, entry)


def result_keys() -> list[str]:
    """Every localization result key of the registered metrics, in results order."""
    return [key for entry in METRICS.values() for key in entry.keys]


#: The result columns of producers other than :data:`METRICS`: the evaluator's classification scores
#: (:class:`wsl.evaluation.LocalizationEvaluator`) and the faithfulness means of the same maps
#: (:class:`wsl.cam.explain_eval.FaithfulnessSums`, ROAD's included). tests/benchmark checks both lists.
OTHER_COLUMNS: tuple[Column, ...] = (
    Column("map", "mAP", 10, compared=True, selectable=True),
    Column("top1_acc", "Top-1 acc", 20, compared=True, selectable=True),
    Column("deletion_auc", "Deletion AUC", 80, compared=True),
    Column("insertion_auc", "Insertion AUC", 81, compared=True),
    Column("average_drop", "Average drop", 82, compared=True),
    Column("increase_in_confidence", "Increase in conf.", 83, compared=True),
    Column("road_morf", "ROAD MoRF", 84, compared=True),
    Column("road_lerf", "ROAD LeRF", 85, compared=True),
    Column("road_combined", "ROAD combined", 86, compared=True),
)


def result_columns() -> list[Column]:
    """The columns of the registered metrics and :data:`OTHER_COLUMNS`, ordered by rank (stable).

    Raises:
        ValueError: two columns share a key.
    """
    columns = [c for entry in METRICS.values() for c in entry.columns] + list(OTHER_COLUMNS)
    keys = [c.key for c in columns]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"result columns: keys {twice} are declared twice; keep one Column per key")
    return sorted(columns, key=lambda c: c.rank)
