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

**Manifest** (``cams.json``, UTF-8 JSON; :meth:`wsl.cam.files.ManifestOptions.to_dict` gives the
settings, in this order; a prediction adds ``top_k`` and ``min_score`` after ``classes``)::

    {"format": "wsl-cams", "version": 1,
     "class_names": [...], "npz_keys": {"dog": "dog", ...}, "single_label": false, "classes": "present",
     "threshold": 0.5, "multi_contour": false, "cam_method": "native", "cam_layer": null,
     "frame": "original",
     "images": [{"image_id": "000001", "npz": "cams/000001.npz", "size": [H, W],
                 "scores": [C logits], "probs": [C probabilities],
                 "classes": ["dog", ...], "cam_range": {"dog": [lo, hi], ...}}, ...],
     "entries": [{"image_id": ..., "class_name": ..., "score": p, "iou": 0.71 or null,
                  "image": "overlays/...png", "thumb": "...", "npz": "cams/...npz",
                  "pred_boxes": [[x0, y0, x1, y1], ...]}, ...]}

All paths are relative to ``OUT`` with ``/`` separators. Every file is written through
:func:`wsl.runs.atomic_path` (a temporary file renamed into place); ``index.html`` and ``cams.json`` are
written last, so a reader never sees half of one, nor a gallery that names a file not yet written.

**Writers**: :class:`wsl.cam.files.CamWriter` names and writes ``cams/`` and ``cams.json`` (its settings
one :class:`wsl.cam.files.ManifestOptions`); :class:`ExportFolder` here adds the pictures (overlays,
thumbnails, ``index.html``). The jobs write an export folder through
:func:`wsl.jobs.outdir.staged_output` (checked, locked, written beside ``OUT`` and swapped in whole).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wsl.cam.files import CamWriter, safe_join
from wsl.viz.gallery import write_gallery
from wsl.viz.io import save_png
from wsl.viz.render import thumbnail

__all__ = ["LAYOUT", "ExportFolder"]

#: The top-level names of an export folder: replaced by the next export (other names are kept).
LAYOUT = frozenset({"index.html", "contact_sheet.png", "cams.json", "cams", "overlays", "thumbs"})


class ExportFolder(CamWriter):
    """An export folder ``OUT`` (layout in the module docstring): :class:`wsl.cam.files.CamWriter`'s
    ``cams/`` and ``cams.json``, plus the overlays, thumbnails and gallery.

    Args:
        out_dir: the folder; created with its ``cams/``, ``overlays/`` and ``thumbs/`` subfolders.

    Raises:
        ValueError: ``out_dir`` exists and is not a folder, or cannot be created.
    """

    subfolders = ("cams", "overlays", "thumbs")

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

    def write_index(self, entries: Sequence[Mapping[str, Any]], title: str) -> Path:
        """Write ``index.html`` over ``entries``, refusing one that names a file not written."""
        return write_gallery(self.root, entries, title=title, check_files=True)
