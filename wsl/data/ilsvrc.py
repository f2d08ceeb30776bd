"""ILSVRC 2012 list files, as TS-CAM, SCM, BAS and GenPromp read them: ``ilsvrc:ROOT``.

``ROOT`` holds the images in class folders and the lists in ``ROOT/ILSVRC2012_list``:

- ``train.txt``: ``<wnid>/<file>.JPEG <label>`` per line, the path relative to ``ROOT/train``, the label
  0-based (ImageNet's class order); split ``train``.
- ``val_folder_new.txt``: ``<wnid>/<file>.JPEG <label> <x0> <y0> <x1> <y1> [<x0> <y0> <x1> <y1> ...]``, the
  path relative to ``ROOT/val`` (the validation images sorted into class folders), then every box of the
  image in pixels of the original image; splits ``val`` and ``test`` (those papers test on ILSVRC val). The
  boxes are read as 0-based inclusive ``(x0, y0, x1, y1)``, as wsolevaluation reads the same ILSVRC XML
  coordinates in its ``localization.txt``, and clipped to the image under ``box_policy="clip"``.
  A val line without boxes (``<path> <label>``) takes them from the image's ILSVRC XML, as ImageNet ships
  them (``ILSVRC2012_bbox_val_v3.tgz``): ``ROOT/ILSVRC2012_bbox_val_v3/val/<file stem>.xml`` (or
  ``xml_dir``), PASCAL-style ``object/bndbox`` read by :func:`wsl.data.voc.parse_voc_xml`. ILSVRC writes
  the coordinates as wsolevaluation's ``localization.txt`` holds them (the first val image's box is
  ``111 108 441 193`` in both), so they are taken as they are, 0-based inclusive; VOC's reader counts from
  1, and its ``−1`` is undone. Every object's box is kept, whatever its name (wsolevaluation keeps them all).

The image's id in wsl is its path as the list writes it. Class names: ``ROOT/ILSVRC2012_list/classes.txt``
(one name a line, in label order) when it exists, else the folder (wnid) of each label's images in
``train.txt`` (else in the split's list) when every label has one folder and they differ, else
``class_<k>``. One class per image (single-label). Every error names the list file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from .errors import dataset_error
from .formats import DatasetFormat, register_format
from .image_level import ImageLevelDataset, LabelledImage, read_lines
from .metadata import check_relative_name
from .voc import parse_voc_xml

__all__ = ["ILSVRCListDataset", "ilsvrc_class_names", "SPLIT_FILES", "XML_DIR", "xml_boxes"]

LISTS = "ILSVRC2012_list"
#: Where the val XMLs are looked for under ``ROOT`` (the layout of ``ILSVRC2012_bbox_val_v3.tgz``).
XML_DIR = "ILSVRC2012_bbox_val_v3/val"
#: Split → (list file in ``ROOT/ILSVRC2012_list``, image folder under ``ROOT``, whether lines hold boxes).
SPLIT_FILES = {
    "train": ("train.txt", "train", False),
    "val": ("val_folder_new.txt", "val", True),
    "test": ("val_folder_new.txt", "val", True),
}
_FORMS = {False: "'<path> <label>'", True: "'<path> <label> [<x0> <y0> <x1> <y1> ...]'"}


def _rows(root: Path, split: str) -> tuple[Path, list[tuple[str, str, int, np.ndarray | None]]]:
    """The split's list file and its lines as ``(file:line, path, label, boxes (K, 4))``; boxes None: a
    val line without boxes (they come from its XML)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"split: got {split!r}; the ILSVRC lists have {sorted(SPLIT_FILES)} (val is test)")
    name, _, boxed = SPLIT_FILES[split]
    path = root / LISTS / name
    rows = []
    for number, fields in read_lines(path, None, "list", f"write one {_FORMS[boxed]} line per image"):
        where = f"{path}:{number}"
        if len(fields) < 2 or (boxed and (len(fields) - 2) % 4):
            raise dataset_error(where, "line", f"got {len(fields)} fields; expected {_FORMS[boxed]}",
                                "fix the line")  # fmt: skip
        if not fields[1].isdigit():
            raise dataset_error(
                where, "label", f"{fields[1]!r} is not an int >= 0", "write the 0-based label"
            )
        boxes = None if boxed and len(fields) == 2 else _boxes(where, fields[2:])
        rows.append((where, fields[0], int(fields[1]), boxes if boxed else np.zeros((0, 4))))
    if not rows:
        raise dataset_error(path, "list", "no image listed", f"write one {_FORMS[boxed]} line per image")
    return path, rows


