"""CAM → boxes and box IoU, exactly as clovaai/wsolevaluation computes them (SPEC section 3).

Everything here is a pure numpy/OpenCV function on one (H, W) CAM; the torchmetrics classes in
:mod:`wsl.metrics.boxacc` only accumulate counts produced by these functions. This module also wraps the
compiled core (``_cam_levels``, with an OpenCV fallback) and owns the thread pool that scores the maps of
a batch in parallel (:func:`best_ious_many`).

The rule (wsolevaluation's ``compute_bboxes_from_scoremaps``, quirks included):

1. ``cam`` is min–max normalised in float64 (a constant or non-finite map becomes zeros),
   ``q = uint8(trunc(cam · 255))``.
2. At threshold ``t`` the cut level is ``int(t · max(q))`` and the foreground is ``q > level`` (strict;
   this is ``cv2.threshold(..., THRESH_BINARY)`` on the uint8 map).
3. Contours come from ``cv2.findContours(fg, RETR_TREE, CHAIN_APPROX_SIMPLE)`` (outer borders of the
   8-connected foreground components and the borders of their holes).
4. A contour with ``cv2.boundingRect`` ``(x, y, w, h)`` gives the box
   ``(x, y, min(x + w, W − 1), min(y + h, H − 1))`` — one pixel wider and taller than the object
   except at the image border. No contour gives ``(0, 0, 0, 0)``.
5. Single-contour mode keeps the contour of largest ``cv2.contourArea``, the first on ties in OpenCV's
   list order — outer borders are listed in *reverse* raster order of their first pixel, so of two equal
   blobs the lower (or, on one row, the right) one wins; multi-contour mode keeps every contour's box.

Boxes are ``(x0, y0, x1, y1)``, 0-based, inclusive, as int64 arrays ``(K, 4)``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import cv2
import numpy as np

from wsl.metrics.normalize import normalize_cam, quantize_cam

_cam_levels: ModuleType | None
try:  # the compiled core (setup.py builds it; without a C compiler the OpenCV path below is used)
    from wsl.metrics import _cam_levels
except ImportError:  # pragma: no cover - exercised only on installs without the extension
    _cam_levels = None

__all__ = [
    "normalize_cam",
    "quantize_cam",
    "cam_thresholds",
    "cam_to_boxes",
    "quantized_to_boxes",
    "box_iou_inclusive",
    "best_ious_per_threshold",
    "check_boxes",
    "best_ious_many",
    "set_scoring_threads",
]

_EMPTY_BOX = np.zeros((1, 4), dtype=np.int64)


def cam_thresholds(cam_curve_interval: float = 0.01) -> np.ndarray:
    """The CAM threshold grid ``numpy.arange(0, 1, cam_curve_interval)`` (float64), as wsolevaluation.

    Args:
        cam_curve_interval: grid step in (0, 1).

    Returns:
        (T,) float64 array.

    Example:
        >>> cam_thresholds(0.25).tolist()
        [0.0, 0.25, 0.5, 0.75]
    """
    interval = float(cam_curve_interval)
    if not 0.0 < interval < 1.0:
        raise ValueError(f"cam_curve_interval must be in (0, 1); got {cam_curve_interval!r}")
    return np.arange(0, 1, interval)


def _check_thresholds(thresholds) -> np.ndarray:
    thr = np.asarray(thresholds, dtype=np.float64)
    if thr.ndim != 1 or thr.size == 0:
        raise ValueError(f"thresholds must be a non-empty 1-D sequence; got shape {thr.shape}")
    if not np.isfinite(thr).all() or (thr < 0).any() or (thr >= 1).any():
        raise ValueError(f"thresholds must lie in [0, 1); got min {thr.min()!r}, max {thr.max()!r}")
    return thr


def check_boxes(boxes, name: str = "boxes") -> np.ndarray:
    """Validate integer boxes and return them as an int64 ``(K, 4)`` array.

    Boxes are ``(x0, y0, x1, y1)``, 0-based pixel coordinates, inclusive (the box covers
    ``(x1 − x0 + 1) · (y1 − y0 + 1)`` pixels), with ``0 <= x0 <= x1`` and ``0 <= y0 <= y1``. Float
    arrays are accepted when every value is a whole number; one box ``(4,)`` becomes ``(1, 4)``.
    ``K = 0`` is allowed here (callers that need a box check it).

    Args:
        boxes: (K, 4) or (4,) numpy array, torch tensor or nested sequence.
        name: the argument's name, for the error messages.

    Returns:
        (K, 4) int64 array.

    Example:
        >>> check_boxes([1, 2, 3, 4]).tolist()
        [[1, 2, 3, 4]]
    """
    if hasattr(boxes, "detach"):
        boxes = boxes.detach().cpu().numpy()
    arr = np.asarray(boxes)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must be (K, 4) xyxy boxes; got shape {arr.shape}")
    if (
        arr.size
        and not np.issubdtype(arr.dtype, np.integer)
        and (not np.issubdtype(arr.dtype, np.floating) or not np.array_equal(arr, np.floor(arr)))
    ):
        raise ValueError(f"{name} must hold integer pixel coordinates; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise ValueError(f"{name} coordinates must be non-negative; got {arr[(arr < 0).any(1)][0].tolist()}")
    if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
        bad = arr[(arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])][0].tolist()
        raise ValueError(f"{name} must be (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0; got {bad}")
    return arr


_check_boxes = check_boxes  # the historical private name


def _contour_boxes(contours, height: int, width: int, dx: int = 0, dy: int = 0) -> np.ndarray:
    """Boxes ``(x, y, min(x + w, W − 1), min(y + h, H − 1))`` of contours traced with offset (dx, dy).

    ``cv2.boundingRect`` of a point set is ``(min x, min y, max x − min x + 1, max y − min y + 1)``, so
    ``x + w = max x + 1``. Many contours are handled with ``reduceat`` over their concatenation.
    """
    if len(contours) <= 16:
        rects = np.array([cv2.boundingRect(c) for c in contours], dtype=np.int64).reshape(-1, 4)
        box = np.empty_like(rects)
        box[:, 0] = rects[:, 0] + dx
        box[:, 1] = rects[:, 1] + dy
        box[:, 2] = box[:, 0] + rects[:, 2]
        box[:, 3] = box[:, 1] + rects[:, 3]
    else:
        pts = np.concatenate(contours).reshape(-1, 2)
        starts = np.zeros(len(contours), dtype=np.int64)
        np.cumsum([len(c) for c in contours[:-1]], out=starts[1:])
        lo = np.minimum.reduceat(pts, starts, axis=0)
        hi = np.maximum.reduceat(pts, starts, axis=0)
        box = np.stack([lo[:, 0] + dx, lo[:, 1] + dy, hi[:, 0] + dx + 1, hi[:, 1] + dy + 1], axis=1)
        box = box.astype(np.int64)
    np.minimum(box[:, 2], width - 1, out=box[:, 2])
    np.minimum(box[:, 3], height - 1, out=box[:, 3])
    return box


def _largest_contour(contours):
    # Python's max(key=...) keeps the first maximal element, as wsolevaluation's max(contours, key=...).
    return max(contours, key=cv2.contourArea)


def cam_to_boxes(cam, threshold: float, multi_contour: bool = True) -> np.ndarray:
    """Boxes of a CAM at one threshold, the straightforward way (one ``findContours`` call).

    Rule (see the module docstring): ``q = uint8(trunc(norm(cam)·255))``, foreground ``q > int(t·max q)``,
    ``RETR_TREE`` contours, box ``(x, y, min(x+w, W−1), min(y+h, H−1))``; single-contour mode keeps the
    largest ``contourArea`` (first on ties); no contour gives ``(0, 0, 0, 0)``.

    Args:
        cam: (H, W) map (numpy or torch), any scale; it is normalised here.
        threshold: t in [0, 1).
        multi_contour: every contour's box (MaxBoxAccV2) or only the largest contour's (MaxBoxAcc).

    Returns:
        (K, 4) int64 boxes ``(x0, y0, x1, y1)``, inclusive, K >= 1.

    Example:
        >>> cam = np.zeros((8, 8)); cam[2:4, 3:6] = 1
        >>> cam_to_boxes(cam, 0.5).tolist()
        [[3, 2, 6, 4]]
    """
    return quantized_to_boxes(quantize_cam(cam), threshold, multi_contour)


def quantized_to_boxes(quantized, threshold: float, multi_contour: bool = True) -> np.ndarray:
    """Boxes of an already quantised map at one threshold: :func:`cam_to_boxes` from its step 2 on.

    ``cam_to_boxes(cam, t) == quantized_to_boxes(quantize_cam(cam), t)`` by definition; the CAM pipeline's
    :attr:`wsl.cam.CamBatch.quantized` maps are such maps, so pictures and predictions take their boxes
    from the maps the metrics score instead of quantising again. Foreground ``q > int(t · max q)``.

    Args:
        quantized: (H, W) uint8 map ``quantize_cam(cam)`` (numpy or CPU torch).
        threshold: t in [0, 1).
        multi_contour: every contour's box (MaxBoxAccV2) or only the largest contour's (MaxBoxAcc).

    Returns:
        (K, 4) int64 boxes ``(x0, y0, x1, y1)``, inclusive, K >= 1.

    Raises:
        ValueError: a map that is not a 2-D uint8 array (pass a float map to :func:`cam_to_boxes`).

    Example:
        >>> q = np.zeros((8, 8), np.uint8); q[2:4, 3:6] = 255
        >>> quantized_to_boxes(q, 0.5).tolist()
        [[3, 2, 6, 4]]
    """
    thr = _check_thresholds([threshold])
    q = np.asarray(quantized.detach().cpu() if hasattr(quantized, "detach") else quantized)
    if q.dtype != np.uint8 or q.ndim != 2:
        raise ValueError(
            f"quantized must be a 2-D uint8 map (quantize_cam's output); got dtype {q.dtype}, "
            f"shape {q.shape}. Fix: pass a float map to cam_to_boxes instead"
        )
    height, width = q.shape
    level = int(thr[0] * np.max(q))
    fg = (q > level).astype(np.uint8)
    contours = cv2.findContours(fg, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return _EMPTY_BOX.copy()
    if not multi_contour:
        contours = [_largest_contour(contours)]
    return _contour_boxes(contours, height, width)


def box_iou_inclusive(boxes_a, boxes_b) -> np.ndarray:
    """Pairwise IoU of inclusive integer boxes, as wsolevaluation's ``calculate_multiple_iou``.

    area = (x1 − x0 + 1)(y1 − y0 + 1); inter = max(0, min x1 − max x0 + 1) · max(0, min y1 − max y0 + 1);
    IoU = inter / (area_a + area_b − inter) in float64 (0 where that denominator is <= 0).

    Args:
        boxes_a: (A, 4) int boxes ``(x0, y0, x1, y1)``, 0-based, inclusive (see :func:`check_boxes`).
        boxes_b: (B, 4) int boxes, same convention.

    Returns:
        (A, B) float64 IoUs.

    Example:
        >>> box_iou_inclusive([[0, 0, 1, 1]], [[1, 1, 2, 2]]).tolist()
        [[0.14285714285714285]]
    """
    a = check_boxes(boxes_a, "boxes_a")
    b = check_boxes(boxes_b, "boxes_b")
    return _iou(a, b)


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.maximum(0, ix1 - ix0 + 1) * np.maximum(0, iy1 - iy0 + 1)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    denom = area_a[:, None] + area_b[None, :] - inter
    bad = denom <= 0
    iou = inter / np.where(bad, 1, denom)
    iou[bad] = 0.0
    return iou


def best_ious_per_threshold(cam, gt_boxes, thresholds, multi_contour: bool = True) -> np.ndarray:
    """Best IoU between the CAM's boxes and the GT boxes at every threshold, computed fast and exactly.

    ``out[i] = max over predicted boxes p at thresholds[i] and GT boxes g of IoU(p, g)``, with the boxes of
    :func:`cam_to_boxes`. Identical to calling :func:`cam_to_boxes` per threshold (the tests compare both
    paths below with that on thousands of maps), but thresholds only matter through their cut level
    ``int(t · max q)``, and the foreground ``q > L`` is ``q >= v`` for the smallest value v above L, so at
    most 255 distinct foregrounds exist whatever the number of thresholds. Two paths compute them:

    - **compiled** (``wsl/metrics/_cam_levels.c``, built by ``pip install``): one union-find pass over
      the pixels in decreasing value gives every level's 8-connected components, one in increasing value
      every level's 4-connected holes. RETR_TREE's boxes are exactly the component boxes and the hole
      boxes grown by one pixel; single-contour mode's ``contourArea`` of a component's outer border is
      ``Σ_windows max(0, k − 2) / 2`` over 2×2 windows of the component with its holes filled, kept
      incrementally with the component's Euler number telling when holes need filling. About 1 ms per
      224×224 CAM for any number of thresholds;
    - **OpenCV** (the fallback when the extension is not built): one ``findContours`` per distinct
      foreground on its bounding crop (``RETR_EXTERNAL`` in single-contour mode: the largest RETR_TREE
      contour, first on ties, is always an outermost one), with boxes and IoUs vectorised.

    Args:
        cam: (H, W) map (numpy or torch), any scale; it is normalised here.
        gt_boxes: (K, 4) int boxes ``(x0, y0, x1, y1)``, inclusive, K >= 1.
        thresholds: (T,) thresholds in [0, 1), e.g. :func:`cam_thresholds`.
        multi_contour: as in :func:`cam_to_boxes`.

    Returns:
        (T,) float64 best IoUs.

    Example:
        >>> cam = np.zeros((8, 8)); cam[2:4, 3:6] = 1
        >>> best_ious_per_threshold(cam, [[3, 2, 6, 4]], [0.0, 0.5]).tolist()
        [1.0, 1.0]
    """
    thr = _check_thresholds(thresholds)
    gt = check_boxes(gt_boxes, "gt_boxes")
    if gt.shape[0] == 0:
        raise ValueError("gt_boxes must hold at least one box; got shape (0, 4)")
    q = quantize_cam(cam)
    return _best_ious_quantized(q, gt, thr, multi_contour)


def _best_ious_quantized(
    q: np.ndarray, gt: np.ndarray, thr: np.ndarray, multi_contour: bool, keep_other_mode: bool = False
) -> np.ndarray:
    """Best IoU per threshold of the uint8 map ``q``: the compiled one-pass core when it is built.

    ``keep_other_mode`` (compiled core only): also compute the other contour mode in the same pass and keep
    it in :data:`_OTHER_MODE` for the next request of that mode on the same map and boxes.
    """
    if int(q.max()) == 0:  # empty foreground at every threshold: the box (0, 0, 0, 0)
        return np.repeat(_iou(_EMPTY_BOX, gt).max(), thr.shape[0])
    if _cam_levels is None:
        return _best_ious_quantized_opencv(q, gt, thr, multi_contour)
    return _best_ious_quantized_compiled(q, gt, thr, multi_contour, keep_other_mode)


class _OtherModeMemo:
    """Per-value results of the contour mode nobody asked for yet, kept for the caller that will.

    One pass of the compiled core gives both contour modes (:func:`_per_value_compiled`); MaxBoxAcc
    (largest contour) and MaxBoxAccV2 (every contour) are fed the same maps one after the other, so the
    first keeps the second's results here and the second takes them instead of running the core again.
    Keys are exact: the contour mode, the map's shape and bytes and the GT boxes' bytes, so a hit is the
    same input (no hashing shortcut). An entry is removed when taken; the oldest entries are dropped
    beyond ``max_bytes`` (keys included), so a caller that never asks for the other mode costs a bounded
    amount of memory, never a growing one. Thread-safe (the scoring pool fills and reads it).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def key(q: np.ndarray, gt: np.ndarray, multi_contour: bool) -> tuple:
        return (bool(multi_contour), q.shape, q.tobytes(), gt.tobytes())

    @staticmethod
    def _size(key: tuple, per_value: np.ndarray) -> int:
        return len(key[2]) + len(key[3]) + per_value.nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key: tuple, per_value: np.ndarray) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= self._size(key, old)
            self._entries[key] = per_value
            self._bytes += self._size(key, per_value)
            while self._bytes > self.max_bytes and self._entries:
                dropped_key, dropped = self._entries.popitem(last=False)
                self._bytes -= self._size(dropped_key, dropped)

    def take(self, key: tuple) -> np.ndarray | None:
        with self._lock:
            per_value = self._entries.pop(key, None)
            if per_value is not None:
                self._bytes -= self._size(key, per_value)
            return per_value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0


