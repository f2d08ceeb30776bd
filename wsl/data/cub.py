"""CUB_200_2011's own files, as TS-CAM, SCM, BAS and GenPromp read them: ``cub:ROOT``.

``ROOT`` is the ``CUB_200_2011`` folder:

- ``images.txt``: ``<id> <path>``, the path relative to ``ROOT/images`` (also the image's id in wsl);
- ``image_class_labels.txt``: ``<id> <class>``, classes 1-based (wsl's label is ``class − 1``);
- ``train_test_split.txt``: ``<id> <is_training>`` (1: ``train``, 0: ``test``; the split ``val`` is
  ``test``, as those papers validate on it);
- ``bounding_boxes.txt``: ``<id> <x> <y> <width> <height>`` in pixels, read as the 0-based inclusive box
  ``(x, y, x + width, y + height)`` (rounded), wsolevaluation's conversion (its CUB ``localization.txt``
  holds exactly these numbers), clipped to the image under ``box_policy="clip"``;
- ``classes.txt`` (optional): ``<class> <name>``, the class names in order; else the image folders'
  names.

Every error names the file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import dataset_error
from .formats import DatasetFormat, register_format
from .image_level import ImageLevelDataset, LabelledImage, read_lines
from .metadata import check_relative_name

__all__ = ["CUBDataset", "cub_class_names"]

SPLITS = {"train": "1", "test": "0", "val": "0"}


def _table(root: Path, name: str, width: int, fix: str) -> dict[str, tuple[str, list[str]]]:
    """``{id: (file:line, fields after the id)}`` of a CUB file whose lines have ``width`` fields."""
    path = root / name
    out: dict[str, tuple[str, list[str]]] = {}
    for number, fields in read_lines(path, None, name, fix):
        where = f"{path}:{number}"
        if len(fields) != width:
            raise dataset_error(where, name, f"expected {width} fields; got {len(fields)}", fix)
        if fields[0] in out:
            raise dataset_error(where, name, f"image id {fields[0]} is listed twice", "keep one line per id")
        out[fields[0]] = (where, fields[1:])
    return out


def cub_class_names(root: Path, split: str = "train") -> list[str]:
    """``classes.txt``'s names in class order, else the folder of each class's first image."""
    root = Path(root)
    if (root / "classes.txt").is_file():
        rows = _table(root, "classes.txt", 2, "write '<class> <name>' per line")
        return [fields[0] for _, (_, fields) in sorted(rows.items(), key=lambda kv: int(kv[0]))]
    paths = _table(root, "images.txt", 2, "write '<id> <path>' per line")
    labels = _table(root, "image_class_labels.txt", 2, "write '<id> <class>' per line")
    folders: dict[int, str] = {}
    for image_id, (_, (path,)) in paths.items():
        if image_id in labels:
            folders.setdefault(int(labels[image_id][1][0]), path.split("/")[0])
    return [folders.get(k, f"class_{k}") for k in range(1, max(folders, default=0) + 1)]


def _box(where: str, fields: list[str]) -> np.ndarray:
    try:
        x, y, w, h = (float(v) for v in fields)
    except ValueError:
        raise dataset_error(
            where, "bounding box", f"not numbers: {fields}", "write '<id> <x> <y> <w> <h>'"
        ) from None
    if w < 0 or h < 0:
        raise dataset_error(where, "bounding box", f"negative size {w:g}x{h:g}", "write a non-negative size")
    return np.array([[x, y, x + w, y + h]])


class CUBDataset(ImageLevelDataset):
    """CUB_200_2011's own layout (module docstring); ``box_policy`` as :class:`~wsl.data.WSOLDataset`'s,
    ``options`` as :class:`~wsl.data.VOCDataset`'s (``image_size``, ``with_annotations`` ...)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        class_names: Sequence[str] | None = None,
        box_policy: str = "clip",
        **options: Any,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split: got {split!r}; CUB_200_2011 has {sorted(SPLITS)} (val is test)")
        self.root = Path(root)
        names = list(class_names) if class_names is not None else cub_class_names(self.root, split)
        super().__init__(names, box_policy=box_policy, **options)
        with_annotations = self.with_annotations
        paths = _table(self.root, "images.txt", 2, "write '<id> <path>' per line")
        labels = _table(self.root, "image_class_labels.txt", 2, "write '<id> <class>' per line")
        splits = _table(self.root, "train_test_split.txt", 2, "write '<id> <is_training>' per line")
        rows = (
            _table(self.root, "bounding_boxes.txt", 5, "write '<id> <x> <y> <w> <h>'")
            if with_annotations
            else {}
        )
        boxes = {image_id: _box(where, fields) for image_id, (where, fields) in rows.items()}
        images = []
        for image_id, (where, (path,)) in paths.items():
            check_relative_name(path, where, "image path")
            if splits.get(image_id, (where, [""]))[1][0] != SPLITS[split]:
                if image_id not in splits:
                    raise dataset_error(where, "split", f"id {image_id} has no line in train_test_split.txt",
                                        "add '<id> <is_training>'")  # fmt: skip
                continue
            images.append(self._image(image_id, where, path, labels, boxes))
        self._build(images, f"CUBDataset({self.root}, {split!r})")

    def _image(
        self, image_id: str, where: str, path: str, labels: dict, boxes: dict[str, np.ndarray]
    ) -> LabelledImage:
        if image_id not in labels:
            raise dataset_error(where, "class", f"id {image_id} has no line in image_class_labels.txt",
                                "add '<id> <class>'")  # fmt: skip
        label_where, (label,) = labels[image_id]
        if not label.isdigit() or not 1 <= int(label) <= self.num_classes:
            raise dataset_error(label_where, "class", f"{label!r} is not in 1 … {self.num_classes}",
                                "write the 1-based class index")  # fmt: skip
        box = np.zeros((0, 4))
        if boxes:
            if image_id not in boxes:
                raise dataset_error(where, "bounding box", f"id {image_id} has no line in bounding_boxes.txt",
                                    "add '<id> <x> <y> <w> <h>'")  # fmt: skip
            box = boxes[image_id]
        return LabelledImage(path, self.root / "images" / path, [int(label) - 1], where, box)


register_format(DatasetFormat("cub", CUBDataset, cub_class_names))
