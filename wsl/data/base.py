"""The dataset base shared by the VOC and COCO readers: records, image decoding, item assembly."""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .errors import BadSamples, DatasetError, dataset_error
from .formats import unknown_choice
from .images import DECODE_ERRORS, UnreadableImage, bomb_reason, orientation_of, read_rgb_image
from .transforms import build_transform

__all__ = [
    "BOX_POLICIES",
    "DatasetOptions",
    "Record",
    "WSLDataset",
    "read_image",
    "read_image_orientation",
    "encode_jpeg",
    "check_image_header",
    "check_image_header_orientation",
    "pick_single_label",
]

_SKIP_HINT = "or pass skip_bad=True to skip such samples"
_EXIF_NOTE = (
    "They are read in their stored pixel grid, without rotation, because the annotations (declared "
    "size, boxes, masks) refer to that grid"
)


@dataclass
class Record:
    """One image of a dataset, with its annotations parsed at construction.

    Attributes:
        image_id: the image's id, a ``str`` unique within the dataset (VOC: the id of the split
            file; COCO: the ``file_name`` without extension, folders included).
        image_path: path of the image file.
        boxes: int64 ``(K, 4)``, ``(x0, y0, x1, y1)`` 0-based inclusive at the original size.
        box_labels: int64 ``(K,)`` class indices.
        difficult: bool ``(K,)`` objects that metrics ignore (VOC ``difficult``, COCO ``iscrowd``).
        size: ``(H, W)`` declared by the annotation file, or None when unknown.
        extra: reader-specific data for the masks (a path or a list of segmentations).
        box_where: per object (annotation-file order), the field and the box as the file writes it,
            for messages, e.g. ``("object[1]/bndbox", "box xmin=0 ... (1-based inclusive)")``.
    """

    image_id: str
    image_path: Path
    boxes: np.ndarray
    box_labels: np.ndarray
    difficult: np.ndarray
    size: tuple[int, int] | None = None
    extra: Any = None
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    box_where: list[tuple[str, str]] | None = None


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file into RGB ``uint8 (H, W, 3)``, in its **stored** pixel grid.

    The EXIF orientation tag is not applied: VOC and COCO annotations (the declared ``size`` /
    ``width`` and ``height``, and every box) refer to the stored grid, so rotating the pixels as a
    photo viewer does would move the image away from its boxes. :class:`WSLDataset` warns once about
    files whose orientation is not 1; see :func:`read_image_orientation`.

    Raises:
        DatasetError: the file is missing, truncated or not an image; the message names the file.
    """
    return read_image_orientation(path)[0]


def read_image_orientation(path: str | Path) -> tuple[np.ndarray, int]:
    """:func:`read_image` and the file's EXIF orientation tag (1 = upright or no tag).

    The pixels follow the one rule of :mod:`wsl.data.images` (16-bit grayscale scaled, transparency laid
    on white), as ``predict`` reads them; a decompression bomb is refused before decoding.
    """
    try:
        return read_rgb_image(path)
    except FileNotFoundError as e:
        raise dataset_error(path, "image", "file not found", f"restore the image {_SKIP_HINT}") from e
    except UnreadableImage as e:
        raise dataset_error(
            path, "image", str(e), f"re-download or re-encode the image {_SKIP_HINT}"
        ) from None


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """Encode RGB ``uint8 (H, W, 3)`` as JPEG bytes with fixed encoder settings (4:2:0, baseline), so
    that the same pixels always give the same bytes."""
    buf = io.BytesIO()
    Image.fromarray(image).save(
        buf, "JPEG", quality=quality, subsampling=2, optimize=False, progressive=False
    )
    return buf.getvalue()


def check_image_header(path: Path) -> tuple[int, int]:
    """Cheap validity check of an image file without decoding its pixels.

    Reads the header (format and size) and, for JPEG, checks that an end-of-image marker is present
    near the end of the file, which catches truncated downloads.

    Returns:
        ``(H, W)`` from the header: the stored grid (see :func:`read_image` on EXIF orientation).

    Raises:
        DatasetError: missing file, unknown format or truncated JPEG.
    """
    h, w, _ = check_image_header_orientation(path)
    return h, w


def check_image_header_orientation(path: Path) -> tuple[int, int, int]:
    """:func:`check_image_header` and the EXIF orientation tag: ``(H, W, orientation)``."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            fmt = im.format
            orientation = orientation_of(im)
    except FileNotFoundError as e:
        raise dataset_error(path, "image", "file not found", f"restore the image {_SKIP_HINT}") from e
    except DECODE_ERRORS as e:
        reason = bomb_reason(e) or f"not a readable image ({e})"
        raise dataset_error(path, "image", reason, f"re-encode the image {_SKIP_HINT}") from None
    if fmt == "JPEG":
        with open(path, "rb") as f:
            f.seek(0, 2)
            n = f.tell()
            f.seek(max(0, n - 1024))
            tail = f.read()
        if b"\xff\xd9" not in tail:
            raise dataset_error(
                path, "image", "truncated JPEG (no end-of-image marker)", f"re-download it {_SKIP_HINT}"
            )
    return h, w, orientation


