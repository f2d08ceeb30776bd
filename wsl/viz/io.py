"""Writing pictures to disk (atomically); the CAM arrays and safe file names of :mod:`wsl.cam.files`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wsl.cam.files import load_cam_npz, safe_filename, safe_join, save_cam_npz
from wsl.runs import atomic_path
from wsl.viz._utils import check_rgb

__all__ = ["save_png", "save_cam_npz", "load_cam_npz", "safe_join", "safe_filename"]

# ``save_cam_npz``, ``load_cam_npz``, ``safe_filename`` and ``safe_join`` live in :mod:`wsl.cam.files`, the
# module of the CAM file formats, and are re-exported here.


def save_png(path: str | os.PathLike[str], image_rgb: Any) -> Path:
    """Write an RGB image as a PNG, creating the parent folders.

    Args:
        path: destination file (its suffix should be ``.png``).
        image_rgb: ``uint8 (H, W, 3)`` RGB (or ``(H, W)`` gray) image; it is converted to OpenCV's BGR.

    Returns:
        The path written, as a :class:`~pathlib.Path`.

    Raises:
        OSError: if OpenCV cannot encode the image or the file cannot be written.
    """
    path = Path(path)
    image_bgr = np.ascontiguousarray(check_rgb(image_rgb, "image_rgb")[:, :, ::-1])
    # imencode + write_bytes instead of cv2.imwrite: same bytes, but errors raise and any path works.
    ok, data = cv2.imencode(".png", image_bgr)
    if not ok:
        raise OSError(f"OpenCV could not encode a PNG of shape {image_bgr.shape} for {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.tobytes())
    return path
