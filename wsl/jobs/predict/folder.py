"""The output folder of ``tools/predict.py``: the export's pictures and maps, plus COCO detections.

Layout of ``OUT`` (the files of :mod:`wsl.viz.cam_files`, and two more; the settings in ``cams.json``
are :class:`wsl.cam.files.ManifestOptions`, as the export's, with ``top_k`` and ``min_score``)::

    OUT/index.html                      gallery of the overlays (boxes in red)
    OUT/contact_sheet.png               the first ``sheet_size`` overlays' thumbnails
    OUT/cams.json                       the export's manifest (``image_id`` is the file's stem,
                                        ``coco_id`` and ``file`` are added)
    OUT/cams/<stem>.npz                 the CAMs of the chosen classes, in the export's format
    OUT/overlays/<stem>__<class>.png    one overlay per (image, chosen class), ``thumbs/`` likewise
    OUT/detections.json                 COCO results (:mod:`wsl.jobs.predict.coco`), one per box
    OUT/images.json                     {"images": [{"id", "file_name", "path", "height", "width"}],
                                         "categories": [{"id", "name"}]}: which file each image_id is
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from wsl.cam.files import ManifestOptions
from wsl.jobs.outdir import lock_out_dir, prepare_out_dir, staged_output
from wsl.jobs.predict.coco import CocoIds, coco_results
from wsl.jobs.predict.core import (
    PICTURE_SIDE,
    ImagePrediction,
    ModelOptions,
    ModelSource,
    PredictOptions,
    Predictor,
    iter_predictions,
)
from wsl.options import apply_fields, split_fields
from wsl.runs import write_json
from wsl.viz.cam_files import ExportFolder
from wsl.viz.io import save_png
from wsl.viz.render import PanelStyle, render_overlay, thumbnail
from wsl.viz.sheet import contact_sheet

__all__ = ["FolderOptions", "predict_to_folder"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FolderOptions:
    """How :func:`predict_to_folder` predicts and what it writes (the flags of ``tools/predict.py``).

    Attributes:
        predict_options: how the images are gone over (:class:`~wsl.jobs.predict.PredictOptions`:
            ``top_k min_score multi_contour batch_size num_workers progress``; ``progress`` on by
            default here). ``keep_pixels`` and ``picture_side`` are the folder's: the overlays are drawn
            on pixels kept at :data:`~wsl.jobs.predict.core.PICTURE_SIDE`; leave them at their defaults.
        model_options: how the model is loaded (:class:`~wsl.jobs.predict.ModelOptions`:
            ``threshold image_size device cam_method cam_layer``).
        coco_gt: a COCO annotation file whose image ids (by file name) and category ids (by class name)
            the detections use, so that ``COCOeval`` can score them; files it does not list are skipped.
            None: images are numbered 1, 2, … and class ``c`` is category ``c + 1``.
        sheet_size: overlays in ``contact_sheet.png`` (0: none).
        thumb_size: longest side of the gallery thumbnails.

    Raises:
        ValueError: ``sheet_size`` not an int >= 0, or a drawing field of ``predict_options`` set.
    """

    predict_options: PredictOptions = field(default_factory=lambda: PredictOptions(progress=True))
    model_options: ModelOptions = field(default_factory=ModelOptions)
    coco_gt: str | os.PathLike[str] | None = None
    sheet_size: int = 32
    thumb_size: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.sheet_size, bool) or not isinstance(self.sheet_size, int) or self.sheet_size < 0:
            raise ValueError(f"sheet_size must be an int >= 0; got {self.sheet_size!r}")
        for name in _DRAWING:
            value, default = getattr(self.predict_options, name), getattr(PredictOptions(), name)
            if value != default:
                raise ValueError(
                    f"FolderOptions.predict_options.{name} = {value!r} is set by predict_to_folder "
                    f"(pictures at most {PICTURE_SIDE} px); leave it at its default {default!r}"
                )

    @classmethod
    def of(cls, options: FolderOptions | None, fields: Mapping[str, Any]) -> FolderOptions:
        """``options`` (None: the defaults) with the keywords ``fields`` applied, each to the object that
        has a field of its name: this class, :class:`PredictOptions` or :class:`ModelOptions`.

        Raises:
            TypeError: a keyword that is no field of the three (nor a drawing field), naming the closest.
        """
        kinds = (cls, PredictOptions, ModelOptions)
        own, run, load = split_fields("predict_to_folder", fields, kinds, exclude=_DRAWING)
        opts: FolderOptions = apply_fields(cls, options, own)
        return replace(
            opts,
            predict_options=apply_fields(PredictOptions, opts.predict_options, run),
            model_options=apply_fields(ModelOptions, opts.model_options, load),
        )

    def manifest_options(self, predictor: Predictor) -> ManifestOptions:
        """The settings ``cams.json`` records."""
        run, load = self.predict_options, self.model_options
        return ManifestOptions(
            class_names=predictor.class_names,
            single_label=predictor.single_label,
            classes="top_k" if run.min_score is None else "min_score",
            selection={"top_k": run.top_k, "min_score": run.min_score},
            threshold=predictor.threshold,
            multi_contour=bool(run.multi_contour),
            cam_method=load.cam_method,
            cam_layer=load.cam_layer,
            frame=FRAME,
            aug_smooth=load.aug_smooth,
            eigen_smooth=load.eigen_smooth,
        )


#: The fields of :class:`PredictOptions` :func:`predict_to_folder` sets itself (it draws every prediction).
_DRAWING = ("keep_pixels", "picture_side")

#: The frame of the saved maps: each image's class maps at its original size.
FRAME = "original"


def predict_to_folder(
    model: ModelSource,
    images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    options: FolderOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Predict on image files and write overlays, ``.npz`` maps, a gallery, a contact sheet and COCO
    detections (layout in the module docstring).

    Args:
        model, images: see :func:`wsl.jobs.predict.predict`.
        out_dir: output folder, written through :func:`wsl.jobs.outdir.staged_output`: checked and locked
            before the model is loaded, staged beside it and swapped in whole (the files of an earlier
            prediction are replaced, a killed prediction leaves nothing in it; other files are kept).
        options: :class:`FolderOptions` (default: its defaults).
        **fields: fields of :class:`FolderOptions`, :class:`~wsl.jobs.predict.PredictOptions` or
            :class:`~wsl.jobs.predict.ModelOptions` to replace, e.g. ``top_k=2, device="cpu"``
            (:meth:`FolderOptions.of`).

    Returns:
        Summary: ``out_dir``, ``index``, ``detections``, ``images_json``, ``contact_sheet`` (or None),
        ``num_images``, ``num_detections``, ``threshold``, ``image_size``, ``skipped`` (the lines of the
        warning), ``seconds``.

    Raises:
        TypeError: a keyword that is no field of the three option classes.
        ValueError: a bad argument, a missing checkpoint, an ``out_dir`` refused by
            :func:`wsl.jobs.outdir.prepare_out_dir` or in use, a ``coco_gt`` that cannot be read or lacks
            one of the model's classes.

    Example:
        >>> ckpt = "runs/synthetic-weldon/checkpoints/best.ckpt"
        >>> predict_to_folder(ckpt, "photos/", "out")["index"]  # doctest: +SKIP
        'out/index.html'
    """
    started = time.perf_counter()
    opts = FolderOptions.of(options, fields)
    with lock_out_dir(prepare_out_dir(out_dir, "predict")), staged_output(out_dir, "predict") as stage:
        predictor = opts.model_options.predictor(model)
        summary = _predict_into(predictor, images, ExportFolder(stage), opts)
    summary.update(_paths(Path(out_dir), summary.pop("has_sheet")))
    summary["seconds"] = time.perf_counter() - started
    return summary


