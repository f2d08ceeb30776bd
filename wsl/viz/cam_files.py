"""The files of a CAM export folder: layout, unique safe names, the ``.npz`` maps and the manifest.

Output layout of ``OUT`` (an export replaces the files of an earlier one; other files in ``OUT`` are kept)::

    OUT/index.html                      gallery (thumbnails; filter by class; sort by class/score/IoU)
    OUT/contact_sheet.png               the first ``sheet_size`` overlays in one grid
    OUT/cams.json                       manifest (below)
    OUT/cams/<stem>.npz                 the CAMs of one image
    OUT/overlays/<stem>__<class>.png    one overlay per (image, class) (:mod:`wsl.viz.render`)
    OUT/thumbs/<stem>__<class>.png      its thumbnail, only when the overlay is larger than thumb_size

``<stem>`` is the image id made safe by :func:`wsl.viz.safe_filename` (``../../x`` → ``x``), with
``-2``, ``-3`` … appended when two ids map to the same stem; ``<class>`` likewise. Always look names
up in ``cams.json`` rather than rebuilding them.

**CAM file format** (``cams/<stem>.npz``, written and read by :mod:`wsl.cam.files`;
``tools/evaluate.py --cams OUT/cams`` reads the folder, matching
files to images by ``<stem>``, which equals the image id whenever the id is already a safe file name, as
VOC and COCO ids are; ``cams.json`` maps every id to its file otherwise): a compressed
numpy ``.npz`` (as :func:`wsl.viz.save_cam_npz` writes, here at zlib level 1; :func:`wsl.viz.load_cam_npz`
reads it); ``numpy.load(path)`` gives one array per
exported class, keyed by the **class name** exactly as in ``cams.json["class_names"]`` (a name that is
not a plain zip member name, one with ``/``, ``\\``, ``:``, a control character or a leading ``.`` such
as ``../../x``, is keyed by its safe stem instead; ``cams.json["npz_keys"]`` maps every class name to
its key, and :class:`wsl.cam.files.SavedCams` reads it), each
``float16 (H, W)`` at the original image size ``(H, W)`` (the size the boxes refer to). A map is the
pipeline's CAM, :attr:`wsl.cam.CamBatch.cams`: the class map of the network (``WSLNet`` output at the
feature stride) bilinearly upsampled to ``(H, W)`` and min–max normalised to [0, 1] per map in float64
(a constant map is all zeros), cast once to float16. Normalised values keep float16's full precision
whatever the logit offset; the raw values are ``lo + cam · (hi − lo)`` with
``[lo, hi] = cams.json["images"][i]["cam_range"][class]`` (:attr:`wsl.cam.CamBatch.raw_range`).
Evaluation min–max normalises again, which is the identity here, so metrics from the files equal the
in-process ones up to float16 rounding (rarely one level of the 8-bit map). Which classes a file holds
follows ``classes`` (:data:`wsl.cam.CLASS_POLICIES`): ``gt`` the classes with a non-``difficult``
ground-truth box (the evaluation trials), ``present`` exactly the image-level ground-truth classes (what
GT-known Loc, PxAP and the pointing game need), ``top1`` the top class, ``all`` every class.

**Manifest** (``cams.json``, UTF-8 JSON)::

    {"format": "wsl-cams", "version": 1,
     "class_names": [...], "npz_keys": {"dog": "dog", ...}, "single_label": false, "classes": "present",
     "threshold": 0.5, "multi_contour": false,
     "images": [{"image_id": "000001", "npz": "cams/000001.npz", "size": [H, W],
                 "scores": [C logits], "probs": [C probabilities],
                 "classes": ["dog", ...], "cam_range": {"dog": [lo, hi], ...}}, ...],
     "entries": [{"image_id": ..., "class_name": ..., "score": p, "iou": 0.71 or null,
                  "image": "overlays/...png", "thumb": "...", "npz": "cams/...npz",
                  "pred_boxes": [[x0, y0, x1, y1], ...]}, ...]}

All paths are relative to ``OUT`` with ``/`` separators. Every file is written through
:func:`wsl.runs.atomic_path` (a temporary file renamed into place); ``index.html`` and ``cams.json`` are
written last, so a reader never sees half of one, nor a gallery that names a file not yet written.

**Staging**: the jobs write an export folder through :func:`wsl.jobs.outdir.staged_output` (checked,
locked, written beside ``OUT`` and swapped in whole); this module only names and writes the files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wsl.cam.files import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    NPZ_COMPRESSLEVEL,
    CamManifest,
    UniqueNames,
    npz_keys,
    safe_join,
    save_cam_npz,
)
from wsl.viz.gallery import write_gallery
from wsl.viz.io import save_png
from wsl.viz.render import thumbnail

__all__ = [
    "LAYOUT",
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "NPZ_COMPRESSLEVEL",
    "CamFolder",
    "ExportFolder",
    "UniqueNames",
    "npz_keys",
]

#: The top-level names of an export folder: replaced by the next export (other names are kept).
LAYOUT = frozenset({"index.html", "contact_sheet.png", "cams.json", "cams", "overlays", "thumbs"})


class CamFolder:
    """An export folder ``OUT`` (layout in the module docstring): it names and writes every file.

    Args:
        out_dir: the folder; created with its ``cams/``, ``overlays/`` and ``thumbs/`` subfolders.

    Raises:
        ValueError: ``out_dir`` exists and is not a folder, or cannot be created.
    """

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        root = self.check(out_dir)
        try:
            for sub in ("", "cams", "overlays", "thumbs"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as err:
            raise ValueError(f"out_dir {str(root)!r} cannot be created ({err}); pass a folder path") from err
        self.root = root
        self._image_stems = UniqueNames()
        self._class_stems = UniqueNames()
        self._class_files: dict[str, str] = {}
        self.npz_keys: dict[str, str] = {}  # class name -> .npz key, once the class names are known

    @staticmethod
    def check(out_dir: str | os.PathLike[str]) -> Path:
        """``out_dir`` as a path; raises ValueError when it exists and is not a folder."""
        root = Path(out_dir)
        if root.exists() and not root.is_dir():
            raise ValueError(f"out_dir {str(root)!r} exists and is not a folder; pass a folder path")
        return root

    @property
    def manifest_path(self) -> Path:
        return self.root / "cams.json"

    def image_stem(self, image_id: str) -> str:
        """A new unique stem for an image (call once per image)."""
        return self._image_stems(image_id)

    def class_file(self, class_name: str) -> str:
        """The stem of a class (the same one every time)."""
        if class_name not in self._class_files:
            self._class_files[class_name] = self._class_stems(class_name)
        return self._class_files[class_name]

    def write_cams(self, stem: str, cams: Mapping[str, Any]) -> str:
        """Write ``cams/<stem>.npz`` (class name → map, cast to float16, keyed by :func:`npz_keys`);
        returns its relative path."""
        path = safe_join(self.root / "cams", f"{stem}.npz")
        missing = [name for name in cams if name not in self.npz_keys]
        if missing:
            self.npz_keys = npz_keys([*self.npz_keys, *missing])
        keyed = {self.npz_keys[name]: cam for name, cam in cams.items()}
        save_cam_npz(path, keyed, compresslevel=NPZ_COMPRESSLEVEL)
        return f"cams/{path.name}"

    def write_overlay(
        self, stem: str, class_name: str, picture: np.ndarray, thumb_size: int
    ) -> tuple[str, str]:
        """Write the overlay of one (image, class) and, when it is larger than ``thumb_size``, a thumbnail.

        Returns:
            ``(image, thumb)`` relative paths; ``thumb`` is ``image`` for a small overlay.
        """
        name = f"{stem}__{self.class_file(class_name)}.png"
        image = f"overlays/{save_png(safe_join(self.root / 'overlays', name), picture).name}"
        if max(picture.shape[:2]) <= thumb_size:
            return image, image
        thumb = save_png(safe_join(self.root / "thumbs", name), thumbnail(picture, thumb_size))
        return image, f"thumbs/{thumb.name}"

    def write_manifest(
        self, options: Mapping[str, Any], images: Sequence[Any], entries: Sequence[Any]
    ) -> Path:
        """Write ``cams.json`` (:class:`wsl.cam.files.CamManifest`): format, version, ``options`` (class
        names, threshold …), images, entries."""
        return CamManifest(options, images, entries).write(self.manifest_path)

    def write_index(self, entries: Sequence[Mapping[str, Any]], title: str) -> Path:
        """Write ``index.html`` over ``entries``, refusing one that names a file not written."""
        return write_gallery(self.root, entries, title=title, check_files=True)


#: The writer of an export folder, by the name that says what it is (the reader of saved CAMs is
#: :class:`wsl.cam.files.SavedCams`).
ExportFolder = CamFolder
