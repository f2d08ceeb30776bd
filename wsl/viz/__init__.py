"""Pictures of CAMs: overlays, boxes, contact sheets, an HTML gallery and a Lightning callback.

Pure functions on numpy images (``uint8 (H, W, 3)`` **RGB**) and CAMs (``float (H, W)``, any scale;
normalised with :func:`wsl.metrics.normalize_cam`), usable on the maps of any model. Boxes are
``(x0, y0, x1, y1)`` 0-based inclusive pixels. :class:`CAMLogger` is imported lazily
so that the functions do not pull in Lightning. The jobs that write pictures (export, predict) are in
:mod:`wsl.jobs`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsl.viz.boxes import GT_COLOR, PRED_COLOR, draw_boxes, put_text
from wsl.viz.gallery import write_gallery
from wsl.viz.io import load_cam_npz, safe_filename, safe_join, save_cam_npz, save_png
from wsl.viz.overlay import COLORMAPS, add_colorbar, colorize_cam, colormap_lut, overlay_cam
from wsl.viz.sheet import contact_sheet, fit_image

if TYPE_CHECKING:
    from wsl.viz.callback import CAMLogger

__all__ = [
    "COLORMAPS",
    "GT_COLOR",
    "PRED_COLOR",
    "CAMLogger",
    "add_colorbar",
    "colorize_cam",
    "colormap_lut",
    "contact_sheet",
    "draw_boxes",
    "fit_image",
    "load_cam_npz",
    "overlay_cam",
    "put_text",
    "safe_filename",
    "safe_join",
    "save_cam_npz",
    "save_png",
    "write_gallery",
]


def __getattr__(name: str) -> Any:
    if name == "CAMLogger":
        from wsl.viz.callback import CAMLogger

        return CAMLogger
    raise AttributeError(f"module 'wsl.viz' has no attribute {name!r}")
