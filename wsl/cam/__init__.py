"""The one CAM pipeline (SPEC section 1 and 3): class choice, upsampling, normalisation, quantisation.

``CamBatch.from_output(scores, class_maps, batch, policy)`` is the way from a network output to scored,
drawn and saved CAMs; ``CamBatch.from_maps`` takes maps from any other source (saved CAM files, post-hoc
methods). Post-hoc CAMs (Grad-CAM, Grad-CAM++, LayerCAM, EigenCAM) of a trained network come from
:func:`class_maps_for` (:mod:`wsl.cam.posthoc`; HiResCAM, XGradCAM, EigenGradCAM in :mod:`wsl.cam.weighted`).
Any classifier (timm, torchvision, Hugging Face-like, one's own) is explained by :func:`explain`
(:mod:`wsl.cam.explain`, :class:`ClassifierCAM`, :func:`load_classifier`; ScoreCAM and AblationCAM in
:mod:`wsl.cam.perturbation`). See :mod:`wsl.cam.pipeline`; the evaluation frames
(``original``, ``wsolevaluation``) are in :mod:`wsl.cam.frames`, the center baseline's map in
:mod:`wsl.cam.center`.
"""

from wsl.cam import weighted as weighted  # registers hirescam, xgradcam, eigengradcam
from wsl.cam.center import CENTER_SIGMA, center_map, center_maps_of
from wsl.cam.classifier import ClassifierCAM
from wsl.cam.explain import Explanation, explain, explain_methods
from wsl.cam.frames import (
    FRAMES,
    WSOL_SIZE,
    Frame,
    check_frame,
    default_interval,
    frame_boxes,
    frame_mask,
    frame_size,
    get_frame,
    resize_to_frame,
)
from wsl.cam.maps import cam_range, normalize_cams, quantize_cams, upsample_class_maps
from wsl.cam.pipeline import CamBatch, batch_sizes
from wsl.cam.posthoc import POSTHOC_METHODS, check_posthoc_method, class_maps_for, register_posthoc
from wsl.cam.selection import CLASS_POLICIES, check_policy, gt_classes, register_policy, select_classes
from wsl.cam.sources import load_classifier

__all__ = [
    "CENTER_SIGMA",
    "CLASS_POLICIES",
    "FRAMES",
    "POSTHOC_METHODS",
    "WSOL_SIZE",
    "CamBatch",
    "ClassifierCAM",
    "Explanation",
    "Frame",
    "batch_sizes",
    "cam_range",
    "center_map",
    "center_maps_of",
    "check_frame",
    "check_policy",
    "check_posthoc_method",
    "class_maps_for",
    "default_interval",
    "explain",
    "explain_methods",
    "frame_boxes",
    "frame_mask",
    "frame_size",
    "get_frame",
    "gt_classes",
    "load_classifier",
    "normalize_cams",
    "quantize_cams",
    "register_policy",
    "register_posthoc",
    "resize_to_frame",
    "select_classes",
    "upsample_class_maps",
]
