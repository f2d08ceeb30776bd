"""Pascal VOC format: ``JPEGImages``, ``Annotations``, ``ImageSets/Main``, optional ``SegmentationObject``.

The reader (:class:`VOCDataset`), the writer (:class:`VOCWriter`) and their registry entry ``voc``.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from wsl.options import apply_fields

from .base import DatasetOptions, Record, WSLDataset, encode_jpeg
from .errors import BadSamples, DatasetError, dataset_error
from .formats import DatasetFormat, DatasetWriter, register_format
from .metadata import check_relative_name, read_metadata_text

__all__ = [
    "IMAGE_EXTENSIONS",
    "VOC_CLASSES",
    "VOCDataset",
    "VOCWriter",
    "default_class_names",
    "read_class_names",
    "parse_voc_xml",
    "voc_palette",
]

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

_SKIP = "or pass skip_bad=True to skip such samples"

#: Extensions of ``JPEGImages/ID.EXT`` tried in this order; the first file that exists is the image.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG")


def read_class_names(root: str | Path) -> list[str] | None:
    """Class names from ``ROOT/classes.txt`` (one per line, the synthetic sets write it), else None."""
    path = Path(root) / "classes.txt"
    if not path.is_file():
        return None
    names = [line.strip() for line in read_metadata_text(path).splitlines() if line.strip()]
    if not names:
        raise dataset_error(
            path, "class names", "file is empty", "write one class name per line or delete it"
        )
    return names


def default_class_names(root: str | Path, split: str = "train") -> list[str]:
    """The class names of a VOC root: ``ROOT/classes.txt`` when present, else the 20 VOC classes."""
    return read_class_names(root) or list(VOC_CLASSES)


def _int_field(obj: ET.Element, tag: str, path: Path, where: str, default: int | None = None) -> int:
    node = obj.find(tag)
    if node is None or node.text is None or not node.text.strip():
        if default is not None:
            return default
        raise dataset_error(path, f"{where}/{tag}", "missing", f"add <{tag.split('/')[-1]}> {_SKIP}")
    try:
        return int(round(float(node.text)))
    except ValueError as e:
        raise dataset_error(
            path, f"{where}/{tag}", f"{node.text.strip()!r} is not a number", f"write an integer {_SKIP}"
        ) from e


def parse_voc_xml(
    path: Path, class_to_index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int] | None]:
    """Parse one VOC annotation file.

    Boxes are converted from VOC's 1-based inclusive ``bndbox`` to 0-based inclusive ``(x0, y0, x1, y1)``,
    and are not fitted to the image here: :class:`VOCDataset` applies its ``box_policy``.

    Returns:
        ``boxes`` int64 ``(K, 4)``, ``box_labels`` int64 ``(K,)``, ``difficult`` bool ``(K,)`` and the
        declared ``(H, W)`` (None when the ``size`` element is absent).

    Raises:
        DatasetError: missing or malformed file, unknown class name, degenerate box, no objects.
    """
    if not path.is_file():
        raise dataset_error(path, "annotation", "file not found", f"restore the XML file {_SKIP}")
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        raise dataset_error(path, "XML", f"malformed ({e})", f"fix or re-download the file {_SKIP}") from e
    root = tree.getroot()
    size = None
    size_node = root.find("size")
    if size_node is not None and size_node.find("width") is not None:
        w = _int_field(size_node, "width", path, "size")
        h = _int_field(size_node, "height", path, "size")
        if w > 0 and h > 0:
            size = (h, w)
    boxes, labels, difficult = [], [], []
    for k, obj in enumerate(root.findall("object")):
        where = f"object[{k}]"
        name_node = obj.find("name")
        name = (name_node.text or "").strip() if name_node is not None else ""
        if name not in class_to_index:
            known = ", ".join(class_to_index)
            raise dataset_error(
                path,
                f"{where}/name",
                f"unknown class name {name!r} (known: {known})",
                f"fix the name, pass class_names that include it, {_SKIP}",
            )
        x0 = _int_field(obj, "bndbox/xmin", path, where) - 1
        y0 = _int_field(obj, "bndbox/ymin", path, where) - 1
        x1 = _int_field(obj, "bndbox/xmax", path, where) - 1
        y1 = _int_field(obj, "bndbox/ymax", path, where) - 1
        if x1 < x0 or y1 < y0:
            raise dataset_error(
                path,
                f"{where}/bndbox",
                f"degenerate box xmin={x0 + 1} xmax={x1 + 1} ymin={y0 + 1} ymax={y1 + 1} (1-based inclusive)",
                f"make xmax >= xmin and ymax >= ymin {_SKIP}",
            )
        boxes.append((x0, y0, x1, y1))
        labels.append(class_to_index[name])
        difficult.append(bool(_int_field(obj, "difficult", path, where, default=0)))
    if not boxes:
        raise dataset_error(
            path,
            "object",
            "image has no objects, so it has no image-level label",
            f"annotate at least one object, remove the id from the split file, {_SKIP}",
        )
    return (
        np.asarray(boxes, np.int64).reshape(-1, 4),
        np.asarray(labels, np.int64),
        np.asarray(difficult, bool),
        size,
    )


class VOCDataset(WSLDataset):
    """Pascal-VOC-layout dataset (the real VOC and the synthetic set written as VOC).

    Layout: ``ROOT/JPEGImages/ID.jpg`` (or ``.jpeg``, ``.png``: the first of :data:`IMAGE_EXTENSIONS`
    that exists), ``ROOT/Annotations/ID.xml``, ``ROOT/ImageSets/Main/SPLIT.txt`` and
    optionally ``ROOT/SegmentationObject/ID.png`` (palette PNG, value ``i+1`` = the ``i``-th object of the
    XML, 255 = boundary, returned as ``ignore``). All XML files are parsed at construction, so bad
    annotations fail here and not inside a DataLoader worker.

    Labels are multi-hot over ``class_names``; a class whose objects are all ``difficult`` is still
    positive (``difficult`` is exposed per object so metrics can ignore those boxes). With
    ``single_label=True`` the label is the class of the largest non-difficult object (box area, first
    on ties) and only that class's objects are returned as annotations.

    Images are read in their stored pixel grid, as the annotations are written; a file with an EXIF
    orientation other than 1 is reported in one warning, not rotated (see
    :func:`~wsl.data.base.read_image`).

    Args:
        root: dataset root.
        split: name of ``ImageSets/Main/SPLIT.txt`` (e.g. ``train``, ``val``, ``trainval``, ``test``):
            one image id per line, the whole stripped line (ids may contain spaces); a per-class
            ``CLASS_SPLIT`` file (``ID LABEL`` lines) gives its ids.
        class_names: ordered class names; default ``ROOT/classes.txt`` when present, else the 20 VOC classes.
        image_size: side ``S`` of the square network input.
        train: use the training transform (flip + jitter) instead of the plain resize.
        transform: a custom transform uint8 ``(3, H, W)`` → float ``(3, S, S)``; overrides ``train``.
        with_annotations: also return boxes, labels, difficult flags, masks and ignore.
        single_label: one class per image (see above).
        skip_bad: skip bad samples (counted in one warning) instead of raising :class:`DatasetError`.
            Images are then checked up front by a cheap header check (format, size, JPEG end marker);
            an image that passes it but still fails to decode raises at load time.
        with_images: decode and return ``image``; False gives annotation-only items (no decoding,
            ``orig_size`` from the image header), e.g. to evaluate saved CAMs.
        box_policy: ``"clip"`` (default) clips boxes that extend past the image (``xmin=0``,
            ``xmax=width+1``) with one count warning; ``"strict"`` makes them errors (see
            :class:`~wsl.data.base.WSLDataset`).

    Example:
        >>> ds = VOCDataset("VOCdevkit/VOC2007", "test", with_annotations=True)  # doctest: +SKIP
        >>> item = ds[0]; item["boxes"]  # int64 (K, 4), 0-based inclusive, original size  # doctest: +SKIP
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
        box_policy: str = "clip",
    ) -> None:
        options = apply_fields(DatasetOptions, None, locals())  # the keywords as given
        self.root = Path(root)
        self.split = split
        if class_names is None:
            class_names = default_class_names(self.root)
        super().__init__(class_names, options)
        ids = self._read_split()
        bad = BadSamples(skip_bad, f"VOCDataset({self.root}, {split!r})")
        records = []
        split_file = self.root / "ImageSets" / "Main" / f"{split}.txt"
        for number, image_id in ids:
            xml = self.root / "Annotations" / f"{image_id}.xml"
            try:
                check_relative_name(image_id, f"{split_file}:{number}", "image id")
                boxes, labels, difficult, size = parse_voc_xml(xml, self.class_to_index)
            except DatasetError as e:
                bad.add(e)
                continue
            records.append(
                Record(
                    image_id,
                    self._image_path(image_id),
                    boxes,
                    labels,
                    difficult,
                    size,
                    self.root / "SegmentationObject" / f"{image_id}.png",
                    box_where=[
                        (
                            f"object[{k}]/bndbox",
                            f"box xmin={x0 + 1} ymin={y0 + 1} xmax={x1 + 1} ymax={y1 + 1} "
                            "(1-based inclusive)",
                        )
                        for k, (x0, y0, x1, y1) in enumerate(boxes.tolist())
                    ],
                )
            )
        self._finalize(records, bad)

    def _image_path(self, image_id: str) -> Path:
        """``JPEGImages/ID`` with the first of :data:`IMAGE_EXTENSIONS` that exists (``.jpg`` if none)."""
        folder = self.root / "JPEGImages"
        for ext in IMAGE_EXTENSIONS:
            path = folder / f"{image_id}{ext}"
            if path.is_file():
                return path
        return folder / f"{image_id}.jpg"

    def _image_search_note(self, rec: Record) -> str:
        return f" (also tried {', '.join(IMAGE_EXTENSIONS[1:])})"

    def _read_split(self) -> list[tuple[int, str]]:
        """``(line number, image id)`` of the split file's non-blank lines."""
        path = self.root / "ImageSets" / "Main" / f"{self.split}.txt"
        if not path.is_file():
            folder = path.parent
            have = (
                sorted(p.stem for p in folder.glob("*.txt") if "_" not in p.stem) if folder.is_dir() else []
            )
            raise dataset_error(
                path,
                "split",
                f"split file not found (available splits: {have or 'none'})",
                "pass an existing split name or create the file with one image id per line",
            )
        numbered = [
            (n, line.strip())
            for n, line in enumerate(read_metadata_text(path).splitlines(), 1)
            if line.strip()
        ]
        lines = [line for _, line in numbered]
        # SPLIT.txt holds one id per line, read whole (ids may contain spaces); a per-class file
        # CLASS_SPLIT.txt holds "ID LABEL" with LABEL in -1, 0, 1.
        labelled = "_" in self.split and all(
            len(parts) == 2 and parts[1] in ("-1", "0", "1") for parts in (ln.rsplit(None, 1) for ln in lines)
        )
        ids = [(n, ln.rsplit(None, 1)[0] if labelled else ln) for n, ln in numbered]
        if not ids:
            raise dataset_error(path, "split", "split file is empty", "list one image id per line")
        return ids

    def _annotation_path(self, rec: Record) -> str:
        return str(self.root / "Annotations" / f"{rec.image_id}.xml")

    def _load_masks(
        self, extra: Path, num_objects: int, size: tuple[int, int]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        path = extra
        if not path.is_file():
            return None, None
        try:
            with Image.open(path) as im:
                if im.mode not in ("P", "L"):
                    raise dataset_error(
                        path,
                        "mode",
                        f"PNG mode {im.mode!r} is not indexed",
                        "save SegmentationObject PNGs as palette ('P') or grey ('L') images",
                    )
                seg = np.asarray(im)
        except DatasetError:
            raise
        except (OSError, SyntaxError, ValueError) as e:
            raise dataset_error(path, "mask", f"cannot decode ({e})", "re-download or delete the PNG") from e
        if seg.shape != size:
            raise dataset_error(
                path,
                "size",
                f"mask is {seg.shape[1]}x{seg.shape[0]} but the image is {size[1]}x{size[0]}",
                "use the mask that belongs to this image",
            )
        k = num_objects
        values = np.unique(seg)
        unexpected = values[(values > k) & (values != 255)]
        if len(unexpected):
            raise dataset_error(
                path,
                "mask values",
                f"values {unexpected.tolist()} but the XML has {k} objects",
                "make value i+1 mark the i-th XML object (255 = boundary)",
            )
        masks = seg[None] == np.arange(1, k + 1, dtype=seg.dtype)[:, None, None]
        return masks, seg == 255


# ----------------------------------------------------------------------------------------------- writing


def voc_palette() -> list[int]:
    """The standard VOC colour map (256 RGB triples, flattened) of the palette PNGs."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


_PALETTE = voc_palette()


def _png_bytes(index_map: np.ndarray) -> bytes:
    im = Image.fromarray(index_map.astype(np.uint8), mode="P")
    im.putpalette(_PALETTE)
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=6, optimize=False)
    return buf.getvalue()


def _voc_xml(
    image_id: str,
    size: tuple[int, int],
    boxes: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    folder: str,
    database: str,
) -> str:
    h, w = size
    objs = []
    for (x0, y0, x1, y1), lab in zip(boxes.tolist(), labels.tolist(), strict=True):
        objs.append(
            f"  <object>\n    <name>{classes[lab]}</name>\n    <pose>Unspecified</pose>\n"
            "    <truncated>0</truncated>\n    <difficult>0</difficult>\n"
            f"    <bndbox>\n      <xmin>{x0 + 1}</xmin>\n      <ymin>{y0 + 1}</ymin>\n"
            f"      <xmax>{x1 + 1}</xmax>\n      <ymax>{y1 + 1}</ymax>\n    </bndbox>\n  </object>\n"
        )
    return (
        f"<annotation>\n  <folder>{folder}</folder>\n  <filename>{image_id}.jpg</filename>\n"
        f"  <source>\n    <database>{database}</database>\n  </source>\n"
        f"  <size>\n    <width>{w}</width>\n    <height>{h}</height>\n    <depth>3</depth>\n  </size>\n"
        f"  <segmented>1</segmented>\n{''.join(objs)}</annotation>\n"
    )


class VOCWriter(DatasetWriter):
    """Writes the VOC layout that :class:`VOCDataset` reads.

    Per image: ``JPEGImages/ID.jpg``, ``Annotations/ID.xml`` (1-based inclusive ``bndbox``, ``difficult``
    0), ``SegmentationObject/ID.png`` and ``SegmentationClass/ID.png`` (palette PNGs, value ``k+1`` =
    the ``k``-th object / class ``k``). Per split: ``ImageSets/Main|Segmentation/SPLIT.txt`` (and
    ``trainval.txt`` when both ``train`` and ``val`` are written), and ``classes.txt``.

    ``info`` keys used: ``folder`` (the XML ``<folder>``) and ``database`` (``<source><database>``).
    See :class:`~wsl.data.formats.DatasetWriter` for the arguments and the protocol.
    """

    def prepare(self, splits: Sequence[str]) -> None:
        for sub in (
            "JPEGImages",
            "Annotations",
            "SegmentationObject",
            "SegmentationClass",
            "ImageSets/Main",
            "ImageSets/Segmentation",
        ):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def write_image(
        self,
        split: str,
        image_id: str,
        image: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        masks: np.ndarray,
    ) -> str:
        root = self.root
        (root / "JPEGImages" / f"{image_id}.jpg").write_bytes(encode_jpeg(image, self.jpeg_quality))
        obj_map = np.zeros(image.shape[:2], np.uint8)
        cls_map = np.zeros(image.shape[:2], np.uint8)
        for k, (m, lab) in enumerate(zip(masks, labels.tolist(), strict=True)):
            obj_map[m] = k + 1
            cls_map[m] = lab + 1
        (root / "SegmentationObject" / f"{image_id}.png").write_bytes(_png_bytes(obj_map))
        (root / "SegmentationClass" / f"{image_id}.png").write_bytes(_png_bytes(cls_map))
        xml = _voc_xml(
            image_id,
            image.shape[:2],
            boxes,
            labels,
            self.class_names,
            self.info.get("folder", "VOC"),
            self.info.get("database", ""),
        )
        (root / "Annotations" / f"{image_id}.xml").write_text(xml)
        return image_id

    def finish(self, entries: Mapping[str, Sequence[Any]]) -> None:
        root = self.root
        for sp, ids in entries.items():
            text = "".join(f"{i}\n" for i in ids)
            for sub in ("Main", "Segmentation"):
                (root / "ImageSets" / sub / f"{sp}.txt").write_text(text)
        if "train" in entries and "val" in entries:
            text = "".join(f"{i}\n" for i in [*entries["train"], *entries["val"]])
            for sub in ("Main", "Segmentation"):
                (root / "ImageSets" / sub / "trainval.txt").write_text(text)
        (root / "classes.txt").write_text("".join(f"{c}\n" for c in self.class_names))


register_format(DatasetFormat("voc", VOCDataset, default_class_names, VOCWriter))