#: The other contour mode's per-value results, bounded at 64 MiB (about 1,300 maps of 224 x 224).
_OTHER_MODE = _OtherModeMemo(64 << 20)


def _per_value_compiled(
    q: np.ndarray, gt: np.ndarray, multi_contour: bool, keep_other_mode: bool
) -> np.ndarray:
    """Best IoU at the foreground ``q >= v`` for v = 0..255 (``wsl/metrics/_cam_levels.c``), one mode.

    Taken from :data:`_OTHER_MODE` when an earlier call kept it; with ``keep_other_mode`` both modes come
    from one call of the core (one sort, one foreground union-find) and the other mode is kept there.
    """
    q = np.ascontiguousarray(q, dtype=np.uint8)
    gt = np.ascontiguousarray(gt, dtype=np.int64)
    if len(_OTHER_MODE):
        kept = _OTHER_MODE.take(_OTHER_MODE.key(q, gt, multi_contour))
        if kept is not None:
            return kept
    height, width = q.shape
    # An extension built before best_ious_per_value_both existed (rebuild it: pip install -e . or
    # python setup.py build_ext --inplace) still gives the same numbers, one mode per call.
    if not keep_other_mode or not hasattr(_cam_levels, "best_ious_per_value_both"):
        raw = _cam_levels.best_ious_per_value(q, height, width, gt, bool(multi_contour))
        return np.frombuffer(raw, dtype=np.float64)
    both = np.frombuffer(_cam_levels.best_ious_per_value_both(q, height, width, gt), dtype=np.float64)
    single, multi = both[:256], both[256:]
    _OTHER_MODE.put(_OTHER_MODE.key(q, gt, not multi_contour), single if multi_contour else multi)
    return multi if multi_contour else single


