"""The two evaluation frames of SPEC section 3: where CAMs and ground truth meet.

- ``original`` (the default): class maps upsampled bilinearly (``align_corners=False``) to each image's
  own size, normalised in float64, scored against the boxes and masks as annotated.
- ``wsolevaluation`` (clovaai/wsolevaluation, the frame of the CUB / ImageNet / OpenImages tables):
  everything at 224×224 whatever the aspect ratio. As in wsolevaluation (``util.t2n`` casts the network's
  maps to float64; ``inference.py`` then ``cv2.resize(..., INTER_CUBIC)``, ``normalize_scoremap`` and
  ``evaluation.py`` ``(scoremap * 255).astype(uint8)``), the raw class map is cast to float64, resized
  with OpenCV's bicubic interpolation, min–max normalised and quantised in float64, so that the 8-bit
  maps are wsolevaluation's for the same raw map (the reference test re-implements those lines); GT
  boxes are rescaled per axis as
  ``int(coord · 224 / size)`` (from the annotated float coordinates when the dataset keeps them, key
  ``box_coords``); masks and ignore regions are resized nearest (``cv2.INTER_NEAREST``). The default
  threshold interval is 0.001.

The box and mask rules are the same in both frames; only the frame differs.

A frame is a :class:`Frame` object (name, threshold interval, dtype, and how sizes, maps, boxes and masks
enter it), registered in :data:`FRAMES`. Public functions take a frame object or its name (the strings
users type: ``original``, ``wsolevaluation``). How to add a frame: one :class:`Frame` subclass here and
one ``FRAMES.add(name, instance)`` line; ``tests/cam/test_frames.py`` checks every subclass is registered.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from wsl.cam.maps import upsample_class_maps
from wsl.registry import Registry

__all__ = [
    "FRAMES",
    "WSOL_SIZE",
    "Frame",
    "OriginalFrame",
    "WsolevaluationFrame",
    "check_frame",
    "default_interval",
    "frame_boxes",
    "frame_dtype",
    "frame_mask",
    "frame_size",
    "get_frame",
    "resize_to_frame",
]

#: Side of wsolevaluation's square frame (its ``_RESIZE_LENGTH``).
WSOL_SIZE = 224


@dataclass(frozen=True)
class Frame:
    """Where CAMs and ground truth meet: the size, precision and resampling of one evaluation frame.

    A subclass implements :meth:`size`, :meth:`resize`, :meth:`boxes` and :meth:`mask`.

    Attributes:
        name: the registry name (``--protocol``, ``protocol=``).
        interval: the default threshold interval of the localization metrics.
        dtype: the precision of normalisation and quantisation.
    """

    name: str
    interval: float
    dtype: torch.dtype = torch.float64

    def size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The ``(H, W)`` at which an image of original size ``size`` is scored."""
        raise NotImplementedError

    def resize(self, maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(k, h, w) raw maps of an image of original size ``size`` → (k, H, W) maps in the frame."""
        raise NotImplementedError

    def boxes(self, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """int64 (K, 4) inclusive boxes in the frame from (K, 4) boxes at the original ``size``."""
        raise NotImplementedError

    def mask(self, mask: torch.Tensor) -> torch.Tensor:
        """A bool (H, W) mask at the original size, in the frame."""
        raise NotImplementedError

    def trial_boxes(
        self, boxes: torch.Tensor, coords: torch.Tensor | None, size: tuple[int, int]
    ) -> torch.Tensor:
        """The ground-truth boxes of an image as the evaluator scores them.

        Args:
            boxes: (K, 4) int64 inclusive boxes at the original size.
            coords: (K, 4) the annotated float coordinates when the dataset keeps them (``box_coords``).
            size: the original (H, W).
        """
        return self.boxes(coords if coords is not None else boxes, size)


@dataclass(frozen=True)
class OriginalFrame(Frame):
    """Each image's own size: maps bilinear (float32), boxes and masks as annotated."""

    def size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (int(size[0]), int(size[1]))

    def resize(self, maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return upsample_class_maps(maps, size)

    def boxes(self, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return boxes.to(torch.int64)

    def mask(self, mask: torch.Tensor) -> torch.Tensor:
        return mask

    def trial_boxes(
        self, boxes: torch.Tensor, coords: torch.Tensor | None, size: tuple[int, int]
    ) -> torch.Tensor:
        # The integer boxes as collated, untouched (the annotated floats are wsolevaluation's input).
        return boxes


@dataclass(frozen=True)
class WsolevaluationFrame(Frame):
    """wsolevaluation's square ``side``×``side`` frame: float64 maps resized bicubic by OpenCV, boxes
    rescaled ``int(coord · side / size)`` per axis, masks resized nearest."""

    side: int = WSOL_SIZE

    def size(self, size: tuple[int, int]) -> tuple[int, int]:
        return (self.side, self.side)

    def resize(self, maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        maps = maps.double()  # wsolevaluation's t2n
        side = self.side
        if tuple(maps.shape[-2:]) == (side, side):
            return maps
        out = [
            cv2.resize(np.ascontiguousarray(m.numpy()), (side, side), interpolation=cv2.INTER_CUBIC)
            for m in maps
        ]
        if not out:
            return torch.zeros(0, side, side, dtype=torch.float64)
        return torch.from_numpy(np.stack(out))

    def boxes(self, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w, side = float(size[0]), float(size[1]), self.side
        out = [
            [int(x0 * side / w), int(y0 * side / h), int(x1 * side / w), int(y1 * side / h)]
            for x0, y0, x1, y1 in boxes.double().tolist()
        ]
        return torch.tensor(out, dtype=torch.int64).reshape(-1, 4)

    def mask(self, mask: torch.Tensor) -> torch.Tensor:
        side = self.side
        if tuple(mask.shape) == (side, side):
            return mask
        resized = cv2.resize(mask.numpy().astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
        return torch.from_numpy(resized > 0)


#: Frame name → :class:`Frame`.
FRAMES: Registry[Frame] = Registry("frame")
FRAMES.add("original", OriginalFrame("original", interval=0.01))
FRAMES.add("wsolevaluation", WsolevaluationFrame("wsolevaluation", interval=0.001))


def get_frame(frame: str | Frame, what: str = "frame") -> Frame:
    """The :class:`Frame` of a name (or the frame itself); an unknown name lists the choices and the closest.

    Args:
        frame: a name of :data:`FRAMES` or a :class:`Frame`.
        what: the argument named in the error (``protocol`` for the evaluator).

    Example:
        >>> get_frame("wsolevaluation").size((375, 500)), get_frame("original").interval
        ((224, 224), 0.01)
    """
    if isinstance(frame, Frame):
        return frame
    return FRAMES.lookup(frame, what)


def check_frame(frame: str | Frame, what: str = "frame") -> str:
    """The name of ``frame`` (a frame or a frame name); else the ``ValueError`` of :func:`get_frame`."""
    return get_frame(frame, what).name


def default_interval(frame: str | Frame) -> float:
    """The frame's default threshold interval: 0.01 (``original``), 0.001 (``wsolevaluation``)."""
    return get_frame(frame).interval


def frame_dtype(frame: str | Frame) -> torch.dtype:
    """The precision of normalisation and quantisation: float64 in both frames (wsolevaluation works on
    float64 maps: its ``check_scoremap_validity`` rejects any other dtype)."""
    return get_frame(frame).dtype


def frame_size(frame: str | Frame, size: tuple[int, int]) -> tuple[int, int]:
    """The ``(H, W)`` at which an image of original size ``size`` is scored."""
    return get_frame(frame).size(size)


def resize_to_frame(frame: str | Frame, maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (k, h, w) raw maps of an image of original size ``size`` into the frame.

    ``original``: bilinear to ``size`` in float32 (:func:`~wsl.cam.upsample_class_maps`).
    ``wsolevaluation``: the maps cast to float64 (wsolevaluation's ``t2n``), then
    ``cv2.resize(map, (224, 224), interpolation=cv2.INTER_CUBIC)`` per map, in float64 (maps already
    224×224 are kept as they are, e.g. wsolevaluation's saved score maps).

    Returns:
        (k, H, W) float32 (``original``) or float64 (``wsolevaluation``) maps at the frame's size.
    """
    return get_frame(frame).resize(maps, size)


def frame_boxes(frame: str | Frame, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """int64 (K, 4) inclusive boxes in the frame from boxes (int or float) at the original ``size``.

    ``wsolevaluation``: ``int(x · 224 / W)``, ``int(y · 224 / H)`` in float64 as its ``resize_bbox``.
    """
    return get_frame(frame).boxes(boxes, size)


def frame_mask(frame: str | Frame, mask: torch.Tensor) -> torch.Tensor:
    """A bool (H, W) mask at the original size in the frame (nearest resize to 224 for ``wsolevaluation``)."""
    return get_frame(frame).mask(mask)