def _boxes(where: str, fields: list[str]) -> np.ndarray:
    try:
        boxes = np.asarray([float(v) for v in fields], np.float64).reshape(-1, 4)
    except ValueError:
        raise dataset_error(
            where, "box", f"not numbers: {fields}", "write '<x0> <y0> <x1> <y1>' per box"
        ) from None
    bad = (
        ~np.isfinite(boxes).all(1)
        | (boxes[:, 0] > boxes[:, 2])
        | (boxes[:, 1] > boxes[:, 3])
        | (boxes[:, :2] < 0).any(1)
    )
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise dataset_error(where, f"box {k}", f"{boxes[k].tolist()} is negative or degenerate",
                            "write 0 <= x0 <= x1 and 0 <= y0 <= y1")  # fmt: skip
    return boxes


class _AnyName(dict):
    """A class table that takes every object name (to label 0): ILSVRC's boxes are the image's, whatever
    name its XML writes."""

    def __contains__(self, name: object) -> bool:
        return True

    def __getitem__(self, name: Any) -> int:
        return 0


def xml_boxes(path: Path, where: str) -> np.ndarray:
    """The boxes of one ILSVRC XML as float64 ``(K, 4)`` 0-based inclusive ``(x0, y0, x1, y1)``: the XML's
    ``xmin ymin xmax ymax`` as written (module docstring); ``where`` (the list line) names the image.

    Raises:
        DatasetError: the XML is missing (naming the list line and the path looked at), malformed, or has a
            degenerate box or no object (:func:`wsl.data.voc.parse_voc_xml`'s errors, naming the XML).
    """
    if not path.is_file():
        raise dataset_error(
            where, "boxes", f"the line has none and its XML {path} does not exist",
            f"write the boxes on the line, or extract ILSVRC2012_bbox_val_v3.tgz so that {path} exists",
        )  # fmt: skip
    boxes, _, _, _ = parse_voc_xml(path, _AnyName())
    return boxes.astype(np.float64) + 1.0  # parse_voc_xml's VOC rule subtracts 1; ILSVRC's are as written


def ilsvrc_class_names(root: Path, split: str = "train") -> list[str]:
    """``ILSVRC2012_list/classes.txt`` in order, else each label's wnid folder (module docstring)."""
    root = Path(root)
    names_file = root / LISTS / "classes.txt"
    if names_file.is_file():
        return [fields[0] for _, fields in read_lines(names_file, None, "classes", "one name a line")]
    source = "train" if (root / LISTS / SPLIT_FILES["train"][0]).is_file() else split
    _, rows = _rows(root, source)
    folders: dict[int, set[str]] = {}
    for _, path, label, _ in rows:
        folders.setdefault(label, set()).add(PurePosixPath(path).parent.name)
    num = max(folders) + 1
    names = [next(iter(folders[k])) if len(folders.get(k, ())) == 1 else "" for k in range(num)]
    if all(names) and len(set(names)) == num:
        return names
    return [f"class_{k}" for k in range(num)]


class ILSVRCListDataset(ImageLevelDataset):
    """ILSVRC list files (module docstring); ``box_policy`` as :class:`~wsl.data.WSOLDataset`'s,
    ``xml_dir`` the folder of the val XMLs (default ``ROOT/ILSVRC2012_bbox_val_v3/val``), ``options`` as
    :class:`~wsl.data.VOCDataset`'s (``image_size``, ``with_annotations`` ...)."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        class_names: Sequence[str] | None = None,
        box_policy: str = "clip",
        xml_dir: str | Path | None = None,
        **options: Any,
    ) -> None:
        self.root = Path(root)
        xml_folder = Path(xml_dir) if xml_dir is not None else self.root / XML_DIR
        path, rows = _rows(self.root, split)
        names = list(class_names) if class_names is not None else ilsvrc_class_names(self.root, split)
        super().__init__(names, box_policy=box_policy, **options)
        folder = self.root / SPLIT_FILES[split][1]
        images: list[LabelledImage] = []
        seen: dict[str, str] = {}
        for where, name, label, boxes in rows:
            check_relative_name(name, where, "image path")
            if name in seen:
                raise dataset_error(where, "image path", f"{name!r} is also listed on line {seen[name]}",
                                    "keep one line per image")  # fmt: skip
            seen[name] = where.rpartition(":")[2]
            if label >= self.num_classes:
                raise dataset_error(where, "label", f"{label} but there are {self.num_classes} classes",
                                    "pass class_names with one name per label")  # fmt: skip
            if not self.with_annotations:
                boxes = np.zeros((0, 4))
            elif boxes is None:
                boxes = xml_boxes(xml_folder / f"{PurePosixPath(name).stem}.xml", where)
            kept = boxes
            images.append(LabelledImage(name, folder / name, [label], where, kept, "(x0, y0, x1, y1)"))
        self._build(images, f"ILSVRCListDataset({self.root}, {split!r}) from {path.name}")


register_format(DatasetFormat("ilsvrc", ILSVRCListDataset, ilsvrc_class_names))
