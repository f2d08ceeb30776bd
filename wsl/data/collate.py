"""Batch collation for WSL items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["collate_wsl"]

_STACKED = ("image", "labels")


def collate_wsl(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Collate dataset items into a batch.

    Stacks ``image`` → ``(B, 3, S, S)``, ``labels`` → ``(B, C)`` and ``orig_size`` → int64 ``(B, 2)``
    (rows ``(H, W)``); every other key (``image_id``, ``boxes``, ``box_labels``, ``difficult``, ``masks``,
    ``ignore`` and, from a dataset that keeps them, the originals ``pixels``) becomes a list of length
    ``B``, since their shapes differ per image. Annotation-only
    items (``with_images=False``) have no ``image``, and neither has their batch.

    Example:
        >>> loader = DataLoader(dataset, batch_size=8, collate_fn=collate_wsl)  # doctest: +SKIP
    """
    if len(batch) == 0:
        raise ValueError("batch: got an empty sequence; expected at least one item")
    out: dict[str, Any] = {}
    for key in batch[0]:
        values = [item[key] for item in batch]
        if key in _STACKED:
            out[key] = torch.stack(values)
        elif key == "orig_size":
            out[key] = torch.as_tensor([tuple(v) for v in values], dtype=torch.int64).reshape(-1, 2)
        else:
            out[key] = values
    return out
