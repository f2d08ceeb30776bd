"""Decode + augment throughput at benchmark scale, per core, for wsl's reader and the alternatives.

For each of CUB, ImageNet (ILSVRC) and OpenImages, ``n`` stand-in JPEGs at the real sizes
(:mod:`standin`) go through the wsolevaluation train transform (Resize 256 x 256 -> RandomCrop 224 ->
flip: :class:`wsl.data.transforms.WSOLTrainTransform`) and the eval transform (Resize 224 x 224:
:class:`~wsl.data.transforms.EvalTransform`), each image read by one of:

- ``wsl``: wsl's reader today (``wsl.data.base.read_image``: PIL full decode, ``convert("RGB")``), torch
  resize on float (bilinear, antialiased).
- ``torchvision``: ``torchvision.io.decode_jpeg`` (libjpeg-turbo, full size), the same torch resize.
- ``cv2``: ``cv2.imread`` (full size, BGR -> RGB), the same torch resize.
- ``pil_draft``: PIL with ``draft("RGB", (R, R))``, i.e. libjpeg's DCT-domain downscale by 1/2, 1/4 or 1/8
  while the image stays at least R x R (R = 256 train, 224 eval), then the same torch resize.
- ``pil_draft_pilresize``: the same decode, resized by PIL (``BILINEAR``, which is antialiased) to R x R.
- ``cv2_reduced``: ``cv2.imread`` with ``IMREAD_REDUCED_COLOR_{2,4,8}`` (the largest factor that keeps
  both sides >= R), then the same torch resize.
- ``cv2_reduced_area``: the same decode, resized by ``cv2.resize(INTER_AREA)``.

Rates are images per CPU second of this process (``time.process_time``; one thread: torch and OpenCV set
to 1), i.e. images/s per core, the medians of interleaved repeats (the order of the methods rotates every
repeat). Pixels: each method's eval-transform output (224 x 224, 0-255 float, before the normalisation)
against wsl's, max and mean absolute difference in grey levels. Also wsl's whole train DataLoader (dataset
items + collate, ``num_workers=0``, batch 4) per core. Cores needed = step rate / per-core rate.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import standin
import torch
from PIL import Image

from wsl.data import WSLDataModule
from wsl.data.base import read_image
from wsl.data.transforms import EvalTransform, WSOLTrainTransform

__all__ = ["READERS", "run"]

Reader = Callable[[Path, int], torch.Tensor]


def _chw(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


def _wsl(path: Path, side: int) -> torch.Tensor:
    return _chw(read_image(path))


def _torchvision(path: Path, side: int) -> torch.Tensor:
    import torchvision.io as tio

    return tio.decode_jpeg(tio.read_file(str(path)), mode=tio.ImageReadMode.RGB)


def _cv2(path: Path, side: int) -> torch.Tensor:
    return _chw(cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))


def _draft(path: Path, side: int) -> Image.Image:
    im = Image.open(path)
    im.draft("RGB", (side, side))
    return im.convert("RGB")


def _pil_draft(path: Path, side: int) -> torch.Tensor:
    with _draft(path, side) as im:
        return _chw(np.asarray(im))


def _pil_draft_pilresize(path: Path, side: int) -> torch.Tensor:
    with _draft(path, side) as im:
        return _chw(np.asarray(im.resize((side, side), Image.BILINEAR)))


_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _reduced(path: Path, side: int) -> np.ndarray:
    with Image.open(path) as im:  # header only
        w, h = im.size
    factor = max(f for f in _REDUCED if min(w, h) // f >= side or f == 1)
    return cv2.cvtColor(cv2.imread(str(path), _REDUCED[factor]), cv2.COLOR_BGR2RGB)


def _cv2_reduced(path: Path, side: int) -> torch.Tensor:
    return _chw(_reduced(path, side))


def _cv2_reduced_area(path: Path, side: int) -> torch.Tensor:
    return _chw(cv2.resize(_reduced(path, side), (side, side), interpolation=cv2.INTER_AREA))


#: name → reader(path, side R of the resize that follows) → uint8 (3, H, W).
READERS: dict[str, Reader] = {
    "wsl": _wsl,
    "torchvision": _torchvision,
    "cv2": _cv2,
    "pil_draft": _pil_draft,
    "pil_draft_pilresize": _pil_draft_pilresize,
    "cv2_reduced": _cv2_reduced,
    "cv2_reduced_area": _cv2_reduced_area,
}


def _timed(reader: Reader, paths: list[Path], transform, side: int) -> tuple[float, float]:
    """(CPU s, wall s) of reading and transforming every path once."""
    gen = torch.Generator().manual_seed(0)
    c0, t0 = time.process_time(), time.perf_counter()
    for path in paths:
        image = reader(path, side)
        if isinstance(transform, WSOLTrainTransform):
            span = transform.resize_size - transform.image_size + 1
            top, left = (int(v) for v in torch.randint(span, (2,), generator=gen))
            transform.apply(image, {"top": top, "left": left, "hflip": bool(top % 2)})
        else:
            transform(image)
    return time.process_time() - c0, time.perf_counter() - t0


def _pixels(reader: Reader, path: Path, size: int) -> torch.Tensor:
    image = reader(path, size).float()
    if image.shape[-2:] != (size, size):
        image = torch.nn.functional.interpolate(
            image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0]
    return image


def _loader_rate(spec: str, batches: int) -> float:
    data = WSLDataModule(
        spec, image_size=224, batch_size=32, num_workers=0, augment="wsol", single_label=True
    )
    data.setup("fit")
    loader = iter(data.train_dataloader())
    next(loader)
    count, c0 = 0, time.process_time()
    for _ in range(batches):
        batch = next(loader, None)
        if batch is None:
            break
        count += len(batch["image"])
    return count / (time.process_time() - c0)


def run(
    n: int,
    repeats: int,
    step_rate: float,
    datasets: list[str] | None = None,
    kinds: list[str] | None = None,
) -> None:
    """Print the Markdown tables of ``datasets`` (default all three); ``kinds`` of transform timed
    (default ``train`` and ``eval``; the pixel differences are always the eval transform's)."""
    kinds = kinds or ["train", "eval"]
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if "model name" in line), "?")
    print(
        f"# {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}  {cpu}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; torch {torch.__version__}, "
        f"opencv {cv2.__version__}, PIL {Image.__version__ if hasattr(Image, '__version__') else '?'}; "
        f"{n} images per dataset, {repeats} interleaved repeats, one thread"
    )
    every = {"train": (WSOLTrainTransform(224), 256), "eval": (EvalTransform(224), 224)}
    transforms = {k: every[k] for k in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in datasets or list(standin.DATASETS):
            root = Path(tmp) / dataset
            spec = standin.write_wsol_split(root, dataset, n, num_classes=4)
            paths = sorted((root / "images").glob("*.jpg"))
            npix = sum(Image.open(p).size[0] * Image.open(p).size[1] for p in paths)
            nbytes = sum(p.stat().st_size for p in paths)
            print(
                f"\n## {dataset}: {n} stand-ins, mean {npix / n / 1e3:.0f} kpixel, "
                f"{nbytes / npix:.2f} bytes/pixel (load {os.getloadavg()[0]:.1f})\n"
            )
            ref = [_pixels(_wsl, p, 224) for p in paths]
            diffs = {}
            for name, reader in READERS.items():
                d = torch.stack(
                    [(_pixels(reader, p, 224) - r).abs() for p, r in zip(paths, ref, strict=True)]
                )
                diffs[name] = (
                    d.max().item(),
                    d.mean().item(),
                    torch.quantile(d.flatten()[::97], 0.999).item(),
                )
            cpu_s: dict[tuple[str, str], list[float]] = {}
            names = list(READERS)
            for r in range(repeats):
                order = names[r % len(names) :] + names[: r % len(names)]
                for kind, (transform, side) in transforms.items():
                    for name in order:
                        c, _ = _timed(READERS[name], paths, transform, side)
                        cpu_s.setdefault((kind, name), []).append(c)
            loader = statistics.median(_loader_rate(spec, 4) for _ in range(repeats))
            print(
                f"| reader | train img/s/core | eval img/s/core | {kinds[0]} vs wsl "
                "| max abs diff | mean abs diff | p99.9 diff |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|")

            def rate(kind: str, name: str, cpu_s: dict = cpu_s) -> float:
                return n / statistics.median(cpu_s[(kind, name)]) if (kind, name) in cpu_s else math.nan

            base = rate(kinds[0], "wsl")
            for name in names:
                tr, ev = rate("train", name), rate("eval", name)
                mx, mean, p999 = diffs[name]
                print(
                    f"| {name} | {tr:.0f} | {ev:.0f} | {rate(kinds[0], name) / base:.2f}x "
                    f"| {mx:.1f} | {mean:.3f} | {p999:.2f} |"
                )
            print(
                "| wsl train DataLoader (items + collate, workers 0, batch 4) "
                f"| {loader:.0f} | | {loader / base:.2f}x | | | |"
            )
            best = max(rate(kinds[0], k) for k in names)
            print(
                f"\nCores to feed {step_rate:.0f} images/s: wsl's DataLoader {step_rate / loader:.1f}, "
                f"wsl's reader + transform {step_rate / base:.1f}, fastest reader {step_rate / best:.1f} "
                f"(per-core rates; {platform.machine()})"
            )
