"""Rasterising the synthetic shape classes and distractors into binary masks.

Class shapes are filled, closed silhouettes. Distractors are deliberately of a different kind (elongated
ellipses, thick segments, open arcs, zig-zag polylines) so that none can be mistaken for a class.
"""

from __future__ import annotations

import math
from typing import cast

import cv2
import numpy as np

__all__ = ["SHAPE_CLASSES", "DISTRACTORS", "draw_shape", "draw_distractor"]

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = 1 << _SHIFT


def _regular(n: int, r: float = 1.0, phase: float = -math.pi / 2) -> np.ndarray:
    t = phase + np.arange(n) * 2 * math.pi / n
    return np.stack([np.cos(t), np.sin(t)], 1) * r


def _star(points: int = 5, inner: float = 0.42) -> np.ndarray:
    t = -math.pi / 2 + np.arange(2 * points) * math.pi / points
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.stack([np.cos(t) * r, np.sin(t) * r], 1)


def _cross(a: float = 0.3, b: float = 0.92) -> np.ndarray:
    return np.array(
        [
            (-a, -b),
            (a, -b),
            (a, -a),
            (b, -a),
            (b, a),
            (a, a),
            (a, b),
            (-a, b),
            (-a, a),
            (-b, a),
            (-b, -a),
            (-a, -a),
        ],
        float,
    )


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 60, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    p = np.stack([x, y], 1)
    p -= (p.max(0) + p.min(0)) / 2
    return p / np.abs(p).max()


# name -> (outer polygon in unit coordinates (circumradius ~1), hole polygon or None, random rotation?)
_SHAPES: dict[str, tuple[np.ndarray, np.ndarray | None, bool]] = {
    "circle": (_regular(48), None, False),
    "square": (_regular(4, phase=math.pi / 4), None, True),
    "triangle": (_regular(3) + np.array([0.0, 0.25]), None, True),
    "cross": (_cross(), None, True),
    "ring": (_regular(48), _regular(48, 0.55), False),
    "star": (_star(), None, True),
    "hexagon": (_regular(6), None, True),
    "heart": (_heart(), None, True),
    "crescent": (_regular(48), _regular(48, 0.9) + np.array([0.5, 0.0]), True),
}
SHAPE_CLASSES: tuple[str, ...] = tuple(_SHAPES)
DISTRACTORS: tuple[str, ...] = ("ellipse", "segment", "arc", "zigzag")


def _to_px(points: np.ndarray, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    rot = points @ np.array([[c, s], [-s, c]])
    return np.round((rot * r + (cx, cy)) * _SCALE).astype(np.int32)


def draw_shape(mask: np.ndarray, name: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    """Fill class shape ``name`` of circumradius ``r`` px centred at ``(cx, cy)`` into ``mask`` (uint8, 1).

    Returns ``mask`` (modified in place).
    """
    outer, hole, rotates = _SHAPES[name]
    angle = angle if rotates else 0.0
    cv2.fillPoly(mask, [_to_px(outer, cx, cy, r, angle)], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    if hole is not None:
        cv2.fillPoly(mask, [_to_px(hole, cx, cy, r, angle)], 0, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask


def draw_distractor(mask: np.ndarray, name: str, rng: np.random.Generator, size: float) -> np.ndarray:
    """Draw distractor ``name`` (about ``size`` px long) at a random place into ``mask`` (uint8, 1)."""
    h, w = mask.shape
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    angle = rng.uniform(0, 2 * math.pi)
    thick = max(2, int(round(size * rng.uniform(0.07, 0.12))))
    if name == "ellipse":
        a = size / 2
        b = a / rng.uniform(3.0, 5.0)
        cv2.ellipse(mask, ((cx, cy), (2 * a, max(2 * b, 2.0)), math.degrees(angle)), 1, -1, cv2.LINE_8)
    elif name == "segment":
        d = np.array([math.cos(angle), math.sin(angle)]) * size / 2
        p0, p1 = np.round(((cx, cy) - d) * _SCALE), np.round(((cx, cy) + d) * _SCALE)
        cv2.line(mask, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1, thick, cv2.LINE_8, _SHIFT)
    elif name == "arc":
        r = size / 2
        span = rng.uniform(60, 150)
        start = math.degrees(angle)
        # OpenCV's stubs type ellipse2Poly's result as a sequence of points; it is an (n, 2) int32 array.
        arc = cast(
            np.ndarray,
            cv2.ellipse2Poly((int(cx), int(cy)), (int(r), int(r)), 0, int(start), int(start + span), 5),
        )
        cv2.polylines(mask, [arc], False, 1, max(2, thick - 1), cv2.LINE_8)
    elif name == "zigzag":
        n = int(rng.integers(3, 5))
        step = size / n
        corners = [np.array([cx, cy])]
        for i in range(n):
            turn = angle + (0.9 if i % 2 == 0 else -0.9)
            corners.append(corners[-1] + step * np.array([math.cos(turn), math.sin(turn)]))
        cv2.polylines(
            mask, [np.round(np.array(corners)).astype(np.int32)], False, 1, max(2, thick - 1), cv2.LINE_8
        )
    else:
        raise ValueError(f"distractor name: got {name!r}; expected one of {DISTRACTORS}")
    return mask
