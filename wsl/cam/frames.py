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
"""

from __future__ import annotations

import difflib

import cv2
import numpy as np
import torch

from wsl.cam.maps import upsample_class_maps

__all__ = [
    "FRAMES",
    "WSOL_SIZE",
    "check_frame",
    "default_interval",
    "frame_boxes",
    "frame_dtype",
    "frame_mask",
    "frame_size",
    "resize_to_frame",
]

#: Frame name → default threshold interval of the localization metrics.
FRAMES: dict[str, float] = {"original": 0.01, "wsolevaluation": 0.001}
#: Side of wsolevaluation's square frame (its ``_RESIZE_LENGTH``).
WSOL_SIZE = 224


def check_frame(frame: str) -> str:
    """``frame`` if it is a frame name; else a ``ValueError`` listing the choices and the closest."""
    if frame not in FRAMES:
        close = difflib.get_close_matches(str(frame), list(FRAMES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"protocol: got {frame!r}{hint}; expected one of {list(FRAMES)}")
    return frame


def default_interval(frame: str) -> float:
    """The frame's default threshold interval: 0.01 (``original``), 0.001 (``wsolevaluation``)."""
    return FRAMES[check_frame(frame)]


def frame_dtype(frame: str) -> torch.dtype:
    """The precision of normalisation and quantisation: float64 in both frames (wsolevaluation works on
    float64 maps: its ``check_scoremap_validity`` rejects any other dtype)."""
    check_frame(frame)
    return torch.float64


def frame_size(frame: str, size: tuple[int, int]) -> tuple[int, int]:
    """The ``(H, W)`` at which an image of original size ``size`` is scored."""
    if check_frame(frame) == "wsolevaluation":
        return (WSOL_SIZE, WSOL_SIZE)
    return (int(size[0]), int(size[1]))


def resize_to_frame(frame: str, maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (k, h, w) raw maps of an image of original size ``size`` into the frame.

    ``original``: bilinear to ``size`` in float32 (:func:`~wsl.cam.upsample_class_maps`).
    ``wsolevaluation``: the maps cast to float64 (wsolevaluation's ``t2n``), then
    ``cv2.resize(map, (224, 224), interpolation=cv2.INTER_CUBIC)`` per map, in float64 (maps already
    224×224 are kept as they are, e.g. wsolevaluation's saved score maps).

    Returns:
        (k, H, W) float32 (``original``) or float64 (``wsolevaluation``) maps at the frame's size.
    """
    if check_frame(frame) == "original":
        return upsample_class_maps(maps, size)
    maps = maps.double()
    if tuple(maps.shape[-2:]) == (WSOL_SIZE, WSOL_SIZE):
        return maps
    out = [
        cv2.resize(np.ascontiguousarray(m.numpy()), (WSOL_SIZE, WSOL_SIZE), interpolation=cv2.INTER_CUBIC)
        for m in maps
    ]
    if not out:
        return torch.zeros(0, WSOL_SIZE, WSOL_SIZE, dtype=torch.float64)
    return torch.from_numpy(np.stack(out))


def frame_boxes(frame: str, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """int64 (K, 4) inclusive boxes in the frame from boxes (int or float) at the original ``size``.

    ``wsolevaluation``: ``int(x · 224 / W)``, ``int(y · 224 / H)`` in float64 as its ``resize_bbox``.
    """
    if check_frame(frame) == "original":
        return boxes.to(torch.int64)
    h, w = float(size[0]), float(size[1])
    out = [
        [int(x0 * WSOL_SIZE / w), int(y0 * WSOL_SIZE / h), int(x1 * WSOL_SIZE / w), int(y1 * WSOL_SIZE / h)]
        for x0, y0, x1, y1 in boxes.double().tolist()
    ]
    return torch.tensor(out, dtype=torch.int64).reshape(-1, 4)


def frame_mask(frame: str, mask: torch.Tensor) -> torch.Tensor:
    """A bool (H, W) mask at the original size in the frame (nearest resize to 224 for ``wsolevaluation``)."""
    if check_frame(frame) == "original" or tuple(mask.shape) == (WSOL_SIZE, WSOL_SIZE):
        return mask
    resized = cv2.resize(
        mask.numpy().astype(np.uint8), (WSOL_SIZE, WSOL_SIZE), interpolation=cv2.INTER_NEAREST
    )
    return torch.from_numpy(resized > 0)
