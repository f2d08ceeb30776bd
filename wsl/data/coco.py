"""COCO format (``annotations/instances_SPLIT.json`` + ``SPLIT/*.jpg``), masks via pycocotools.

The reader (:class:`COCODataset`), the writer (:class:`COCOWriter`) and their registry entry ``coco``.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from wsl.options import apply_fields

from .base import DatasetOptions, Record, WSLDataset, encode_jpeg
from .errors import BadSamples, DatasetError, dataset_error
from .formats import DatasetFormat, DatasetWriter, register_format, unknown_choice
from .metadata import check_relative_name

__all__ = [
    "EMPTY_IMAGE_POLICIES",
    "COCODataset",
    "COCOWriter",
    "coco_box_to_xyxy",
    "default_class_names",
    "image_ids_of_file_names",
    "read_coco_categories",
    "decode_segmentation",
    "mask_to_coco_segmentation",
]

_SKIP = "or pass skip_bad=True to skip such samples"

#: What :class:`COCODataset` does with an image without objects (see its ``empty_images``).
EMPTY_IMAGE_POLICIES = ("auto", "keep", "skip", "error")


def coco_box_to_xyxy(
    bbox: Sequence[float], width: int, height: int, clip: bool = True
) -> tuple[int, int, int, int]:
    """COCO ``[x, y, w, h]`` (float, pixel edges) → 0-based inclusive ``(x0, y0, x1, y1)``.

    ``x0 = floor(x)``, ``y0 = floor(y)``, ``x1 = ceil(x + w) - 1``, ``y1 = ceil(y + h) - 1``: every pixel the
    float box touches, then clipped to the image (unless ``clip=False``, as :class:`COCODataset` calls it
    to apply its ``box_policy``). A box ``[x0, y0, x1 - x0 + 1, y1 - y0 + 1]`` with integer corners
    therefore round-trips exactly.

    Raises:
        ValueError: ``w`` or ``h`` not positive, or (with ``clip``) the box lies entirely outside the image.
    """
    x, y, w, h = (float(v) for v in bbox)
    if not (w > 0 and h > 0) or not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"degenerate box [x, y, w, h]={list(bbox)} (w and h must be > 0)")
    x0, y0, x1, y1 = math.floor(x), math.floor(y), math.ceil(x + w) - 1, math.ceil(y + h) - 1
    if not clip:
        return x0, y0, x1, y1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, width - 1), min(y1, height - 1)
    if x1 < x0 or y1 < y0:
        raise ValueError(f"box [x, y, w, h]={list(bbox)} lies outside the {width}x{height} image")
    return x0, y0, x1, y1


def image_ids_of_file_names(file_names: Sequence[str]) -> list[str]:
    """The image id of each COCO ``file_name``: unique within a file, stable, readable.

    The id is the file name without its extension, folders included (``a/x.jpg`` → ``a/x``, and
    ``COCO_val2014_000000000042.jpg`` → ``COCO_val2014_000000000042``): two images ``a/x.jpg`` and
    ``b/x.jpg`` get two ids, so overlays and saved-CAM files never mix them up. Names that would
    still share an id (``a/x.jpg`` and ``a/x.png``) keep their extension. A file name listed twice
    gets the same id twice (the reader rejects the second listing).

    Example:
        >>> image_ids_of_file_names(["a/x.jpg", "b/x.jpg", "y.png", "z.jpg", "z.png"])
        ['a/x', 'b/x', 'y', 'z.jpg', 'z.png']
    """
    posix = [Path(n).as_posix() for n in file_names]
    bare = [Path(n).with_suffix("").as_posix() if Path(n).suffix else n for n in posix]
    owners: dict[str, set[str]] = {}
    for b, n in zip(bare, posix, strict=True):
        owners.setdefault(b, set()).add(n)
    return [n if len(owners[b]) > 1 else b for b, n in zip(bare, posix, strict=True)]


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        have = sorted(p.name for p in path.parent.glob("instances_*.json")) if path.parent.is_dir() else []
        raise dataset_error(
            path,
            "annotation file",
            f"not found (present: {have or 'none'})",
            "pass an existing split or place instances_SPLIT.json in ROOT/annotations/",
        )
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of the JSON
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise dataset_error(path, "JSON", f"malformed ({e})", "fix or re-download the file") from e
    if not isinstance(data, dict):
        raise dataset_error(path, "JSON", "top level is not an object", "write a COCO instances file")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise dataset_error(
                path, key, "missing or not a list", f"add the {key!r} list of a COCO instances file"
            )
    return data


def _parse_categories(cats: Any, path: Path) -> list[tuple[int, str]]:
    out = []
    for k, c in enumerate(cats):
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or not isinstance(c.get("name"), str):
            raise dataset_error(
                path,
                f"categories[{k}]",
                f"{c!r} lacks an int 'id' or a str 'name'",
                "give every category an int id and a name",
            )
        out.append((c["id"], c["name"]))
    if not out:
        raise dataset_error(path, "categories", "empty list", "list the categories")
    if len({i for i, _ in out}) != len(out):
        raise dataset_error(path, "categories", "duplicate category ids", "make category ids unique")
    return sorted(out)


def read_coco_categories(path: str | Path) -> list[str]:
    """Category names sorted by category id, cheaply.

    COCO files end with the ``categories`` list, so the tail of the file is tried first; the whole file
    is parsed only when that fails.
    """
    path = Path(path)
    if path.is_file():
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 65536))
            tail = f.read().decode("utf-8", errors="ignore")
        pos = tail.rfind('"categories"')
        if pos >= 0:
            start = tail.find("[", pos)
            try:
                cats, _ = json.JSONDecoder().raw_decode(tail[start:])
                return [n for _, n in _parse_categories(cats, path)]
            except (json.JSONDecodeError, DatasetError):
                pass
    return [n for _, n in _parse_categories(_load_json(path)["categories"], path)]


def default_class_names(root: str | Path, split: str = "train") -> list[str]:
    """The class names of a COCO root: the categories of ``instances_SPLIT.json`` sorted by id."""
    return read_coco_categories(Path(root) / "annotations" / f"instances_{split}.json")


def _check_segmentation(seg: Any) -> str | None:
    """Return None when ``seg`` is a COCO polygon list or RLE dict, else a description of the problem."""
    if isinstance(seg, list):
        for poly in seg:
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                return "a polygon must be a flat list of >= 3 (x, y) pairs"
        return None
    if isinstance(seg, dict):
        if not isinstance(seg.get("size"), list) or len(seg["size"]) != 2 or "counts" not in seg:
            return "an RLE needs 'size' [h, w] and 'counts'"
        if not isinstance(seg["counts"], (list, str)):
            return "RLE 'counts' must be a list (uncompressed) or a str (compressed)"
        return None
    return f"expected a polygon list or an RLE dict, got {type(seg).__name__}"


def decode_segmentation(seg: list | dict, height: int, width: int) -> np.ndarray:
    """COCO segmentation (polygons, uncompressed or compressed RLE) → bool ``(H, W)``, like ``annToMask``."""
    from pycocotools import mask as mask_utils

    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, height, width))
    elif isinstance(seg["counts"], list):
        rle = mask_utils.frPyObjects(seg, height, width)
    else:
        rle = {"size": seg["size"], "counts": seg["counts"].encode("ascii")}
    with warnings.catch_warnings():  # pycocotools' numpy-2 copy-keyword DeprecationWarning
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


class COCODataset(WSLDataset):
    """COCO-layout dataset (real COCO and the synthetic set written as COCO).

    Layout: ``ROOT/annotations/instances_SPLIT.json`` and images in ``ROOT/SPLIT/`` (e.g. ``train2014``)
    or ``ROOT/images/SPLIT/``. Category ids may be non-contiguous; class indices follow the ids in
    increasing order. Boxes use :func:`coco_box_to_xyxy` (floor/ceil to the touched pixels, clipped).
    Masks are decoded with pycocotools from polygons or RLE; an object without a segmentation gets its
    filled box as mask.

    Image ids are the ``file_name`` without its extension, folders included (``a/x.jpg`` → ``a/x``),
    so they are unique within the file (see :func:`image_ids_of_file_names`); ``coco_ids`` maps them
    to the COCO image ids.

    Images are read in their stored pixel grid, which the JSON's ``width``/``height`` and boxes
    describe; an EXIF orientation other than 1 is reported in one warning, not applied.

    Crowd annotations (``iscrowd=1``) make their class positive in ``labels``, and are returned as
    boxes flagged ``difficult=True`` so that metrics ignore them, as VOC's difficult objects.
    Objects of categories not in ``class_names`` (when a subset is passed) are dropped.

    Args:
        root: dataset root.
        split: ``SPLIT`` in ``instances_SPLIT.json`` and the image folder name.
        class_names: an ordered subset of the category names; default all, sorted by category id.
        image_size, train, transform, with_annotations, single_label, skip_bad, with_images, box_policy:
            as in :class:`~wsl.data.voc.VOCDataset`.
        empty_images: images listed without an object of the selected classes (COCO train2014 has
            about 700, and a class subset makes more): ``"keep"`` them as negatives (all-zero
            labels, no boxes), ``"skip"`` them, or raise (``"error"``); a one-line warning counts
            those kept or skipped. ``"auto"`` (default) keeps them for training (weak labels: a
            legitimate negative image) and skips them when the dataset returns annotations or
            uses ``single_label`` (nothing to localise, no single label).
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
        empty_images: str = "auto",
    ) -> None:
        options = apply_fields(DatasetOptions, None, locals())  # the keywords as given
        if empty_images not in EMPTY_IMAGE_POLICIES:
            raise unknown_choice("empty_images", empty_images, EMPTY_IMAGE_POLICIES)
        if empty_images == "keep" and single_label:
            raise ValueError(
                "empty_images: got 'keep' with single_label=True; an image without objects has no single "
                "label: pass empty_images='auto' or 'skip'"
            )
        requested = empty_images
        if empty_images == "auto":
            empty_images = "skip" if with_annotations or single_label else "keep"
        self.empty_images = empty_images
        self.root = Path(root)
        self.split = split
        self.json_path = self.root / "annotations" / f"instances_{split}.json"
        data = _load_json(self.json_path)
        cats = _parse_categories(data["categories"], self.json_path)
        all_names = [n for _, n in cats]
        if class_names is None:
            class_names = all_names
        unknown = [n for n in class_names if n not in all_names]
        if unknown:
            raise dataset_error(
                self.json_path,
                "categories",
                f"class_names {unknown} are not categories (known: {', '.join(all_names)})",
                "pass names of categories of this file",
            )
        super().__init__(class_names, options)
        self.cat_id_to_index = {cid: self.class_to_index[n] for cid, n in cats if n in self.class_to_index}
        known_ids = {cid for cid, _ in cats}
        image_dir = self.root / split
        if not image_dir.is_dir() and (self.root / "images" / split).is_dir():
            image_dir = self.root / "images" / split
        self.image_dir = image_dir

        images, per_image = self._index(data)
        bad = BadSamples(skip_bad, f"COCODataset({self.root}, {split!r})")
        records = self._image_records(images, per_image, known_ids, bad)
        self._warn_empty(bad.what, requested)
        self.coco_ids = {r.image_id: r.extra[0] for r in records}
        self._finalize(records, bad)

    def _index(self, data: dict) -> tuple[dict[int, dict], dict[int, list[tuple[int, dict]]]]:
        """``{image id: image}`` of the JSON's images and ``{image id: [(k, annotation)]}``, checked."""
        images: dict[int, dict] = {}
        for k, im in enumerate(data["images"]):
            ok = (
                isinstance(im, dict)
                and isinstance(im.get("id"), int)
                and isinstance(im.get("file_name"), str)
            )
            if not ok or not isinstance(im.get("width"), int) or not isinstance(im.get("height"), int):
                raise dataset_error(
                    self.json_path,
                    f"images[{k}]",
                    "needs int 'id', 'width', 'height' and str 'file_name'",
                    "fix the images list",
                )
            images[im["id"]] = im
        per_image: dict[int, list[tuple[int, dict]]] = {i: [] for i in images}
        for k, ann in enumerate(data["annotations"]):
            if not isinstance(ann, dict) or ann.get("image_id") not in images:
                raise dataset_error(
                    self.json_path,
                    f"annotations[{k}].image_id",
                    f"{ann.get('image_id') if isinstance(ann, dict) else ann!r} is not an image id",
                    "reference an id of the images list",
                )
            per_image[ann["image_id"]].append((k, ann))
        return images, per_image

    def _image_records(
        self,
        images: dict[int, dict],
        per_image: dict[int, list[tuple[int, dict]]],
        known_ids: set[int],
        bad: BadSamples,
    ) -> list[Record]:
        """One record per listed image (a bad one added to ``bad``), empty images per ``empty_images``."""
        names = image_ids_of_file_names([im["file_name"] for im in images.values()])
        first_of: dict[str, int] = {}
        records = []
        self.num_empty = 0
        for k, (coco_id, im) in enumerate(images.items()):
            try:
                name = im["file_name"]
                if name in first_of:
                    raise dataset_error(
                        self.json_path,
                        f"images[{k}].file_name",
                        f"{name!r} is also images[{first_of[name]}] (one file listed twice)",
                        f"list each image once {_SKIP}",
                    )
                first_of[name] = k
                check_relative_name(name, f"{self.json_path}: images[{k}]", "file_name")
                rec = self._parse_image(im, per_image[coco_id], known_ids, names[k])
                if len(rec.boxes) == 0:
                    if self.empty_images == "error":
                        raise dataset_error(
                            self.json_path,
                            f"annotations (image_id={im['id']}, {im['file_name']})",
                            "image has no objects of the selected classes (empty_images='error')",
                            "annotate it, drop it from the images list, pass empty_images='keep' (a "
                            f"negative) or 'skip', {_SKIP}",
                        )
                    self.num_empty += 1
                    if self.empty_images == "skip":
                        continue
                records.append(rec)
            except DatasetError as e:
                bad.add(e)
        return records

    def _warn_empty(self, what: str, requested: str) -> None:
        """One warning counting the images without objects that were kept or skipped."""
        if self.num_empty:
            done = (
                "kept {n} image(s) without objects of the selected classes as negatives (all-zero labels)"
                if self.empty_images == "keep"
                else "skipped {n} image(s) without objects of the selected classes (nothing to localise)"
            )
            warnings.warn(
                f"{what}: {done.format(n=self.num_empty)}; empty_images={requested!r} "
                "(default 'auto': keep for training, skip with annotations or single_label)",
                UserWarning,
                stacklevel=3,
            )

    def _parse_image(
        self, im: dict, anns: list[tuple[int, dict]], known_ids: set[int], image_id: str
    ) -> Record:
        w, h = im["width"], im["height"]
        boxes, labels, difficult, segs, box_where = [], [], [], [], []
        for k, ann in anns:
            where = f"annotations[{k}] (image_id={im['id']})"
            cid = ann.get("category_id")
            if cid not in known_ids:
                raise dataset_error(
                    self.json_path,
                    f"{where}.category_id",
                    f"unknown category id {cid!r}",
                    f"use an id of the categories list {_SKIP}",
                )
            if cid not in self.cat_id_to_index:
                continue
            bbox = ann.get("bbox")
            if (
                not isinstance(bbox, list)
                or len(bbox) != 4
                or not all(isinstance(v, (int, float)) for v in bbox)
            ):
                raise dataset_error(
                    self.json_path,
                    f"{where}.bbox",
                    f"{bbox!r} is not [x, y, w, h]",
                    f"write four numbers {_SKIP}",
                )
            try:
                boxes.append(coco_box_to_xyxy(bbox, w, h, clip=False))
            except ValueError as e:
                raise dataset_error(self.json_path, f"{where}.bbox", str(e), f"fix the box {_SKIP}") from e
            box_where.append((f"{where}.bbox", f"box [x, y, w, h]={bbox}"))
            seg = ann.get("segmentation")
            if seg is not None and seg != []:
                problem = _check_segmentation(seg)
                if problem:
                    raise dataset_error(self.json_path, f"{where}.segmentation", problem, f"fix it {_SKIP}")
            else:
                seg = None
            segs.append(seg)
            labels.append(self.cat_id_to_index[cid])
            difficult.append(bool(ann.get("iscrowd", 0)))
        return Record(
            image_id,
            self.image_dir / im["file_name"],
            np.asarray(boxes, np.int64).reshape(-1, 4),
            np.asarray(labels, np.int64).reshape(-1),
            np.asarray(difficult, bool).reshape(-1),
            (h, w),
            (im["id"], segs, np.asarray(boxes, np.int64).reshape(-1, 4)),
            box_where=box_where,
        )

    def _annotation_path(self, rec: Record) -> str:
        return str(self.json_path)

    def _load_masks(
        self, extra: tuple[int, list, np.ndarray], num_objects: int, size: tuple[int, int]
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        _, segs, boxes = extra
        if all(s is None for s in segs):
            return None, None
        h, w = size
        masks = np.zeros((len(segs), h, w), bool)
        for k, seg in enumerate(segs):
            if seg is None:
                x0, y0, x1, y1 = boxes[k].tolist()  # as in the file: clip to the image
                masks[k, max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1] = True
                continue
            try:
                m = decode_segmentation(seg, h, w)
            except Exception as e:  # pycocotools raises bare Exceptions / TypeErrors on bad RLE
                raise dataset_error(self.json_path, "segmentation", f"cannot decode ({e})", "fix it") from e
            if m.shape != (h, w):
                raise dataset_error(
                    self.json_path,
                    "segmentation",
                    f"RLE size {list(m.shape)} != image size {[h, w]}",
                    "write the image's [height, width] as RLE size",
                )
            masks[k] = m
        return masks, None


# ----------------------------------------------------------------------------------------------- writing


def mask_to_coco_segmentation(mask: np.ndarray) -> list[list[float]] | dict[str, Any]:
    """A COCO segmentation for a bool ``(H, W)`` mask that decodes back to exactly that mask.

    Polygons are traced with ``cv2.findContours`` (on a 2x upsampled mask so that the vertices lie just
    inside the pixel edges); when pycocotools' rasterisation of those polygons is not the mask exactly
    (holes, as in rings, or thin parts) a compressed RLE from ``pycocotools.mask.encode`` is used.
    """
    from pycocotools import mask as mask_utils

    h, w = mask.shape
    up = cv2.resize(mask.astype(np.uint8), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polys = [[round(v, 2) for v in ((c.reshape(-1, 2) + 0.5) / 2).reshape(-1).tolist()] for c in contours]
    if polys and all(len(p) >= 6 for p in polys):
        decoded = decode_segmentation(polys, h, w)
        if np.array_equal(decoded, mask):
            return polys
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(h), int(w)], "counts": rle["counts"].decode("ascii")}


