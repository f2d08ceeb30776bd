"""Detections in COCO's results format, and the ids of a COCO ground truth to write them with.

A result is ``{"image_id": int, "category_id": int, "bbox": [x, y, w, h], "score": p}``: ``bbox`` is
the inclusive ``(x0, y0, x1, y1)`` box of :func:`wsl.metrics.cam_to_boxes` with ``w = x1 − x0 + 1``
and ``h = y1 − y0 + 1`` (a box of one pixel has ``w = h = 1``), ``score`` the class probability.
``pycocotools``' ``COCO.loadRes`` takes the list as it is when the ids are those of the ground truth
(:class:`CocoIds`); without one, images are numbered 1, 2, … and class ``c`` is category ``c + 1``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CocoIds", "coco_bbox", "coco_results"]


def coco_bbox(box_xyxy: Sequence[int] | np.ndarray) -> list[int]:
    """Inclusive ``(x0, y0, x1, y1)`` → COCO ``[x, y, w, h]``.

    Example:
        >>> coco_bbox([3, 2, 6, 4])
        [3, 2, 4, 3]
    """
    x0, y0, x1, y1 = (int(v) for v in box_xyxy)
    return [x0, y0, x1 - x0 + 1, y1 - y0 + 1]


def coco_results(
    image_id: int,
    classes: Sequence[int],
    boxes: Sequence[np.ndarray],
    scores: Sequence[float],
    category_ids: Sequence[int],
) -> list[dict[str, Any]]:
    """The COCO results of one image: one per box of each chosen class.

    Args:
        image_id: the image's id.
        classes: the chosen class indices.
        boxes: per chosen class, ``(K, 4)`` inclusive ``xyxy`` boxes.
        scores: per chosen class, its probability.
        category_ids: the category id of every class index (``len == C``).

    Example:
        >>> coco_results(7, [1], [np.array([[0, 0, 9, 4]])], [0.8], [1, 3])
        [{'image_id': 7, 'category_id': 3, 'bbox': [0, 0, 10, 5], 'score': 0.8}]
    """
    out = []
    for c, class_boxes, score in zip(classes, boxes, scores, strict=True):
        for box in np.asarray(class_boxes).reshape(-1, 4):
            out.append(
                {
                    "image_id": int(image_id),
                    "category_id": int(category_ids[c]),
                    "bbox": coco_bbox(box),
                    "score": float(score),
                }
            )
    return out


@dataclass(frozen=True)
class CocoIds:
    """Image and category ids of a COCO annotation file, to write results that it can score.

    Attributes:
        path: the annotation file.
        image_ids: file name (``images[].file_name``, its last component) → image id.
        category_ids: the category id of each of the model's classes, by name.
    """

    path: Path
    image_ids: dict[str, int]
    category_ids: list[int]

    @classmethod
    def read(cls, path: str | os.PathLike[str], class_names: Sequence[str]) -> CocoIds:
        """Read ``path`` and match the model's ``class_names`` to its categories.

        Raises:
            ValueError: the file is missing or not COCO annotations, or a class has no category.
        """
        path = Path(path)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            images = {Path(str(m["file_name"])).name: int(m["id"]) for m in payload["images"]}
            categories = {str(c["name"]): int(c["id"]) for c in payload["categories"]}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"coco_gt {str(path)!r} cannot be read as COCO annotations ({type(err).__name__}: {err}); "
                "pass an instances_*.json with 'images' and 'categories'"
            ) from None
        missing = [name for name in class_names if name not in categories]
        if missing:
            raise ValueError(
                f"coco_gt {str(path)!r} has no category named {missing[:5]} (the model's classes); its "
                f"categories are {sorted(categories)[:10]}; pass the annotations of the model's classes"
            )
        return cls(path, images, [categories[name] for name in class_names])
