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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wsl.cam import CLASS_POLICIES, CamBatch
from wsl.cam.files import ManifestOptions, npz_keys
from wsl.cam.frames import get_frame
from wsl.cam.posthoc import cam_label
from wsl.cam.stream import CamRequest, CamSource, cam_batches
from wsl.jobs.originals import OriginalImages
from wsl.jobs.outdir import lock_out_dir, prepare_out_dir, staged_output
from wsl.jobs.source import CheckpointData, check_int
from wsl.runs import DEFAULT_THRESHOLD, parse_threshold
from wsl.trained import TrainedModel, parse_class_names
from wsl.viz.cam_files import ExportFolder
from wsl.viz.io import save_png
from wsl.viz.render import CamPanel, PanelStyle
from wsl.viz.sheet import contact_sheet

__all__ = [
    "CLASS_MODES",
    "CheckpointData",
    "ExportOptions",
    "export_cams",
    "export_from_checkpoint",
    "parse_class_names",
    "summary_text",
]

log = logging.getLogger(__name__)

#: Which classes of an image get a CAM: the class-policy registry itself (``gt``, ``present``, ``top1``,
#: ``all``, and any policy registered later), so export accepts exactly what the pipeline does.
CLASS_MODES = CLASS_POLICIES


def _class_names(names: Sequence[str] | None, num_classes: int) -> list[str]:
    names = [str(c) for c in range(num_classes)] if names is None else [str(n) for n in names]
    if len(names) != num_classes:
        raise ValueError(f"class_names has {len(names)} names but the model outputs {num_classes} classes")
    return names


@dataclass(frozen=True)
class ExportOptions:
    """How :func:`export_cams` exports (the flags of ``tools/export_cams.py``).

    Attributes:
        classes: a class policy of :data:`CLASS_MODES`: ``"gt"`` (classes with a non-difficult box),
            ``"present"`` (ground-truth labels), ``"top1"`` (top-scoring class) or ``"all"``.
        limit: export only the first ``limit`` images (None: all).
        threshold: box threshold in [0, 1) for :func:`wsl.metrics.boxes.quantized_to_boxes`.
        class_names: the C class names (default ``module.class_names``, else ``"0"``, ``"1"`` …).
        multi_contour: every contour's box (MaxBoxAccV2) instead of the largest one (MaxBoxAcc).
        single_label: softmax instead of sigmoid probabilities (default ``module.hparams.single_label``).
        sheet_size: number of overlays in ``contact_sheet.png`` (0: no sheet).
        thumb_size: longest side of gallery thumbnails; smaller overlays are their own thumbnail.
        alpha: overlay weight of the CAM colours.
        colormap: colormap name.
        progress: show a tqdm bar over batches.
        cam_method: ``native`` (the model's class maps) or a post-hoc method of
            :data:`wsl.cam.POSTHOC_METHODS` (:func:`wsl.cam.posthoc.posthoc_names`).
        cam_layer: the post-hoc method's layer, a dotted module name of the net (None: ``backbone``);
            ``"a,b"``: several layers fused.
        aug_smooth, eigen_smooth: :func:`wsl.cam.explain`'s options of the post-hoc method
            (:class:`wsl.cam.stream.CamSource`).
    """

    classes: str = "present"
    limit: int | None = None
    threshold: float = DEFAULT_THRESHOLD
    class_names: Sequence[str] | None = None
    multi_contour: bool = False
    single_label: bool | None = None
    sheet_size: int = 32
    thumb_size: int = 256
    alpha: float = 0.5
    colormap: str = "inferno"
    progress: bool = True
    cam_method: str = "native"
    cam_layer: str | None = None
    aug_smooth: bool = False
    eigen_smooth: bool = False

    def check(self) -> tuple[CamRequest, PanelStyle]:
        """The CAM request and the picture style, every option checked (ValueError naming it)."""
        cam = CamSource(self.cam_method, self.cam_layer, self.aug_smooth, self.eigen_smooth)
        request = CamRequest(cam, self.classes, limit=self.limit)
        threshold = parse_threshold(self.threshold)
        style = PanelStyle(threshold, bool(self.multi_contour), self.alpha, self.colormap)
        check_int("sheet_size", self.sheet_size, 0)
        check_int("thumb_size", self.thumb_size, 16)
        return request, style


