"""Localization metrics, torchmetrics style: a functional core plus ``Metric``s with sum-reduced state.

SPEC section 3. Every metric is split the way torchmetrics splits its own:

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

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torchmetrics import Metric

from wsl.metrics.boxes import (
    _best_ious_quantized,
    _check_normalized,
    cam_thresholds,
    check_boxes,
    normalize_cam,
    quantize_cam,
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


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _map_list(maps, name: str, *, boolean: bool = False, quantized: bool = False) -> list[np.ndarray]:
    """Split a (N, H, W) tensor/array or a sequence of (H_i, W_i) maps into a list of 2-D numpy arrays.

    A (N, H, W) tensor crosses to numpy in one piece (one device → host copy for the batch), a list
    of tensors map by map; numpy input is not copied. ``quantized`` also admits uint8 maps.
    """
    if isinstance(maps, (torch.Tensor, np.ndarray)):
        if maps.ndim != 3:
            raise ValueError(f"{name} must be (N, H, W) or a list of (H, W) maps; got {tuple(maps.shape)}")
        items = list(_to_numpy(maps))
    elif isinstance(maps, Sequence) and not isinstance(maps, (str, bytes)):
        items = list(maps)
    else:
        raise ValueError(f"{name} must be a (N, H, W) tensor or a list of (H, W) maps; got {type(maps)}")
    out = []
    for i, m in enumerate(items):
        arr = _to_numpy(m)
        if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValueError(f"{name}[{i}] must be a non-empty 2-D (H, W) map; got shape {arr.shape}")
        if boolean:
            if arr.dtype != np.bool_:
                raise ValueError(f"{name}[{i}] must be a bool mask; got dtype {arr.dtype}")
        elif not np.issubdtype(arr.dtype, np.floating) and not (quantized and arr.dtype == np.uint8):
            accepted = "a floating-point map" + (" or a uint8 map from quantize_cam" if quantized else "")
            raise ValueError(f"{name}[{i}] must be {accepted}; got dtype {arr.dtype}")
        out.append(arr)
    return out


def _flag_vector(flags, n: int, name: str) -> np.ndarray | None:
    if flags is None:
        return None
    arr = _to_numpy(flags)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name} must be a bool tensor of shape ({n},); got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) (one flag per map); got {arr.shape}")
    return arr


def _same_shapes(a: list[np.ndarray], b: list[np.ndarray], name_a: str, name_b: str) -> None:
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same length; got {len(a)} and {len(b)}")
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x.shape != y.shape:
            raise ValueError(f"{name_b}[{i}] must have the shape of {name_a}[{i}] {x.shape}; got {y.shape}")


def _key(delta: float) -> str:
    return f"{delta:g}"


# ---------------------------------------------------------------- BoxAccuracy: functional core


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


_POOL: ThreadPoolExecutor | None = None


def _best_ious_many(
    quantized_maps: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    thresholds: np.ndarray,
    multi_contour: bool,
) -> Iterator[np.ndarray]:
    """``_best_ious_quantized`` of every map, in order, on one thread per CPU.

    The compiled core and OpenCV release the GIL, so the maps of a batch are scored in parallel; the
    results come back in input order and are summed in that order, so the counts do not depend on it.
    """
    global _POOL
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    pairs = list(zip(quantized_maps, boxes, strict=True))

    def score(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return _best_ious_quantized(pair[0], pair[1], thresholds, multi_contour)

    if len(pairs) < 2 or workers < 2:
        return map(score, pairs)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(workers, 8), thread_name_prefix="wsl-boxes")
    return _POOL.map(score, pairs)


def _box_accuracy_update(
    quantized_maps: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    thresholds: np.ndarray,
    multi_contour: bool,
    iou_cuts: np.ndarray,
    correct: np.ndarray | None = None,
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

    Returns:
        ``(hits, top1_hits)``, two (D, T) int64 arrays.
    """
    hits = np.zeros((len(iou_cuts), len(thresholds)), dtype=np.int64)
    top1_hits = np.zeros_like(hits)
    for i, best in enumerate(_best_ious_many(quantized_maps, boxes, thresholds, multi_contour)):
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
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        deltas, thresholds, iou_cuts = _box_accuracy_arg_validation(iou_thresholds, cam_curve_interval)
        self.iou_thresholds = deltas
        self.cam_curve_interval = float(cam_curve_interval)
        self.thresholds = thresholds
        self.multi_contour = bool(multi_contour)
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
            quantized, gts, self.thresholds, self.multi_contour, self._iou_cut, flags
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


# ---------------------------------------------------------------- PxAP: functional core


