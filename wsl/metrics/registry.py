"""The localization-metric registry: what :class:`~wsl.evaluation.LocalizationEvaluator` builds and feeds.

Each entry says how to build a metric for an evaluation (:class:`EvalSettings`), how to feed it one batch
of trials (:class:`TrialBatch`) and which result keys it reports. The evaluator builds one ``Metric`` per
entry (as its attribute ``entry.name``), feeds each one every batch and merges their results in
registration order.

How to add a metric (nothing else needs editing; the evaluator, its results and the registry test follow):

1. One module in ``wsl/metrics/`` with the functional core and the ``Metric`` (torchmetrics' split: see
   :mod:`wsl.metrics.boxacc`), and at its end one ``register_metric(MetricEntry(...))``.
2. Import the module in ``wsl/metrics/__init__.py`` (the import order is the order of the results).
3. Tests of its formula against an independent reference in ``tests/metrics/``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchmetrics import Metric

from wsl.registry import Registry

__all__ = ["METRICS", "EvalSettings", "MetricEntry", "TrialBatch", "register_metric", "result_keys"]


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
    """

    name: str
    keys: tuple[str, ...]
    build: Callable[[EvalSettings], Metric | None]
    update: Callable[[Metric, TrialBatch], None]
    results: Callable[[Metric, EvalSettings], dict[str, float]]


#: Metric name → :class:`MetricEntry`, in registration (= results) order.
METRICS: Registry[MetricEntry] = Registry("metric")


def register_metric(entry: MetricEntry) -> MetricEntry:
    """Add ``entry`` to :data:`METRICS` under ``entry.name``; returns it.

    Raises:
        ValueError: the name is already registered.
    """
    return METRICS.add(entry.name, entry)


def result_keys() -> list[str]:
    """Every localization result key of the registered metrics, in results order."""
    return [key for entry in METRICS.values() for key in entry.keys]
