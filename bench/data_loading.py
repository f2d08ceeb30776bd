"""Synthetic-set generation time and decoded+transformed images/s with 0, 1 and 2 DataLoader workers.

Wall-clock and process-CPU times are both printed, and the load average before each measurement, because
on a shared machine wall time depends on what else runs; CPU seconds per image do not.

    python bench/data_loading.py                      # easy preset (4000 images), both formats
    python bench/data_loading.py --formats voc --images 1000

At benchmark scale (``--scale``, see :mod:`data_loading_scale` beside this file): stand-in JPEGs at the real
sizes of CUB / ImageNet / OpenImages, the wsolevaluation train and eval transforms, images/s per core of
wsl's reader and the alternatives, their pixel differences, and the cores a GPU step rate needs:

    PYTHONPATH=. python bench/data_loading.py --scale --scale-images 60
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from wsl.data import VOCDataset, WSLDataModule, make_synthetic


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_generation(out: Path, fmt: str, preset: str, workers: int | None) -> tuple[float, float]:
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), _cpu()
    make_synthetic(out, fmt, preset, seed=0, num_workers=workers, progress=False)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    print(
        f"generate {preset:>4} {fmt:>4} workers={workers}: {wall:6.1f} s wall, {cpu:6.1f} s CPU, "
        f"load {load:.1f}"
    )
    return wall, cpu


def bench_loading(root: Path, fmt: str, images: int, batch_size: int, image_size: int) -> None:
    for train in (True, False):
        for workers in (0, 1, 2):
            dm = WSLDataModule(
                f"{fmt}:{root}", image_size=image_size, batch_size=batch_size, num_workers=workers
            )
            loader = dm.dataloader(
                "train", with_annotations=not train, shuffle=train, limit=images, train=train
            )
            load = os.getloadavg()[0]
            wall, cpu = time.perf_counter(), _cpu()
            n = sum(len(b["image_id"]) for b in loader)
            wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            kind = "train (labels only)" if train else "eval (with annotations)"
            print(
                f"load {fmt:>4} {kind:<24} workers={workers}: {n / wall:7.0f} img/s wall, "
                f"{1000 * cpu / n:5.2f} ms CPU/img, load {load:.1f}"
            )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="easy")
    p.add_argument("--formats", nargs="+", default=["voc", "coco"])
    p.add_argument("--workers", type=int, default=None, help="generation workers (default: CPU count)")
    p.add_argument("--images", type=int, default=2000, help="images per loading measurement")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--scale", action="store_true", help="the benchmark-scale measurement instead")
    p.add_argument("--scale-images", type=int, default=60, help="stand-ins per dataset with --scale")
    p.add_argument("--scale-repeats", type=int, default=3, help="interleaved repeats with --scale")
    p.add_argument("--step-rate", type=float, default=3000.0, help="GPU images/s to feed with --scale")
    p.add_argument("--scale-datasets", nargs="+", default=["CUB", "ILSVRC", "OpenImages"])
    p.add_argument("--scale-transforms", nargs="+", default=["train", "eval"], choices=["train", "eval"])
    args = p.parse_args(argv)
    if args.scale:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import data_loading_scale

        data_loading_scale.run(
            args.scale_images, args.scale_repeats, args.step_rate, args.scale_datasets, args.scale_transforms
        )
        return
    torch.set_num_threads(1)
    print(
        f"# {datetime.datetime.now().isoformat(timespec='seconds')}  "
        f"{platform.processor() or platform.machine()}"
        f"  cpus={os.cpu_count()}  torch={torch.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats:
            root = Path(tmp) / fmt
            bench_generation(root, fmt, args.preset, args.workers)
            bench_loading(root, fmt, args.images, args.batch_size, args.image_size)
        if "voc" in args.formats:
            wall = time.perf_counter()
            VOCDataset(Path(tmp) / "voc", "train", with_annotations=True)
            print(f"parse voc train split (all XML, existence checks): {time.perf_counter() - wall:.2f} s")


if __name__ == "__main__":
    main()