def _predict_into(
    predictor: Predictor,
    images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    folder: ExportFolder,
    opts: FolderOptions,
) -> dict[str, Any]:
    """Write every prediction into ``folder`` and its manifest; returns the counts of the summary."""
    names = predictor.class_names
    ids = CocoIds.read(opts.coco_gt, names) if opts.coco_gt is not None else None
    for note in predictor.notes:
        log.info(note)
    category_ids = ids.category_ids if ids is not None else list(range(1, len(names) + 1))
    run = opts.predict_options
    out = _PredictionFolder(folder, PanelStyle(predictor.threshold, run.multi_contour), category_ids)
    skipped: list[str] = []
    drawn = replace(run, keep_pixels=True, picture_side=PICTURE_SIDE)
    image_ids = None if ids is None else ids.image_ids
    for result in iter_predictions(predictor, images, drawn, image_ids=image_ids, skipped=skipped):
        out.add(result, opts.thumb_size, opts.sheet_size)
    if skipped:
        lines = "\n  ".join(skipped)
        log.warning("warning: skipped %d path(s) that are not readable images:\n  %s", len(skipped), lines)
    title = _title(predictor.source.label, run.multi_contour, predictor.threshold)
    has_sheet = out.finish(names, opts.manifest_options(predictor), title)
    return {
        "has_sheet": has_sheet,
        "num_images": len(out.listed),
        "num_detections": len(out.detections),
        "threshold": predictor.threshold,
        "image_size": predictor.image_size,
        "skipped": skipped,
    }


def _paths(root: Path, has_sheet: bool) -> dict[str, Any]:
    """The files of a finished prediction folder ``root``, as the summary names them."""
    return {
        "out_dir": str(root),
        "index": str(root / "index.html"),
        "detections": str(root / "detections.json"),
        "images_json": str(root / "images.json"),
        "contact_sheet": str(root / "contact_sheet.png") if has_sheet else None,
    }


