"""End-to-end speed of scoring saved CAMs (``tools/evaluate.py --cams``) against the straightforward loop.

Both sides read the same ``.npz`` CAM files of a split and score MaxBoxAcc (largest contour, IoU 50) and
MaxBoxAccV2 (all contours, IoU 30/50/70) of every (image, ground-truth class) trial:

- *straightforward*: wsolevaluation's way, per CAM: load it, min–max normalise, and for every threshold
  threshold the uint8 map and run ``cv2.findContours`` on the whole map (``bench/metrics.py``), once per
  contour mode;
- *wsl*: :func:`wsl.jobs.evaluate.evaluate_cams`, the whole tool from the data spec to the results (annotation
  parsing, file reading, the CAM pipeline, MaxBoxAcc, MaxBoxAccV2, PxAP and the pointing game).

The two give the same MaxBoxAcc and MaxBoxAccV2 (checked before the ratio is printed). Prints wall time,
CAMs/s and the ratio wsl / straightforward measured in the same run.

    python tools/export_cams.py --ckpt runs/synthetic-weldon/checkpoints/best.ckpt --out /tmp/cams \
        --classes present --sheet-size 0
    OMP_NUM_THREADS=1 python bench/evaluate_pipeline.py --cams /tmp/cams/cams --data synthetic --split test

Without a trained model, ``--make-cams DIR`` writes maps derived from the ground-truth masks (blurred,
with noise) for every image of the split and scores those; ``--feature-size 16`` adds the noise on a
16x16 map upsampled bilinearly, as a stride-8 network's CAM (per-pixel noise gives thousands of tiny
contours, which slow the per-threshold loop far more than wsl: not what exported CAMs look like).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from wsl.cam.files import SavedCams
from wsl.data import WSLDataModule
from wsl.evaluation import image_trials
from wsl.jobs.evaluate import evaluate_cams
from wsl.metrics import cam_thresholds

_spec = importlib.util.spec_from_file_location("bench_metrics", Path(__file__).with_name("metrics.py"))
assert _spec is not None and _spec.loader is not None
_bench_metrics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench_metrics)
straightforward_best_ious = _bench_metrics.straightforward_best_ious


def make_cams(data: WSLDataModule, split: str, out: Path, seed: int = 0, feature: int = 0) -> Path:
    """Blurred, noisy ground-truth masks as ``<image_id>.npz`` (one float16 map per present class).

    ``feature`` > 0: as a network's CAM, the blurred mask is averaged down to ``feature`` x ``feature``,
    the noise added there, and the map upsampled bilinearly to the image size (smooth, few contours);
    0: per-pixel noise at the image size (many tiny contours, far slower for the per-threshold loop).
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    loader = data.dataloader(split, with_images=False, batch_size=1)
    for batch in loader:
        for i in range(len(batch["image_id"])):
            maps = {}
            for trial in image_trials(batch, i):
                mask = trial.mask.numpy().astype(np.float32)
                blurred = cv2.GaussianBlur(mask, (0, 0), sigmaX=4.0)
                if feature:
                    low = cv2.resize(blurred, (feature, feature), interpolation=cv2.INTER_AREA)
                    low = low + rng.normal(0, 0.05, low.shape).astype(np.float32)
                    size = (mask.shape[1], mask.shape[0])
                    maps[data.class_names[trial.class_index]] = cv2.resize(
                        low, size, interpolation=cv2.INTER_LINEAR
                    )
                else:
                    maps[data.class_names[trial.class_index]] = blurred + rng.normal(0, 0.05, mask.shape)
            np.savez(
                out / f"{batch['image_id'][i]}.npz", **{k: v.astype(np.float16) for k, v in maps.items()}
            )
    return out


def straightforward(cam_dir: Path, data: WSLDataModule, split: str, interval: float) -> dict[str, float]:
    """MaxBoxAcc and MaxBoxAccV2 the wsolevaluation way (file reading included)."""
    thresholds = cam_thresholds(interval)
    folder = SavedCams(cam_dir, data.class_names)
    single = np.zeros(len(thresholds), np.int64)
    multi = np.zeros((3, len(thresholds)), np.int64)
    total = 0
    for batch in data.dataloader(split, with_images=False):
        for i in range(len(batch["image_id"])):
            trials = image_trials(batch, i)
            if not trials:
                continue
            size = tuple(int(s) for s in batch["orig_size"][i])
            maps = folder.maps(batch["image_id"][i], [t.class_index for t in trials], size)
            for trial, cam in zip(trials, maps.numpy(), strict=True):
                gt = trial.boxes.numpy()
                single += straightforward_best_ious(cam, gt, thresholds, False) >= 0.5
                best = straightforward_best_ious(cam, gt, thresholds, True)
                multi += best[None, :] >= np.array([0.3, 0.5, 0.7])[:, None]
                total += 1
    return {
        "maxboxacc": float(single.max() / total),
        "maxboxacc_v2": float((multi.max(axis=1) / total).mean()),
        "num_cams": total,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--cams", type=Path, help="folder of <image_id>.npz CAMs (an export's cams/)")
    source.add_argument("--make-cams", type=Path, help="write mask-derived CAMs here and score them")
    parser.add_argument(
        "--feature-size", type=int, default=0, help="--make-cams: noise on a FxF map upsampled (0: per pixel)"
    )
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--split", default="test")
    parser.add_argument("--intervals", default="0.01,0.001")
    parser.add_argument("--repeat", type=int, default=1, help="wsl runs per interval (the minimum is kept)")
    parser.add_argument("--num-workers", type=int, default=0, help="wsl's loader workers")
    args = parser.parse_args(argv)

    data = WSLDataModule(args.data, num_workers=0, batch_size=32)
    cam_dir = args.cams or make_cams(data, args.split, args.make_cams, feature=args.feature_size)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; CAMs: {cam_dir}"
    )
    rows = []
    for interval in (float(x) for x in args.intervals.split(",")):
        started = time.perf_counter()
        slow = straightforward(cam_dir, data, args.split, interval)
        slow_s = time.perf_counter() - started
        fast_s = float("inf")
        for _ in range(max(1, args.repeat)):
            started = time.perf_counter()
            results = evaluate_cams(cam_dir, data=args.data, split=args.split, cam_curve_interval=interval,
                                    num_workers=args.num_workers, progress=False)["results"]  # fmt: skip
            fast_s = min(fast_s, time.perf_counter() - started)
        for key in ("maxboxacc", "maxboxacc_v2"):
            if abs(results[key] - slow[key]) > 1e-12:
                raise SystemExit(f"{key} differs: wsl {results[key]} vs straightforward {slow[key]}")
        n = slow["num_cams"]
        row = {"interval": interval, "num_cams": n, "straightforward_s": slow_s, "wsl_s": fast_s,
               "num_workers": args.num_workers}  # fmt: skip
        rows.append(row)
        print(
            f"interval {interval:g}: {n} CAMs; straightforward {slow_s:.2f} s ({n / slow_s:.0f} CAMs/s), "
            f"wsl evaluate --cams {fast_s:.2f} s ({n / fast_s:.0f} CAMs/s): {slow_s / fast_s:.1f}x "
            f"(MaxBoxAcc {100 * results['maxboxacc']:.1f}, MaxBoxAccV2 {100 * results['maxboxacc_v2']:.1f})"
        )
    return rows


if __name__ == "__main__":
    main()
