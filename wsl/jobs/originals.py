"""The original image behind a network input: the batch's decoded pixels, its file, or the input.

A picture sink (the CAM export) draws each image at its original size. The dataset has already decoded
it to make the network input, so :meth:`OriginalImages.carried` asks the dataset to keep that array in
the item (``pixels``, :attr:`wsl.data.WSLDataset.keep_pixels`) while the sink reads the loader: every
image is decoded once. Datasets that cannot carry pixels fall back to decoding the file again, or to
the de-normalised network input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from wsl.data.base import read_image
from wsl.data.transforms import denormalize

__all__ = ["OriginalImages"]


def _records_dataset(dataset: Any) -> Any:
    """The dataset behind ``Subset`` wrappers (the first one with ``records``), or ``dataset`` itself."""
    while hasattr(dataset, "dataset") and not hasattr(dataset, "records"):
        dataset = dataset.dataset
    return dataset


class OriginalImages:
    """``image_id → uint8 (H, W, 3)`` RGB original image, for drawing CAMs at the image's own size.

    In order of preference: the batch's ``pixels`` (the dataset's own decoded array, see
    :meth:`carried`); the image file found through the dataset's ``records`` (``image_id``,
    ``image_path``; ``Subset`` wrappers are looked through), decoded again; the network input
    de-normalised and resized back to the size (blurrier, but always available). A candidate whose
    ``(H, W)`` is not the expected size is passed over.

    Args:
        dataset: a ``wsl`` dataset, a ``Subset`` of one, or anything else (then every image falls back).

    Example:
        >>> originals = OriginalImages(loader.dataset)  # doctest: +SKIP
        >>> with originals.carried():  # doctest: +SKIP
        ...     batch = next(iter(loader))
        >>> originals("000001", (375, 500), batch["image"][0], batch["pixels"][0]).shape  # doctest: +SKIP
        (375, 500, 3)
    """

    def __init__(self, dataset: Any) -> None:
        self.dataset = _records_dataset(dataset)
        records = getattr(self.dataset, "records", None) or []
        self.paths = {str(r.image_id): Path(r.image_path) for r in records if hasattr(r, "image_path")}

    @contextlib.contextmanager
    def carried(self) -> Iterator[bool]:
        """While open, the dataset's items carry ``pixels`` (its decoded originals); yields whether it can.

        Sets :attr:`wsl.data.WSLDataset.keep_pixels` on the dataset (and restores it on exit), so the
        loader must be iterated inside the block: worker processes copy the dataset when an iteration
        starts (persistent workers started earlier keep their copy; their batches then lack ``pixels`` and
        the files are decoded again). Any other dataset is left alone (yields False).
        """
        dataset = self.dataset
        if not hasattr(dataset, "keep_pixels") or not getattr(dataset, "with_images", False):
            yield False
            return
        before = dataset.keep_pixels
        dataset.keep_pixels = True
        try:
            yield True
        finally:
            dataset.keep_pixels = before

    def __call__(
        self,
        image_id: str,
        size: tuple[int, int],
        network_input: torch.Tensor,
        pixels: torch.Tensor | np.ndarray | None = None,
    ) -> np.ndarray:
        """The original ``(H, W) = size`` image of ``image_id``, whose network input is ``(3, S, S)``.

        ``pixels``: the image's decoded ``uint8 (H, W, 3)`` original from the batch, if it carries one.
        """
        if pixels is not None:
            image = np.asarray(pixels)
            if image.shape[:2] == size and image.dtype == np.uint8:
                return image
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
