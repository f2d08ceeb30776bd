"""Predict on your own images (no annotations): scores, CAMs and boxes; COCO results; an output folder.

- :func:`predict` → one :class:`ImagePrediction` per image (:mod:`wsl.jobs.predict.core`),
- :func:`predict_to_folder`: the whole ``tools/predict.py`` (:mod:`wsl.jobs.predict.folder`),
- :mod:`wsl.jobs.predict.images` (which files, how they are read), :mod:`wsl.jobs.predict.coco` (results
  format).
"""

from wsl.jobs.predict.coco import CocoIds, coco_bbox, coco_results
from wsl.jobs.predict.core import (
    ImagePrediction,
    ModelOptions,
    PredictOptions,
    Predictor,
    UnreadableImagesWarning,
    choose_classes,
    iter_predictions,
    predict,
)
from wsl.jobs.predict.folder import FolderOptions, predict_to_folder, summary_text
from wsl.jobs.predict.images import FORMATS, find_images, read_rgb

__all__ = [
    "FORMATS",
    "CocoIds",
    "ImagePrediction",
    "ModelOptions",
    "FolderOptions",
    "PredictOptions",
    "Predictor",
    "UnreadableImagesWarning",
    "choose_classes",
    "coco_bbox",
    "coco_results",
    "find_images",
    "iter_predictions",
    "predict",
    "predict_to_folder",
    "read_rgb",
    "summary_text",
]
