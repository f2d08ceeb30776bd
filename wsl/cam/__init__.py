"""The one CAM pipeline (SPEC section 1 and 3): class choice, upsampling, normalisation, quantisation.

``CamBatch.from_output(scores, class_maps, batch, policy)`` is the way from a network output to scored,
drawn and saved CAMs; ``CamBatch.from_maps`` takes maps from any other source (saved CAM files, post-hoc
methods). See :mod:`wsl.cam.pipeline`; the evaluation frames (``original``, ``wsolevaluation``) are in
:mod:`wsl.cam.frames`.
"""

from wsl.cam.frames import (
    FRAMES,
    WSOL_SIZE,
    check_frame,
    default_interval,
    frame_boxes,
    frame_mask,
    frame_size,
    resize_to_frame,
)
from wsl.cam.maps import cam_range, normalize_cams, quantize_cams, upsample_class_maps
from wsl.cam.pipeline import CamBatch, batch_sizes
from wsl.cam.selection import CLASS_POLICIES, check_policy, gt_classes, register_policy, select_classes

__all__ = [
    "CLASS_POLICIES",
    "FRAMES",
    "WSOL_SIZE",
    "CamBatch",
    "batch_sizes",
    "cam_range",
    "check_frame",
    "check_policy",
    "default_interval",
    "frame_boxes",
    "frame_mask",
    "frame_size",
    "gt_classes",
    "normalize_cams",
    "quantize_cams",
    "register_policy",
    "resize_to_frame",
    "select_classes",
    "upsample_class_maps",
]