#: What :class:`WSLDataset` does with a box that extends past the image (see its ``box_policy``).
BOX_POLICIES = ("clip", "strict")


def pick_single_label(boxes: np.ndarray, box_labels: np.ndarray, difficult: np.ndarray) -> int:
    """Class of the largest non-difficult object (box area, first on ties; any object if all difficult)."""
    candidates = np.flatnonzero(~difficult) if (~difficult).any() else np.arange(len(box_labels))
    b = boxes[candidates]
    areas = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    return int(box_labels[candidates[int(np.argmax(areas))]])


def _check_size(rec: Record, size: tuple[int, int]) -> None:
    """Raise when the image's ``(H, W)`` differs from the size its annotation declares."""
    if rec.size is not None and size != rec.size:
        raise dataset_error(
            rec.image_path,
            "size",
            f"image is {size[1]}x{size[0]} but the annotation says {rec.size[1]}x{rec.size[0]} (WxH)",
            "fix the annotation's size or the image",
        )


@dataclass(frozen=True)
class DatasetOptions:
    """What every reader of :class:`WSLDataset` takes besides its files: the one object a reader hands its
    base class. The readers keep these as keyword arguments of their own (the names users type; the data
    module reads a reader's signature) and pick them from their keywords in one line,
    ``apply_fields(DatasetOptions, None, locals())`` (:func:`wsl.options.apply_fields`) at the top of
    ``__init__``.

    Attributes:
        image_size: side ``S`` of the network input.
        train: the training transform (augmentation) instead of the evaluation one.
        transform: a transform of the ``uint8 (3, H, W)`` image; None: :func:`build_transform`.
        with_annotations: items carry boxes, masks and the ignore region.
        single_label: one class per image (the largest object's), one-hot labels.
        skip_bad: skip bad samples with one warning instead of raising :class:`DatasetError`.
        with_images: items carry ``image``; False: annotation-only items (see :class:`WSLDataset`).
        box_policy: a box past the image edge, one of :data:`BOX_POLICIES`.
    """

    image_size: int = 128
    train: bool = False
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None
    with_annotations: bool = False
    single_label: bool = False
    skip_bad: bool = False
    with_images: bool = True
    box_policy: str = "clip"


