"""Localization and classification metrics compatible with clovaai/wsolevaluation and TorchRay.

- boxes: CAM → boxes and box IoU, the exact rules (:func:`normalize_cam`, :func:`quantize_cam`,
  :func:`cam_thresholds`, :func:`cam_to_boxes`, :func:`box_iou_inclusive`,
  :func:`best_ious_per_threshold`, :func:`check_boxes`); boxes are 0-based inclusive ``(x0, y0, x1, y1)``.
- localization: one-shot functions (:func:`box_accuracy`, :func:`pxap`, :func:`pointing_game`) and
  torchmetrics ``Metric``s with sum-reduced state (:class:`BoxAccuracy`, :class:`PxAP`,
  :class:`PointingGame`) over the same functional core.
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
from wsl.metrics.localization import (
    BoxAccuracy,
    PointingGame,
    PxAP,
    box_accuracy,
    pointing_game,
    pointing_hit,
    pxap,
    pxap_from_histograms,
)
from wsl.metrics.report import format_table

__all__ = [
    "BoxAccuracy",
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
