"""Localization and classification metrics compatible with clovaai/wsolevaluation and TorchRay."""

from wsl.metrics.boxes import (
    best_ious_per_threshold,
    box_iou_inclusive,
    cam_thresholds,
    cam_to_boxes,
    normalize_cam,
    quantize_cam,
)
from wsl.metrics.classification import multilabel_map, top1_accuracy, voc_targets
from wsl.metrics.localization import BoxAccuracy, PointingGame, PxAP, pointing_hit, pxap_from_histograms

__all__ = [
    "BoxAccuracy",
    "PxAP",
    "PointingGame",
    "normalize_cam",
    "quantize_cam",
    "cam_thresholds",
    "cam_to_boxes",
    "box_iou_inclusive",
    "best_ious_per_threshold",
    "pointing_hit",
    "pxap_from_histograms",
    "voc_targets",
    "multilabel_map",
    "top1_accuracy",
]
