"""Box accuracy (BoxAcc curves, MaxBoxAcc, MaxBoxAccV2, Top-1 Loc), exactly as clovaai/wsolevaluation.

SPEC section 3. torchmetrics' split: ``_box_accuracy_format`` (validate, quantise once),
``_box_accuracy_update`` (one batch → counts), ``_box_accuracy_compute`` (summed counts → scores), the
one-shot :func:`box_accuracy` and the :class:`BoxAccuracy` ``Metric`` with sum-reduced state. The boxes of
every map come from the compiled core's wrapper :func:`wsl.metrics.boxes.best_ious_many`, which owns its
thread pool. (The module is not called ``box_accuracy``: that is the function's name in ``wsl.metrics``.)

Registered in :data:`wsl.metrics.METRICS` as ``maxboxacc`` (IoU 50, the largest contour; with Top-1 Loc
on single-label data) and ``maxboxacc_v2`` (mean over IoU 30/50/70, every contour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import Metric

from wsl.metrics._inputs import _flag_vector, _map_list, _to_numpy
from wsl.metrics.boxes import best_ious_many, cam_thresholds, check_boxes, quantize_cam
from wsl.metrics.registry import Column, EvalSettings, MetricEntry, TrialBatch, register_metric

__all__ = ["BoxAccuracy", "box_accuracy"]


def _key(delta: float) -> str:
    return f"{delta:g}"


def _box_accuracy_arg_validation(
    iou_thresholds: Sequence[float], cam_curve_interval: float
) -> tuple[tuple[float, ...], np.ndarray, np.ndarray]:
    """Check the settings; return the δ values, the CAM thresholds (T,) and the IoU cuts δ/100 (D,)."""
    if isinstance(iou_thresholds, (int, float)) or not isinstance(iou_thresholds, Sequence):
        raise ValueError(f"iou_thresholds must be a sequence in (0, 100]; got {iou_thresholds!r}")
    deltas = [float(d) for d in iou_thresholds]
    if not deltas or any(not 0 < d <= 100 for d in deltas):
        raise ValueError(f"iou_thresholds must be non-empty, in (0, 100]; got {iou_thresholds!r}")
    if len(set(deltas)) != len(deltas):
        raise ValueError(f"iou_thresholds must be distinct; got {iou_thresholds!r}")
    thresholds = cam_thresholds(cam_curve_interval)
    # δ/100 as wsolevaluation writes it (`_THRESHOLD/100`), compared to float64 IoUs.
    iou_cuts = np.array([d / 100 for d in deltas], dtype=np.float64)
    return tuple(deltas), thresholds, iou_cuts


def _check_quantized(q: np.ndarray, name: str) -> np.ndarray:
    # quantize_cam maps the minimum to 0 and the maximum to 255 (or everything to 0): anything else is
    # some other 8-bit image, whose boxes would silently differ from its float map's.
    lo, hi = int(q.min()), int(q.max())
    if lo != 0 or hi not in (0, 255):
        raise ValueError(
            f"{name} is uint8, so it is taken as already quantised by quantize_cam (min 0, max 255, or all "
            f"0); got min {lo}, max {hi}. Pass the float map instead"
        )
    return np.ascontiguousarray(q)


def _box_accuracy_format(
    cams, boxes, correct=None
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray | None]:
    """Validate a batch; return the quantised maps (N × (H_i, W_i) uint8), the GT boxes and the flags.

    A float map is quantised here with :func:`~wsl.metrics.boxes.quantize_cam`; a uint8 map is taken as
    that quantised map already and used as is.
    """
    maps = _map_list(cams, "cams", quantized=True)
    if isinstance(boxes, torch.Tensor) and boxes.ndim == 3:
        boxes = list(boxes)
    if not isinstance(boxes, Sequence):
        raise ValueError(f"boxes must be a list of (K_i, 4) int tensors; got {type(boxes).__name__}")
    if len(boxes) != len(maps):
        raise ValueError(f"boxes must have one entry per cam; got {len(boxes)} for {len(maps)} cams")
    flags = _flag_vector(correct, len(maps), "correct")
    quantized, gts = [], []
    for i, (cam, gt) in enumerate(zip(maps, boxes, strict=True)):
        gt_arr = _to_numpy(gt)
        if gt_arr.size and not np.issubdtype(gt_arr.dtype, np.integer):
            raise ValueError(f"boxes[{i}] must be an integer tensor; got dtype {gt_arr.dtype}")
        gt_arr = check_boxes(gt_arr, f"boxes[{i}]")
        if gt_arr.shape[0] == 0:
            raise ValueError(f"boxes[{i}] must hold at least one box; got shape (0, 4)")
        height, width = cam.shape
        if (gt_arr[:, 2] >= width).any() or (gt_arr[:, 3] >= height).any():
            msg = f"boxes[{i}] must lie inside its cam of (H, W) {cam.shape}; got {gt_arr.tolist()}"
            raise ValueError(msg)
        quantized.append(_check_quantized(cam, f"cams[{i}]") if cam.dtype == np.uint8 else quantize_cam(cam))
        gts.append(gt_arr)
    return quantized, gts, flags


def _box_accuracy_update(
    quantized_maps: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    thresholds: np.ndarray,
    multi_contour: bool,
    iou_cuts: np.ndarray,
    correct: np.ndarray | None = None,
    keep_other_mode: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of correct images per (δ, t) for one batch.

    ``hits[d, j] = #{i : max IoU(boxes of q_i at thresholds[j], boxes[i]) >= iou_cuts[d]}`` with the boxes
    of :func:`~wsl.metrics.boxes.cam_to_boxes`; ``top1_hits`` counts the same over the images whose
    ``correct`` flag is True (all zeros without flags).

    Args:
        quantized_maps: N uint8 (H_i, W_i) maps ``quantize_cam(cam_i)``.
        boxes: N int64 (K_i, 4) inclusive xyxy GT boxes, checked (K_i >= 1, inside the map).
        thresholds: (T,) CAM thresholds in [0, 1).
        multi_contour: every contour's box (MaxBoxAccV2) or only the largest contour's (MaxBoxAcc).
        iou_cuts: (D,) IoU cuts δ/100.
        correct: optional (N,) bool, whether the top-1 class of image i is right.
        keep_other_mode: the other contour mode will be asked for on the same maps next; compute both in
            one pass and keep the other (see :func:`~wsl.metrics.boxes.best_ious_many`).

    Returns:
        ``(hits, top1_hits)``, two (D, T) int64 arrays.
    """
    hits = np.zeros((len(iou_cuts), len(thresholds)), dtype=np.int64)
    top1_hits = np.zeros_like(hits)
    scored = best_ious_many(quantized_maps, boxes, thresholds, multi_contour, keep_other_mode)
    for i, best in enumerate(scored):
        ok = best[None, :] >= iou_cuts[:, None]
        hits += ok
        if correct is not None and correct[i]:
            top1_hits += ok
    return hits, top1_hits