def _title(source: str, multi_contour: bool, threshold: float) -> str:
    """The gallery's title (``source``: :attr:`wsl.cam.stream.CamSource.label`)."""
    kind = f" ({source} CAMs)" if source else ""
    contours = "all contours" if multi_contour else "largest contour"
    return f"Predictions{kind} - boxes in red ({contours}, threshold {threshold:.2f})"


@dataclass
class _PredictionFolder:
    """The files of a prediction folder in progress (layout in the module docstring)."""

    folder: ExportFolder
    style: PanelStyle
    category_ids: list[int]
    images: list[dict[str, Any]] = field(default_factory=list)  # manifest "images"
    entries: list[dict[str, Any]] = field(default_factory=list)  # manifest "entries"
    pictures: list[np.ndarray] = field(default_factory=list)  # the contact sheet's tiles
    detections: list[dict[str, Any]] = field(default_factory=list)  # detections.json
    listed: list[dict[str, Any]] = field(default_factory=list)  # images.json "images"

    def add(self, result: ImagePrediction, thumb_size: int, sheet_size: int) -> None:
        """Write the ``.npz`` and the overlays of one prediction and record it."""
        stem = self.folder.image_stem(result.path.stem)
        labels = result.labels
        npz = self.folder.write_cams(stem, dict(zip(labels, result.cams, strict=True)))
        probs = result.probs.tolist()
        self.images.append(
            {
                "image_id": stem,
                "coco_id": result.image_id,
                "file": str(result.path),
                "npz": npz,
                "size": list(result.size),
                "scores": result.logits.tolist(),
                "probs": probs,
                "classes": labels,
                "cam_range": {n: result.raw_range[k].tolist() for k, n in enumerate(labels)},
            }
        )
        self.listed.append(
            {
                "id": result.image_id,
                "file_name": result.path.name,
                "path": str(result.path),
                "height": result.size[0],
                "width": result.size[1],
            }
        )
        scores = [probs[c] for c in result.classes]
        ids = self.category_ids
        self.detections += coco_results(result.image_id, result.classes, result.boxes, scores, ids)
        assert result.pixels is not None
        for k, (c, name, boxes) in enumerate(zip(result.classes, labels, result.boxes, strict=True)):
            cam, shown_boxes = result.picture_maps(k)  # at the picture's size (<= PICTURE_SIDE)
            picture = render_overlay(
                result.pixels,
                cam,
                None,
                shown_boxes,
                caption=[f"{name} {probs[c]:.2f}", result.path.name[:40]],
                alpha=self.style.alpha,
                colormap=self.style.colormap,
                colorbar=self.style.colorbar(result.pixels.shape[0]),
            )
            image, thumb = self.folder.write_overlay(stem, name, picture, thumb_size)
            self.entries.append(
                {
                    "image_id": stem,
                    "class_name": name,
                    "score": probs[c],
                    "iou": None,
                    "image": image,
                    "thumb": thumb,
                    "npz": npz,
                    "pred_boxes": boxes.tolist(),
                }
            )
            if len(self.pictures) < sheet_size:  # the sheet's tiles: thumbnails, not the pictures
                small = max(picture.shape[:2]) <= thumb_size
                self.pictures.append(picture if small else thumbnail(picture, thumb_size))

    def finish(self, names: list[str], options: ManifestOptions, title: str) -> bool:
        """Write the contact sheet, ``detections.json``, ``images.json``, ``cams.json`` and the gallery;
        returns whether there is a contact sheet."""
        root = self.folder.root
        pictures = self.pictures
        if pictures:
            save_png(root / "contact_sheet.png", contact_sheet(pictures, ncols=8))
        categories = [{"id": i, "name": n} for i, n in zip(self.category_ids, names, strict=True)]
        write_json(root / "detections.json", self.detections)
        write_json(root / "images.json", {"images": self.listed, "categories": categories})
        self.folder.write_manifest(options, self.images, self.entries)
        self.folder.write_index(self.entries, title)
        return bool(pictures)


def summary_text(summary: dict[str, Any]) -> str:
    """The lines ``tools/predict.py`` prints."""
    lines = [
        f"{summary['num_images']} images, {summary['num_detections']} detections "
        f"(threshold {summary['threshold']:.2f}, input {summary['image_size']} px) in "
        f"{summary['seconds']:.1f} s",
        f"gallery:    {summary['index']}",
        f"detections: {summary['detections']} (COCO results; "
        f"image ids in {Path(summary['images_json']).name})",
    ]
    if summary["skipped"]:
        lines.append(f"skipped:    {len(summary['skipped'])} path(s), listed above")
    return "\n".join(lines)