def _best_ious_quantized_compiled(
    q: np.ndarray, gt: np.ndarray, thr: np.ndarray, multi_contour: bool, keep_other_mode: bool = False
) -> np.ndarray:
    """All levels in one union-find pass over the pixels sorted by value (``wsl/metrics/_cam_levels.c``).

    The core returns, for every value v in 1..max q, the best IoU at the foreground ``q >= v``; the
    threshold t cuts at level ``L = int(t · max q)``, whose foreground ``q > L`` is ``q >= L + 1``.
    Needs ``max q >= 1`` (the caller handles the all-zero map).
    """
    qmax = int(q.max())
    per_value = _per_value_compiled(q, gt, multi_contour, keep_other_mode)
    levels = (thr * qmax).astype(np.int64)  # == int(t * max q): t >= 0, so truncation is floor
    return per_value[levels + 1]


def _best_ious_quantized_opencv(
    q: np.ndarray, gt: np.ndarray, thr: np.ndarray, multi_contour: bool
) -> np.ndarray:
    """One ``cv2.findContours`` per distinct foreground, on its bounding crop (the fallback path)."""
    height, width = q.shape
    qmax = int(q.max())
    levels = (thr * qmax).astype(np.int64)  # == int(t * max q): t >= 0, so truncation is floor
    present = np.flatnonzero(np.bincount(q.ravel(), minlength=256))
    # Foreground q > L == q >= (smallest present value above L); levels sharing it share everything.
    key = np.searchsorted(present, levels, side="right")
    uniq, inverse = np.unique(key, return_inverse=True)
    row_max = q.max(axis=1)
    col_max = q.max(axis=0)
    # Single-contour mode only needs the outermost contours: a hole's border lies inside its parent's
    # outer border (area <=) and comes after it, and an island in a hole is smaller still, so the first
    # largest contour of RETR_TREE is always the first largest of RETR_EXTERNAL (checked in the tests).
    mode = cv2.RETR_TREE if multi_contour else cv2.RETR_EXTERNAL
    all_boxes = []
    counts = np.empty(len(uniq), dtype=np.int64)
    for j, k in enumerate(uniq):
        value = int(present[k])  # level < qmax, so a present value above it exists
        rows = row_max >= value
        cols = col_max >= value
        y0, y1 = int(rows.argmax()), height - int(rows[::-1].argmax())
        x0, x1 = int(cols.argmax()), width - int(cols[::-1].argmax())
        fg = cv2.threshold(q[y0:y1, x0:x1], value - 1, 1, cv2.THRESH_BINARY)[1]
        contours = cv2.findContours(fg, mode, cv2.CHAIN_APPROX_SIMPLE)[0]
        if not multi_contour and len(contours) > 1:
            contours = [_largest_contour(contours)]
        boxes = _contour_boxes(contours, height, width, dx=x0, dy=y0)
        all_boxes.append(boxes)
        counts[j] = boxes.shape[0]
    boxes = np.concatenate(all_boxes)
    per_box = _iou(boxes, gt).max(axis=1)
    starts = np.zeros(len(uniq), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    per_level = np.maximum.reduceat(per_box, starts)
    return per_level[inverse.ravel()]


# One pool per process, created on first use by best_ious_many and kept for the process's life (its
# threads idle between batches); only this wrapper of the compiled core uses it. A forked child has
# none of the parent's threads, so it forgets the parent's pool (and the memo's lock, which a parent
# thread may have held at the fork) and builds its own on first use.
_POOL: ThreadPoolExecutor | None = None
#: Threads of this process's pool; None: one per CPU the process may run on (up to 8). See
#: :func:`set_scoring_threads`.
_THREADS: int | None = None


def _scoring_pool(workers: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(workers, 8), thread_name_prefix="wsl-boxes")
    return _POOL


def _forget_pool_after_fork() -> None:
    global _POOL
    _POOL = None
    _OTHER_MODE._lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def set_scoring_threads(threads: int | None) -> None:
    """Set how many threads :func:`best_ious_many` scores the maps of a batch on, in this process.

    The evaluator's worker processes (:mod:`wsl.evaluation_workers`) split the CPUs between them:
    N processes each on ``max(1, CPUs // N)`` threads, instead of N pools of one thread per CPU. The
    results do not depend on it (each map is scored alone; the counts are summed in input order).

    Args:
        threads: a count >= 1 (at most 8 are started), or None for the default (one per CPU, up to 8).

    Raises:
        ValueError: ``threads`` is not None or an int >= 1.
    """
    global _THREADS, _POOL
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"set_scoring_threads: threads must be an int >= 1 or None; got {threads!r}")
    if threads != _THREADS and _POOL is not None:
        _POOL.shutdown(wait=True)
        _POOL = None
    _THREADS = threads


