"""The pointing game (Zhang et al. 2016) with TorchRay's protocol.

SPEC section 3. torchmetrics' split: ``_pointing_game_format``, ``_pointing_game_update`` (one batch →
hits and misses per class), ``_pointing_game_compute``, the one-shot :func:`pointing_game` and the
:class:`PointingGame` ``Metric``; :func:`pointing_hit` is one trial. (The module is not called
``pointing_game``: that is the function's name in ``wsl.metrics``.) Registered in
:data:`wsl.metrics.METRICS` as ``pointing_game`` and, with a pointing subset, ``pointing_game_subset``
(result key ``pointing_game_difficult``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import Metric

from wsl.checks import check_int, check_number
from wsl.metrics._inputs import _flag_vector, _map_list, _same_shapes, _to_numpy
from wsl.metrics.registry import Column, MetricEntry, TrialBatch, register_metric

__all__ = ["PointingGame", "pointing_game", "pointing_hit"]


def pointing_hit(cam, mask, tolerance: float = 15) -> tuple[bool, tuple[int, int]]:
    """One pointing-game trial (TorchRay's ``PointingGame.evaluate``).

    The point is the argmax of ``cam`` (the first in row-major order on ties; a map with NaN/Inf counts as
    all zeros, so its point is (0, 0)). It is a hit if some mask pixel (y, x) has
    ``(y − py)² + (x − px)² < tolerance²`` (strict).

    Raw and min–max normalised maps give the same point: normalisation is increasing, a constant map
    normalises to zeros (argmax (0, 0) either way) and a non-finite one to zeros (point (0, 0), as here).
    The one exception is float64 rounding merging the maximum with a value less than about 1e-16 of
    the map's range below it; pass the raw map to be exact to the bit.

    Args:
        cam: (H, W) float map, raw or normalised.
        mask: (H, W) bool ground-truth mask of the class.
        tolerance: disc radius in pixels, > 0.

    Returns:
        (hit, (px, py)).

    Example:
        >>> cam = np.zeros((32, 32)); cam[5, 5] = 1
        >>> mask = np.zeros((32, 32), dtype=bool); mask[5, 19] = True
        >>> pointing_hit(cam, mask)
        (True, (5, 5))
    """
    arr = _to_numpy(cam)
    gt = _to_numpy(mask)
    index = int(np.argmax(arr)) if np.isfinite(arr).all() else 0
    py, px = divmod(index, arr.shape[1])
    r = int(math.ceil(tolerance))
    y0, y1 = max(py - r, 0), min(py + r + 1, gt.shape[0])
    x0, x1 = max(px - r, 0), min(px + r + 1, gt.shape[1])
    dy = (np.arange(y0, y1) - py) ** 2
    dx = (np.arange(x0, x1) - px) ** 2
    accept = (dy[:, None] + dx[None, :]) < float(tolerance) ** 2
    hit = bool((gt[y0:y1, x0:x1] & accept).any())
    return hit, (px, py)


def _pointing_game_arg_validation(num_classes: int, tolerance: float) -> None:
    check_int(num_classes, "num_classes", what="a positive int")
    check_number(tolerance, "tolerance", gt=0, finite=False, what="a positive number of pixels")


def _pointing_game_format(
    cams, masks, classes, num_classes: int, difficult=None
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray | None]:
    """Validate a batch; return the maps, the masks, the (P,) class indices and the skip flags (or None)."""
    maps = _map_list(cams, "cams")
    gts = _map_list(masks, "masks", boolean=True)
    _same_shapes(maps, gts, "cams", "masks")
    cls = _to_numpy(classes)
    if cls.shape != (len(maps),):
        raise ValueError(f"classes must have shape ({len(maps)},) (one per cam); got {cls.shape}")
    if cls.size and not np.issubdtype(cls.dtype, np.integer):
        raise ValueError(f"classes must be integer class indices; got dtype {cls.dtype}")
    if cls.size and ((cls < 0).any() or (cls >= num_classes).any()):
        raise ValueError(f"classes must lie in [0, {num_classes}); got {cls.tolist()}")
    skip = _flag_vector(difficult, len(maps), "difficult")
    return maps, gts, cls, skip


def _pointing_game_update(
    maps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    classes: np.ndarray,
    num_classes: int,
    tolerance: float,
    skip: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Hits and misses per class for one batch of trials (:func:`pointing_hit` per row).

    Args:
        maps: P float (H_i, W_i) CAMs, raw or normalised.
        masks: P bool (H_i, W_i) masks of the row's class.
        classes: (P,) int class index per row, in [0, num_classes).
        num_classes: C.
        tolerance: disc radius in pixels.
        skip: optional (P,) bool, rows not scored.

    Returns:
        ``(hits, misses)``, two (C,) int64 arrays.
    """
    hits = np.zeros(num_classes, dtype=np.int64)
    misses = np.zeros_like(hits)
    for i, (cam, gt) in enumerate(zip(maps, masks, strict=True)):
        if skip is not None and skip[i]:
            continue
        hit, _ = pointing_hit(cam, gt, tolerance)
        (hits if hit else misses)[int(classes[i])] += 1
    return hits, misses


def _pointing_game_compute(hits, misses) -> dict[str, torch.Tensor]:
    """Per-class accuracy hits / (hits + misses) and its means, from summed (C,) counts.

    Returns:
        The dict documented in :meth:`PointingGame.compute`.
    """
    hits = torch.as_tensor(hits).double().cpu()
    trials = hits + torch.as_tensor(misses).double().cpu()
    per_class = torch.where(trials > 0, hits / trials.clamp(min=1), torch.full_like(hits, math.nan))
    seen = trials > 0
    accuracy = per_class[seen].mean() if bool(seen.any()) else torch.tensor(math.nan, dtype=torch.float64)
    return {
        "accuracy": accuracy,
        "per_class": per_class,
        "accuracy_all_classes": (hits / trials.clamp(min=1)).mean(),
    }


def pointing_game(
    cams, masks, classes, difficult=None, *, num_classes: int, tolerance: float = 15
) -> dict[str, torch.Tensor]:
    """Pointing game of a set of trials in one call (:class:`PointingGame` without state).

    Per class, accuracy = hits / (hits + misses), a hit when the CAM's argmax lies strictly within
    ``tolerance`` px of a GT pixel of that class; ``accuracy`` is the mean over classes with trials.

    Args:
        cams: float (P, H, W) or a list of (H_i, W_i) CAMs at the original image size, raw or normalised.
        masks: bool (P, H, W) or a list of (H_i, W_i) masks of the row's class (boxes drawn filled).
        classes: (P,) int class index of each row, in [0, num_classes).
        difficult: optional (P,) bool; True rows are skipped.
        num_classes: C.
        tolerance: disc radius in pixels (TorchRay: 15).

    Returns:
        The dict of :meth:`PointingGame.compute`.

    Example:
        >>> cam = torch.zeros(1, 32, 32); cam[0, 5, 5] = 1
        >>> mask = torch.zeros(1, 32, 32, dtype=torch.bool); mask[0, 5, 19] = True
        >>> float(pointing_game(cam, mask, torch.tensor([1]), num_classes=2)["accuracy"])
        1.0
    """
    _pointing_game_arg_validation(num_classes, tolerance)
    maps, gts, cls, skip = _pointing_game_format(cams, masks, classes, num_classes, difficult)
    return _pointing_game_compute(*_pointing_game_update(maps, gts, cls, num_classes, tolerance, skip))


class PointingGame(Metric):
    """Pointing game (Zhang et al. 2016) with TorchRay's protocol.

    One trial per (image, class present): hit if the CAM's argmax lies strictly within ``tolerance`` px of a
    GT pixel of that class (see :func:`pointing_hit`). Per-class accuracy = hits / (hits + misses);
    ``accuracy`` = mean over classes with at least one trial. TorchRay averages over *all* classes, counting a
    class without trials as 0; that number is ``accuracy_all_classes`` (equal whenever every class has
    trials, as on VOC07 test and COCO val).

    State: ``hits`` and ``misses`` (C,) counts, sum-reduced, from :func:`_pointing_game_update`; the scores
    from :func:`_pointing_game_compute` (the same pieces as :func:`pointing_game`).

    Args:
        num_classes: C.
        tolerance: disc radius in pixels (TorchRay: 15).

    Example:
        >>> metric = PointingGame(num_classes=2)
        >>> cam = torch.zeros(1, 32, 32); cam[0, 5, 5] = 1
        >>> mask = torch.zeros(1, 32, 32, dtype=torch.bool); mask[0, 5, 19] = True
        >>> metric.update(cam, mask, torch.tensor([1]))
        >>> float(metric.compute()["accuracy"])
        1.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    hits: torch.Tensor  # add_state's states (nn.Module's attribute typing says Tensor | Module)
    misses: torch.Tensor

    def __init__(self, num_classes: int, tolerance: float = 15, **kwargs) -> None:
        super().__init__(**kwargs)
        _pointing_game_arg_validation(num_classes, tolerance)
        self.num_classes = num_classes
        self.tolerance = tolerance
        self.add_state("hits", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("misses", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, cams, masks, classes, difficult=None, *, normalized: bool = False) -> None:
        """Accumulate trials, one row per (image, class present).

        Args:
            cams: float (P, H, W) or a list of (H_i, W_i) CAMs at the original image size, raw or min–max
                normalised: the argmax is the same (normalisation is increasing; a constant map's point is
                (0, 0) either way, and so is a non-finite map's, whose normalised map is all zeros).
            masks: bool (P, H, W) or a list of (H_i, W_i) masks of that class (boxes drawn filled).
            classes: (P,) int class index of each row, in [0, num_classes).
            difficult: optional (P,) bool; True rows are skipped (VOC: every box of that class difficult).
            normalized: whether ``cams`` are normalised already. Accepted so that every localization
                metric takes the same call; the pointing game never normalises, so it changes nothing.
        """
        del normalized  # the argmax needs no normalisation
        maps, gts, cls, skip = _pointing_game_format(cams, masks, classes, self.num_classes, difficult)
        hits, misses = _pointing_game_update(maps, gts, cls, self.num_classes, self.tolerance, skip)
        self.hits += torch.from_numpy(hits).to(self.hits.device)
        self.misses += torch.from_numpy(misses).to(self.misses.device)

    def compute(self) -> dict[str, torch.Tensor]:
        """Scores as fractions.

        Returns:
            ``{"accuracy": mean over classes with trials (NaN if none), "per_class": (C,) float64 with NaN
            for classes without trials, "accuracy_all_classes": TorchRay's mean over all C classes}``.
        """
        return _pointing_game_compute(self.hits, self.misses)


# ---------------------------------------------------------------- registrations (wsl.metrics.METRICS)


def _update_all(metric: Metric, trials: TrialBatch) -> None:
    metric.update(trials.cams, trials.masks, trials.classes, normalized=True)


def _update_subset(metric: Metric, trials: TrialBatch) -> None:
    metric.update(trials.cams, trials.masks, trials.classes, difficult=trials.outside_subset, normalized=True)


register_metric(
    MetricEntry(
        "pointing_game",
        ("pointing_game",),
        build=lambda s: PointingGame(num_classes=s.num_classes),
        update=_update_all,
        results=lambda m, s: {"pointing_game": float(m.compute()["accuracy"])},
        columns=(Column("pointing_game", "Pointing game", 30, compared=True, selectable=True),),
    )
)
# The same game on the trials of a pointing subset (TorchRay's EBP "difficult" flag files).
register_metric(
    MetricEntry(
        "pointing_game_subset",
        ("pointing_game_difficult",),
        build=lambda s: PointingGame(num_classes=s.num_classes) if s.with_subset else None,
        update=_update_subset,
        results=lambda m, s: {"pointing_game_difficult": float(m.compute()["accuracy"])},
    )
)
