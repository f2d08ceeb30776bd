"""The original image behind a network input: decoded from its file, or the input de-normalised."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from wsl.data.base import read_image
from wsl.data.transforms import denormalize

__all__ = ["OriginalImages"]


class OriginalImages:
    """``image_id → uint8 (H, W, 3)`` RGB original image, for drawing CAMs at the image's own size.

    The image file is found through the dataset's ``records`` (``image_id``, ``image_path``; ``Subset``
    wrappers are looked through). When there is no file, it cannot be read or its size is not the
    expected one, the network input is de-normalised and resized back to the size: blurrier, but always
    available.

    Args:
        dataset: a ``wsl`` dataset, a ``Subset`` of one, or anything else (then every image falls back).

    Example:
        >>> originals = OriginalImages(loader.dataset)  # doctest: +SKIP
        >>> originals("000001", (375, 500), batch["image"][0]).shape  # doctest: +SKIP
        (375, 500, 3)
    """

    def __init__(self, dataset: Any) -> None:
        while hasattr(dataset, "dataset") and not hasattr(dataset, "records"):
            dataset = dataset.dataset
        records = getattr(dataset, "records", None) or []
        self.paths = {str(r.image_id): Path(r.image_path) for r in records if hasattr(r, "image_path")}

    def __call__(self, image_id: str, size: tuple[int, int], network_input: torch.Tensor) -> np.ndarray:
        """The original ``(H, W) = size`` image of ``image_id``, whose network input is ``(3, S, S)``."""
        path = self.paths.get(image_id)
        if path is not None:
            try:
                image = read_image(path)
                if image.shape[:2] == size:
                    return image
            except ValueError:
                pass
        image = denormalize(network_input)
        if image.shape[:2] != size:
            image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        return image
