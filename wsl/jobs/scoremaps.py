"""Score maps in clovaai/wsolevaluation's layout: ``OUT/<image_id>.npy``, one 224×224 map per image.

This is what wsolevaluation's ``inference.py`` writes and its ``evaluation.py`` reads
(``os.path.join(scoremap_root, image_id + '.npy')``), so a folder written here is scored by
``python evaluation.py --scoremap_root OUT ...`` unchanged, and by ``tools/evaluate.py --cams OUT
--protocol wsolevaluation``:

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
from collections.abc import Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wsl.cam.files import scoremap_path, write_scoremap
from wsl.cam.frames import WSOL_SIZE
from wsl.cam.posthoc import check_cam_request
from wsl.cam.stream import CamRequest, CamSource, ClassChoice, cam_batches

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


def export_scoremaps(
    module: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    limit: int | None = None,
    progress: bool = True,
    cam_method: str = "native",
    cam_layer: str | None = None,
) -> dict[str, Any]:
    """Write the ground-truth class's CAM of every image as ``OUT/<image_id>.npy`` (module docstring).

    Args:
        module: a :class:`~wsl.lit.WSLModule` (its ``.net`` is called) or any module whose forward
            returns ``(scores (N, C), class_maps (N, C, h, w))``. It is put in eval mode.
        dataloader: batches from :func:`wsl.data.collate_wsl` with ``image``, ``image_id``, ``orig_size``
            and one-hot ``labels``.
        out_dir: output folder (created; files of other ids in it are left alone).
        limit: write only the first ``limit`` images (None: all).
        progress: tqdm bar over batches.
        cam_method: ``native`` (the model's class maps) or a post-hoc method of
            :data:`wsl.cam.POSTHOC_METHODS`, computed for the ground-truth class
            (:func:`wsl.cam.class_maps_for`).
        cam_layer: the post-hoc method's layer (None: ``backbone``).

    Returns:
        ``{"out_dir", "layout", "num_images", "shape", "dtype", "cam_method", "cam_layer", "seconds"}``.

    Raises:
        ValueError: ``out_dir`` is a file, an image without exactly one labelled class, an id that
            would leave ``out_dir``, a bad ``limit``.
    """
    request = CamRequest(CamSource(cam_method, cam_layer), _GT_CLASS, FRAME, limit)
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise ValueError(f"out_dir {str(root)!r} is a file; pass a folder for the .npy score maps")
    net = getattr(module, "net", module)
    request.source.check(net)
    module.eval()
    started, written = time.perf_counter(), 0
    batches: Iterable[Mapping[str, Any]] = dataloader
    if progress:
        from tqdm.auto import tqdm

        total = len(dataloader) if isinstance(dataloader, Sized) else None
        batches = tqdm(dataloader, total=total, desc="score maps", unit="batch", dynamic_ncols=True)
    for batch, cams in cam_batches(net, batches, request):
        paths = [scoremap_path(root, str(image_id)) for image_id in batch["image_id"]]
        for i, path in enumerate(paths):
            (p,) = cams.of_image(i)
            write_scoremap(path, cams.cams[p].numpy().astype(np.float64))
        written += len(paths)
    return {
        "out_dir": str(root),
        "layout": "wsolevaluation",
        "num_images": written,
        "shape": [WSOL_SIZE, WSOL_SIZE],
        "dtype": "float64",
        "cam_method": cam_method,
        "cam_layer": cam_layer,
        "seconds": time.perf_counter() - started,
    }


def export_scoremaps_from_checkpoint(
    ckpt: str | os.PathLike[str],
    data: str,
    split: str,
    out_dir: str | os.PathLike[str],
    limit: int | None = None,
    image_size: int | None = None,
    batch_size: int = 32,
    num_workers: int = 2,
    device: str = "auto",
    skip_bad: bool = False,
    progress: bool = True,
    cam_method: str = "native",
    cam_layer: str | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Load a checkpoint and write a split's score maps (``tools/export_cams.py --layout wsolevaluation``).

    The data is read with the checkpoint's classes (:meth:`wsl.trained.TrainedModel.datamodule`; with
    ``class_names``, the dataset's classes as declared, which must be the model's in any order) and the
    forward runs under the training precision's autocast, as ``evaluate --ckpt`` does.

    Returns:
        :func:`export_scoremaps`'s summary, plus ``ckpt``, ``data``, ``split``, ``image_size``, ``device``.
    """
    from wsl.trained import TrainedModel

    check_cam_request(cam_method, cam_layer)
    model = TrainedModel.load(os.fspath(ckpt), device=device, image_size=image_size)
    check_cam_request(cam_method, cam_layer, model.net)
    for note in model.notes:
        log.info(note)
    dm = model.datamodule(
        data, class_names, batch_size=batch_size, num_workers=num_workers, skip_bad=skip_bad
    )
    loader = dm.dataloader(split, limit=limit)
    with model.autocast(log.info):
        summary = export_scoremaps(
            model.net, loader, out_dir, limit, progress, cam_method=cam_method, cam_layer=cam_layer
        )
    image_size, torch_device = model.image_size, model.device
    summary.update(ckpt=str(ckpt), data=data, split=split, image_size=image_size, device=str(torch_device))
    return summary