def export_cams(
    module: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    options: ExportOptions | None = None,
    **fields: Any,
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
            ``box_labels`` (evaluation loaders; ``gt`` also needs ``difficult``). A ``wsl`` dataset behind
            it carries its decoded originals (``pixels``) while the export reads it, so the pictures
            reuse them (:class:`wsl.jobs.originals.OriginalImages`); other batches may carry ``pixels``.
        out_dir: output folder (created), written through :func:`wsl.jobs.outdir.staged_output`: locked,
            staged in ``OUT.partial-<pid>`` and swapped in only when complete; other files in it are kept.
        options: :class:`ExportOptions` (default: its defaults).
        **fields: fields of :class:`ExportOptions` to replace, e.g. ``classes="top1"``.

    Returns:
        Summary dict: ``out_dir``, ``index``, ``manifest``, ``contact_sheet`` (or None), ``num_images``,
        ``num_cams``, ``mean_iou`` (over CAMs with ground truth, None if none), ``box_acc`` (fraction of
        those with IoU ≥ 0.5), ``threshold``, ``classes``, ``cam_method``, ``cam_layer``, ``seconds``.

    Raises:
        ValueError: bad ``classes``/``limit``/``threshold``/``sheet_size``, an ``out_dir`` that is a file,
            not writable, in use by another job or a non-empty folder that holds no earlier export,
            class names that do not match the model's output, or batches without the needed keys.

    Example:
        >>> module = load_module("runs/synthetic-weldon/checkpoints/best.ckpt")  # doctest: +SKIP
        >>> loader = WSLDataModule("synthetic", num_workers=0).dataloader("test", limit=16)  # doctest: +SKIP
        >>> export_cams(module, loader, "cams_out", classes="top1")["num_cams"]  # doctest: +SKIP
        16
    """
    opts = replace(options or ExportOptions(), **fields)
    request, style = opts.check()
    net = getattr(module, "net", module)
    request.source.check(net)
    if opts.class_names is None:
        opts = replace(opts, class_names=getattr(module, "class_names", None))
    if opts.single_label is None:
        hparams = getattr(module, "hparams", None) or {}
        single = bool(hparams.get("single_label", False)) if isinstance(hparams, Mapping) else False
        opts = replace(opts, single_label=single)
    prepare_out_dir(out_dir, "wsl")  # before the first batch
    module.eval()
    started = time.perf_counter()
    originals = OriginalImages(getattr(dataloader, "dataset", None))
    with staged_output(out_dir, "wsl") as stage, originals.carried():  # each image decoded once
        export = _Export(ExportFolder(stage), style, originals, opts.thumb_size, max_pictures=opts.sheet_size)
        _export_batches(export, net, dataloader, request, opts)
        _finish(export, opts, request)
    summary = export.summary(Path(out_dir))
    summary.update(threshold=style.threshold, classes=opts.classes)
    summary.update(cam_method=opts.cam_method, cam_layer=opts.cam_layer)
    summary.update(aug_smooth=opts.aug_smooth, eigen_smooth=opts.eigen_smooth)
    summary["seconds"] = time.perf_counter() - started
    return summary


def _finish(export: _Export, opts: ExportOptions, request: CamRequest) -> None:
    """Write the contact sheet, ``cams.json`` and ``index.html`` of a complete export."""
    folder, style = export.folder, export.style
    if export.pictures:
        save_png(folder.root / "contact_sheet.png", contact_sheet(export.pictures, ncols=8))
    options = ManifestOptions(
        class_names=list(export.names or opts.class_names or []),
        single_label=bool(opts.single_label),
        classes=opts.classes,
        threshold=style.threshold,
        multi_contour=style.multi_contour,
        cam_method=opts.cam_method,
        cam_layer=opts.cam_layer,
        frame=get_frame(request.frame).name,
        aug_smooth=request.source.aug_smooth,
        eigen_smooth=request.source.eigen_smooth,
    )
    folder.write_manifest(options, export.images, export.entries)
    source = request.source.label
    title = (
        f"{source + ' ' if source else ''}CAMs ({opts.classes} classes) - GT boxes green, predicted boxes "
        f"red ({'all contours' if style.multi_contour else 'largest contour'}, threshold "
        f"{style.threshold:.2f})"
    )
    folder.write_index(export.entries, title)


def _export_batches(
    export: _Export,
    net: nn.Module,
    dataloader: Iterable[Mapping[str, Any]],
    request: CamRequest,
    opts: ExportOptions,
) -> None:
    """Run the CAM stream over the batches and write the files of each image into ``export``."""
    batches: Iterable[Mapping[str, Any]] = dataloader
    bar = None
    if opts.progress:
        from tqdm.auto import tqdm

        total = len(dataloader) if isinstance(dataloader, Sized) else None
        batches = bar = tqdm(dataloader, total=total, desc="export CAMs", unit="batch", dynamic_ncols=True)
    try:
        for batch, cams in cam_batches(net, batches, request):
            assert cams.scores is not None
            if export.names is None:
                export.names = _class_names(opts.class_names, cams.scores.shape[1])
                export.folder.npz_keys = npz_keys(export.names)
            probs = cams.scores.softmax(dim=1) if opts.single_label else cams.scores.sigmoid()
            for i in range(len(batch["image_id"])):
                export.add_image(cams, i, batch, probs[i])
    finally:
        if bar is not None:
            bar.close()


@dataclass
class _Export:
    """One export in progress: where and how it writes, and the manifest records written so far."""

    folder: ExportFolder
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
        pixels = batch["pixels"][i] if "pixels" in batch else None
        picture = self.originals(image_id, size, batch["image"][i], pixels)
        boxes = batch.get("boxes") if "box_labels" in batch else None
        for name, p in pairs:
            c = int(cams.class_index[p])
            gt = None
            if boxes is not None:
                gt = np.asarray(boxes[i])[np.asarray(batch["box_labels"][i]) == c].reshape(-1, 4)
            prob = float(probs[c])
            title = f"{name} {prob:.2f}"
            cam, quantized = cams.cams[p].numpy(), cams.quantized[p].numpy()  # boxes: the metrics' map
            panel = CamPanel.draw(picture, cam, gt, title, image_id, self.style, quantized)
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
    source: CheckpointData,
    out_dir: str | os.PathLike[str],
    options: ExportOptions | None = None,
    threshold: float | str = "best",
) -> dict[str, Any]:
    """Load a checkpoint, build the loader of a data split and run :func:`export_cams`.

    The dataset is read with the class list stored in the checkpoint, so a VOC or COCO folder is read
    with the model's own classes (and class order): :meth:`wsl.trained.TrainedModel.datamodule`, or, when
    ``source.class_names`` declares the dataset's classes, those (which must be the model's, in any
    order). ``out_dir`` is checked and locked before the checkpoint is loaded. ``source.data`` None reads
    the data the checkpoint was trained on, or refuses (a dataset is never guessed).

    ``source.ckpt`` may be a classifier's model (:meth:`wsl.trained.TrainedModel.from_classifier`): its
    CAMs are its post-hoc method's (``cam_method`` ``native`` means that method; another post-hoc method
    runs on the same layer) and the data's label ``k`` is its output ``k``.

    Args:
        source: the checkpoint and the split (:class:`wsl.jobs.source.CheckpointData`).
        out_dir: output folder.
        options: see :func:`export_cams`; its ``class_names``/``single_label`` default to the model's and
            its ``threshold`` is replaced by ``threshold``.
        threshold: ``"best"`` (:meth:`wsl.runs.RunFolder.best_threshold`) or a number in [0, 1).

    Returns:
        :func:`export_cams`'s summary, plus ``ckpt``, ``data``, ``split``, ``image_size``, ``device``.

    Raises:
        ValueError: missing or foreign checkpoint, unknown split, annotations naming a class the model
            does not know, bad threshold, bad device, an ``out_dir`` refused by
            :func:`wsl.jobs.outdir.prepare_out_dir` or in use.
    """
    opts = options or ExportOptions()
    value: float | str = (
        "best" if isinstance(threshold, str) and threshold == "best" else parse_threshold(threshold)
    )
    if isinstance(source.ckpt, TrainedModel):  # a classifier: its method, its layers
        opts = replace(opts, **_cam_fields(source.ckpt, opts))
    opts.check()  # a bad CAM request fails before the checkpoint is loaded
    with lock_out_dir(prepare_out_dir(out_dir, "wsl")):  # before the checkpoint is loaded
        model, loader = source.load(value, opts.limit)
        opts = replace(
            opts,
            **_cam_fields(model, opts),
            class_names=model.class_names if opts.class_names is None else opts.class_names,
            single_label=model.single_label if opts.single_label is None else opts.single_label,
            threshold=model.threshold if model.threshold is not None else DEFAULT_THRESHOLD,
        )
        if model.autocast_note is not None:
            log.info(model.autocast_note)
        with model.autocast():  # the precision of results.json and evaluate --ckpt
            summary = export_cams(model.net, loader, out_dir, opts)
    summary.update(source.summary(model))
    return summary


def _cam_fields(model: TrainedModel, opts: ExportOptions) -> dict[str, Any]:
    """``cam_method`` and ``cam_layer`` of ``opts`` as the job runs them on ``model``
    (:meth:`wsl.trained.TrainedModel.cam_source`: a classifier's ``native`` is its method)."""
    method, layer = model.cam_source(opts.cam_method, opts.cam_layer)
    return {"cam_method": method, "cam_layer": layer}


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
