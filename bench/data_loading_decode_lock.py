"""The cost of the JPEG decoders' warning lock: building the in-memory cache's images with 1 and 2 threads,
decoding through the deprecated wrapper under one lock (the code before) or through torchvision's op
directly (``wsl.data.images.jpeg_op``, the code now).

``N`` stand-in JPEGs at CUB's real sizes (``bench/standin.py``) are read as the in-memory cache reads them
(:class:`wsl.data.memory.CachedTrainSet`'s ``load``: ``read_rgb_image`` then ``ResizeToUint8(S)``) in a
``ThreadPoolExecutor`` of T threads. Arms, interleaved over ``--repeats`` rounds (the order rotates each
round): ``locked`` (``warnings.catch_warnings`` + ``torchvision.io.decode_jpeg`` under one lock, the
``quiet_decoder`` of before, reproduced here) and ``direct`` (the library's decoder now), each with 1 and
2 threads. Per arm: the median wall and process CPU (user + system) seconds, images/s of wall; and the
pixels of both decoders compared element by element over all N images.

    python bench/data_loading_decode_lock.py --n 200 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standin import write_standins  # noqa: E402

import wsl.data.images as images  # noqa: E402
from wsl.data.memory import ResizeToUint8  # noqa: E402

_LOCK = threading.Lock()
_DEPRECATION = r"The image decoding and encoding capabilities of TorchVision are deprecated"


def locked_decoder(data: np.ndarray) -> np.ndarray | None:
    """The decoder before: the public wrapper inside a process-wide warning scope held under one lock."""
    import torchvision.io as tio

    try:
        with _LOCK, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_DEPRECATION, category=DeprecationWarning)
            image = tio.decode_jpeg(torch.from_numpy(data), mode=tio.ImageReadMode.UNCHANGED)
    except (RuntimeError, ValueError):
        return None
    if image.ndim != 3 or image.shape[0] != 3:
        return None
    return np.ascontiguousarray(image.permute(1, 2, 0).numpy())


ARMS = {"locked": locked_decoder, "direct": images._torchvision_jpeg}


def build(paths: list[Path], decoder, threads: int, side: int) -> tuple[float, float, torch.Tensor]:
    """The cache's images of ``paths`` read with ``decoder``: (wall s, CPU s, the (N, 3, S, S) images)."""
    images._fast_jpeg_decoder = lambda: decoder  # the reader's fast path, as _fast_jpeg_pixels looks it up
    resize = ResizeToUint8(side)
    out = torch.empty((len(paths), 3, side, side), dtype=torch.uint8)

    def load(i: int) -> None:
        pixels = images.read_rgb_image(paths[i])[0]
        out[i] = resize(torch.from_numpy(pixels).permute(2, 0, 1))

    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(load, range(len(paths))))
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main(argv: list[str] | None = None) -> dict:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--n", type=int, default=200, help="stand-in JPEGs at CUB's real sizes")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--side", type=int, default=224, help="the cache's image side S")
    parser.add_argument("--dataset", default="CUB")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the cache's threads are the parallelism measured
    load = os.getloadavg()[0]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="wsl-decode-lock-") as tmp:
        paths, bpp = write_standins(Path(tmp), args.dataset, args.n)
        arms = [(name, t) for t in (1, 2) for name in ARMS]
        times: dict[str, list[tuple[float, float]]] = {f"{n} T={t}": [] for n, t in arms}
        pixels = {}
        for r in range(args.repeats):
            for name, threads in arms[r % len(arms) :] + arms[: r % len(arms)]:
                wall, cpu, out = build(paths, ARMS[name], threads, args.side)
                times[f"{name} T={threads}"].append((wall, cpu))
                pixels.setdefault(name, out)
        equal = bool(torch.equal(pixels["locked"], pixels["direct"]))
    rows = {
        key: {
            "wall_s": round(statistics.median(w for w, _ in v), 3),
            "cpu_s": round(statistics.median(c for _, c in v), 3),
            "images_per_s": round(args.n / statistics.median(w for w, _ in v), 1),
        }
        for key, v in times.items()
    }
    report = {"n": args.n, "bytes_per_pixel": round(bpp, 3), "load_before": round(load, 1), "rows": rows}
    report["load_after"] = round(os.getloadavg()[0], 1)
    report["pixels_equal"] = equal
    print(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
