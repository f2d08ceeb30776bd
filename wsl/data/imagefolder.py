"""Two image-level layouts for training from labels only: ImageFolder and a CSV of labels.

- ``imagefolder:ROOT``: ``ROOT/SPLIT/<class name>/<image>`` (torchvision's ImageFolder per split). Class
  names are the sub-folders of ``ROOT/train`` (else of the split), sorted; one class per image.
- ``csv:ROOT``: ``ROOT/SPLIT.csv`` with one line ``path,label[,label...]`` per image, the path relative to
  ``ROOT`` and the labels class names (several for multi-label data); a first line ``path,label...`` is
  a header. Class names are the labels of ``ROOT/train.csv`` (else of the split), sorted, or
  ``ROOT/classes.txt`` (one name a line, in order) when it exists.

Neither layout has boxes: they are for training (the weakly supervised premise); items have no boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import dataset_error
from .formats import DatasetFormat, register_format
from .image_level import ImageLevelDataset, LabelledImage, read_lines
from .metadata import check_relative_name

__all__ = ["CSVLabelsDataset", "ImageFolderDataset", "csv_class_names", "folder_class_names"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _split_dir(root: Path, split: str) -> Path:
    folder = root / split
    if not folder.is_dir():
        have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise dataset_error(folder, "split", f"folder not found (the root holds {have or 'nothing'})",
                            "make one folder per split holding one folder per class")  # fmt: skip
    return folder


def folder_class_names(root: Path, split: str = "train") -> list[str]:
    """The sorted class folders of ``ROOT/train`` (else of ``ROOT/split``)."""
    root = Path(root)
    folder = root / "train" if (root / "train").is_dir() else _split_dir(root, split)
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not names:
        raise dataset_error(
            folder, "classes", "no class folder", "put each class's images in ROOT/SPLIT/<class>/"
        )
    return names


class ImageFolderDataset(ImageLevelDataset):
    """``ROOT/SPLIT/<class>/<image>`` (module docstring); ``options`` as :class:`~wsl.data.VOCDataset`'s
    (``image_size``, ``train``, ``transform``, ``with_annotations``, ``single_label``, ``skip_bad``)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        class_names: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        self.root = Path(root)
        names = list(class_names) if class_names is not None else folder_class_names(self.root, split)
        super().__init__(names, **options)
        folder = _split_dir(self.root, split)
        images = []
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            if sub.name not in self.class_to_index:
                problem = f"{sub.name!r} is not one of the {len(names)} class names"
                raise dataset_error(sub, "class", problem, f"rename it or pass class_names ({names[:10]})")
            for path in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
                image_id = f"{sub.name}/{path.stem}"
                images.append(LabelledImage(image_id, path, [self.class_to_index[sub.name]], str(sub)))
        if not images:
            raise dataset_error(
                folder, "images", "no image in any class folder", f"add {IMAGE_SUFFIXES} files"
            )
        self._build(images, f"ImageFolderDataset({self.root}, {split!r})")


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    rows = read_lines(path, ",", "labels", "write one 'path,label[,label...]' line per image")
    if rows and rows[0][1][:1] == ["path"]:
        rows = rows[1:]
    for number, fields in rows:
        if len(fields) < 2 or not all(fields):
            problem = f"expected 'path,label[,label...]'; got {fields}"
            raise dataset_error(f"{path}:{number}", "labels", problem, "write the path then 1+ class names")
    return rows


def csv_class_names(root: Path, split: str = "train") -> list[str]:
    """``ROOT/classes.txt`` (in order), else the sorted labels of ``ROOT/train.csv`` (else of the split)."""
    root = Path(root)
    if (root / "classes.txt").is_file():
        return [
            fields[0] for _, fields in read_lines(root / "classes.txt", None, "classes", "one name a line")
        ]
    path = root / "train.csv" if (root / "train.csv").is_file() else root / f"{split}.csv"
    return sorted({label for _, fields in _csv_rows(path) for label in fields[1:]})


class CSVLabelsDataset(ImageLevelDataset):
    """``ROOT/SPLIT.csv`` of ``path,label[,label...]`` (module docstring); arguments as
    :class:`ImageFolderDataset`."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        class_names: Sequence[str] | None = None,
        **options: Any,
    ) -> None:
        self.root = Path(root)
        names = list(class_names) if class_names is not None else csv_class_names(self.root, split)
        super().__init__(names, **options)
        path = self.root / f"{split}.csv"
        images, seen = [], set()
        for number, (name, *labels) in _csv_rows(path):
            where = f"{path}:{number}"
            check_relative_name(name, where, "image path")
            unknown = [lab for lab in labels if lab not in self.class_to_index]
            if unknown:
                raise dataset_error(where, "labels", f"unknown class {unknown[0]!r}",
                                    f"use one of {names[:10]} or add it to classes.txt")  # fmt: skip
            if name in seen:
                raise dataset_error(
                    where, "image path", f"{name!r} is listed twice", "keep one line per image"
                )
            seen.add(name)
            classes = sorted({self.class_to_index[lab] for lab in labels})
            images.append(LabelledImage(name, self.root / name, classes, where))
        if not images:
            raise dataset_error(path, "labels", "no image listed", "write one 'path,label' line per image")
        self._build(images, f"CSVLabelsDataset({self.root}, {split!r})")


register_format(DatasetFormat("imagefolder", ImageFolderDataset, folder_class_names))
register_format(DatasetFormat("csv", CSVLabelsDataset, csv_class_names))