def pxap_from_histograms(true_hist, false_hist) -> tuple[float, np.ndarray, np.ndarray]:
    """PxAP from score histograms, as wsolevaluation's ``MaskEvaluator.compute`` (without its ×100).

    Bins are ascending ``[t_0, t_1), …, [t_{T−1}, 1), [1, 2), [2, 3]``. Reversed cumulative sums give, for
    the descending thresholds τ_0 = 2, τ_1 = 1, τ_2 = t_{T−1}, …, τ_{T+1} = t_0, TP_k = #{GT pixels with
    cam >= τ_k}, FP_k likewise for background; P_k = TP_k/(TP_k+FP_k), R_k = TP_k/#GT, and
    AP = Σ_{k>=1, TP_k+FP_k>0} P_k (R_k − R_{k−1}) — a right Riemann sum, no interpolation.

    Args:
        true_hist: (T+2,) counts of foreground pixels per bin.
        false_hist: (T+2,) counts of background pixels per bin.

    Returns:
        (ap, precision, recall); ap is NaN when there is no foreground pixel. precision is NaN where
        TP+FP = 0.
    """
    true_hist = np.asarray(true_hist, dtype=np.float64)
    false_hist = np.asarray(false_hist, dtype=np.float64)
    num_true = true_hist.sum()
    tp = true_hist[::-1].cumsum()
    fp = false_hist[::-1].cumsum()
    predicted = tp + fp
    nonzero = predicted != 0
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / predicted
        recall = tp / num_true
    if num_true <= 0:
        return math.nan, precision, recall
    ap = float((precision[1:] * np.diff(recall))[nonzero[1:]].sum())
    return ap, precision, recall


def _pxap_bin_edges(thresholds: np.ndarray) -> np.ndarray:
    """Histogram edges: the threshold grid extended by 1, 2, 3 (wsolevaluation's ``MaskEvaluator``)."""
    return np.append(thresholds, [1.0, 2.0, 3.0])


def _pxap_format(
    cams, masks, ignore=None, normalized: bool = False
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray] | None]:
    """Validate a batch; return the normalised float64 maps, the bool masks and the ignore masks (or None).

    With ``normalized=False`` every map is min–max normalised here (:func:`normalize_cam`); with True it is
    checked to lie in [0, 1] and used as is (cast to float64, no copy when it is float64 already).
    """
    maps = _map_list(cams, "cams")
    gts = _map_list(masks, "masks", boolean=True)
    _same_shapes(maps, gts, "cams", "masks")
    ignores = None
    if ignore is not None:
        ignores = _map_list(ignore, "ignore", boolean=True)
        _same_shapes(maps, ignores, "cams", "ignore")
    if normalized:
        scores = [_check_normalized(cam, f"cams[{i}]") for i, cam in enumerate(maps)]
    else:
        scores = [normalize_cam(cam) for cam in maps]
    return scores, gts, ignores


