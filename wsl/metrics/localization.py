"""Localization metrics as torchmetrics ``Metric``s with sum-reduced state (SPEC section 3).

Each class only accumulates counts (per threshold or per histogram bin) computed by the functional core
in :mod:`wsl.metrics.boxes` and the small helpers here; memory does not grow with the number of images
and every state is reduced with ``sum``, so DDP needs no custom gathering.

- :class:`BoxAccuracy`: BoxAcc(t, δ) curves, MaxBoxAcc / MaxBoxAccV2, GT-known and Top-1 Loc
  (clovaai/wsolevaluation's ``BoxEvaluator``).
- :class:`PxAP`: pixel average precision from score histograms (wsolevaluation's ``MaskEvaluator``).
- :class:`PointingGame`: TorchRay's pointing game.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import Metric

from wsl.metrics.boxes import _best_ious_quantized, _check_boxes, cam_thresholds, normalize_cam

__all__ = ["BoxAccuracy", "PxAP", "PointingGame", "pxap_from_histograms", "pointing_hit"]


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _map_list(maps, name: str, *, boolean: bool = False) -> list[np.ndarray]:
    """Split a (N, H, W) tensor/array or a sequence of (H_i, W_i) maps into a list of 2-D numpy arrays."""
    if isinstance(maps, (torch.Tensor, np.ndarray)):
        if maps.ndim != 3:
            raise ValueError(f"{name} must be (N, H, W) or a list of (H, W) maps; got {tuple(maps.shape)}")
        items = list(maps)
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
        elif not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(f"{name}[{i}] must be a floating-point map; got dtype {arr.dtype}")
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
    all sum-reduced.

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

    def __init__(
        self,
        iou_thresholds: Sequence[float] = (30, 50, 70),
        cam_curve_interval: float = 0.01,
        multi_contour: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(iou_thresholds, (int, float)) or not isinstance(iou_thresholds, Sequence):
            raise ValueError(f"iou_thresholds must be a sequence in (0, 100]; got {iou_thresholds!r}")
        deltas = [float(d) for d in iou_thresholds]
        if not deltas or any(not 0 < d <= 100 for d in deltas):
            raise ValueError(f"iou_thresholds must be non-empty, in (0, 100]; got {iou_thresholds!r}")
        if len(set(deltas)) != len(deltas):
            raise ValueError(f"iou_thresholds must be distinct; got {iou_thresholds!r}")
        self.iou_thresholds = tuple(deltas)
        self.cam_curve_interval = float(cam_curve_interval)
        self.thresholds = cam_thresholds(cam_curve_interval)
        self.multi_contour = bool(multi_contour)
        # δ/100 as wsolevaluation writes it (`_THRESHOLD/100`), compared to float64 IoUs.
        self._iou_cut = np.array([d / 100 for d in deltas], dtype=np.float64)
        shape = (len(deltas), len(self.thresholds))
        self.add_state("correct", torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("top1_correct", torch.zeros(shape, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total_with_class", torch.zeros((), dtype=torch.long), dist_reduce_fx="sum")

    def update(self, cams, boxes: Sequence, correct: torch.Tensor | None = None) -> None:
        """Accumulate a batch.

        Args:
            cams: float (N, H, W) tensor at the GT resolution, or a list of N (H_i, W_i) maps; any scale
                (each map is min–max normalised; constant/NaN maps count as zeros).
            boxes: list of N int tensors (K_i, 4), 0-based inclusive ``(x0, y0, x1, y1)``, K_i >= 1.
            correct: optional (N,) bool, whether the top-1 class is right (enables Top-1 Loc).
        """
        maps = _map_list(cams, "cams")
        if isinstance(boxes, torch.Tensor) and boxes.ndim == 3:
            boxes = list(boxes)
        if not isinstance(boxes, Sequence):
            raise ValueError(f"boxes must be a list of (K_i, 4) int tensors; got {type(boxes).__name__}")
        if len(boxes) != len(maps):
            raise ValueError(f"boxes must have one entry per cam; got {len(boxes)} for {len(maps)} cams")
        flags = _flag_vector(correct, len(maps), "correct")
        hits = np.zeros((len(self.iou_thresholds), len(self.thresholds)), dtype=np.int64)
        top1 = np.zeros_like(hits)
        for i, (cam, gt) in enumerate(zip(maps, boxes, strict=True)):
            gt_arr = _to_numpy(gt)
            if gt_arr.size and not np.issubdtype(gt_arr.dtype, np.integer):
                raise ValueError(f"boxes[{i}] must be an integer tensor; got dtype {gt_arr.dtype}")
            gt_arr = _check_boxes(gt_arr, f"boxes[{i}]")
            if gt_arr.shape[0] == 0:
                raise ValueError(f"boxes[{i}] must hold at least one box; got shape (0, 4)")
            height, width = cam.shape
            if (gt_arr[:, 2] >= width).any() or (gt_arr[:, 3] >= height).any():
                msg = f"boxes[{i}] must lie inside its cam of (H, W) {cam.shape}; got {gt_arr.tolist()}"
                raise ValueError(msg)
            q = (normalize_cam(cam) * 255).astype(np.uint8)
            best = _best_ious_quantized(q, gt_arr, self.thresholds, self.multi_contour)
            ok = best[None, :] >= self._iou_cut[:, None]
            hits += ok
            if flags is not None and flags[i]:
                top1 += ok
        device = self.correct.device
        self.correct += torch.from_numpy(hits).to(device)
        self.total += len(maps)
        if flags is not None:
            self.top1_correct += torch.from_numpy(top1).to(device)
            self.total_with_class += len(maps)

    def compute(self) -> dict[str, torch.Tensor]:
        """Scores as fractions in [0, 1].

        Returns:
            dict with, for every δ: ``maxboxacc_δ`` (0-d), ``threshold_δ`` (the first best threshold, 0-d),
            ``curve_δ`` (T,) BoxAcc per threshold; ``maxboxacc_mean``; and, when ``correct`` was given for
            every image, ``top1loc_δ``, ``top1loc_threshold_δ``, ``top1loc_curve_δ`` and ``top1loc_mean``.
            With no image seen every score is NaN.
        """
        total = int(self.total)
        thresholds = torch.as_tensor(self.thresholds, dtype=torch.float64)
        out: dict[str, torch.Tensor] = {}

        def fill(prefix: str, counts: torch.Tensor, curve_name: str, thr_name: str) -> None:
            scores = []
            for d, delta in enumerate(self.iou_thresholds):
                k = _key(delta)
                curve = counts[d].double().cpu() / total if total else torch.full_like(thresholds, math.nan)
                best = int(torch.argmax(curve)) if total else 0
                out[f"{curve_name}{k}"] = curve
                out[f"{prefix}{k}"] = curve[best]
                out[f"{thr_name}{k}"] = thresholds[best]
                scores.append(curve[best])
            out[f"{prefix}mean"] = torch.stack(scores).mean()

        fill("maxboxacc_", self.correct, "curve_", "threshold_")
        with_class = int(self.total_with_class)
        if with_class:
            if with_class != total:
                raise RuntimeError(
                    f"correct was given for {with_class} of {total} images; pass it for all images or none"
                )
            fill("top1loc_", self.top1_correct, "top1loc_curve_", "top1loc_threshold_")
        return out


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


class PxAP(Metric):
    """Pixel average precision of CAMs against masks, exactly as wsolevaluation's ``MaskEvaluator``.

    Every CAM is min–max normalised (float64) and its pixels are counted into the histogram with edges
    ``numpy.arange(0, 1, interval)`` extended by 1, 2, 3 (``numpy.histogram`` semantics: bins are
    ``[e_i, e_{i+1})``, the last one closed), separately for mask and background pixels; ignore pixels are
    skipped. See :func:`pxap_from_histograms` for AP = Σ_k P_k (R_k − R_{k−1}).

    State: ``true_hist`` and ``false_hist`` (T+2,) counts, sum-reduced.

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

    def __init__(self, cam_curve_interval: float = 0.01, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cam_curve_interval = float(cam_curve_interval)
        self.thresholds = cam_thresholds(cam_curve_interval)
        self.bin_edges = np.append(self.thresholds, [1.0, 2.0, 3.0])
        num_bins = len(self.thresholds) + 2
        self.add_state("true_hist", torch.zeros(num_bins, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("false_hist", torch.zeros(num_bins, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, cams, masks, ignore=None) -> None:
        """Accumulate a batch.

        Args:
            cams: float (N, H, W) or a list of (H_i, W_i) maps, any scale (normalised per map).
            masks: bool (N, H, W) or a list of bool (H_i, W_i) ground-truth foreground masks.
            ignore: optional bool masks of the same shapes; those pixels are not counted.
        """
        maps = _map_list(cams, "cams")
        gts = _map_list(masks, "masks", boolean=True)
        _same_shapes(maps, gts, "cams", "masks")
        ignores = None
        if ignore is not None:
            ignores = _map_list(ignore, "ignore", boolean=True)
            _same_shapes(maps, ignores, "cams", "ignore")
        true_hist = np.zeros(len(self.bin_edges) - 1, dtype=np.int64)
        false_hist = np.zeros_like(true_hist)
        for i, (cam, gt) in enumerate(zip(maps, gts, strict=True)):
            scores = normalize_cam(cam)
            keep = ~ignores[i] if ignores is not None else None
            pos = gt if keep is None else gt & keep
            neg = ~gt if keep is None else ~gt & keep
            true_hist += np.histogram(scores[pos], bins=self.bin_edges)[0]
            false_hist += np.histogram(scores[neg], bins=self.bin_edges)[0]
        device = self.true_hist.device
        self.true_hist += torch.from_numpy(true_hist).to(device)
        self.false_hist += torch.from_numpy(false_hist).to(device)

    def compute(self) -> torch.Tensor:
        """The AP as a 0-d float64 tensor in [0, 1] (NaN if no foreground pixel was seen)."""
        ap, _, _ = pxap_from_histograms(self.true_hist.cpu().numpy(), self.false_hist.cpu().numpy())
        return torch.tensor(ap, dtype=torch.float64)

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


def pointing_hit(cam, mask, tolerance: float = 15) -> tuple[bool, tuple[int, int]]:
    """One pointing-game trial (TorchRay's ``PointingGame.evaluate``).

    The point is the argmax of ``cam`` (the first in row-major order on ties; a map with NaN/Inf counts as
    all zeros, so its point is (0, 0)). It is a hit if some mask pixel (y, x) has
    ``(y − py)² + (x − px)² < tolerance²`` (strict).

    Args:
        cam: (H, W) float map.
        mask: (H, W) bool ground-truth mask of the class.
        tolerance: disc radius in pixels, > 0.

    Returns:
        (hit, (px, py)).
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


class PointingGame(Metric):
    """Pointing game (Zhang et al. 2016) with TorchRay's protocol.

    One trial per (image, class present): hit if the CAM's argmax lies strictly within ``tolerance`` px of a
    GT pixel of that class (see :func:`pointing_hit`). Per-class accuracy = hits / (hits + misses);
    ``accuracy`` = mean over classes with at least one trial. TorchRay averages over *all* classes, counting a
    class without trials as 0; that number is ``accuracy_all_classes`` (equal whenever every class has
    trials, as on VOC07 test and COCO val).

    State: ``hits`` and ``misses`` (C,) counts, sum-reduced.

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

    def __init__(self, num_classes: int, tolerance: float = 15, **kwargs) -> None:
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int; got {num_classes!r}")
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 0:
            raise ValueError(f"tolerance must be a positive number of pixels; got {tolerance!r}")
        self.num_classes = num_classes
        self.tolerance = tolerance
        self.add_state("hits", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("misses", torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, cams, masks, classes, difficult=None) -> None:
        """Accumulate trials, one row per (image, class present).

        Args:
            cams: float (P, H, W) or a list of (H_i, W_i) CAMs at the original image size.
            masks: bool (P, H, W) or a list of (H_i, W_i) masks of that class (boxes drawn filled).
            classes: (P,) int class index of each row, in [0, num_classes).
            difficult: optional (P,) bool; True rows are skipped (VOC: every box of that class difficult).
        """
        maps = _map_list(cams, "cams")
        gts = _map_list(masks, "masks", boolean=True)
        _same_shapes(maps, gts, "cams", "masks")
        cls = _to_numpy(classes)
        if cls.shape != (len(maps),):
            raise ValueError(f"classes must have shape ({len(maps)},) (one per cam); got {cls.shape}")
        if cls.size and not np.issubdtype(cls.dtype, np.integer):
            raise ValueError(f"classes must be integer class indices; got dtype {cls.dtype}")
        if cls.size and ((cls < 0).any() or (cls >= self.num_classes).any()):
            raise ValueError(f"classes must lie in [0, {self.num_classes}); got {cls.tolist()}")
        skip = _flag_vector(difficult, len(maps), "difficult")
        hits = np.zeros(self.num_classes, dtype=np.int64)
        misses = np.zeros_like(hits)
        for i, (cam, gt) in enumerate(zip(maps, gts, strict=True)):
            if skip is not None and skip[i]:
                continue
            hit, _ = pointing_hit(cam, gt, self.tolerance)
            (hits if hit else misses)[int(cls[i])] += 1
        self.hits += torch.from_numpy(hits).to(self.hits.device)
        self.misses += torch.from_numpy(misses).to(self.misses.device)

    def compute(self) -> dict[str, torch.Tensor]:
        """Scores as fractions.

        Returns:
            ``{"accuracy": mean over classes with trials (NaN if none), "per_class": (C,) float64 with NaN
            for classes without trials, "accuracy_all_classes": TorchRay's mean over all C classes}``.
        """
        hits = self.hits.double().cpu()
        trials = hits + self.misses.double().cpu()
        per_class = torch.where(trials > 0, hits / trials.clamp(min=1), torch.full_like(hits, math.nan))
        seen = trials > 0
        accuracy = per_class[seen].mean() if bool(seen.any()) else torch.tensor(math.nan, dtype=torch.float64)
        return {
            "accuracy": accuracy,
            "per_class": per_class,
            "accuracy_all_classes": (hits / trials.clamp(min=1)).mean(),
        }
