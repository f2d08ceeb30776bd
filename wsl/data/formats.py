"""The dataset-format registry: each on-disk layout (VOC, COCO, ...) with its reader and its writer.

A format module (``voc.py``, ``coco.py``) defines its :class:`~wsl.data.base.WSLDataset` subclass, a
class-name reader and a :class:`DatasetWriter`, and registers them with one line::

    register_format(DatasetFormat("voc", VOCDataset, default_class_names, VOCWriter))

Adding a format is one such file plus its import in ``wsl/data/__init__.py``; data specs
(``FORMAT:PATH``, ``synthetic:PRESET:FORMAT``), :class:`~wsl.data.WSLDataModule`,
:func:`~wsl.data.make_synthetic` and ``tools/make_synthetic.py`` then accept it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wsl.registry import Registry, unknown_choice

__all__ = [
    "DatasetFormat",
    "DatasetWriter",
    "FORMATS",
    "format_names",
    "get_format",
    "register_format",
    "unknown_choice",
]


class DatasetWriter:
    """Writes annotated images as files of one layout.

    The per-image part, :meth:`write_image`, may run in worker processes (the writer is pickled to
    them): it writes the image's own files and returns a small picklable entry. :meth:`finish` then
    runs once, in the calling process, and writes the split-level files (split lists, JSON) from the
    entries of each split in order.

    Args:
        root: dataset root (created by :meth:`prepare`).
        class_names: ordered class names; ``labels`` index into them.
        info: provenance text, keyed by the format's own field names (a writer uses the keys it knows
            and ignores the others), e.g. VOC ``folder`` / ``database``, COCO ``description`` /
            ``supercategory``.
        category_ids: ids of the classes where the layout stores ids (COCO); default ``1..C``.
        jpeg_quality: JPEG quality of the written images.
    """

    def __init__(
        self,
        root: str | Path,
        class_names: Sequence[str],
        info: Mapping[str, str] | None = None,
        category_ids: Sequence[int] | None = None,
        jpeg_quality: int = 90,
    ) -> None:
        self.root = Path(root)
        self.class_names = tuple(class_names)
        self.info = dict(info or {})
        ids = list(category_ids) if category_ids is not None else list(range(1, len(self.class_names) + 1))
        if len(ids) != len(self.class_names):
            raise ValueError(
                f"category_ids: got {len(ids)} ids for {len(self.class_names)} classes; "
                "expected one per class"
            )
        self.category_ids = ids
        self.jpeg_quality = jpeg_quality

    def prepare(self, splits: Sequence[str]) -> None:
        """Create the folders of ``splits``."""
        raise NotImplementedError

    def write_image(
        self,
        split: str,
        image_id: str,
        image: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        masks: np.ndarray,
    ) -> Any:
        """Write one image and its per-image annotation files.

        Args:
            split: split name.
            image_id: the image's id (file stem).
            image: uint8 ``(H, W, 3)`` RGB.
            boxes: int64 ``(K, 4)`` 0-based inclusive ``(x0, y0, x1, y1)``.
            labels: int64 ``(K,)`` class indices.
            masks: bool ``(K, H, W)`` instance masks (disjoint).

        Returns:
            A picklable entry for :meth:`finish`.
        """
        raise NotImplementedError

    def finish(self, entries: Mapping[str, Sequence[Any]]) -> None:
        """Write the split-level files from ``{split: [entry of write_image, ...]}`` (in image order)."""
        raise NotImplementedError


@dataclass(frozen=True)
class DatasetFormat:
    """One registered dataset layout.

    Attributes:
        name: the format's name in data specs (``voc`` in ``voc:PATH``).
        dataset: its :class:`~wsl.data.base.WSLDataset` subclass, called as
            ``dataset(root, split, class_names=..., image_size=..., ...)``.
        read_class_names: ``(root, split) -> list[str]``, the default class names of a root, cheaply
            (without parsing every annotation).
        writer: its :class:`DatasetWriter` subclass, or None for a read-only format.
    """

    name: str
    dataset: type
    read_class_names: Callable[[Path, str], list[str]]
    writer: type[DatasetWriter] | None = None


#: Format name → :class:`DatasetFormat`.
FORMATS: Registry[DatasetFormat] = Registry("format")


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    """Add ``fmt`` to :data:`FORMATS` under ``fmt.name``; returns it (registering the same format again
    is a no-op, so that a module may be re-imported).

    Raises:
        ValueError: the name is taken by another format, or is ``synthetic`` (a data-spec kind).
    """
    if fmt.name == "synthetic" or ":" in fmt.name or not fmt.name:
        raise ValueError(f"format name: got {fmt.name!r}; expected a non-empty name other than 'synthetic'")
    if FORMATS.get(fmt.name) == fmt:
        return fmt
    return FORMATS.add(fmt.name, fmt)


def format_names(writable: bool = False) -> list[str]:
    """Names of the registered formats, sorted (only those with a writer when ``writable``)."""
    return sorted(n for n, f in FORMATS.items() if f.writer is not None or not writable)


def get_format(name: str, writable: bool = False, what: str = "format") -> DatasetFormat:
    """The registered format ``name``; with ``writable`` it must have a writer.

    Raises:
        ValueError: unknown (or, with ``writable``, read-only) format; lists the choices and the closest.
    """
    choices = format_names(writable)
    if name not in choices:
        if name in FORMATS:
            raise ValueError(f"{what}: got {name!r}, a format without a writer; expected one of {choices}")
        raise unknown_choice(what, name, choices)
    return FORMATS[name]
