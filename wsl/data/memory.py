"""Training images decoded once into memory, so that an epoch costs only the augmentation.

On a CPU every JPEG of an epoch costs its decode again (≈1.5 ms at 128 px on the development machine,
against ≈0.1 ms for the augmentation of the decoded pixels), and the loader's worker processes that do
it share the cores with the training (docs/benchmarks.md, "Training speed"). :class:`CachedTrainSet`
decodes and resizes each training image once, to the network side ``S``, keeps them in one
``uint8 (N, 3, S, S)`` tensor and applies the split's training transform to the cached pixels.

The cached pixels are ``round(resize(x))``: exactly the decoded image when it already is ``S × S`` (the
synthetic sets, whose training items are then bit-identical to the per-image path's), within half a grey
level of the per-image path's float resize otherwise. (Applying the augmentation to a whole batch at
once was measured too: a batched ``(B, 3, 3) × (B, 3, S²)`` colour product is 2–4× *slower* than the
per-image ``3 × 3`` products here, so the per-image transform is kept.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from .transforms import _resize

__all__ = ["CACHE_LIMIT_BYTES", "CachedTrainSet", "ResizeToUint8", "cache_bytes", "cache_side"]

#: ``cache_images=None`` (auto) caches a training split only when its pixels fit in this many bytes.
CACHE_LIMIT_BYTES = 2 << 30

log = logging.getLogger(__name__)


def cache_bytes(num_images: int, image_size: int) -> int:
    """Bytes of the ``uint8 (N, 3, S, S)`` cache: ``3 · N · S²``."""
    return 3 * num_images * image_size * image_size


def cache_side(transform: Any) -> int:
    """The side the cache stores for ``transform``: the size its first resize produces (``resize_size``,
    e.g. R = S·256/224 of the ``wsol`` preset, which then crops S), else its output side ``S``; so the
    transform's own resize of a cached image is the identity."""
    return int(getattr(transform, "resize_size", transform.image_size))


class ResizeToUint8:
    """uint8 ``(3, H, W)`` → uint8 ``(3, S, S)``: ``round(resize(x))`` with the transforms' resize
    (the image itself when it already is ``S × S``)."""

    def __init__(self, image_size: int) -> None:
        self.image_size = image_size

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[-2:] == (self.image_size, self.image_size):
            return image
        return _resize(image.float(), self.image_size).round_().clamp_(0, 255).to(torch.uint8)

    def __repr__(self) -> str:
        return f"ResizeToUint8(image_size={self.image_size})"


class CachedTrainSet(torch.utils.data.Dataset):
    """A training split decoded once into memory; items are ``transform(cached uint8 image)``.

    Items have the keys of the per-image training items: ``image`` (float ``(3, S, S)``), ``labels``,
    ``image_id``, ``orig_size``. Building the cache logs one line at INFO (logger ``wsl.data.memory``):
    ``cached N training images in memory (M MiB, T s)``.

    Args:
        dataset: the split's dataset, built with ``transform=ResizeToUint8(S)`` and no annotations.
        transform: the training transform, applied to each cached image when it is read.
        image_size: ``S``.
        threads: decoding threads (the decoders release the GIL).
    """

    def __init__(
        self,
        dataset: Any,
        transform: Callable[[torch.Tensor], torch.Tensor],
        image_size: int,
        threads: int = 2,
    ) -> None:
        self.transform = transform
        n = len(dataset)
        started = time.perf_counter()
        self.images = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8)
        self.labels: list[torch.Tensor] = [torch.empty(0)] * n
        self.image_ids: list[str] = [""] * n
        self.orig_sizes: list[tuple[int, int]] = [(0, 0)] * n

        def load(i: int) -> None:
            item = dataset[i]
            image = item["image"]
            if image.dtype != torch.uint8 or tuple(image.shape) != (3, image_size, image_size):
                raise ValueError(
                    f"dataset: item {i} has image {tuple(image.shape)} {image.dtype}; build the cached "
                    f"split with transform=ResizeToUint8({image_size})"
                )
            self.images[i] = image
            self.labels[i] = item["labels"]
            self.image_ids[i] = item["image_id"]
            self.orig_sizes[i] = tuple(item["orig_size"])

        with ThreadPoolExecutor(max(1, threads)) as pool:
            list(pool.map(load, range(n)))
        log.info(
            "cached %d training images in memory (%.0f MiB, %.1f s)",
            n,
            cache_bytes(n, image_size) / 2**20,
            time.perf_counter() - started,
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "image": self.transform(self.images[index]),
            "labels": self.labels[index],
            "image_id": self.image_ids[index],
            "orig_size": self.orig_sizes[index],
        }
