"""Speed of CAM export (:func:`wsl.jobs.export.export_cams`) against the forward pass alone, in one run.

A freshly initialised model (no training: speed does not depend on the weights) runs over the synthetic
test split twice with the same loader settings:

- baseline: load batches and run the forward pass, nothing else;
- export: :func:`wsl.jobs.export.export_cams` (forward, upsampling, normalising, boxes, overlays, PNGs,
  ``.npz`` files, thumbnails, contact sheet, gallery).

It prints images/s and CAMs/s of both and the export/baseline time ratio (the export overhead), and with
``--profile`` the functions where the export spends its time.

    OMP_NUM_THREADS=1 python bench/export_cams.py --limit 500 --classes present
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import platform
import pstats
import tempfile
import time
from pathlib import Path

import torch

from wsl.data import WSLDataModule
from wsl.jobs.export import CLASS_MODES, export_cams
from wsl.lit import WSLModule


def forward_only(module: WSLModule, loader) -> tuple[int, float]:
    """Images seen and seconds for loading every batch and running the forward pass."""
    started = time.perf_counter()
    count = 0
    with torch.inference_mode():
        for batch in loader:
            module.net(batch["image"])
            count += batch["image"].shape[0]
    return count, time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", default="synthetic", help="data spec (default: the synthetic easy set)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=500, help="images (the synthetic test split has 500)")
    parser.add_argument("--classes", choices=list(CLASS_MODES), default="present")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--backbone", default="regnetx_002")
    parser.add_argument("--pool", default="weldon")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--profile", action="store_true", help="print the top functions of the export")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    dm = WSLDataModule(
        args.data, image_size=args.image_size, batch_size=args.batch_size, num_workers=args.num_workers
    )
    module = WSLModule(
        num_classes=dm.num_classes, class_names=dm.class_names, backbone=args.backbone, pool=args.pool
    )
    module.eval()
    loader = dm.dataloader(args.split, limit=args.limit)
    forward_only(module, dm.dataloader(args.split, limit=min(args.limit, args.batch_size)))  # warm-up

    num, base_s = forward_only(module, loader)
    with tempfile.TemporaryDirectory() as out:
        profiler = cProfile.Profile() if args.profile else None
        if profiler is not None:
            profiler.enable()
        started = time.perf_counter()
        summary = export_cams(module, loader, out, classes=args.classes, threshold=0.5, progress=False)
        export_s = time.perf_counter() - started
        if profiler is not None:
            profiler.disable()
        size_mb = sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file()) / 1e6

    cams = summary["num_cams"]
    print(
        f"# {datetime.date.today()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs visible, "
        f"torch threads {args.threads}, workers {args.num_workers}, torch {torch.__version__}"
    )
    print(
        f"# data {args.data}:{args.split}, {num} images at {args.image_size} px, backbone {args.backbone}, "
        f"pool {args.pool}, batch {args.batch_size}, classes {args.classes}: {cams} CAMs, "
        f"{size_mb:.1f} MB written"
    )
    print("| run | seconds | images/s | CAMs/s | time vs forward |")
    print("|---|---|---|---|---|")
    print(f"| forward only (baseline) | {base_s:.2f} | {num / base_s:.1f} | - | 1.00x |")
    print(
        f"| export_cams | {export_s:.2f} | {summary['num_images'] / export_s:.1f} | {cams / export_s:.1f} | "
        f"{export_s / base_s:.2f}x |"
    )
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return {"images": num, "cams": cams, "forward_s": base_s, "export_s": export_s, "mb": size_mb}


if __name__ == "__main__":
    main()
