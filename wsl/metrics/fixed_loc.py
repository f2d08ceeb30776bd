"""Localization at one fixed CAM threshold: GT-known Loc, Top-1 Loc, Top-5 Loc, Top-1/Top-5 Cls.

The dialect of the papers after 2021 (TS-CAM, SCM, BAS, C2AM, ...). Per trial (image, ground-truth class)
of single-label data, at the CAM threshold ``t``:

- the predicted boxes are those of :func:`wsl.metrics.boxes.cam_to_boxes` at ``t`` (the largest contour's
  box by default, as those papers; ``multi_contour=True``: every contour's box), and the trial is
  *localized* when the best IoU with any ground-truth box of the class is ``≥ δ/100`` (δ = 50);
- **GT-known Loc** = localized / trials (the class is given: the CAM of the ground-truth class);
- **Top-1 Loc** = (localized and the top-1 predicted class is the ground truth) / trials;
- **Top-5 Loc** = (localized and the ground truth is among the top-5 predicted classes) / trials;
- **Top-1 Cls**, **Top-5 Cls** = (top-1 right) / trials, (ground truth in the top 5) / trials.

GT-known Loc at ``t`` is the single-contour BoxAcc(t, 50) of :mod:`wsl.metrics.boxacc` (tested), so it is
comparable with MaxBoxAcc, which takes the best ``t`` instead. Registered in :data:`wsl.metrics.METRICS`
as ``fixed_loc``, built for single-label evaluations given a ``cam_threshold``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import Metric

from wsl.metrics._inputs import _flag_vector
from wsl.metrics.boxacc import _box_accuracy_format
from wsl.metrics.boxes import best_ious_many
from wsl.metrics.registry import Column, EvalSettings, MetricEntry, register_metric

__all__ = ["FIXED_KEYS", "FixedThresholdLoc", "fixed_threshold_loc"]

#: The count slots, in order, and the score each becomes.
FIXED_KEYS = ("gt_known_loc", "top1_loc", "top5_loc", "top1_cls", "top5_cls")


def _check(threshold: float, iou_threshold: float) -> tuple[np.ndarray, float]:
    t = float(threshold)
    if not 0.0 <= t < 1.0:
        raise ValueError(f"threshold must be in [0, 1); got {threshold!r}")
    if not 0 < float(iou_threshold) <= 100:
        raise ValueError(f"iou_threshold must be in (0, 100]; got {iou_threshold!r}")
    return np.array([t], dtype=np.float64), float(iou_threshold) / 100


def _fixed_loc_update(
    quantized: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    thresholds: np.ndarray,
    multi_contour: bool,
    iou_cut: float,
    flags: tuple[np.ndarray | None, np.ndarray | None],
) -> np.ndarray:
    """(5,) counts in :data:`FIXED_KEYS` order for one batch (the top-k slots stay 0 without flags)."""
    top1, top5 = flags
    located = np.array(
        [best[0] >= iou_cut for best in best_ious_many(quantized, boxes, thresholds, multi_contour)]
    )
    counts = np.zeros(5, dtype=np.int64)
    counts[0] = located.sum()
    if top1 is not None:
        counts[1], counts[3] = (located & top1).sum(), top1.sum()
    if top5 is not None:
        counts[2], counts[4] = (located & top5).sum(), top5.sum()
    return counts


def _fixed_loc_compute(counts: torch.Tensor, totals: torch.Tensor) -> dict[str, float]:
    """Scores from (5,) counts and (3,) totals (trials, trials with top-1 flags, with top-5 flags)."""
    out: dict[str, float] = {}
    total, with_top1, with_top5 = (int(v) for v in totals)
    for k, key in enumerate(FIXED_KEYS):
        needs = {1: with_top1, 3: with_top1, 2: with_top5, 4: with_top5}.get(k, total)
        if needs and needs != total:
            raise RuntimeError(
                f"{key}: flags were given for {needs} of {total} trials; pass them for all or none"
            )
        if needs:
            out[key] = float(counts[k]) / total
    return out


def fixed_threshold_loc(
    cams,
    boxes: Sequence,
    threshold: float,
    top1: torch.Tensor | None = None,
    top5: torch.Tensor | None = None,
    *,
    iou_threshold: float = 50,
    multi_contour: bool = False,
) -> dict[str, float]:
    """The scores of :class:`FixedThresholdLoc` for one set of trials.

    Args:
        cams: float (N, H, W) or a list of (H_i, W_i) CAMs at the GT resolution (min–max normalised per
            map), or uint8 maps already quantised.
        boxes: N int (K_i, 4) GT boxes of the trial's class, 0-based inclusive ``(x0, y0, x1, y1)``.
        threshold: the CAM threshold ``t`` in [0, 1).
        top1: optional (N,) bool, the top-1 class is the ground truth.
        top5: optional (N,) bool, the ground truth is among the top-5 classes.
        iou_threshold: δ in percent.
        multi_contour: every contour's box instead of the largest contour's.

    Returns:
        ``gt_known_loc`` and, with the flags, ``top1_loc``/``top1_cls`` and ``top5_loc``/``top5_cls``.

    Example:
        >>> cams = torch.zeros(2, 8, 8); cams[:, 2:4, 3:6] = 1
        >>> gt = [torch.tensor([[3, 2, 6, 4]]), torch.tensor([[0, 0, 1, 1]])]
        >>> fixed_threshold_loc(cams, gt, 0.5, top1=torch.tensor([True, True]))
        {'gt_known_loc': 0.5, 'top1_loc': 0.5, 'top1_cls': 1.0}
    """
    metric = FixedThresholdLoc(threshold, iou_threshold=iou_threshold, multi_contour=multi_contour)
    metric.update(cams, boxes, top1, top5)
    return metric.compute()


class FixedThresholdLoc(Metric):
    """GT-known / Top-1 / Top-5 Loc and Top-1 / Top-5 Cls at one CAM threshold (module docstring).

    State: ``counts`` (5,) in :data:`FIXED_KEYS` order and ``totals`` (3,) (trials, trials given top-1
    flags, trials given top-5 flags), sum-reduced.

    Args:
        threshold: the CAM threshold ``t`` in [0, 1).
        iou_threshold: δ in percent.
        multi_contour: every contour's box instead of the largest contour's.
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    counts: torch.Tensor
    totals: torch.Tensor

    def __init__(
        self, threshold: float, iou_threshold: float = 50, multi_contour: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        self.thresholds, self.iou_cut = _check(threshold, iou_threshold)
        self.threshold = float(threshold)
        self.multi_contour = bool(multi_contour)
        self.add_state("counts", torch.zeros(5, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("totals", torch.zeros(3, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, cams, boxes: Sequence, top1=None, top5=None) -> None:
        """Accumulate a batch (arguments as :func:`fixed_threshold_loc`)."""
        quantized, gts, _ = _box_accuracy_format(cams, boxes)
        flags = (_flag_vector(top1, len(gts), "top1"), _flag_vector(top5, len(gts), "top5"))
        counts = _fixed_loc_update(quantized, gts, self.thresholds, self.multi_contour, self.iou_cut, flags)
        self.counts += torch.from_numpy(counts).to(self.counts.device)
        given = [len(gts), len(gts) if flags[0] is not None else 0, len(gts) if flags[1] is not None else 0]
        self.totals += torch.tensor(given, device=self.totals.device)

    def compute(self) -> dict[str, float]:
        """Fractions in [0, 1]; ``{}`` before any trial."""
        if int(self.totals[0]) == 0:
            return {}
        return _fixed_loc_compute(self.counts, self.totals)


# ---------------------------------------------------------------- registration (wsl.metrics.METRICS)


def _results(metric: Metric, settings: EvalSettings) -> dict[str, float]:
    scores = metric.compute()
    out = {f"{key}_at_t": value for key, value in scores.items() if key != "top1_cls"}
    if "top5_cls_at_t" in out:
        out["top5_cls"] = out.pop("top5_cls_at_t")
    return {**out, "fixed_cam_threshold": float(settings.cam_threshold or 0.0)}


register_metric(
    MetricEntry(
        "fixed_loc",
        ("gt_known_loc_at_t", "top1_loc_at_t", "top5_loc_at_t", "top5_cls", "fixed_cam_threshold"),
        build=lambda s: (
            FixedThresholdLoc(s.cam_threshold) if s.single_label and s.cam_threshold is not None else None
        ),
        update=lambda m, t: m.update(t.quantized, t.boxes, t.correct, t.top5_correct),
        results=_results,
        columns=(
            Column("gt_known_loc_at_t", "GT-known Loc@t", 71, compared=True),
            Column("top1_loc_at_t", "Top-1 Loc@t", 72, compared=True),
            Column("top5_loc_at_t", "Top-5 Loc@t", 73, compared=True),
            Column("top5_cls", "Top-5 Cls", 74, compared=True),
        ),
    )
)