class WSLDataset(Dataset):
    """Base of :class:`VOCDataset` and :class:`COCODataset`: items as specified in ``docs/design.md``.

    Subclasses parse their annotation files into :class:`Record` s, call :meth:`_finalize`, and implement
    :meth:`_load_masks`; their keyword arguments reach this class as one :class:`DatasetOptions`.

    Item keys: ``image`` float ``(3, S, S)`` normalised, ``labels`` float ``(C,)`` multi-hot (one-hot
    with ``single_label``), ``image_id`` str, ``orig_size`` ``(H, W)``; with annotations also ``boxes``
    int64 ``(K, 4)``, ``box_labels`` int64 ``(K,)``, ``difficult`` bool ``(K,)``, ``masks`` bool
    ``(K, H, W)`` or None and ``ignore`` bool ``(H, W)`` or None. Boxes and masks stay at the original
    image size ``orig_size`` and in the unflipped orientation, whatever the transform does to ``image``.

    Boxes past the image edge follow one rule for every format, ``box_policy``: ``"clip"`` (default)
    clips a box that extends past the image (VOC's ``xmin=0`` or ``xmax=width+1``, COCO's float
    boxes a little past the edge) to the image and counts such boxes in one warning; ``"strict"``
    makes them a :class:`DatasetError` naming the file, the object and the field. A box with no
    pixel inside the image is an error under both. Boxes are fitted against the size the annotation
    declares, or the decoded image's when it declares none.

    With ``with_images=False`` (or :meth:`without_images`) items have every key but ``image`` and no
    image is decoded: ``orig_size`` is the size the annotation declares, and the image file is not
    opened (nor required to exist when the dataset is built without images, as wsolevaluation scores
    saved maps from its metadata alone); an image whose annotation declares no size has its
    ``orig_size`` read from the file's header (evaluating saved CAMs needs no pixels).

    With :attr:`keep_pixels` (or :meth:`with_pixels`) items also carry ``pixels``, the decoded original
    ``uint8 (H, W, 3)`` RGB tensor before the transform (the array ``image`` was made from, not a copy),
    for sinks that draw pictures at the original size: the image is decoded once. Off by default: it
    costs ``H · W · 3`` bytes per image in every batch.
    """

    def __init__(self, class_names: Sequence[str], options: DatasetOptions | None = None) -> None:
        opts = options if options is not None else DatasetOptions()
        if opts.box_policy not in BOX_POLICIES:
            raise unknown_choice("box_policy", opts.box_policy, BOX_POLICIES)
        if len(class_names) == 0:
            raise ValueError("class_names: got an empty list; pass at least one class name")
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"class_names: duplicate names in {list(class_names)}")
        self.class_names = list(class_names)
        self.class_to_index = {n: i for i, n in enumerate(self.class_names)}
        self.image_size = opts.image_size
        self.train = opts.train
        self.transform = (
            opts.transform
            if opts.transform is not None
            else build_transform(opts.image_size, train=opts.train)
        )
        self.with_annotations = opts.with_annotations
        self.single_label = opts.single_label
        self.skip_bad = opts.skip_bad
        self.with_images = opts.with_images
        self.box_policy = opts.box_policy
        self.keep_pixels = False
        self.records: list[Record] = []
        self.num_skipped = 0
        self._exif_reported = False

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return len(self.class_names)

    def _finalize(self, records: list[Record], bad: BadSamples) -> None:
        """Validate images (existence, or header with skip_bad), compute labels, emit the skip warning."""
        kept = []
        rotated: list[tuple[Path, int]] = []
        clipped: list[str] = []  # the first clipped box of each image
        num_clipped = 0
        for rec in records:
            try:
                fitted = self._validate(rec, rotated)
            except DatasetError as e:
                bad.add(e)
                continue
            if fitted:
                clipped.append(fitted[0])
                num_clipped += len(fitted)
            self._label(rec)
            kept.append(rec)
        self.records = kept
        self.num_skipped = len(bad)
        bad.warn()
        self._warn_finalized(bad.what, clipped, num_clipped, rotated)
        if not self.records:
            raise DatasetError(
                f"{bad.what}: no usable samples (all {len(bad)} were bad). Fix: see the warning "
                "above for the first problem"
            )

    def _validate(self, rec: Record, rotated: list[tuple[Path, int]]) -> list[str]:
        """Check one record's image (its header with skip_bad, else that the file exists, unless it is
        never opened) and fit its boxes; returns the notes of the clipped boxes. Raises DatasetError."""
        if self.skip_bad and not self._size_suffices(rec):
            h, w, orientation = check_image_header_orientation(rec.image_path)
            _check_size(rec, (h, w))
            if orientation != 1:
                rotated.append((rec.image_path, orientation))
            rec.size = (h, w)
        elif not self._size_suffices(rec) and not rec.image_path.is_file():
            raise dataset_error(
                rec.image_path,
                "image",
                f"file not found for image id {rec.image_id!r}{self._image_search_note(rec)}",
                f"restore the image {_SKIP_HINT}",
            )
        if rec.size is None:
            return []
        rec.boxes, fitted = self._fit_boxes(rec, rec.size, np.arange(len(rec.boxes)))
        return fitted

    def _label(self, rec: Record) -> None:
        """Set ``rec.labels`` (multi-hot, or one-hot of the largest object's class with ``single_label``,
        whose other objects are then dropped) and ``rec.extra = (extra, kept objects, number of objects)``."""
        labels = np.zeros(self.num_classes, np.float32)
        if self.single_label:
            c = pick_single_label(rec.boxes, rec.box_labels, rec.difficult)
            labels[c] = 1.0
            keep = rec.box_labels == c
            rec.extra = (rec.extra, np.flatnonzero(keep), len(rec.box_labels))
            rec.boxes, rec.box_labels, rec.difficult = (
                rec.boxes[keep],
                rec.box_labels[keep],
                rec.difficult[keep],
            )
        else:
            labels[rec.box_labels] = 1.0
            rec.extra = (rec.extra, None, len(rec.box_labels))
        rec.labels = labels

    def _warn_finalized(
        self, what: str, clipped: list[str], num_clipped: int, rotated: list[tuple[Path, int]]
    ) -> None:
        """One warning for the clipped boxes, one for the images with an EXIF orientation other than 1."""
        if clipped:
            warnings.warn(
                f"{what}: clipped {num_clipped} box(es) of {len(clipped)} image(s) that extend past "
                "the image to its edges (box_policy='clip'; 'strict' makes them errors); "
                f"first: {clipped[0]}",
                UserWarning,
                stacklevel=4,
            )
        if rotated:
            self._exif_reported = True
            shown = ", ".join(f"{p} ({o})" for p, o in rotated[:10])
            more = f" and {len(rotated) - 10} more" if len(rotated) > 10 else ""
            warnings.warn(
                f"{what}: {len(rotated)} image(s) with an EXIF orientation other than 1: {shown}{more}. "
                f"{_EXIF_NOTE}",
                UserWarning,
                stacklevel=4,
            )

    def _fit_boxes(
        self, rec: Record, size: tuple[int, int], objects: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        """``rec.boxes`` fitted to the ``(H, W)`` image under ``box_policy``, and a description of each
        clipped box. ``objects`` are the boxes' indices in the annotation file (for messages).

        A box that extends past the image is clipped to it (``clip``) or is an error (``strict``); a box
        with no pixel inside the image is an error under both.
        """
        h, w = size
        boxes = rec.boxes
        outside = (boxes[:, 0] < 0) | (boxes[:, 1] < 0) | (boxes[:, 2] > w - 1) | (boxes[:, 3] > h - 1)
        if not outside.any():
            return boxes, []
        fitted = boxes.copy()
        fitted[:, 0::2] = fitted[:, 0::2].clip(0, w - 1)
        fitted[:, 1::2] = fitted[:, 1::2].clip(0, h - 1)
        path = self._annotation_path(rec)
        notes = []
        for k in np.flatnonzero(outside).tolist():
            where, box = self._box_where(rec, int(objects[k]), boxes[k])
            x0, y0, x1, y1 = boxes[k].tolist()
            if x0 > w - 1 or y0 > h - 1 or x1 < 0 or y1 < 0:
                raise dataset_error(
                    path, where, f"{box} lies outside the {w}x{h} image", f"correct the box {_SKIP_HINT}"
                )
            if self.box_policy == "strict":
                raise dataset_error(
                    path,
                    where,
                    f"{box} extends past the {w}x{h} image",
                    f"correct the box, pass box_policy='clip' to clip such boxes to the image, {_SKIP_HINT}",
                )
            notes.append(f"{path}: {where}: {box} in the {w}x{h} image")
        return fitted, notes

    def _box_where(self, rec: Record, k: int, box: np.ndarray) -> tuple[str, str]:
        """The field of object ``k`` and its box as the annotation file writes it."""
        if rec.box_where is not None:
            return rec.box_where[k]
        x0, y0, x1, y1 = box.tolist()
        return f"object[{k}] box", f"box (x0, y0, x1, y1)=({x0}, {y0}, {x1}, {y1}) (0-based inclusive)"

    def _check_boxes(self, rec: Record, size: tuple[int, int]) -> np.ndarray:
        """The item's boxes fitted to the decoded image (a no-op when the annotation declared the size)."""
        _, keep, _ = rec.extra
        objects = keep if keep is not None else np.arange(len(rec.boxes))
        return self._fit_boxes(rec, size, objects)[0]

    def _size_suffices(self, rec: Record) -> bool:
        """Whether the image file is never opened: items without ``image`` whose annotation declares the
        size (wsolevaluation scores saved maps from its metadata alone)."""
        return not self.with_images and rec.size is not None

    def _annotation_path(self, rec: Record) -> str:
        return str(rec.image_path)

    def _image_search_note(self, rec: Record) -> str:
        """Appended to "file not found" (e.g. the other file names a reader tried)."""
        return ""

    def _report_orientation(self, path: Path, orientation: int) -> None:
        """Warn about the first file whose EXIF orientation is not 1 (once per dataset and process)."""
        if orientation == 1 or self._exif_reported:
            return
        self._exif_reported = True
        warnings.warn(
            f"{path}: EXIF orientation {orientation} (viewers show it rotated or mirrored). {_EXIF_NOTE} "
            "Further such files are not reported; skip_bad=True lists them all when the dataset is built",
            UserWarning,
            stacklevel=3,
        )

    def _load_masks(
        self, extra: Any, num_objects: int, size: tuple[int, int]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Instance masks bool ``(num_objects, H, W)`` in annotation-file order, and ignore ``(H, W)``."""
        return None, None

    def __len__(self) -> int:
        return len(self.records)

    def without_images(self) -> WSLDataset:
        """A view of this dataset (sharing its parsed records) whose items lack ``image``: nothing is
        decoded, ``orig_size`` is the declared size (else read from the image header)."""
        view = copy.copy(self)
        view.with_images = False
        return view

    def with_pixels(self) -> WSLDataset:
        """A view of this dataset (sharing its parsed records) whose items also carry ``pixels``, the
        decoded ``uint8 (H, W, 3)`` original (see :attr:`keep_pixels`)."""
        view = copy.copy(self)
        view.keep_pixels = True
        return view

    def __getitem__(self, index: int) -> dict[str, Any]:
        rec = self.records[index]
        item: dict[str, Any] = {}
        if self.with_images:
            img, orientation = read_image_orientation(rec.image_path)
            h, w = img.shape[:2]
            _check_size(rec, (h, w))
            item["image"] = self.transform(torch.from_numpy(img).permute(2, 0, 1).contiguous())
            if self.keep_pixels:
                item["pixels"] = torch.from_numpy(img)
        elif rec.size is not None:  # the declared size: the file is not opened
            (h, w), orientation = rec.size, 1
        else:
            h, w, orientation = check_image_header_orientation(rec.image_path)
        self._report_orientation(rec.image_path, orientation)
        item.update(labels=torch.from_numpy(rec.labels.copy()), image_id=rec.image_id, orig_size=(h, w))
        if self.with_annotations:
            boxes = self._check_boxes(rec, (h, w))
            extra, keep, num_objects = rec.extra
            masks, ignore = self._load_masks(extra, num_objects, (h, w))
            if masks is not None and keep is not None:
                masks = masks[keep]
            item.update(
                boxes=torch.from_numpy(boxes.astype(np.int64)),
                box_labels=torch.from_numpy(rec.box_labels.astype(np.int64)),
                difficult=torch.from_numpy(rec.difficult.astype(bool)),
                masks=None if masks is None else torch.from_numpy(masks),
                ignore=None if ignore is None else torch.from_numpy(ignore),
            )
        return item