def _scoring_threads() -> int:
    if _THREADS is not None:
        return _THREADS
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def best_ious_many(
    quantized_maps: Sequence[np.ndarray],
    boxes: Sequence[np.ndarray],
    thresholds: np.ndarray,
    multi_contour: bool,
    keep_other_mode: bool = False,
) -> Iterator[np.ndarray]:
    """The best IoU per threshold of every uint8 map, in order, on one thread per CPU (up to 8; see
    :func:`set_scoring_threads`).

    The compiled core and OpenCV release the GIL, so the maps of a batch are scored in parallel; the
    results come back in input order and are summed in that order, so the counts do not depend on it.

    Args:
        quantized_maps: N uint8 (H_i, W_i) maps ``quantize_cam(cam_i)``.
        boxes: N int64 (K_i, 4) checked GT boxes (K_i >= 1, inside the map).
        thresholds: (T,) CAM thresholds in [0, 1).
        multi_contour: every contour's box, or only the largest contour's.
        keep_other_mode: the caller will ask for the other contour mode on the same maps and boxes next
            (MaxBoxAcc then MaxBoxAccV2): compute both in one pass of the compiled core and keep the
            other (at most 64 MiB, taken by that call). Same results either way.

    Returns:
        An iterator of N (T,) float64 arrays: ``max IoU(boxes of q_i at thresholds[j], boxes[i])``.
    """
    workers = _scoring_threads()
    pairs = list(zip(quantized_maps, boxes, strict=True))

    def score(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return _best_ious_quantized(pair[0], pair[1], thresholds, multi_contour, keep_other_mode)

    if len(pairs) < 2 or workers < 2:
        return map(score, pairs)
    return _scoring_pool(workers).map(score, pairs)
