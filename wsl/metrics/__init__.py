"""Localization and classification metrics compatible with clovaai/wsolevaluation and TorchRay.

- boxes: CAM → boxes and box IoU, the exact rules (:func:`normalize_cam`, :func:`quantize_cam`,
  :func:`cam_thresholds`, :func:`cam_to_boxes`, :func:`box_iou_inclusive`,
  :func:`best_ious_per_threshold`, :func:`check_boxes`); boxes are 0-based inclusive ``(x0, y0, x1, y1)``.
- one metric per module, each a one-shot function and a torchmetrics ``Metric`` with sum-reduced state
  over one functional core: boxacc (:func:`box_accuracy`, :class:`BoxAccuracy`), pointing
  (:func:`pointing_game`, :class:`PointingGame`), pixel_ap (:func:`pxap`, :class:`PxAP`); localization
  re-exports the three.
- registry: :data:`METRICS`, what :class:`~wsl.evaluation.LocalizationEvaluator` builds and feeds
  (:func:`register_metric`; its docstring says how to add a metric).
- classification: VOC-protocol targets and mAP, top-1 accuracy, positive counts.
- report: :func:`format_table`, the one results table.
"""

from wsl.metrics.boxes import (
    best_ious_per_threshold,
    box_iou_inclusive,
    cam_thresholds,
    cam_to_boxes,
    check_boxes,
    normalize_cam,
    quantize_cam,
)
from wsl.metrics.classification import (
    PositiveCounts,
    classification_targets,
    multilabel_map,
    top1_accuracy,
    voc_targets,
)

# isort: off
# The import order of the metric modules is the registration order of METRICS, hence of the results.
from wsl.metrics.boxacc import BoxAccuracy, box_accuracy
from wsl.metrics.pointing import PointingGame, pointing_game, pointing_hit
from wsl.metrics.pixel_ap import PxAP, pxap, pxap_from_histograms
from wsl.metrics.fixed_loc import FixedThresholdLoc, fixed_threshold_loc

# isort: on
from wsl.metrics import localization as localization  # the historical module: re-exports the three
from wsl.metrics.registry import METRICS, EvalSettings, MetricEntry, TrialBatch, register_metric
from wsl.metrics.report import format_table

__all__ = [
    "METRICS",
    "EvalSettings",
    "MetricEntry",
    "TrialBatch",
    "register_metric",
    "BoxAccuracy",
    "FixedThresholdLoc",
    "fixed_threshold_loc",
    "PxAP",
    "PointingGame",
    "box_accuracy",
    "pxap",
    "pointing_game",
    "normalize_cam",
    "quantize_cam",
    "cam_thresholds",
    "cam_to_boxes",
    "box_iou_inclusive",
    "best_ious_per_threshold",
    "check_boxes",
    "pointing_hit",
    "pxap_from_histograms",
    "voc_targets",
    "classification_targets",
    "PositiveCounts",
    "multilabel_map",
    "top1_accuracy",
    "format_table",
]
