"""Former home of the prediction job, now :mod:`wsl.jobs.predict`; kept as a re-export for the README's
examples (``from wsl.predict import predict``)."""

from wsl.jobs.predict import (
    ImagePrediction,
    Predictor,
    UnreadableImagesWarning,
    iter_predictions,
    predict,
    predict_to_folder,
)

__all__ = [
    "ImagePrediction",
    "Predictor",
    "UnreadableImagesWarning",
    "iter_predictions",
    "predict",
    "predict_to_folder",
]
