"""Shared parts of the readers of image-level layouts (ImageFolder, CSV, CUB_200_2011's own files).

:class:`LabelledImage` is one image as such a layout lists it (its id, file, class indices, boxes if the
layout has any, and the ``file:line`` it came from); :class:`ImageLevelDataset` turns a list of them into
a :class:`~wsl.data.base.WSLDataset` whose labels are the listed classes (not the boxes' classes: an
image-level layout may list no box), so ``single_label`` data keeps its one class. :func:`read_lines`
reads a text file as ``(line number, fields)`` pairs for the ``file:line`` errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .base import DatasetOptions, Record, WSLDataset
from .errors import BadSamples, dataset_error
from .metadata import read_metadata_text

__all__ = ["ImageLevelDataset", "LabelledImage", "read_lines"]


@dataclass
class LabelledImage:
    """One image of an image-level layout.

    Attributes:
        image_id: unique id (the path relative to the root, without suffix for ImageFolder).
        path: the image file.
        classes: class indices of the image (one for single-label layouts).
        where: ``file:line`` (or the folder) it was listed at, for messages.
        boxes: float ``(K, 4)`` 0-based inclusive ``(x0, y0, x1, y1)`` of the image's class, if any.
        box_form: how the layout writes a box, for messages (CUB: ``(x, y, x+w, y+h)``).
    """

    image_id: str
    path: Path
    classes: list[int]
    where: str
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float64))
    box_form: str = "(x, y, x+w, y+h)"


def read_lines(path: Path, sep: str | None, what: str, fix: str) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of the non-blank lines of ``path`` split on ``sep`` (None: whitespace),
    read as UTF-8 with or without a byte-order mark (:func:`~wsl.data.metadata.read_metadata_text`).

    Raises:
        DatasetError: the file is missing (naming ``what`` and ``fix``).
    """
    if not path.is_file():
        raise dataset_error(path, what, "file not found", fix)
    out = []
    for number, line in enumerate(read_metadata_text(path).splitlines(), start=1):
        if line.strip():
            out.append((number, [f.strip() for f in (line.split(sep) if sep else line.split())]))
    return out


class ImageLevelDataset(WSLDataset):
    """A :class:`WSLDataset` built from :class:`LabelledImage` entries (see the module docstring).

    Subclasses parse their layout in ``__init__`` and call :meth:`_build`; ``options`` are the fields of
    :class:`~wsl.data.base.DatasetOptions` (``image_size``, ``train``, ``transform``, ``with_annotations``,
    ``single_label``, ``skip_bad``, ``box_policy``), as :class:`~wsl.data.VOCDataset` takes them.
    """

    def __init__(self, class_names: Sequence[str], **options: Any) -> None:
        super().__init__(class_names, DatasetOptions(**options))

    def _build(self, images: Sequence[LabelledImage], what: str) -> None:
        """Records from ``images``, validated by the base class, labels from their classes."""
        bad = BadSamples(self.skip_bad, what)
        records, classes = [], {}
        for image in images:
            k = len(image.boxes)
            records.append(
                Record(
                    image.image_id,
                    image.path,
                    np.round(image.boxes).astype(np.int64).reshape(k, 4),
                    np.full(k, image.classes[0] if image.classes else 0, np.int64),
                    np.zeros(k, bool),
                    box_where=[
                        (f"{image.where} box", f"box {b.tolist()} {image.box_form}") for b in image.boxes
                    ],
                )
            )
            classes[image.image_id] = image.classes
        single = self.single_label
        self.single_label = False  # labels come from the listed classes below, not from the boxes
        try:
            self._finalize(records, bad)
        finally:
            self.single_label = single
        for rec in self.records:
            rec.labels = np.zeros(self.num_classes, np.float32)
            rec.labels[classes[rec.image_id]] = 1.0

    def _load_masks(self, extra: Any, num_objects: int, size: tuple[int, int]) -> tuple[None, None]:
        return None, None