class COCOWriter(DatasetWriter):
    """Writes the COCO layout that :class:`COCODataset` reads.

    Per image: ``SPLIT/ID.jpg``. Per split: ``annotations/instances_SPLIT.json`` (compact JSON) with
    ``images`` (ids ``1..N`` in write order), ``annotations`` (``bbox`` ``[x0, y0, x1-x0+1, y1-y0+1]``,
    ``area`` = mask pixels, ``iscrowd`` 0, polygon or RLE ``segmentation``, see
    :func:`mask_to_coco_segmentation`) and ``categories`` (``category_ids``).

    ``info`` keys used: ``description`` (the JSON ``info.description``) and ``supercategory`` (of every
    category). See :class:`~wsl.data.formats.DatasetWriter` for the arguments and the protocol.
    """

    def prepare(self, splits: Sequence[str]) -> None:
        (self.root / "annotations").mkdir(parents=True, exist_ok=True)
        for sp in splits:
            (self.root / sp).mkdir(parents=True, exist_ok=True)

    def write_image(
        self,
        split: str,
        image_id: str,
        image: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        masks: np.ndarray,
    ) -> tuple[str, int, int, list[dict[str, Any]]]:
        (self.root / split / f"{image_id}.jpg").write_bytes(encode_jpeg(image, self.jpeg_quality))
        anns = []
        for m, box, lab in zip(masks, boxes.tolist(), labels.tolist(), strict=True):
            x0, y0, x1, y1 = box
            anns.append(
                {
                    "category_id": self.category_ids[lab],
                    "bbox": [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)],
                    "area": float(m.sum()),
                    "iscrowd": 0,
                    "segmentation": mask_to_coco_segmentation(m),
                }
            )
        h, w = image.shape[:2]
        return image_id, w, h, anns

    def finish(self, entries: Mapping[str, Sequence[Any]]) -> None:
        categories = [
            {"id": cid, "name": c, "supercategory": self.info.get("supercategory", "")}
            for cid, c in zip(self.category_ids, self.class_names, strict=True)
        ]
        for sp, split_entries in entries.items():
            images: list[dict[str, Any]] = []
            annotations: list[dict[str, Any]] = []
            for n, (image_id, w, h, anns) in enumerate(split_entries):
                images.append({"id": n + 1, "file_name": f"{image_id}.jpg", "width": w, "height": h})
                for a in anns:
                    annotations.append({"id": len(annotations) + 1, "image_id": n + 1, **a})
            data = {
                "info": {"description": self.info.get("description", "")},
                "images": images,
                "annotations": annotations,
                "categories": categories,
            }
            (self.root / "annotations" / f"instances_{sp}.json").write_text(
                json.dumps(data, separators=(",", ":"))
            )


register_format(DatasetFormat("coco", COCODataset, default_class_names, COCOWriter))
