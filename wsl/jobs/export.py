"""Export the CAMs of a model over a dataset: overlay PNGs, raw maps, an HTML gallery and a contact sheet.

:func:`export_cams` runs one forward pass per batch, takes the CAMs of the chosen classes from the one
CAM pipeline (:meth:`wsl.cam.CamBatch.from_output` with ``policy=classes``) and, for every (image,
class), draws a picture (:mod:`wsl.viz.render`) and stores the map (:mod:`wsl.viz.cam_files`, which
documents the folder layout, the ``.npz`` format and the ``cams.json`` manifest).
:func:`export_from_checkpoint` is the whole ``tools/export_cams.py`` (checkpoint, data spec, split) for
use from Python.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wsl.cam import CLASS_POLICIES, CamBatch
from wsl.cam.posthoc import cam_label, check_cam_request
from wsl.cam.stream import CamRequest, CamSource, cam_batches
from wsl.jobs.originals import OriginalImages
from wsl.runs import DEFAULT_THRESHOLD, parse_threshold
from wsl.trained import parse_class_names
from wsl.viz.cam_files import CamFolder, npz_keys, prepare_out_dir, staged_folder
from wsl.viz.io import save_png
from wsl.viz.render import CamPanel, PanelStyle
from wsl.viz.sheet import contact_sheet

__all__ = ["CLASS_MODES", "export_cams", "export_from_checkpoint", "parse_class_names", "summary_text"]

log = logging.getLogger(__name__)

#: Which classes of an image get a CAM: the class-policy registry itself (``gt``, ``present``, ``top1``,
#: ``all``, and any policy registered later), so export accepts exactly what the pipeline does.
CLASS_MODES = CLASS_POLICIES


def _check_int(name: str, value: Any, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an int >= {least}; got {value!r}")


def _class_names(names: Sequence[str] | None, num_classes: int) -> list[str]:
    names = [str(c) for c in range(num_classes)] if names is None else [str(n) for n in names]
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names but the model outputs {num_classes} classes")
    return names


def export_cams(
    module: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    classes: str = "present",
    limit: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    class_names: Sequence[str] | None = None,
    multi_contour: bool = False,
    single_label: bool | None = None,
    sheet_size: int = 32,
    thumb_size: int = 256,
    alpha: float = 0.5,
    colormap: str = "inferno",
    progress: bool = True,
    cam_method: str = "native",
    cam_layer: str | None = None,
) -> dict[str, Any]:
    """Write overlays, CAM files, a gallery and a contact sheet for the images of a loader.

    One forward pass per batch (on the module's device, no grad) gives the scores ``(B, C)`` and every
    class map ``(B, C, h, w)`` (a post-hoc ``cam_method``: :func:`wsl.cam.class_maps_for`, with the
    gradients of the classes the policy draws, or of every class for ``top1``/``all``);
    :meth:`wsl.cam.CamBatch.from_output` chooses the classes, upsamples
    their maps to each image's original size and normalises them once. See :mod:`wsl.viz.cam_files`
    for the files and the ``.npz`` format and :mod:`wsl.viz.render` for the picture.

    Args:
        module: a :class:`~wsl.lit.WSLModule` (its ``.net`` is called) or any module whose forward
            returns ``(scores (N, C), class_maps (N, C, h, w))``. It is put in eval mode.
        dataloader: batches from :func:`wsl.data.collate_wsl`: ``image`` ``(B, 3, S, S)``, ``image_id``,
            ``orig_size`` ``(B, 2)``, ``labels`` ``(B, C)`` and, for boxes and IoUs, ``boxes`` and
            ``box_labels`` (evaluation loaders; ``gt`` also needs ``difficult``).
        out_dir: output folder (created). The export is written beside it in ``OUT.partial-<pid>`` and
            replaces an earlier export there only when complete (:func:`wsl.viz.cam_files.staged_folder`);
            other files in ``out_dir`` are kept.
        classes: a class policy of :data:`CLASS_MODES`: ``"gt"`` (classes with a non-difficult box),
            ``"present"`` (ground-truth labels), ``"top1"`` (top-scoring class) or ``"all"``.
        limit: export only the first ``limit`` images (None: all).
        threshold: box threshold in [0, 1) for :func:`wsl.metrics.cam_to_boxes`.
        class_names: the C class names (default ``module.class_names``, else ``"0"``, ``"1"`` …).
        multi_contour: every contour's box (MaxBoxAccV2) instead of the largest one (MaxBoxAcc).
        single_label: softmax instead of sigmoid probabilities (default ``module.hparams.single_label``).
        sheet_size: number of overlays in ``contact_sheet.png`` (0: no sheet).
        thumb_size: longest side of gallery thumbnails; smaller overlays are their own thumbnail.
        alpha: overlay weight of the CAM colours.
        colormap: colormap name.
        progress: show a tqdm bar over batches.
        cam_method: ``native`` (the model's class maps) or a post-hoc method of
            :data:`wsl.cam.POSTHOC_METHODS` (``gradcam gradcampp layercam eigencam``).
        cam_layer: the post-hoc method's layer, a dotted module name of the net (None: ``backbone``).

    Returns:
        Summary dict: ``out_dir``, ``index``, ``manifest``, ``contact_sheet`` (or None), ``num_images``,
        ``num_cams``, ``mean_iou`` (over CAMs with ground truth, None if none), ``box_acc`` (fraction of
        those with IoU ≥ 0.5), ``threshold``, ``classes``, ``cam_method``, ``cam_layer``, ``seconds``.

    Raises:
        ValueError: bad ``classes``/``limit``/``threshold``/``sheet_size``, an ``out_dir`` that is a file
            or a non-empty folder that holds no earlier export,
            class names that do not match the model's output, or batches without the needed keys.

    Example:
        >>> module = load_module("runs/synthetic-weldon/checkpoints/best.ckpt")  # doctest: +SKIP
        >>> loader = WSLDataModule("synthetic", num_workers=0).dataloader("test", limit=16)  # doctest: +SKIP
        >>> export_cams(module, loader, "cams_out", classes="top1")["num_cams"]  # doctest: +SKIP
        16
    """
    request = CamRequest(CamSource(cam_method, cam_layer), classes, limit=limit)
    style = PanelStyle(parse_threshold(threshold), bool(multi_contour), alpha, colormap)
    _check_int("sheet_size", sheet_size, 0)
    _check_int("thumb_size", thumb_size, 16)
    net = getattr(module, "net", module)
    request.source.check(net)
    if class_names is None:
        class_names = getattr(module, "class_names", None)
    if single_label is None:
        hparams = getattr(module, "hparams", None) or {}
        single_label = bool(hparams.get("single_label", False)) if isinstance(hparams, Mapping) else False
    module.eval()

    started = time.perf_counter()
    originals = OriginalImages(getattr(dataloader, "dataset", None))
    with staged_folder(out_dir) as folder:
        export = _Export(folder, style, originals, thumb_size, max_pictures=sheet_size)
        _export_batches(export, net, dataloader, request, class_names, single_label, progress)
        if export.pictures:
            save_png(folder.root / "contact_sheet.png", contact_sheet(export.pictures, ncols=8))
        options = {
            "class_names": list(export.names or class_names or []),
            "npz_keys": dict(folder.npz_keys),
            "single_label": bool(single_label),
            "classes": classes,
            "threshold": style.threshold,
            "multi_contour": style.multi_contour,
            "cam_method": cam_method,
            "cam_layer": cam_layer,
        }
        folder.write_manifest(options, export.images, export.entries)
        source = cam_label(cam_method, cam_layer)
        title = (
            f"{source + ' ' if source else ''}CAMs ({classes} classes) - GT boxes green, predicted boxes red "
            f"({'all contours' if multi_contour else 'largest contour'}, threshold {style.threshold:.2f})"
        )
        folder.write_index(export.entries, title)
    summary = export.summary(Path(out_dir))
    summary.update(threshold=style.threshold, classes=classes, cam_method=cam_method, cam_layer=cam_layer)
    summary["seconds"] = time.perf_counter() - started
    return summary


def _export_batches(
    export: _Export,
    net: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    request: CamRequest,
    class_names: Sequence[str] | None,
    single_label: bool,
    progress: bool,
) -> None:
    """Run the CAM stream over the batches and write the files of each image into ``export``."""
    batches: Iterable[Mapping[str, Any]] = dataloader
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = len(dataloader) if isinstance(dataloader, Sized) else None
        batches = bar = tqdm(dataloader, total=total, desc="export CAMs", unit="batch", dynamic_ncols=True)
    try:
        for batch, cams in cam_batches(net, batches, request):
            assert cams.scores is not None
            if export.names is None:
                export.names = _class_names(class_names, cams.scores.shape[1])
                export.folder.npz_keys = npz_keys(export.names)
            probs = cams.scores.softmax(dim=1) if single_label else cams.scores.sigmoid()
            for i in range(len(batch["image_id"])):
                export.add_image(cams, i, batch, probs[i])
    finally:
        if bar is not None:
            bar.close()


@dataclass
class _Export:
    """One export in progress: where and how it writes, and the manifest records written so far."""

    folder: CamFolder
    style: PanelStyle
    originals: OriginalImages
    thumb_size: int
    names: list[str] | None = None  # the C class names, once the model's output tells C
    images: list[dict[str, Any]] = field(default_factory=list)  # manifest "images"
    entries: list[dict[str, Any]] = field(default_factory=list)  # manifest "entries"
    pictures: list[np.ndarray] = field(default_factory=list)  # the contact sheet's first tiles
    max_pictures: int = 32

    def summary(self, root: Path) -> dict[str, Any]:
        """The files and counts of the finished export in ``root`` (mean IoU and BoxAcc@0.5 over the CAMs
        with ground truth, None without)."""
        ious = [e["iou"] for e in self.entries if e["iou"] is not None]
        return {
            "out_dir": str(root),
            "index": str(root / "index.html"),
            "manifest": str(root / "cams.json"),
            "contact_sheet": str(root / "contact_sheet.png") if self.pictures else None,
            "num_images": len(self.images),
            "num_cams": len(self.entries),
            "mean_iou": float(np.mean(ious)) if ious else None,
            "box_acc": float(np.mean([iou >= 0.5 for iou in ious])) if ious else None,
        }

    def add_image(self, cams: CamBatch, i: int, batch: Mapping[str, Any], probs: torch.Tensor) -> None:
        """Write the ``.npz``, overlays and thumbnails of image ``i`` of ``batch`` and record them."""
        assert self.names is not None and cams.scores is not None
        image_id = str(batch["image_id"][i])
        size = (int(batch["orig_size"][i][0]), int(batch["orig_size"][i][1]))
        pairs = [(self.names[c], p) for c, p in zip(cams.classes[i], cams.of_image(i), strict=True)]
        stem = self.folder.image_stem(image_id)
        # An image without chosen classes (no labels) still gets its (empty) file, for tools/evaluate.py.
        npz = self.folder.write_cams(stem, {name: cams.cams[p] for name, p in pairs})
        self.images.append(
            {
                "image_id": image_id,
                "npz": npz,
                "size": list(size),
                "scores": cams.scores[i].tolist(),
                "probs": probs.tolist(),
                "classes": [name for name, _ in pairs],
                "cam_range": {name: cams.raw_range[p].tolist() for name, p in pairs},
            }
        )
        if not pairs:
            return
        picture = self.originals(image_id, size, batch["image"][i])
        boxes = batch.get("boxes") if "box_labels" in batch else None
        for name, p in pairs:
            c = int(cams.class_index[p])
            gt = None
            if boxes is not None:
                gt = np.asarray(boxes[i])[np.asarray(batch["box_labels"][i]) == c].reshape(-1, 4)
            prob = float(probs[c])
            title = f"{name} {prob:.2f}"
            panel = CamPanel.draw(picture, cams.cams[p].numpy(), gt, title, image_id, self.style)
            image, thumb = self.folder.write_overlay(stem, name, panel.picture, self.thumb_size)
            self.entries.append(
                {
                    "image_id": image_id,
                    "class_name": name,
                    "score": prob,
                    "iou": panel.iou,
                    "image": image,
                    "thumb": thumb,
                    "pred_boxes": panel.pred_boxes.tolist(),
                    "npz": npz,
                }
            )
            if len(self.pictures) < self.max_pictures:
                self.pictures.append(panel.picture)


def export_from_checkpoint(
    ckpt: str | os.PathLike[str],
    data: str,
    split: str,
    out_dir: str | os.PathLike[str],
    classes: str = "present",
    limit: int | None = None,
    threshold: float | str = "best",
    image_size: int | None = None,
    batch_size: int = 32,
    num_workers: int = 2,
    device: str = "auto",
    skip_bad: bool = False,
    progress: bool = True,
    class_names: str | Sequence[str] | None = None,
    cam_method: str = "native",
    cam_layer: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Load a checkpoint, build the loader of a data split and run :func:`export_cams`.

    The dataset is read with the class list stored in the checkpoint, so a VOC or COCO folder is read
    with the model's own classes (and class order): :meth:`wsl.trained.TrainedModel.datamodule`, or, when
    ``class_names`` declares the dataset's classes, those (which must be the model's, in any order).

    Args:
        ckpt: ``.ckpt`` written by ``tools/train.py``.
        data: data spec (``synthetic``, ``voc:PATH``, ``coco:PATH`` …).
        split: split name (``test``, ``val`` …).
        out_dir: output folder.
        classes, limit: see :func:`export_cams`.
        threshold: ``"best"`` (:meth:`wsl.runs.RunFolder.best_threshold`) or a number in [0, 1).
        image_size: network input side; None: :meth:`wsl.runs.RunFolder.training_image_size`.
        batch_size, num_workers: loader settings.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (:func:`wsl.runs.resolve_device`).
        progress: tqdm bar.
        class_names: the dataset's classes (:func:`parse_class_names`: a list, ``"a,b,c"`` or a file),
            for a folder that does not declare them (a VOC folder without ``classes.txt``) or declares
            others; None: the dataset's own declaration.
        cam_method, cam_layer: see :func:`export_cams` (an unknown method or layer fails before any
            image is read).
        **kwargs: passed to :func:`export_cams`.

    Returns:
        :func:`export_cams`'s summary, plus ``ckpt``, ``data``, ``split``, ``image_size``, ``device``.

    Raises:
        ValueError: missing or foreign checkpoint, unknown split, annotations naming a class the model
            does not know, bad threshold, bad device, ``out_dir`` that is a file.
    """
    from wsl.trained import TrainedModel

    value: float | str = (
        "best" if isinstance(threshold, str) and threshold == "best" else parse_threshold(threshold)
    )
    _check_int("batch_size", batch_size, 1)
    if image_size is not None:
        _check_int("image_size", image_size, 1)
    names = parse_class_names(class_names) if class_names is not None else None
    check_cam_request(cam_method, cam_layer)
    prepare_out_dir(out_dir)  # before the checkpoint is loaded
    model = TrainedModel.load(os.fspath(ckpt), device=device, image_size=image_size, threshold=value)
    for note in model.notes:
        log.info(note)
    dm = model.datamodule(
        data, names, batch_size=batch_size, num_workers=num_workers, test_split=split, skip_bad=skip_bad
    )
    loader = dm.dataloader(split, limit=limit)
    kwargs.setdefault("class_names", model.class_names)
    kwargs.setdefault("single_label", model.single_label)
    with model.autocast(log.info):  # the precision of results.json and evaluate --ckpt
        summary = export_cams(
            model.net,
            loader,
            out_dir,
            classes=classes,
            limit=limit,
            threshold=model.threshold if model.threshold is not None else DEFAULT_THRESHOLD,
            progress=progress,
            cam_method=cam_method,
            cam_layer=cam_layer,
            **kwargs,
        )
    image_size, torch_device = model.image_size, model.device
    summary.update(ckpt=str(ckpt), data=data, split=split, image_size=image_size, device=str(torch_device))
    return summary


def summary_text(summary: Mapping[str, Any]) -> str:
    """The lines ``tools/export_cams.py`` prints for a summary of :func:`export_cams`."""
    iou = summary["mean_iou"]
    scores = f", mean IoU {iou:.3f}, BoxAcc@0.5 {summary['box_acc']:.3f}" if iou is not None else ""
    seconds = summary["seconds"]
    source = cam_label(summary.get("cam_method", "native"), summary.get("cam_layer"))
    kind = f"{source} " if source else ""
    return (
        f"exported {summary['num_cams']} {kind}CAMs of {summary['num_images']} images in {seconds:.1f} s "
        f"(threshold {summary['threshold']:.2f}{scores})\n"
        f"gallery: {summary['index']}\nCAM files (tools/evaluate.py --cams): {summary['out_dir']}/cams"
    )