def _pxap_update(
    scores: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    ignores: Sequence[np.ndarray] | None,
    bin_edges: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Histograms of the normalised scores of mask and background pixels for one batch.

    ``true_hist[b] = #{mask pixels, not ignored, with score in bin b}``, ``false_hist`` likewise for the
    background, with ``numpy.histogram`` bins ``[e_b, e_{b+1})`` (the last one closed).

    Args:
        scores: N float64 (H_i, W_i) maps in [0, 1] (``normalize_cam(cam_i)``).
        masks: N bool (H_i, W_i) foreground masks.
        ignores: N bool (H_i, W_i) masks of pixels not counted, or None.
        bin_edges: (T+3,) edges, :func:`_pxap_bin_edges` of the threshold grid.

    Returns:
        ``(true_hist, false_hist)``, two (T+2,) int64 arrays.
    """
    true_hist = np.zeros(len(bin_edges) - 1, dtype=np.int64)
    false_hist = np.zeros_like(true_hist)
    for i, (score, gt) in enumerate(zip(scores, masks, strict=True)):
        keep = ~ignores[i] if ignores is not None else None
        pos = gt if keep is None else gt & keep
        neg = ~gt if keep is None else ~gt & keep
        true_hist += np.histogram(score[pos], bins=bin_edges)[0]
        false_hist += np.histogram(score[neg], bins=bin_edges)[0]
    return true_hist, false_hist


def _pxap_compute(true_hist, false_hist) -> torch.Tensor:
    """AP = Σ_k P_k (R_k − R_{k−1}) from summed histograms (:func:`pxap_from_histograms`), 0-d float64."""
    ap, _, _ = pxap_from_histograms(_to_numpy(true_hist), _to_numpy(false_hist))
    return torch.tensor(ap, dtype=torch.float64)


def pxap(
    cams, masks, ignore=None, *, cam_curve_interval: float = 0.01, normalized: bool = False
) -> torch.Tensor:
    """Pixel average precision of a set of CAMs in one call (:class:`PxAP` without state).

    Over all non-ignored pixels of all maps, P and R of "score >= τ" for τ on the threshold grid
    extended by 1 and 2; AP = Σ_k P_k (R_k − R_{k−1}), right Riemann sum, no interpolation.

    Args:
        cams: float (N, H, W) or a list of (H_i, W_i) maps, any scale (normalised per map); with
            ``normalized=True``, maps already min–max normalised to [0, 1] (:func:`normalize_cam`).
        masks: bool (N, H, W) or a list of bool (H_i, W_i) ground-truth foreground masks.
        ignore: optional bool masks of the same shapes; those pixels are not counted.
        cam_curve_interval: threshold grid step.
        normalized: whether ``cams`` are normalised already (they are then not normalised again).

    Returns:
        0-d float64 tensor in [0, 1], NaN when no foreground pixel was given.

    Example:
        >>> float(pxap(torch.tensor([[[0.0, 1.0]]]), torch.tensor([[[False, True]]])))
        1.0
    """
    bin_edges = _pxap_bin_edges(cam_thresholds(cam_curve_interval))
    scores, gts, ignores = _pxap_format(cams, masks, ignore, normalized)
    return _pxap_compute(*_pxap_update(scores, gts, ignores, bin_edges))


class PxAP(Metric):
    """Pixel average precision of CAMs against masks, exactly as wsolevaluation's ``MaskEvaluator``.

    Every CAM is min–max normalised (float64) and its pixels are counted into the histogram with edges
    ``numpy.arange(0, 1, interval)`` extended by 1, 2, 3 (``numpy.histogram`` semantics: bins are
    ``[e_i, e_{i+1})``, the last one closed), separately for mask and background pixels; ignore pixels are
    skipped. See :func:`pxap_from_histograms` for AP = Σ_k P_k (R_k − R_{k−1}).

    State: ``true_hist`` and ``false_hist`` (T+2,) counts, sum-reduced, from :func:`_pxap_update`; the AP
    from :func:`_pxap_compute` (the same pieces as :func:`pxap`).

    Args:
        cam_curve_interval: threshold grid step.

    Example:
        >>> metric = PxAP()
        >>> metric.update(torch.tensor([[[0.0, 1.0]]]), torch.tensor([[[False, True]]]))
        >>> float(metric.compute())
        1.0
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False
    true_hist: torch.Tensor  # add_state's states (nn.Module's attribute typing says Tensor | Module)
    false_hist: torch.Tensor

    def __init__(self, cam_curve_interval: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cam_curve_interval = float(cam_curve_interval)
        self.thresholds = cam_thresholds(cam_curve_interval)
        self.bin_edges = _pxap_bin_edges(self.thresholds)
        num_bins = len(self.thresholds) + 2
        self.add_state("true_hist", torch.zeros(num_bins, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("false_hist", torch.zeros(num_bins, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, cams, masks, ignore=None, *, normalized: bool = False) -> None:
        """Accumulate a batch.

        Args:
            cams: float (N, H, W) or a list of (H_i, W_i) maps, any scale (normalised per map).
            masks: bool (N, H, W) or a list of bool (H_i, W_i) ground-truth foreground masks.
            ignore: optional bool masks of the same shapes; those pixels are not counted.
            normalized: True when ``cams`` are already min–max normalised to [0, 1] in float64, e.g. from
                :func:`normalize_cam`: they are then checked to lie in [0, 1] and not normalised again
                (``update(normalize_cam(c), ..., normalized=True)`` equals ``update(c, ...)``).
        """
        scores, gts, ignores = _pxap_format(cams, masks, ignore, normalized)
        true_hist, false_hist = _pxap_update(scores, gts, ignores, self.bin_edges)
        device = self.true_hist.device
        self.true_hist += torch.from_numpy(true_hist).to(device)
        self.false_hist += torch.from_numpy(false_hist).to(device)

    def compute(self) -> torch.Tensor:
        """The AP as a 0-d float64 tensor in [0, 1] (NaN if no foreground pixel was seen)."""
        return _pxap_compute(self.true_hist, self.false_hist)

    def pr_curve(self) -> dict[str, torch.Tensor]:
        """The precision–recall curve behind :meth:`compute`.

        Returns:
            dict with ``thresholds`` (T+2,) descending ``[2, 1, t_{T−1}, …, t_0]``, ``precision`` (NaN where
            nothing is predicted) and ``recall`` at each of them (pixels with cam >= threshold).
        """
        hists = self.true_hist.cpu().numpy(), self.false_hist.cpu().numpy()
        _, precision, recall = pxap_from_histograms(*hists)
        return {
            "thresholds": torch.as_tensor(self.bin_edges[-2::-1].copy()),
            "precision": torch.as_tensor(precision),
            "recall": torch.as_tensor(recall),
        }


# ---------------------------------------------------------------- PointingGame: functional core


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
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int; got {num_classes!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 0:
        raise ValueError(f"tolerance must be a positive number of pixels; got {tolerance!r}")


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
