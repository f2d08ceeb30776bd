"""Former home of the evaluation jobs, now :mod:`wsl.jobs.evaluate`; kept as a re-export for
``wsl.cli`` and the README's examples."""

from wsl.jobs.evaluate import (
    EvalData,
    EvalOptions,
    evaluate_cam_folder,
    evaluate_cams,
    evaluate_center,
    evaluate_from_checkpoint,
    evaluate_model,
    evaluate_trained,
)

__all__ = [
    "EvalData",
    "EvalOptions",
    "evaluate_cam_folder",
    "evaluate_cams",
    "evaluate_center",
    "evaluate_from_checkpoint",
    "evaluate_model",
    "evaluate_trained",
]
