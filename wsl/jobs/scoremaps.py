"""Score maps in clovaai/wsolevaluation's layout: ``OUT/<image_id>.npy``, one 224×224 map per image.

This is what wsolevaluation's ``inference.py`` writes and its ``evaluation.py`` reads
(``os.path.join(scoremap_root, image_id + '.npy')``), so a folder written here is scored by
``python evaluation.py --scoremap_root OUT ...`` unchanged, and by ``tools/evaluate.py --cams OUT
--protocol wsolevaluation``:

- ``OUT/cams.json`` records the layout and the frame (``{"format": "wsl-cams", "version": 1, "layout":
  "wsolevaluation", "frame": "wsolevaluation", ...}``, no images); wsolevaluation ignores it;
- the file of image id ``a/b.jpg`` is ``OUT/a/b.jpg.npy`` (the id plus ``.npy``; ids with ``/`` give
  nested folders);
- each file is a 2-D ``float64`` array of shape ``(224, 224)`` with values in [0, 1], written by
  ``numpy.save`` (no pickle): float64 as wsolevaluation's ``inference.py`` saves them, and the only dtype
  its ``evaluation.py`` accepts for boxes (``util.check_scoremap_validity`` rejects any other);
- the map is the CAM of the image's **ground-truth class** in the wsolevaluation frame
  (:mod:`wsl.cam.frames`): the network's class map of that class resized with OpenCV bicubic
  interpolation to 224×224 and min–max normalised in float64 (wsolevaluation's ``normalize_scoremap``:
  ``(cam − min) / (max − min)``, a constant or non-finite map is all zeros). Normalising again, as
  evaluation does, is the identity (the minimum is exactly 0 and the maximum exactly 1), so
  ``evaluate --cams`` on the folder gives the numbers of ``evaluate --ckpt --protocol wsolevaluation``.

One map per image means one class per image: single-label data (every WSOL benchmark). Data with
several (or no) labelled classes in an image is refused with an error naming the image; use the default
layout (:mod:`wsl.viz.cam_files`: one ``.npz`` per image with a map per class) there.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sized
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wsl.cam.files import CamManifest, scoremap_path, write_scoremap
from wsl.cam.frames import WSOL_SIZE
from wsl.cam.stream import CamRequest, CamSource, ClassChoice, cam_batches
from wsl.jobs.outdir import lock_out_dir, prepare_out_dir, staged_output
from wsl.jobs.source import CheckpointData

__all__ = ["FRAME", "export_scoremaps", "export_scoremaps_from_checkpoint", "scoremap_path"]

log = logging.getLogger(__name__)

#: The evaluation frame of the maps.
FRAME = "wsolevaluation"


def _gt_class(batch: Mapping[str, Any], i: int) -> int:
    labels = torch.as_tensor(batch["labels"][i])
    present = torch.nonzero(labels > 0).flatten().tolist()
    if len(present) != 1:
        raise ValueError(
            f"image {batch['image_id'][i]!r} has {len(present)} labelled classes {present}; layout "
            "'wsolevaluation' writes one map per image, the ground-truth class of single-label data: use "
            "single-label data (single_label=True) or the default layout (one .npz per image, a map per "
            "class)"
        )
    return int(present[0])


#: The class choice of the layout: each image's one labelled class, chosen before the forward pass.
_GT_CLASS = ClassChoice(
    lambda batch, scores: [[_gt_class(batch, i)] for i in range(len(batch["image_id"]))], False
)


def _cam_source(cam_method: str | CamSource, cam_layer: str | None) -> CamSource:
    """A method name and its layer as a :class:`CamSource`; a :class:`CamSource` as it is (no layer)."""
    if not isinstance(cam_method, CamSource):
        return CamSource(cam_method, cam_layer)
    if cam_layer is not None:
        raise ValueError(f"cam_layer={cam_layer!r}: a CamSource cam_method names its own layer; leave it out")
    return cam_method


def export_scoremaps(
    module: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    limit: int | None = None,
    progress: bool = True,
    cam_method: str | CamSource = "native",
    cam_layer: str | None = None,
) -> dict[str, Any]:
    """Write the ground-truth class's CAM of every image as ``OUT/<image_id>.npy`` (module docstring).

    Beside the maps, ``OUT/cams.json`` (:class:`wsl.cam.files.CamManifest`, no images) records the
    layout and the frame, so that ``evaluate --cams`` refuses to score them in another frame.

    Args:
        module: a :class:`~wsl.lit.WSLModule` (its ``.net`` is called) or any module whose forward
            returns ``(scores (N, C), class_maps (N, C, h, w))``. It is put in eval mode.
        dataloader: batches from :func:`wsl.data.collate_wsl` with ``image``, ``image_id``, ``orig_size``
            and one-hot ``labels``.
        out_dir: output folder, written through :func:`wsl.jobs.outdir.staged_output` (locked, staged
            beside it and swapped in whole: an interrupted export leaves the earlier maps untouched);
            files that are not maps are kept.
        limit: write only the first ``limit`` images (None: all).
        progress: tqdm bar over batches.
        cam_method: ``native`` (the model's class maps) or a post-hoc method of
            :data:`wsl.cam.POSTHOC_METHODS`, computed for the ground-truth class
            (:func:`wsl.cam.class_maps_for`); or a :class:`~wsl.cam.stream.CamSource` (method, layer and
            :func:`wsl.cam.explain`'s options), ``cam_layer`` then None.
        cam_layer: the post-hoc method's layer (None: ``backbone``; ``"a,b"``: several fused).

    Returns:
        ``{"out_dir", "layout", "num_images", "shape", "dtype", "cam_method", "cam_layer", "aug_smooth",
        "eigen_smooth", "seconds"}``.

    Raises:
        ValueError: ``out_dir`` is a file, not writable, in use or holds other files than maps, an image
            without exactly one labelled class, an id that would leave ``out_dir``, a bad ``limit``.
    """
    cam = _cam_source(cam_method, cam_layer)
    request = CamRequest(cam, _GT_CLASS, FRAME, limit)
    prepare_out_dir(out_dir, FRAME)
    net = getattr(module, "net", module)
    request.source.check(net)
    module.eval()
    started, written = time.perf_counter(), 0
    batches: Iterable[Mapping[str, Any]] = dataloader
    if progress:
        from tqdm.auto import tqdm

        total = len(dataloader) if isinstance(dataloader, Sized) else None
        batches = tqdm(dataloader, total=total, desc="score maps", unit="batch", dynamic_ncols=True)
    with staged_output(out_dir, FRAME) as stage:
        for batch, cams in cam_batches(net, batches, request):
            paths = [scoremap_path(stage, str(image_id)) for image_id in batch["image_id"]]
            for i, path in enumerate(paths):
                (p,) = cams.of_image(i)
                write_scoremap(path, cams.cams[p].numpy().astype(np.float64))
            written += len(paths)
        summary: dict[str, Any] = {
            "layout": "wsolevaluation",
            "frame": FRAME,
            "shape": [WSOL_SIZE, WSOL_SIZE],
            "dtype": "float64",
            "cam_method": cam.method,
            "cam_layer": cam.layer,
            "aug_smooth": cam.aug_smooth,
            "eigen_smooth": cam.eigen_smooth,
        }
        CamManifest(summary).write(stage / "cams.json")
    summary.update(out_dir=str(Path(out_dir)), num_images=written, seconds=time.perf_counter() - started)
    return summary


def export_scoremaps_from_checkpoint(
    source: CheckpointData,
    out_dir: str | os.PathLike[str],
    limit: int | None = None,
    progress: bool = True,
    cam_method: str | CamSource = "native",
    cam_layer: str | None = None,
) -> dict[str, Any]:
    """Load a checkpoint and write a split's score maps (``tools/export_cams.py --layout wsolevaluation``).

    The data is read with the checkpoint's classes (:meth:`wsl.trained.TrainedModel.datamodule`; with
    ``source.class_names``, the dataset's classes as declared, which must be the model's in any order)
    and the forward runs under the training precision's autocast, as ``evaluate --ckpt`` does.
    ``out_dir`` is checked and locked before the checkpoint is loaded; ``cam_method`` and ``cam_layer`` as
    :func:`export_scoremaps` takes them, run on the model as they are (a classifier's: pass its own,
    :meth:`wsl.trained.TrainedModel.cam_source`).

    Returns:
        :func:`export_scoremaps`'s summary, plus ``ckpt``, ``data``, ``split``, ``image_size``, ``device``.
    """
    cam = _cam_source(cam_method, cam_layer)
    with lock_out_dir(prepare_out_dir(out_dir, FRAME)):
        model, loader = source.load(limit=limit)
        cam.check(model.net)
        if model.autocast_note is not None:
            log.info(model.autocast_note)
        with model.autocast():
            summary = export_scoremaps(model.net, loader, out_dir, limit, progress, cam)
    summary.update(source.summary(model))
    return summary
