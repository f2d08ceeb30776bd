"""Speed of the all-thresholds box evaluation: straightforward per-threshold contours vs wsl's two paths.

The straightforward way is wsolevaluation's: for every threshold, threshold the uint8 CAM, run
``cv2.findContours`` on the whole map, take boxes, then one IoU pass. wsl has two paths behind
:func:`wsl.metrics.best_ious_per_threshold`:

- *compiled* (the default when ``wsl.metrics._cam_levels`` is built): one union-find pass over the pixels
  sorted by value gives every level's boxes;
- *OpenCV* (the fallback without a C compiler): one ``findContours`` per distinct uint8 foreground, on
  its bounding crop.

All three give the same numbers (checked here on every CAM before timing). Prints CAMs/s and the ratios
to the straightforward way measured in the same run.

    OMP_NUM_THREADS=1 python bench/metrics.py --num-cams 50
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from wsl.metrics import boxes
from wsl.metrics.boxes import _iou, cam_thresholds, quantize_cam


def straightforward_best_ious(cam, gt: np.ndarray, thresholds: np.ndarray, multi_contour: bool) -> np.ndarray:
    """wsolevaluation's loop: one full-image findContours per threshold, then one IoU pass."""
    q = quantize_cam(cam)
    height, width = q.shape
    boxes, counts = [], []
    for t in thresholds:
        _, fg = cv2.threshold(q, int(t * np.max(q)), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(fg, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            boxes.append([0, 0, 0, 0])
            counts.append(1)
            continue
        if not multi_contour:
            contours = [max(contours, key=cv2.contourArea)]
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            boxes.append([x, y, min(x + w, width - 1), min(y + h, height - 1)])
        counts.append(len(contours))
    per_box = _iou(np.asarray(boxes, dtype=np.int64), gt).max(1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.maximum.reduceat(per_box, starts)


def make_cams(kind: str, num: int, size: int, seed: int) -> list[np.ndarray]:
    """Realistic (7×7 / 14×14 random maps bilinearly upsampled) or noisy (many small contours) CAMs."""
    g = torch.Generator().manual_seed(seed)
    cams = []
    for i in range(num):
        grid = 7 if i % 2 == 0 else 14
        low = torch.rand(1, 1, grid, grid, generator=g) ** 2
        cam = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
        if kind == "noisy":
            cam = cam + 0.6 * torch.rand(size, size, generator=g)
        cams.append(cam.double().numpy())
    return cams


def _time(fn, cams, boxes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for cam, gt in zip(cams, boxes, strict=True):
            fn(cam, gt)
        best = min(best, time.perf_counter() - start)
    return len(cams) / best


def main(argv: list[str] | None = None) -> list[dict]:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--num-cams", type=int, default=40, help="CAMs per setting")
    parser.add_argument("--size", type=int, default=224, help="CAM side in pixels")
    parser.add_argument("--repeat", type=int, default=2, help="timing repeats (best is kept)")
    parser.add_argument("--intervals", type=float, nargs="+", default=[0.01, 0.001])
    parser.add_argument("--kinds", nargs="+", default=["realistic", "noisy"], choices=["realistic", "noisy"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible, one thread, "
        f"cv2 {cv2.__version__}, numpy {np.__version__}, {args.size}x{args.size}, {args.num_cams} CAMs"
    )
    if boxes._cam_levels is None:
        raise SystemExit("wsl.metrics._cam_levels is not built: pip install -e . with a C compiler")
    print(
        "| maps | interval | mode | straightforward CAMs/s | OpenCV path CAMs/s | compiled CAMs/s "
        "| OpenCV path speed-up | compiled speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for kind in args.kinds:
        cams = make_cams(kind, args.num_cams, args.size, args.seed)
        rng = np.random.default_rng(args.seed)
        gts = []
        for _ in cams:
            x0, y0 = rng.integers(0, args.size // 2, 2)
            x1, y1 = rng.integers(args.size // 2, args.size, 2)
            gts.append(np.array([[x0, y0, x1, y1]], dtype=np.int64))
        for interval in args.intervals:
            thr = cam_thresholds(interval)
            for multi in (False, True):

                def slow_fn(c, b, t=thr, m=multi):
                    return straightforward_best_ious(c, b, t, m)

                def opencv_fn(c, b, t=thr, m=multi):
                    return boxes._best_ious_quantized_opencv(quantize_cam(c), b, t, m)

                def compiled_fn(c, b, t=thr, m=multi):
                    return boxes.best_ious_per_threshold(c, b, t, m)

                for cam, gt in zip(cams, gts, strict=True):  # same numbers, or no timing
                    ref = slow_fn(cam, gt)
                    if not all(np.array_equal(ref, fn(cam, gt)) for fn in (opencv_fn, compiled_fn)):
                        raise SystemExit("a fast path disagrees with the straightforward one")
                slow = _time(slow_fn, cams, gts, args.repeat)
                opencv = _time(opencv_fn, cams, gts, args.repeat)
                fast = _time(compiled_fn, cams, gts, args.repeat)
                mode = "multi" if multi else "single"
                row = {
                    "maps": kind,
                    "interval": interval,
                    "mode": mode,
                    "slow": slow,
                    "opencv": opencv,
                    "fast": fast,
                }
                rows.append(row)
                print(
                    f"| {kind} | {interval:g} | {mode} | {slow:.1f} | {opencv:.1f} | {fast:.1f} "
                    f"| {opencv / slow:.1f}x | {fast / slow:.1f}x |",
                    flush=True,
                )
    return rows


if __name__ == "__main__":
    main()
