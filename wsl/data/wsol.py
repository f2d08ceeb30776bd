"""clovaai/wsolevaluation's metadata format (CUB, ILSVRC, OpenImages, or your own set in that layout).

Data spec ``wsol:DATASET:ROOT[:metadata=DIR][:num_val_sample_per_class=K][:val_sample=random|first]``.
Image ids are paths relative to the image root ``ROOT`` (ids with ``/`` are kept as ids); the metadata of
split ``SPLIT`` (``train``, ``val`` = wsolevaluation's train-fullsup, ``test``) is read from
``METADATA/SPLIT/{image_ids.txt, class_labels.txt, image_sizes.txt, localization.txt}`` where
``METADATA`` is ``ROOT/metadata/DATASET`` by default, or ``DIR/DATASET`` (or ``DIR`` itself) with
``metadata=DIR``, e.g. ``wsol:CUB:wsolevaluation/dataset/CUB:metadata=wsolevaluation/metadata``.
``num_val_sample_per_class=K`` (wsolevaluation's ``--num_val_sample_per_class``; 0 = all, its default)
keeps K annotated images per class of the ``val`` split (train-fullsup). As wsolevaluation
(``data_loaders.py:170-191``) they are drawn at random without replacement per class, here with
``numpy.random.default_rng(seed).choice`` over each class's images (classes in ascending label order, one
generator for the whole split), ``seed`` being the data module's ``seed`` (0 by default): the same subset
for the same seed on every machine, kept in ``image_ids.txt`` order. ``val_sample=first`` keeps the first K
of each class in file order instead. A K above a class's image count is an error naming that class (as
upstream's ``numpy.random.choice(..., replace=False)`` would fail); the real CUB val has a class with 3.

- ``image_ids.txt``: ``<path>`` per line.
- ``class_labels.txt``: ``<path>,<integer class label>`` (single-label: one class per image).
- ``image_sizes.txt``: ``<path>,<w>,<h>``; may be empty (then the size is read from the image header).
- ``localization.txt``, boxes: ``<path>,<x0>,<y0>,<x1>,<y1>``, one line per box (several per image).
- ``localization.txt``, masks (OpenImages): ``<path>,<mask file>,<ignore file>``, one line per instance
  mask; only an image's first line names the ignore file, later lines end in an empty field. Mask files
  are grayscale PNGs relative to ``ROOT``; foreground is ``> 0.5`` after a nearest resize to the image
  size; the ignore region is the ignore box minus the foreground. Boxes of mask images are the tight
  boxes of their masks (wsolevaluation scores OpenImages by PxAP only).

Class names: the images' folder (the id's last directory) when every class has exactly one folder and
the folders differ (CUB ``001.Black_footed_Albatross``, ImageNet wnids from ``train``, OpenImages
ids), else ``class_<k>``. Boxes are kept as annotated (float) under the item key ``box_coords`` for the
``wsolevaluation`` frame; ``boxes`` hold ``int(coord)``, at the original size. A box that ends past the
image (``x1 >= W``, the 1-based habit) is clipped to it with one count warning, or is an error naming the
file, line and id with ``box_policy="strict"``. Ids, mask and ignore files are paths inside ``ROOT``: an
absolute path or a ``..`` part is an error naming the file and line. Metadata files are UTF-8, with or
without a byte-order mark; an image listed twice in ``class_labels.txt`` (or ``image_sizes.txt``) with two
different values is an error naming both lines.
Every malformed line raises a :class:`~wsl.data.DatasetError` naming the metadata file and line number.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from wsl.options import apply_fields
from wsl.registry import Registry, closest

from .base import (
    BOX_POLICIES,
    DatasetOptions,
    Record,
    WSLDataset,
    check_image_header,
    encode_jpeg,
    pick_single_label,
)
from .errors import BadSamples, DatasetError, dataset_error
from .formats import DatasetFormat, DatasetWriter, register_format, unknown_choice
from .metadata import check_relative_name, read_metadata_text

__all__ = [
    "VAL_SAMPLES",
    "WSOL_DATASETS",
    "WSOLDataset",
    "WSOLWriter",
    "default_class_names",
    "parse_wsol_options",
    "parse_wsol_root",
    "wsol_metadata_dir",
]

#: The datasets wsolevaluation ships metadata for (any other folder name under ``metadata/`` works too).
WSOL_DATASETS = ("CUB", "ILSVRC", "OpenImages")
_META = ":metadata="
_USAGE = (
    "expected wsol:DATASET:ROOT[:metadata=DIR][:num_val_sample_per_class=K][:val_sample=random|first] "
    "(DATASET e.g. CUB, ILSVRC, OpenImages)"
)
#: The integer options of a wsol data spec (``:NAME=VALUE`` after the root).
INT_OPTIONS = ("num_val_sample_per_class",)
#: ``val_sample=``: how the ``num_val_sample_per_class`` images of each class of the ``val`` split are
#: chosen, name → ``pick(ids, labels, k, folder, class_names, seed)`` (the ``(line number, image id)`` rows
#: kept, in file order): ``random`` (wsolevaluation's rule, the default), ``first``.
VAL_SAMPLES: Registry[Callable[..., list[tuple[int, str]]]] = Registry("val_sample")
#: The choice options of a wsol data spec and their accepted values (the first is the default).
CHOICE_OPTIONS: dict[str, Collection[str]] = {"val_sample": VAL_SAMPLES}
_OPTION = re.compile(r":(" + "|".join((*INT_OPTIONS, *CHOICE_OPTIONS)) + r")=([^:]*)(?=:|$)")


def parse_wsol_options(root: str | Path) -> tuple[str, dict[str, int | str]]:
    """Split the options (``:NAME=VALUE``, anywhere after the root) off a ``DATASET:ROOT[...]`` text.

    Returns:
        ``(text without them, {name: value})``: ints for :data:`INT_OPTIONS`, strings for
        :data:`CHOICE_OPTIONS`.

    Raises:
        ValueError: an option given twice, an int option that is not an int >= 0, or a choice that is not
            one of its values.

    Example:
        >>> parse_wsol_options("CUB:data/CUB:num_val_sample_per_class=5")
        ('CUB:data/CUB', {'num_val_sample_per_class': 5})
    """
    text = str(root)
    parsed: dict[str, int | str] = {}
    while match := _OPTION.search(text):
        name, value = match.groups()
        if name in parsed:
            raise ValueError(f"data: {name}= is given twice in 'wsol:{root}'; give it once")
        if name in CHOICE_OPTIONS:
            if value not in CHOICE_OPTIONS[name]:
                close = closest(value, CHOICE_OPTIONS[name])
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                choices = tuple(CHOICE_OPTIONS[name])
                raise ValueError(f"data: {name}={value!r} in 'wsol:{root}' is not one of {choices}{hint}")
            parsed[name] = value
        elif not value.isdigit():
            raise ValueError(
                f"data: {name}={value!r} in 'wsol:{root}' is not an int >= 0; e.g. {name}=5 (0: all images)"
            )
        else:
            parsed[name] = int(value)
        text = text[: match.start()] + text[match.end() :]
    return text, parsed


def parse_wsol_root(root: str | Path) -> tuple[str, Path, Path | None]:
    """``DATASET:ROOT[:metadata=DIR]`` (the part of a data spec after ``wsol:``) → ``(DATASET, ROOT, DIR)``.

    A plain ``ROOT`` whose ``metadata/`` holds exactly one dataset folder (what :class:`WSOLWriter`
    writes, e.g. the synthetic sets) is that dataset. Trailing options (:func:`parse_wsol_options`) are
    checked and left out.

    Raises:
        ValueError: no dataset name or no root, or a bad option.
    """
    text, _ = parse_wsol_options(root)
    if ":" not in text:
        found = sorted(p.name for p in (Path(text) / "metadata").glob("*") if p.is_dir())
        if len(found) == 1:
            return found[0], Path(text), None
    metadata: Path | None = None
    if _META in text:
        text, _, meta = text.rpartition(_META)
        if not meta:
            raise ValueError(f"data: 'metadata=' without a folder in {str(root)!r}; {_USAGE}")
        metadata = Path(meta)
    dataset, sep, path = text.partition(":")
    if not sep or not dataset or not path:
        raise ValueError(f"data: got 'wsol:{root}'; {_USAGE}")
    for known in WSOL_DATASETS:  # case-insensitive for the shipped names
        if dataset.lower() == known.lower():
            dataset = known
    return dataset, Path(path), metadata


def wsol_metadata_dir(root: Path, dataset: str, metadata: Path | None = None) -> Path:
    """The folder holding the split folders: ``ROOT/metadata/DATASET``, or ``DIR/DATASET`` / ``DIR``."""
    if metadata is None:
        return root / "metadata" / dataset
    return metadata / dataset if (metadata / dataset).is_dir() else metadata


def _lines(path: Path, required: bool = True) -> list[tuple[int, list[str]]]:
    """``(line number, comma-separated fields)`` of the non-blank lines of a metadata file."""
    if not path.is_file():
        if not required:
            return []
        have = sorted(p.name for p in path.parent.iterdir()) if path.parent.is_dir() else []
        raise dataset_error(
            path,
            "metadata",
            f"file not found (the folder holds {have or 'nothing'})",
            "point metadata= at wsolevaluation's metadata folder or write the file",
        )
    out = []
    for number, line in enumerate(read_metadata_text(path).splitlines(), start=1):
        if line.strip():
            out.append((number, [f.strip() for f in line.split(",")]))
    return out


def _number(path: Path, number: int, field: str, text: str, integer: bool = False) -> float:
    try:
        value = float(text)
        if not np.isfinite(value) or (integer and value != int(value)):
            raise ValueError(text)
    except ValueError as e:
        kind = "an integer" if integer else "a number"
        raise dataset_error(
            f"{path}:{number}", field, f"{text!r} is not {kind}", f"write {kind} in that field"
        ) from e
    return value


def _split_dir(root: Path, dataset: str, metadata: Path | None, split: str) -> Path:
    meta = wsol_metadata_dir(root, dataset, metadata)
    folder = meta / split
    if not folder.is_dir():
        have = sorted(p.name for p in meta.iterdir() if p.is_dir()) if meta.is_dir() else []
        raise dataset_error(
            folder,
            "split",
            f"metadata folder not found (splits found: {have or 'none'})",
            "pass train, val or test, or point metadata= at the folder holding the split folders",
        )
    return folder


def _read_labels(folder: Path) -> tuple[list[tuple[int, str]], dict[str, int]]:
    """``[(line, image id)]`` of ``image_ids.txt`` and ``{image id: class}`` of ``class_labels.txt``."""
    ids_path, labels_path = folder / "image_ids.txt", folder / "class_labels.txt"
    ids = []
    for number, fields in _lines(ids_path):
        if len(fields) != 1:
            raise dataset_error(
                f"{ids_path}:{number}",
                "image id",
                f"expected one path, got {len(fields)} fields",
                "one id a line",
            )
        ids.append((number, fields[0]))
    if not ids:
        raise dataset_error(ids_path, "image ids", "file is empty", "list one image path per line")
    labels: dict[str, int] = {}
    first_line: dict[str, int] = {}
    for number, fields in _lines(labels_path):
        if len(fields) != 2:
            raise dataset_error(
                f"{labels_path}:{number}",
                "class label",
                f"expected '<path>,<integer_class_label>', got {len(fields)} fields",
                "write one '<path>,<label>' a line",
            )
        label = _number(labels_path, number, "class label", fields[1], integer=True)
        if label < 0:
            raise dataset_error(
                f"{labels_path}:{number}", "class label", f"{fields[1]} is negative", "use labels 0..C-1"
            )
        image_id = fields[0]
        if image_id in labels and labels[image_id] != int(label):
            raise dataset_error(
                f"{labels_path}:{number}",
                "class label",
                f"{image_id!r} has label {int(label)} here and {labels[image_id]} on line "
                f"{first_line[image_id]} (one class per image)",
                "keep one line per image",
            )
        first_line.setdefault(image_id, number)
        labels[image_id] = int(label)
    return ids, labels


def _class_names_from(labels: dict[str, int]) -> list[str]:
    num = max(labels.values()) + 1
    folders: list[set[str]] = [set() for _ in range(num)]
    for image_id, label in labels.items():
        parent = PurePosixPath(image_id).parent.name
        folders[label].add(parent)
    names = [next(iter(f)) if len(f) == 1 else "" for f in folders]
    if all(names) and len(set(names)) == num:
        return names
    return [f"class_{k}" for k in range(num)]


def default_class_names(root: str | Path, split: str = "train") -> list[str]:
    """The class names of a ``DATASET:ROOT``: the class folders of ``train`` (else of ``split``, ``val``,
    ``test``), else ``class_<k>`` for the largest label found."""
    dataset, path, metadata = parse_wsol_root(root)
    meta = wsol_metadata_dir(path, dataset, metadata)
    fallback: list[str] = []
    for name in dict.fromkeys(("train", split, "val", "test")):  # train: every class, in class folders
        if (meta / name / "class_labels.txt").is_file():
            _, labels = _read_labels(meta / name)
            if labels:
                names = _class_names_from(labels)
                if names[0] != "class_0" or names[-1] != f"class_{len(names) - 1}":
                    return names
                fallback = max(fallback, names, key=len)
    if fallback:
        return fallback
    _split_dir(path, dataset, metadata, split)  # raises with the splits found
    raise dataset_error(
        meta / split / "class_labels.txt", "class labels", "file is empty", "write the labels"
    )


class WSOLDataset(WSLDataset):
    """A dataset in wsolevaluation's metadata layout (see the module docstring).

    Args:
        root: ``DATASET:ROOT[:metadata=DIR]`` (as in the data spec ``wsol:...``), or the image root with
            ``dataset`` given.
        split: ``train``, ``val`` or ``test`` (a folder of the metadata).
        class_names: ordered class names; default from the metadata (module docstring). Class label
            ``k`` of ``class_labels.txt`` is ``class_names[k]``.
        dataset: the metadata folder's name (CUB, ILSVRC, OpenImages) when ``root`` is a plain path.
        metadata: the metadata folder (``DIR`` above) when ``root`` is a plain path.
        num_val_sample_per_class: K > 0 keeps K images of each class of the ``val`` split (other splits
            are kept whole); 0: all. The spec option of the same name overrides it.
        val_sample: how those K are chosen: ``random`` (wsolevaluation's rule: drawn without replacement
            under ``seed``, see the module docstring) or ``first`` (the first K in ``image_ids.txt``
            order). The spec option ``val_sample=`` overrides it.
        seed: seed of the ``random`` draw (the data module passes its ``seed``).
        box_policy: a box that ends past the image (``x1 >= W`` or ``y1 >= H``, e.g. ``x1 = W`` from the
            1-based habit): ``"clip"`` (default) clips its coordinates to ``W - 1`` / ``H - 1`` with one count
            warning, ``"strict"`` makes it a :class:`~wsl.data.DatasetError` naming the file, line and id,
            at construction (the data setup), not at the first validation.
        image_size, train, transform, with_annotations, single_label, skip_bad, with_images: as
            :class:`~wsl.data.VOCDataset`. Labels are always one-hot (one class per image).
    """

    def __init__(  # noqa: PLR0913 (the reader's public keyword API; the base class gets one DatasetOptions)
        self,
        root: str | Path,
        split: str,
        class_names: Sequence[str] | None = None,
        image_size: int = 128,
        train: bool = False,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        with_annotations: bool = False,
        single_label: bool = False,
        skip_bad: bool = False,
        with_images: bool = True,
        dataset: str | None = None,
        metadata: str | Path | None = None,
        num_val_sample_per_class: int = 0,
        val_sample: str = "random",
        seed: int = 0,
        box_policy: str = "clip",
    ) -> None:
        options = apply_fields(DatasetOptions, None, locals())  # the keywords as given
        if box_policy not in BOX_POLICIES:
            raise unknown_choice("box_policy", box_policy, BOX_POLICIES)
        per_class, rule = _val_sampling(root, num_val_sample_per_class, val_sample, seed)
        self.num_val_sample_per_class, self.val_sample, self.seed = per_class, rule, seed
        if dataset is None:
            dataset, image_root, meta = parse_wsol_root(root)
        else:
            image_root, meta = Path(root), None if metadata is None else Path(metadata)
        self.dataset_name, self.root, self.metadata = dataset, image_root, meta
        self.split = split
        spec = f"{dataset}:{image_root}" + (f"{_META}{meta}" if meta is not None else "")
        if class_names is None:
            class_names = default_class_names(spec, split)
        super().__init__(class_names, options)
        self._clipped: list[tuple[str, str]] = []
        folder = _split_dir(image_root, dataset, meta, split)
        self.metadata_dir = folder
        ids, labels = _read_labels(folder)
        if split == "val" and per_class:
            ids = VAL_SAMPLES[rule](ids, labels, per_class, folder, self.class_names, seed)
        self._classes: dict[str, int] = {}
        self._coords: dict[str, np.ndarray] = {}
        bad = BadSamples(skip_bad, f"WSOLDataset({spec}, {split!r})")
        records = self._records(folder, ids, labels, bad)
        # Every box of a WSOL image is of its one class: the base class has nothing to filter, and the
        # one-hot labels come from class_labels.txt (train images have no boxes).
        single = self.single_label
        self.single_label = False
        try:
            self._finalize(records, bad)
        finally:
            self.single_label = single
        self._warn_clipped(bad.what)
        for rec in self.records:
            rec.labels = np.zeros(self.num_classes, np.float32)
            rec.labels[self._classes[rec.image_id]] = 1.0

    def _records(
        self, folder: Path, ids: list[tuple[int, str]], labels: dict[str, int], bad: BadSamples
    ) -> list[Record]:
        """The records of ``ids`` with their sizes and localization; a bad line is added to ``bad``."""
        sizes = self._read_sizes(folder)
        locs = self._read_localization(folder) if self.with_annotations else {}
        self.has_masks = any(kind == "mask" for kind, _ in locs.values())
        records = []
        ids_path = folder / "image_ids.txt"
        for number, image_id in ids:
            try:
                records.append(self._record(image_id, f"{ids_path}:{number}", labels, sizes, locs, folder))
            except DatasetError as e:
                bad.add(e)
        return records

    def _read_sizes(self, folder: Path) -> dict[str, tuple[int, int]]:
        path = folder / "image_sizes.txt"
        sizes: dict[str, tuple[int, int]] = {}
        for number, fields in _lines(path, required=False):
            if len(fields) != 3:
                raise dataset_error(
                    f"{path}:{number}",
                    "image size",
                    f"expected '<path>,<w>,<h>', got {len(fields)} fields",
                    "write one '<path>,<width>,<height>' a line, or leave the file empty",
                )
            w = _number(path, number, "width", fields[1], integer=True)
            h = _number(path, number, "height", fields[2], integer=True)
            if w < 1 or h < 1:
                raise dataset_error(f"{path}:{number}", "image size", f"{w:g}x{h:g}", "write positive sizes")
            image_id = fields[0]
            if image_id in sizes and sizes[image_id] != (int(h), int(w)):
                earlier_h, earlier_w = sizes[image_id]
                raise dataset_error(
                    f"{path}:{number}",
                    "image size",
                    f"{image_id!r} is {int(w)}x{int(h)} here and {earlier_w}x{earlier_h} on an earlier line",
                    "keep one line per image",
                )
            sizes[image_id] = (int(h), int(w))
        return sizes

    def _read_localization(self, folder: Path) -> dict[str, tuple[str, Any]]:
        """``{image id: ("box", [(line, x0, y0, x1, y1)]) | ("mask", ([mask files], ignore file))}``."""
        path = folder / "localization.txt"
        out: dict[str, tuple[str, Any]] = {}
        kind = None
        for number, fields in _lines(path):
            where = f"{path}:{number}"
            this = {5: "box", 3: "mask"}.get(len(fields))
            if this is None or (kind is not None and this != kind):
                expected = {
                    "box": "'<path>,<x0>,<y0>,<x1>,<y1>'",
                    "mask": "'<path>,<mask file>,<ignore file>'",
                }
                want = expected[kind] if kind else " or ".join(expected.values())
                raise dataset_error(
                    where, "localization", f"got {len(fields)} fields; expected {want}", "fix the line"
                )
            kind = this
            image_id = fields[0]
            if kind == "box":
                x0, y0, x1, y1 = (
                    _number(path, number, name, text)
                    for name, text in zip(("x0", "y0", "x1", "y1"), fields[1:], strict=True)
                )
                if x1 < x0 or y1 < y0 or x0 < 0 or y0 < 0:
                    raise dataset_error(
                        where,
                        "box",
                        f"(x0, y0, x1, y1)=({x0:g}, {y0:g}, {x1:g}, {y1:g}) is negative or degenerate",
                        "write 0 <= x0 <= x1 and 0 <= y0 <= y1",
                    )
                out.setdefault(image_id, ("box", []))[1].append((where, x0, y0, x1, y1))
            else:
                mask_file, ignore_file = fields[1], fields[2]
                if not mask_file:
                    raise dataset_error(where, "mask file", "empty", "name the instance's mask PNG")
                check_relative_name(mask_file, where, "mask file")
                if ignore_file:
                    check_relative_name(ignore_file, where, "ignore file")
                if image_id in out:
                    if ignore_file:
                        raise dataset_error(
                            where,
                            "ignore file",
                            f"{ignore_file!r} on a later line of {image_id!r}",
                            "only an image's first line names the ignore file; end later lines in ','",
                        )
                    out[image_id][1][0].append(mask_file)
                else:
                    out[image_id] = ("mask", ([mask_file], ignore_file or None))
        return out

    def _record(
        self,
        image_id: str,
        where: str,
        labels: dict[str, int],
        sizes: dict[str, tuple[int, int]],
        locs: dict[str, tuple[str, Any]],
        folder: Path,
    ) -> Record:
        check_relative_name(image_id, where, "image id")
        if image_id not in labels:
            raise dataset_error(
                where, "class label", f"{image_id!r} has no line in class_labels.txt", "add '<path>,<label>'"
            )
        label = labels[image_id]
        if label >= self.num_classes:
            raise dataset_error(
                where,
                "class label",
                f"{image_id!r} has label {label} but there are {self.num_classes} classes",
                "pass class_names with one name per label",
            )
        self._classes[image_id] = label
        path = self.root / image_id
        size = sizes.get(image_id)
        if not self.with_annotations:
            return Record(
                image_id, path, np.zeros((0, 4), np.int64), np.zeros(0, np.int64), np.zeros(0, bool), size
            )
        if image_id not in locs:
            raise dataset_error(
                where,
                "localization",
                f"{image_id!r} has no line in {folder / 'localization.txt'}",
                "annotate it, or remove it from image_ids.txt",
            )
        kind, entry = locs[image_id]
        if kind == "mask":
            masks, ignore = entry
            k = len(masks)
            return Record(
                image_id,
                path,
                np.zeros((k, 4), np.int64),
                np.full(k, label, np.int64),
                np.zeros(k, bool),
                size,
                (masks, ignore),
            )
        if size is None and path.is_file():  # empty image_sizes.txt: the header's size clips the boxes
            size = check_image_header(path)
        coords = np.asarray([b[1:] for b in entry], np.float64).reshape(-1, 4)
        boxes = np.floor(coords).astype(np.int64)
        if size is not None:
            coords, boxes = self._fit_to_image(image_id, entry, coords, boxes, size)
        self._coords[image_id] = coords
        k = len(boxes)
        return Record(image_id, path, boxes, np.full(k, label, np.int64), np.zeros(k, bool), size)

    def _fit_to_image(
        self,
        image_id: str,
        entry: list[tuple[Any, ...]],
        coords: np.ndarray,
        boxes: np.ndarray,
        size: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The float and int boxes of ``image_id`` fitted to its ``(H, W)`` under ``box_policy``.

        A box is inside when ``x1 < W`` and ``y1 < H`` (its last pixel ``floor(x1)`` is at most ``W - 1``;
        wsolevaluation's 224 frame maps ``x1 = W`` to column 224, outside the frame). ``clip`` clips the
        coordinates to ``W - 1`` / ``H - 1`` and notes the box for one warning; ``strict`` raises. A box
        that starts outside the image is an error under both.
        """
        h, w = size
        for (line, *_), box, coord in zip(entry, boxes, coords, strict=True):
            if box[0] > w - 1 or box[1] > h - 1:
                raise dataset_error(
                    line,
                    "box",
                    f"the box of {image_id!r} starts at ({box[0]}, {box[1]}), outside the {w}x{h} image",
                    "fix the box",
                )
            if box[2] > w - 1 or box[3] > h - 1:
                x0, y0, x1, y1 = coord.tolist()
                box_text = f"(x0, y0, x1, y1)=({x0:g}, {y0:g}, {x1:g}, {y1:g})"
                if self.box_policy == "strict":
                    raise dataset_error(
                        line,
                        "box",
                        f"the box {box_text} of {image_id!r} ends past the {w}x{h} image (0-based inclusive: "
                        f"x1 <= {w - 1}, y1 <= {h - 1}; x1 = width is the 1-based habit)",
                        "correct the box, pass box_policy='clip' (--data.box_policy clip) to clip such boxes "
                        "to the image, or pass skip_bad=True to skip such samples",
                    )
                self._clipped.append((image_id, f"{line}: {image_id!r}: box {box_text} in the {w}x{h} image"))
        fitted = coords.copy()
        fitted[:, 2] = np.minimum(fitted[:, 2], w - 1)
        fitted[:, 3] = np.minimum(fitted[:, 3], h - 1)
        boxes = boxes.copy()
        boxes[:, 2] = np.minimum(boxes[:, 2], w - 1)
        boxes[:, 3] = np.minimum(boxes[:, 3], h - 1)
        return fitted, boxes

    def _warn_clipped(self, what: str) -> None:
        """One warning counting the clipped boxes of the kept images (box_policy='clip')."""
        kept = {rec.image_id for rec in self.records}
        notes = [note for image_id, note in self._clipped if image_id in kept]
        if notes:
            images = len({image_id for image_id, _ in self._clipped if image_id in kept})
            warnings.warn(
                f"{what}: clipped {len(notes)} box(es) of {images} image(s) that extend past the image to "
                f"its edges (box_policy='clip'; 'strict' makes them errors); first: {notes[0]}",
                UserWarning,
                stacklevel=3,
            )

    def _annotation_path(self, rec: Record) -> str:
        return str(self.metadata_dir / "localization.txt")

    def _read_png(self, name: str, size: tuple[int, int]) -> np.ndarray:
        path = self.root / name
        try:
            with Image.open(path) as im:
                gray: np.ndarray = np.asarray(im.convert("L"), dtype=np.float32)
        except FileNotFoundError as e:
            raise dataset_error(path, "mask", "file not found", "restore the mask PNG") from e
        except (OSError, SyntaxError, ValueError) as e:
            raise dataset_error(path, "mask", f"cannot decode ({e})", "re-download the mask PNG") from e
        if gray.shape != size:
            gray = cv2.resize(gray, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        return gray > 0.5

    def _load_masks(
        self, extra: Any, num_objects: int, size: tuple[int, int]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if extra is None:
            return None, None
        files, ignore_file = extra
        masks = np.stack([self._read_png(name, size) for name in files])
        if ignore_file is None:
            return masks, None
        return masks, self._read_png(ignore_file, size) & ~masks.any(axis=0)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        if not self.with_annotations:
            return item
        image_id = self.records[index].image_id
        coords = self._coords.get(image_id)
        if coords is not None:
            item["box_coords"] = torch.from_numpy(coords.copy())
        elif item.get("masks") is not None:  # mask images: the tight box of each instance mask
            item["boxes"] = torch.tensor([_tight_box(m) for m in item["masks"].numpy()], dtype=torch.int64)
        return item


def _val_sampling(root: str | Path, per_class: Any, rule: Any, seed: Any) -> tuple[int, str]:
    """``(num_val_sample_per_class, val_sample)``: the spec's options over the arguments, checked (and
    ``seed`` checked to be an int)."""
    _, options = parse_wsol_options(root)
    per_class = options.get("num_val_sample_per_class", per_class)
    if isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 0:
        raise ValueError(f"num_val_sample_per_class: got {per_class!r}; expected an int >= 0 (0: all)")
    rule = options.get("val_sample", rule)
    VAL_SAMPLES.lookup(rule)  # an unknown rule: the closest name and the rules
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: got {seed!r}; expected an int")
    return per_class, str(rule)


def _by_class(ids: list[tuple[int, str]], labels: dict[str, int]) -> dict[int, list[int]]:
    """Class label → the positions in ``ids`` of its images, in file order."""
    positions: dict[int, list[int]] = {}
    for index, (_, image_id) in enumerate(ids):
        label = labels.get(image_id)
        if label is not None:
            positions.setdefault(label, []).append(index)
    return positions


def _check_per_class(
    positions: dict[int, list[int]], k: int, folder: Path, class_names: Sequence[str]
) -> None:
    short = sorted((len(p), c) for c, p in positions.items() if len(p) < k)
    if short:
        n, c = short[0]
        name = class_names[c] if 0 <= c < len(class_names) else "?"
        raise dataset_error(
            folder / "image_ids.txt",
            "num_val_sample_per_class",
            f"class {c} ({name}) has {n} image(s) in this split, fewer than {k} "
            f"({len(short)} class(es) have fewer)",
            f"pass num_val_sample_per_class <= {n}, or 0 for all images (wsolevaluation's default)",
        )


def _kept(ids: list[tuple[int, str]], labels: dict[str, int], chosen: set[int]) -> list[tuple[int, str]]:
    # ids without a label are kept, to be reported by the record check.
    return [row for i, row in enumerate(ids) if i in chosen or row[1] not in labels]


@VAL_SAMPLES.register("random")
def _random_per_class(
    ids: list[tuple[int, str]],
    labels: dict[str, int],
    k: int,
    folder: Path,
    class_names: Sequence[str],
    seed: int = 0,
) -> list[tuple[int, str]]:
    """``k`` ids of each class drawn without replacement (wsolevaluation's ``np.random.choice`` per class,
    classes in ascending label order, one ``default_rng(seed)``), kept in file order."""
    positions = _by_class(ids, labels)
    _check_per_class(positions, k, folder, class_names)
    rng = np.random.default_rng(seed)
    chosen = {int(i) for c in sorted(positions) for i in rng.choice(positions[c], k, replace=False)}
    return _kept(ids, labels, chosen)


@VAL_SAMPLES.register("first")
def _first_per_class(
    ids: list[tuple[int, str]],
    labels: dict[str, int],
    k: int,
    folder: Path,
    class_names: Sequence[str],
    seed: int = 0,
) -> list[tuple[int, str]]:
    """The first ``k`` ids of each class, in file order (``seed`` is unused)."""
    positions = _by_class(ids, labels)
    _check_per_class(positions, k, folder, class_names)
    return _kept(ids, labels, {i for p in positions.values() for i in p[:k]})


def _tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return (0, 0, 0, 0)
    return (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))


class WSOLWriter(DatasetWriter):
    """Writes wsolevaluation's layout, single-label with boxes (CUB style), that :class:`WSOLDataset` reads.

    Per image: ``ROOT/<class name>/<id>.jpg`` (the id in the metadata is that relative path, so the class
    names come back from the folders). Per split: ``ROOT/metadata/<DATASET>/<split>/image_ids.txt``,
    ``class_labels.txt``, ``image_sizes.txt`` and ``localization.txt`` (one line per box of the image's
    class, 0-based inclusive ``x0,y0,x1,y1``). The image's class is that of its largest object (as
    ``single_label=True`` of the other formats); only its boxes are written.

    ``info`` keys used: ``dataset`` (the metadata folder's name, default ``SYNTH``).
    """

    def _meta(self) -> Path:
        return self.root / "metadata" / self.info.get("dataset", "SYNTH")

    def prepare(self, splits: Sequence[str]) -> None:
        for sp in splits:
            (self._meta() / sp).mkdir(parents=True, exist_ok=True)
        for name in self.class_names:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def write_image(
        self,
        split: str,
        image_id: str,
        image: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        masks: np.ndarray,
    ) -> tuple[str, int, tuple[int, int], list[tuple[int, int, int, int]]]:
        c = pick_single_label(boxes, labels, np.zeros(len(labels), bool))
        path = f"{self.class_names[c]}/{image_id}.jpg"
        (self.root / path).write_bytes(encode_jpeg(image, self.jpeg_quality))
        own = [
            tuple(int(v) for v in box)
            for box, lab in zip(boxes.tolist(), labels.tolist(), strict=True)
            if lab == c
        ]
        return path, c, (int(image.shape[1]), int(image.shape[0])), own  # type: ignore[return-value]

    def finish(self, entries: Mapping[str, Sequence[Any]]) -> None:
        for sp, items in entries.items():
            folder = self._meta() / sp
            (folder / "image_ids.txt").write_text("".join(f"{p}\n" for p, _, _, _ in items))
            (folder / "class_labels.txt").write_text("".join(f"{p},{c}\n" for p, c, _, _ in items))
            (folder / "image_sizes.txt").write_text("".join(f"{p},{w},{h}\n" for p, _, (w, h), _ in items))
            lines = [f"{p},{x0},{y0},{x1},{y1}\n" for p, _, _, own in items for x0, y0, x1, y1 in own]
            (folder / "localization.txt").write_text("".join(lines))


register_format(DatasetFormat("wsol", WSOLDataset, default_class_names, WSOLWriter))