def _box_accuracy_compute(
    correct,
    total: int,
    top1_correct,
    total_with_class: int,
    thresholds: np.ndarray | torch.Tensor,
    iou_thresholds: Sequence[float],
) -> dict[str, torch.Tensor]:
    """Scores from summed counts: BoxAcc(t, δ) = correct[δ, t] / total, MaxBoxAcc(δ) = max_t BoxAcc(t, δ).

    The reported threshold is the first maximising one; ``maxboxacc_mean`` is the mean over δ
    (MaxBoxAccV2 for δ ∈ {30, 50, 70}). Top-1 Loc is the same on ``top1_correct`` (still divided by
    ``total``), reported when ``total_with_class`` > 0, which must then equal ``total``.

    Args:
        correct: (D, T) int counts (tensor or array).
        total: number of images.
        top1_correct: (D, T) int counts of images also correctly classified.
        total_with_class: number of images that came with a ``correct`` flag.
        thresholds: (T,) CAM thresholds.
        iou_thresholds: the D values δ in percent.

    Returns:
        The dict documented in :meth:`BoxAccuracy.compute`.
    """
    correct = torch.as_tensor(correct)
    top1_correct = torch.as_tensor(top1_correct)
    thresholds = torch.as_tensor(thresholds, dtype=torch.float64)
    out: dict[str, torch.Tensor] = {}

    def fill(prefix: str, counts: torch.Tensor, curve_name: str, thr_name: str) -> None:
        scores = []
        for d, delta in enumerate(iou_thresholds):
            k = _key(delta)
            curve = counts[d].double().cpu() / total if total else torch.full_like(thresholds, math.nan)
            best = int(torch.argmax(curve)) if total else 0
            out[f"{curve_name}{k}"] = curve
            out[f"{prefix}{k}"] = curve[best]
            out[f"{thr_name}{k}"] = thresholds[best]
            scores.append(curve[best])
        out[f"{prefix}mean"] = torch.stack(scores).mean()

    fill("maxboxacc_", correct, "curve_", "threshold_")
    if total_with_class:
        if total_with_class != total:
            raise RuntimeError(
                f"correct was given for {total_with_class} of {total} images; pass it for all images or none"
            )
        fill("top1loc_", top1_correct, "top1loc_curve_", "top1loc_threshold_")
    return out


