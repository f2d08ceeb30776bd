"""Evaluation at ImageNet scale: 50,000 CAMs of 224×224 at 1,000 thresholds, in the wsolevaluation frame.

The real ILSVRC ``test`` split of wsolevaluation's metadata (the ImageNet val set: 50,000 images, 80,477
boxes, the real image sizes; ``$WSL_WSOL_METADATA`` or ``../shared/wsolevaluation/metadata``) goes through
wsl's own data pipeline (``wsol:ILSVRC:ROOT:metadata=...``, annotations only, no image decoded: ``ROOT``
holds empty placeholder files where the JPEGs would be) and :class:`wsl.evaluation.LocalizationEvaluator`
with ``protocol="wsolevaluation"`` (boxes rescaled ``int(coord · 224 / size)``, threshold interval 0.001):
MaxBoxAcc (largest contour), MaxBoxAccV2 (every contour, IoU 30/50/70), PxAP (filled boxes) and the
pointing game: the evaluator that ``evaluate --cams --protocol wsolevaluation`` runs, without reading files.

The CAMs are **streamed**: each batch's 224×224 float32 maps are generated when the evaluator asks for
them (a Gaussian blob over the GT box plus one of 32 smooth random fields and per-pixel noise,
deterministic per image) and dropped after scoring, so memory can only grow through the evaluator.
Generation is timed apart and subtracted. At each checkpoint (``--checkpoints``, e.g. 5k, 20k, 50k images)
the script prints the images scored, the scoring wall time and CAMs/s, the process's CPU time for the
scoring (all threads; the robust figure on a shared machine), its current RSS (``VmRSS``) and
its high-water mark (``ru_maxrss``); with ``--tracemalloc`` also the Python/numpy heap's current size and
its peak since the previous checkpoint (tracemalloc slows the run down; leave it off for the timing).

    OMP_NUM_THREADS=1 python bench/evaluate_scale.py --checkpoints 5000,20000,50000

When the full 50,000 are too slow for the machine, run the smaller checkpoints and extrapolate linearly
(the per-CAM time is flat once the pool is warm: see the CAMs/s column).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standin import metadata_dir  # noqa: E402

from wsl.data import WSLDataModule  # noqa: E402
from wsl.data.base import encode_jpeg  # noqa: E402
from wsl.evaluation import LocalizationEvaluator  # noqa: E402

SIDE = 224
FIELDS = 32  # smooth random fields, shared by the generated maps


def placeholder_root(metadata: Path, dataset: str, split: str, root: Path) -> Path:
    """Header-only stand-ins at the image paths of ``image_ids.txt``: one tiny JPEG whose frame header is
    patched to the size ``image_sizes.txt`` lists (the annotation-only loader reads each image's header
    and end marker, never its pixels). About 300 bytes per image."""
    template = encode_jpeg(np.zeros((16, 16, 3), np.uint8))
    sof = template.index(b"\xff\xc0")  # baseline frame header: length(2), precision(1), H(2), W(2)
    lines = (metadata / dataset / split / "image_sizes.txt").read_text().splitlines()
    for line in lines:
        image_id, w, h = line.rsplit(",", 2)
        patched = bytearray(template)
        patched[sof + 5 : sof + 9] = int(h).to_bytes(2, "big") + int(w).to_bytes(2, "big")
        path = root / image_id
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(patched))
    return root


class CamSource:
    """Generated 224×224 CAMs, one per (image, class): ``maps_of`` for ``update_localization``."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        coarse = torch.from_numpy(rng.random((FIELDS, 1, 7, 7)).astype(np.float32))
        self.fields = torch.nn.functional.interpolate(coarse, size=(SIDE, SIDE), mode="bilinear")[:, 0]
        self.grid = torch.arange(SIDE, dtype=torch.float32)
        self.seconds = 0.0  # wall time spent generating
        self.cpu_seconds = 0.0  # process CPU time spent generating (no scoring runs meanwhile)
        self.batch: dict = {}
        self.first = 0  # index of the batch's first image in the split

    def maps_of(self, i: int, classes: list[int]) -> torch.Tensor:
        started, cpu_started = time.perf_counter(), time.process_time()
        h, w = (int(v) for v in self.batch["orig_size"][i])
        x0, y0, x1, y1 = (float(v) for v in self.batch["boxes"][i][0])
        cx, cy = (x0 + x1) / 2 * SIDE / w, (y0 + y1) / 2 * SIDE / h
        sx, sy = max(4.0, (x1 - x0) * SIDE / w / 3), max(4.0, (y1 - y0) * SIDE / h / 3)
        across = torch.exp(-(((self.grid - cx) / sx) ** 2))
        blob = torch.exp(-(((self.grid - cy) / sy) ** 2))[:, None] * across
        index = self.first + i
        gen = torch.Generator().manual_seed(index)
        noise = torch.rand((SIDE, SIDE), generator=gen) * 0.1
        cam = blob + 0.6 * self.fields[index % FIELDS] + noise
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu_started
        return cam.expand(len(classes), SIDE, SIDE)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(args: argparse.Namespace) -> list[dict]:
    checkpoints = sorted(int(x) for x in args.checkpoints.split(","))
    metadata = Path(args.metadata) if args.metadata else metadata_dir()
    with tempfile.TemporaryDirectory(prefix="wsl-evalscale-") as tmp:
        root = placeholder_root(metadata, args.dataset, args.split, Path(tmp))
        spec = f"wsol:{args.dataset}:{root}:metadata={metadata}"
        started = time.perf_counter()
        data = WSLDataModule(spec, batch_size=args.batch_size, num_workers=0, single_label=True)
        loader = data.dataloader(args.split, with_images=False)
        print(f"data spec {args.dataset}/{args.split}: {len(loader.dataset)} images, set up in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        return score(loader, data.num_classes, checkpoints, args)


def score(loader, num_classes: int, checkpoints: list[int], args: argparse.Namespace) -> list[dict]:
    """Feed the evaluator batch by batch; print and return one row per checkpoint."""
    evaluator = LocalizationEvaluator(
        num_classes, single_label=True, cam_curve_interval=args.interval, protocol="wsolevaluation"
    )
    source = CamSource()
    if args.tracemalloc:
        tracemalloc.start()
    rows: list[dict] = []
    seen = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for batch in loader:
        source.batch, source.first = batch, seen
        evaluator.update_localization(batch, source.maps_of)
        seen += len(batch["image_id"])
        if seen >= checkpoints[len(rows)] or seen == len(loader.dataset):
            wall = time.perf_counter() - started - source.seconds
            cpu = time.process_time() - cpu_started - source.cpu_seconds
            rows.append(_checkpoint(seen, wall, cpu, source.seconds, args.tracemalloc))
            if len(rows) == len(checkpoints) or seen == len(loader.dataset):
                break
    results = evaluator.compute()
    print("scores (generated CAMs, not a model's):", json.dumps({k: round(v, 4) for k, v in results.items()}))
    return rows


def _checkpoint(seen: int, wall_s: float, cpu_s: float, generation_s: float, traced: bool) -> dict:
    row = {
        "images": seen,
        "scoring_s": round(wall_s, 2),
        "cams_per_s": round(seen / wall_s, 1),
        "cpu_s": round(cpu_s, 2),
        "cpu_ms_per_cam": round(1000 * cpu_s / seen, 2),
        "generation_s": round(generation_s, 2),
        "rss_mib": round(_rss_mib(), 1),
        "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if traced:
        current, peak = tracemalloc.get_traced_memory()
        row["traced_mib"], row["traced_peak_mib"] = round(current / 2**20, 1), round(peak / 2**20, 1)
        tracemalloc.reset_peak()
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoints", default="5000,20000,50000", help="image counts to report at")
    parser.add_argument("--dataset", default="ILSVRC")
    parser.add_argument("--split", default="test")
    parser.add_argument("--metadata", default=None, help="wsolevaluation's metadata folder")
    parser.add_argument("--interval", type=float, default=0.001, help="CAM threshold step (1,000 thresholds)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tracemalloc", action="store_true", help="also trace the Python/numpy heap")
    args = parser.parse_args(argv)
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, threads {torch.get_num_threads()}"
    )
    return run(args)


if __name__ == "__main__":
    main()
