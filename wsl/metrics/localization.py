"""Localization metrics, torchmetrics style: a functional core plus ``Metric``s with sum-reduced state.

SPEC section 3. One metric per module, each split the way torchmetrics splits its own:
:mod:`wsl.metrics.boxacc` (BoxAcc, MaxBoxAcc, MaxBoxAccV2, Top-1 Loc), :mod:`wsl.metrics.pixel_ap`
(PxAP) and :mod:`wsl.metrics.pointing` (the pointing game), with the input handling they share in
:mod:`wsl.metrics._inputs` and the registry the evaluator is built from in :mod:`wsl.metrics.registry`.
This module keeps every name importable from where it was.

- ``_<metric>_format``: validate the user's input and bring it to the core's form (numpy arrays,
  quantised or normalised maps); the only step that converts torch → numpy, once per map at most;
- ``_<metric>_update``: a pure function from one batch to the counts it adds (numpy int64);
- ``_<metric>_compute``: a pure function from the summed counts to the scores;
- a one-shot public function (:func:`box_accuracy`, :func:`pxap`, :func:`pointing_game`) that chains the
  three on one set of maps, and a ``Metric`` (:class:`BoxAccuracy`, :class:`PxAP`, :class:`PointingGame`)
  that validates, calls ``_update``, adds the counts to its states and calls ``_compute``.

Memory does not grow with the number of images and every state is reduced with ``sum``, so DDP needs no
custom gathering; a metric fed batch by batch equals the function on all maps at once.

Maps that are already normalised are not normalised again: :class:`BoxAccuracy` takes a uint8 map as the
quantised map ``q = quantize_cam(cam)`` itself, :class:`PxAP` takes ``normalized=True`` for maps from
:func:`~wsl.metrics.boxes.normalize_cam`, and :class:`PointingGame` never normalises (its argmax is the
same on raw and normalised maps). Scoring one CAM with every metric therefore needs one normalisation::

    scores = normalize_cam(cam)                    # (H, W) float64 in [0, 1]
    q = quantize_cam(scores, normalized=True)      # (H, W) uint8, == quantize_cam(cam)
    maxboxacc.update([q], [boxes]); maxboxacc_v2.update([q], [boxes])
    pxap_metric.update([scores], [mask], normalized=True)
    pointing.update([cam], [mask], classes)
"""

from __future__ import annotations

from wsl.metrics._inputs import _flag_vector, _map_list, _same_shapes, _to_numpy
from wsl.metrics.boxacc import (
    BoxAccuracy,
    _box_accuracy_arg_validation,
    _box_accuracy_compute,
    _box_accuracy_format,
    _box_accuracy_update,
    _check_quantized,
    _key,
    box_accuracy,
)
from wsl.metrics.boxes import best_ious_many as _best_ious_many
from wsl.metrics.pixel_ap import (
    PxAP,
    _pxap_bin_edges,
    _pxap_compute,
    _pxap_format,
    _pxap_update,
    pxap,
    pxap_from_histograms,
)
from wsl.metrics.pointing import (
    PointingGame,
    _pointing_game_arg_validation,
    _pointing_game_compute,
    _pointing_game_format,
    _pointing_game_update,
    pointing_game,
    pointing_hit,
)

__all__ = [
    "BoxAccuracy",
    "PxAP",
    "PointingGame",
    "box_accuracy",
    "pxap",
    "pointing_game",
    "pxap_from_histograms",
    "pointing_hit",
]

# The private pieces re-exported above, for the code and tests that import them from here.
_PRIVATE = (
    _best_ious_many,
    _box_accuracy_arg_validation,
    _box_accuracy_compute,
    _box_accuracy_format,
    _box_accuracy_update,
    _check_quantized,
    _flag_vector,
    _key,
    _map_list,
    _pointing_game_arg_validation,
    _pointing_game_compute,
    _pointing_game_format,
    _pointing_game_update,
    _pxap_bin_edges,
    _pxap_compute,
    _pxap_format,
    _pxap_update,
    _same_shapes,
    _to_numpy,
)