def box_accuracy(
    cams,
    boxes: Sequence,
    correct: torch.Tensor | None = None,
    *,
    iou_thresholds: Sequence[float] = (30, 50, 70),
    cam_curve_interval: float = 0.01,
    multi_contour: bool = True,
) -> dict[str, torch.Tensor]:
    """BoxAcc curves and MaxBoxAcc of a set of CAMs in one call (:class:`BoxAccuracy` without state).

    An image is correct at (t, δ) if ``max IoU(pred boxes at t, GT boxes) >= δ/100``;
    BoxAcc(t, δ) = correct / images, MaxBoxAcc(δ) = max_t BoxAcc(t, δ), MaxBoxAccV2 = mean over δ.

    Args:
        cams: float (N, H, W) tensor/array or a list of (H_i, W_i) maps at the GT resolution, any scale
            (min–max normalised per map; constant/NaN maps count as zeros); or uint8 maps, taken as
            ``quantize_cam(cam)`` already.
        boxes: list of N int (K_i, 4) GT boxes, 0-based inclusive ``(x0, y0, x1, y1)``, K_i >= 1.
        correct: optional (N,) bool, whether the top-1 class is right (adds the Top-1 Loc keys).
        iou_thresholds: δ values in percent, each in (0, 100].
        cam_curve_interval: threshold grid step; thresholds are ``numpy.arange(0, 1, interval)``.
        multi_contour: every contour's box (V2) or the largest contour's only.

    Returns:
        The dict of :meth:`BoxAccuracy.compute`.

    Example:
        >>> cams = torch.zeros(1, 8, 8); cams[0, 2:4, 3:6] = 1
        >>> float(box_accuracy(cams, [torch.tensor([[3, 2, 6, 4]])])["maxboxacc_mean"])
        1.0
    """
    deltas, thresholds, iou_cuts = _box_accuracy_arg_validation(iou_thresholds, cam_curve_interval)
    quantized, gts, flags = _box_accuracy_format(cams, boxes, correct)
    hits, top1_hits = _box_accuracy_update(quantized, gts, thresholds, bool(multi_contour), iou_cuts, flags)
    total = len(quantized)
    with_class = total if flags is not None else 0
    return _box_accuracy_compute(
        torch.from_numpy(hits), total, torch.from_numpy(top1_hits), with_class, thresholds, deltas
    )


