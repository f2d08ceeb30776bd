"""Pixel average precision (PxAP) of CAMs against masks, exactly as wsolevaluation's ``MaskEvaluator``.

SPEC section 3. torchmetrics' split: ``_pxap_format``, ``_pxap_update`` (one batch → histograms),
``_pxap_compute`` (summed histograms → AP, :func:`pxap_from_histograms`), the one-shot :func:`pxap` and
the :class:`PxAP` ``Metric``. (The module is not called ``pxap``: that is the function's name in
``wsl.metrics``.) Registered in :data:`wsl.metrics.METRICS` as ``pxap`` (scored only on trials with
real masks; absent from the results when no mask was seen).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from torchmetrics import Metric

from wsl.metrics._inputs import _map_list, _same_shapes, _to_numpy
from wsl.metrics.boxes import cam_thresholds
from wsl.metrics.normalize import _check_normalized, normalize_cam
from wsl.metrics.registry import Column, EvalSettings, MetricEntry, TrialBatch, register_metric

__all__ = ["PxAP", "pxap", "pxap_from_histograms"]


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


# ---------------------------------------------------------------- registration (wsl.metrics.METRICS)


def _update_masked(metric: Metric, trials: TrialBatch) -> None:
    """Only the trials with real masks (box-only trials have no pixel ground truth)."""
    with_mask = [p for p, has in enumerate(trials.has_mask) if has]
    if not with_mask:
        return
    ignore = [trials.ignore[p] for p in with_mask]
    metric.update(
        [trials.cams[p] for p in with_mask],
        [trials.masks[p] for p in with_mask],
        ignore=None if all(ig is None for ig in ignore) else ignore,
        normalized=True,
    )


def _pxap_results(metric: Metric, settings: EvalSettings) -> dict[str, float]:
    # Every rank computes PxAP (it synchronises under DDP); NaN means no rank saw a mask.
    with warnings.catch_warnings():  # box-only data never updates PxAP; that is expected
        warnings.filterwarnings("ignore", message=".*compute.* was called before .*update")
        value = float(metric.compute())
    return {} if math.isnan(value) else {"pxap": value}


register_metric(
    MetricEntry(
        "pxap",
        ("pxap",),
        build=lambda s: PxAP(cam_curve_interval=s.cam_curve_interval),
        update=_update_masked,
        results=_pxap_results,
        columns=(Column("pxap", "PxAP", 60, compared=True, selectable=True),),
    )
)