class BoxAccuracy(Metric):
    """BoxAcc curves and MaxBoxAcc over CAM thresholds, exactly as clovaai/wsolevaluation.

    An image is correct at (t, δ) if ``max IoU(pred boxes at t, GT boxes) >= δ/100`` (inclusive-pixel IoU,
    boxes from :func:`wsl.metrics.boxes.cam_to_boxes`). BoxAcc(t, δ) = correct / images and
    MaxBoxAcc(δ) = max_t BoxAcc(t, δ) with the first maximising threshold reported.

    - MaxBoxAcc (CAM, ACoL, ... tables): ``BoxAccuracy(iou_thresholds=(50,), multi_contour=False)``.
    - MaxBoxAccV2: ``BoxAccuracy()`` and its ``maxboxacc_mean`` (mean over δ ∈ {30, 50, 70}).
    - Top-1 Loc (with ``correct``): an image counts only if its top-1 class is also right;
      ``top1loc_δ = max_t`` of that curve (the same max-over-thresholds protocol).

    State: ``correct`` (D, T) and ``top1_correct`` (D, T) counts, ``total`` and ``total_with_class`` —
    all sum-reduced. The counts come from :func:`_box_accuracy_update`, the scores from
    :func:`_box_accuracy_compute` (the same pieces as :func:`box_accuracy`).

    Args:
        iou_thresholds: δ values in percent, each in (0, 100].
        cam_curve_interval: threshold grid step; thresholds are ``numpy.arange(0, 1, interval)``.
        multi_contour: every contour's box (V2) or the largest contour's only.
        keep_other_mode: a BoxAccuracy of the other contour mode is fed the same maps and boxes after this
            one (as the evaluator does with MaxBoxAcc then MaxBoxAccV2): each update computes both modes
            in one pass of the compiled core and keeps the other's results for it. Same scores either way.

    Example:
        >>> metric = BoxAccuracy(iou_thresholds=(50,), multi_contour=False)
        >>> cams = torch.zeros(1, 8, 8); cams[0, 2:4, 3:6] = 1
        >>> metric.update(cams, [torch.tensor([[3, 2, 6, 4]])])
        >>> float(metric.compute()["maxboxacc_50"])
        1.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    correct: torch.Tensor  # add_state's states (nn.Module's attribute typing says Tensor | Module)
    top1_correct: torch.Tensor
    total: torch.Tensor
    total_with_class: torch.Tensor

    def __init__(
        self,
        iou_thresholds: Sequence[float] = (30, 50, 70),
        cam_curve_interval: float = 0.01,
        multi_contour: bool = True,
        keep_other_mode: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        deltas, thresholds, iou_cuts = _box_accuracy_arg_validation(iou_thresholds, cam_curve_interval)
        self.iou_thresholds = deltas
        self.cam_curve_interval = float(cam_curve_interval)
        self.thresholds = thresholds
        self.multi_contour = bool(multi_contour)
        self.keep_other_mode = bool(keep_other_mode)
        self._iou_cut = iou_cuts
        shape = (len(deltas), len(self.thresholds))
        self.add_state("correct", torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("top1_correct", torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total_with_class", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, cams, boxes: Sequence, correct: torch.Tensor | None = None) -> None:
        """Accumulate a batch.

        Args:
            cams: float (N, H, W) tensor at the GT resolution, or a list of N (H_i, W_i) maps; any scale
                (each map is min–max normalised; constant/NaN maps count as zeros). A uint8 map is taken
                as already quantised, ``quantize_cam(cam)`` (SPEC section 3 step 1), and used as is, so
                that two BoxAccuracy metrics fed the same maps normalise them once, not twice.
            boxes: list of N int tensors (K_i, 4), 0-based inclusive ``(x0, y0, x1, y1)``, K_i >= 1.
            correct: optional (N,) bool, whether the top-1 class is right (enables Top-1 Loc).
        """
        quantized, gts, flags = _box_accuracy_format(cams, boxes, correct)
        hits, top1_hits = _box_accuracy_update(
            quantized, gts, self.thresholds, self.multi_contour, self._iou_cut, flags, self.keep_other_mode
        )
        device = self.correct.device
        self.correct += torch.from_numpy(hits).to(device)
        self.total += len(quantized)
        if flags is not None:
            self.top1_correct += torch.from_numpy(top1_hits).to(device)
            self.total_with_class += len(quantized)

    def compute(self) -> dict[str, torch.Tensor]:
        """Scores as fractions in [0, 1].

        Returns:
            dict with, for every δ: ``maxboxacc_δ`` (0-d), ``threshold_δ`` (the first best threshold, 0-d),
            ``curve_δ`` (T,) BoxAcc per threshold; ``maxboxacc_mean``; and, when ``correct`` was given for
            every image, ``top1loc_δ``, ``top1loc_threshold_δ``, ``top1loc_curve_δ`` and ``top1loc_mean``.
            With no image seen every score is NaN.
        """
        return _box_accuracy_compute(
            self.correct,
            int(self.total),
            self.top1_correct,
            int(self.total_with_class),
            self.thresholds,
            self.iou_thresholds,
        )


# ---------------------------------------------------------------- registrations (wsl.metrics.METRICS)


def _maxboxacc_results(metric: Metric, settings: EvalSettings) -> dict[str, float]:
    box = metric.compute()
    out = {"maxboxacc": float(box["maxboxacc_50"]), "maxboxacc_threshold": float(box["threshold_50"])}
    if settings.single_label and "top1loc_50" in box:
        out["top1_loc"] = float(box["top1loc_50"])
    return out


def _update_boxes(metric: Metric, trials: TrialBatch) -> None:
    metric.update(trials.quantized, trials.boxes)


def _update_boxes_top1(metric: Metric, trials: TrialBatch) -> None:
    metric.update(trials.quantized, trials.boxes, correct=trials.correct)


# MaxBoxAcc: IoU 50, the largest contour only (CAM, ACoL, ... tables); Top-1 Loc on single-label data.
# The evaluator feeds MaxBoxAccV2 (registered next) the same maps right after, so MaxBoxAcc keeps the
# every-contour results of its one pass for it (keep_other_mode).
register_metric(
    MetricEntry(
        "maxboxacc",
        ("maxboxacc", "maxboxacc_threshold", "top1_loc"),
        build=lambda s: BoxAccuracy(
            iou_thresholds=(50,),
            cam_curve_interval=s.cam_curve_interval,
            multi_contour=False,
            keep_other_mode=True,
        ),
        update=_update_boxes_top1,
        results=_maxboxacc_results,
        columns=(
            Column("maxboxacc", "MaxBoxAcc", 40, compared=True, selectable=True),
            Column("top1_loc", "Top-1 Loc", 70, selectable=True),
        ),
    )
)
# MaxBoxAccV2: mean over IoU 30/50/70 of the best BoxAcc, every contour's box.
register_metric(
    MetricEntry(
        "maxboxacc_v2",
        ("maxboxacc_v2",),
        build=lambda s: BoxAccuracy(cam_curve_interval=s.cam_curve_interval, multi_contour=True),
        update=_update_boxes,
        results=lambda m, s: {"maxboxacc_v2": float(m.compute()["maxboxacc_mean"])},
        columns=(Column("maxboxacc_v2", "MaxBoxAccV2", 50, compared=True, selectable=True),),
    )
)
