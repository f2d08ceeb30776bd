"""Predict on your own images: class scores, CAMs at the image size and boxes, per image.

The images go through the evaluation transform of :mod:`wsl.data.transforms` (resize to ``S × S``,
ImageNet normalisation), the network gives ``scores (B, C)`` and ``class_maps (B, C, h, w)``, the chosen
classes' maps go through the one CAM pipeline (:meth:`wsl.cam.CamBatch.from_maps`: upsampled to each
image's size after EXIF orientation, min–max normalised and quantised once in float64) and the boxes
follow the rule of the metrics at the run's best MaxBoxAcc threshold or a given one, on the pipeline's
8-bit maps (:func:`wsl.metrics.boxes.quantized_to_boxes` of :attr:`wsl.cam.CamBatch.quantized`, equal to
:func:`wsl.metrics.cam_to_boxes` of the float maps).
With a post-hoc ``cam_method`` (Grad-CAM, ScoreCAM, FullGrad, ...) the classes are chosen from the
same scores and their maps come from :func:`wsl.cam.class_maps_for` on ``cam_layer`` instead.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from wsl.cam import CamBatch
from wsl.cam.posthoc import check_cam_request
from wsl.cam.stream import CamRequest, CamSource, ClassChoice, cam_batches
from wsl.data.transforms import build_transform
from wsl.jobs.predict.images import ImageFile, UnreadableImage, find_images, read_rgb
from wsl.metrics.boxes import quantized_to_boxes
from wsl.options import apply_fields, split_fields
from wsl.runs import DEFAULT_THRESHOLD
from wsl.trained import ModelSource, TrainedModel

__all__ = [
    "ImagePrediction",
    "ModelOptions",
    "PredictOptions",
    "Predictor",
    "UnreadableImagesWarning",
    "iter_predictions",
    "predict",
]


class UnreadableImagesWarning(UserWarning):
    """The one warning that lists the files that were skipped."""


@dataclass
class ImagePrediction:
    """What the model says about one image.

    Attributes:
        path: the file.
        image_id: its id (1, 2, … in listing order, or the COCO ground truth's).
        size: ``(H, W)`` of the image as shown (EXIF orientation applied); maps and boxes refer to it.
        logits: ``(C,)`` float32 network scores.
        probs: ``(C,)`` float32 probabilities (sigmoid, or softmax for a single-label model).
        classes: the chosen class indices, ascending (top-k and/or probability ≥ ``min_score``).
        class_names: the C class names of the model.
        cams: per chosen class, the float64 ``(H, W)`` CAM in [0, 1] (:attr:`wsl.cam.CamBatch.cams`).
        raw_range: ``(k, 2)`` ``[lo, hi]`` of the upsampled maps before normalisation.
        boxes: per chosen class, ``(K, 4)`` int64 inclusive ``(x0, y0, x1, y1)`` boxes at ``threshold``.
        threshold: the box threshold used.
        pixels: the ``uint8 (h, w, 3)`` RGB image, kept only when asked for (``keep_pixels=True``): at
            its size ``(H, W)``, or shrunk (area interpolation) so that its longest side is
            ``picture_side`` when it is longer (:meth:`picture_maps` gives the maps at that size).
    """

    path: Path
    image_id: int
    size: tuple[int, int]
    logits: torch.Tensor
    probs: torch.Tensor
    classes: list[int]
    class_names: list[str]
    cams: list[torch.Tensor]
    raw_range: torch.Tensor
    boxes: list[np.ndarray]
    threshold: float
    pixels: np.ndarray | None = field(default=None, repr=False)

    @property
    def labels(self) -> list[str]:
        """The names of the chosen classes."""
        return [self.class_names[c] for c in self.classes]

    def scores(self) -> dict[str, float]:
        """Class name → probability, for every class."""
        return {name: float(p) for name, p in zip(self.class_names, self.probs, strict=True)}

    def picture_maps(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k``-th chosen class's CAM and boxes at the size of :attr:`pixels` (for pictures).

        With ``(H, W)`` the image size and ``(h, w)`` the kept pixels' size, the CAM is resized by area
        interpolation and a box ``(x0, y0, x1, y1)`` becomes ``(⌊x0·w/W⌋, ⌊y0·h/H⌋, ⌈(x1+1)·w/W⌉ − 1,
        ⌈(y1+1)·h/H⌉ − 1)``: the pixels the box covers. At the same size both are returned unchanged.
        """
        cam = self.cams[k].numpy()
        boxes = self.boxes[k]
        height, width = self.size
        h, w = (height, width) if self.pixels is None else self.pixels.shape[:2]
        if (h, w) == (height, width):
            return cam, boxes
        cam = cv2.resize(cam, (w, h), interpolation=cv2.INTER_AREA)
        return cam, scale_boxes(boxes, (height, width), (h, w))


def scale_boxes(boxes: np.ndarray, size: tuple[int, int], new_size: tuple[int, int]) -> np.ndarray:
    """Inclusive ``xyxy`` boxes of an ``(H, W) = size`` image → the pixels they cover at ``new_size``.

    Example:
        >>> scale_boxes(np.array([[0, 0, 3, 1], [4, 2, 7, 3]]), (4, 8), (2, 4)).tolist()
        [[0, 0, 1, 0], [2, 1, 3, 1]]
    """
    (height, width), (h, w) = size, new_size
    out = np.asarray(boxes, dtype=np.int64).reshape(-1, 4).copy()
    for lo, hi, old, new in ((0, 2, width, w), (1, 3, height, h)):
        start = np.floor(out[:, lo] * new / old).astype(np.int64)
        stop = np.ceil((out[:, hi] + 1) * new / old).astype(np.int64) - 1
        out[:, lo] = np.clip(start, 0, new - 1)
        out[:, hi] = np.clip(np.maximum(stop, start), 0, new - 1)
    return out


def shrink_to(pixels: np.ndarray, side: int | None) -> np.ndarray:
    """``pixels`` shrunk (area interpolation) so that the longest side is ``side``; unchanged when it
    is not longer (or ``side`` is None). The new size is ``(max(1, round(H·f)), max(1, round(W·f)))``
    with ``f = side / max(H, W)``.

    Example:
        >>> shrink_to(np.zeros((30, 80, 3), np.uint8), 40).shape
        (15, 40, 3)
    """
    height, width = pixels.shape[:2]
    if side is None or max(height, width) <= side:
        return pixels
    factor = side / max(height, width)
    new = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(pixels, new, interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Predictor:
    """A trained model ready to predict: the :class:`~wsl.trained.TrainedModel` and the CAM source.

    Built by :meth:`load` (a ``.ckpt`` of ``tools/train.py``, a :func:`wsl.serving.save_pretrained` folder
    or a module; :meth:`wsl.trained.TrainedModel.load` resolves the threshold and the input size) or by
    :meth:`of` around a model already loaded. ``aug_smooth`` and ``eigen_smooth`` are
    :func:`wsl.cam.explain`'s options of a post-hoc method (:class:`wsl.cam.stream.CamSource`).
    """

    model: TrainedModel
    cam_method: str = "native"
    cam_layer: str | None = None
    notes: list[str] = field(default_factory=list)
    aug_smooth: bool = False
    eigen_smooth: bool = False

    @classmethod
    def load(
        cls,
        model: ModelSource,
        threshold: float | str | None = "best",
        image_size: int | None = None,
        device: str | torch.device = "auto",
        cam_method: str = "native",
        cam_layer: str | None = None,
    ) -> Predictor:
        """Resolve the model, its threshold and input size (see :func:`predict` for the arguments).

        Raises:
            ValueError: a missing/foreign checkpoint or folder, a bad threshold, image size or device, an
                unknown CAM method or layer.
        """
        check_cam_request(cam_method, cam_layer)
        wanted = "auto" if threshold is None else threshold
        return cls.of(TrainedModel.load(model, device, image_size, threshold=wanted), cam_method, cam_layer)

    @classmethod
    def of(cls, model: TrainedModel, cam_method: str = "native", cam_layer: str | None = None) -> Predictor:
        """A predictor around a loaded model (its threshold None: :data:`~wsl.runs.DEFAULT_THRESHOLD`); a
        classifier's ``native`` is its post-hoc method (:meth:`wsl.trained.TrainedModel.cam_source`)."""
        return cls.with_source(model, CamSource(*model.cam_source(cam_method, cam_layer)))

    @classmethod
    def with_source(cls, model: TrainedModel, source: CamSource) -> Predictor:
        """A predictor around a loaded model whose CAMs are ``source``'s, resolved for it (:meth:`of`)."""
        source.check(model.net)
        notes = list(model.notes)
        if model.autocast_note is not None:  # a mixed precision
            notes.append(model.autocast_note)
        return cls(model, source.method, source.layer, notes, source.aug_smooth, source.eigen_smooth)

    @property
    def source(self) -> CamSource:
        """The :class:`~wsl.cam.stream.CamSource` of the CAMs."""
        return CamSource(self.cam_method, self.cam_layer, self.aug_smooth, self.eigen_smooth)

    @property
    def net(self) -> nn.Module:
        return self.model.net

    @property
    def class_names(self) -> list[str]:
        return self.model.class_names

    @property
    def single_label(self) -> bool:
        return self.model.single_label

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def threshold(self) -> float:
        """The box threshold: the model's, else :data:`~wsl.runs.DEFAULT_THRESHOLD`."""
        return float(self.model.threshold if self.model.threshold is not None else DEFAULT_THRESHOLD)

    def autocast(self) -> Any:
        """The autocast context of the training precision (:meth:`wsl.trained.TrainedModel.autocast`)."""
        return self.model.autocast()

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` logits → probabilities: softmax for a single-label model, else sigmoid."""
        return self.model.probabilities(logits)


def choose_classes(probs: torch.Tensor, top_k: int | None, min_score: float | None) -> list[int]:
    """The chosen classes of one image, ascending.

    ``top_k`` keeps the k most probable classes, ``min_score`` those with probability ≥ it; both: the
    top k among those; neither: the top class.

    Example:
        >>> probs = torch.tensor([0.2, 0.9, 0.6])
        >>> choose_classes(probs, 2, None), choose_classes(probs, None, 0.5)
        ([1, 2], [1, 2])
    """
    if top_k is None and min_score is None:
        top_k = 1
    order = torch.argsort(probs, descending=True, stable=True).tolist()
    if min_score is not None:
        order = [c for c in order if float(probs[c]) >= min_score]
    if top_k is not None:
        order = order[:top_k]
    return sorted(order)


#: The longest side of the pictures (overlays) a prediction folder draws: larger images are shown shrunk.
PICTURE_SIDE = 1024


def check_selection(top_k: int | None, min_score: float | None) -> None:
    """Raise ``ValueError`` unless ``top_k`` is a positive int or None and ``min_score`` in [0, 1] or None."""
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive int or None; got {top_k!r}")
    if min_score is not None and not (isinstance(min_score, (int, float)) and 0.0 <= min_score <= 1.0):
        raise ValueError(f"min_score must be a probability in [0, 1] or None; got {min_score!r}")


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{name} must be {kind}; got {value!r}")


@dataclass(frozen=True)
class PredictOptions:
    """How :func:`predict` and :func:`iter_predictions` go over the images (checked at construction).

    Attributes:
        top_k: the k most probable classes get a CAM and boxes (default 1 when ``min_score`` is None).
        min_score: the classes with probability ≥ this get one (with ``top_k``: the top k of those).
        multi_contour: a box per contour (MaxBoxAccV2) instead of the largest contour's (MaxBoxAcc).
        batch_size: images per forward pass; at most this many decoded images are held at a time.
        num_workers: loader processes decoding the files (0: in this process).
        progress: a tqdm bar over the images.
        keep_pixels: keep each image's RGB pixels in :attr:`ImagePrediction.pixels`.
        picture_side: the longest side of the kept pixels (larger images are shrunk right after
            decoding, so that a batch of photos holds small pictures); None keeps the image's size.
    """

    top_k: int | None = None
    min_score: float | None = None
    multi_contour: bool = False
    batch_size: int = 16
    num_workers: int = 0
    progress: bool = False
    keep_pixels: bool = False
    picture_side: int | None = None

    def __post_init__(self) -> None:
        check_selection(self.top_k, self.min_score)
        _positive_int("batch_size", self.batch_size)
        _positive_int("num_workers", self.num_workers, minimum=0)
        if self.picture_side is not None:
            _positive_int("picture_side", self.picture_side)


@dataclass(frozen=True)
class ModelOptions:
    """How :func:`predict` loads the model (:meth:`Predictor.load`).

    Attributes:
        threshold: box threshold in [0, 1); ``"best"``: the run's best MaxBoxAcc threshold
            (:meth:`wsl.runs.RunFolder.best_threshold`, or the folder's ``config.json``); None: that,
            else :data:`wsl.runs.DEFAULT_THRESHOLD`.
        image_size: network input side; None: the training size (checkpoint, ``config.yaml`` or
            ``config.json``), else 128.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        cam_method: ``native`` (the model's class maps) or a post-hoc method of
            :data:`wsl.cam.POSTHOC_METHODS` (:func:`wsl.cam.posthoc.posthoc_names`).
        cam_layer: the post-hoc method's layer, a dotted module name of the network (None: ``backbone``);
            ``"a,b"``: several layers fused.
        aug_smooth, eigen_smooth: :func:`wsl.cam.explain`'s options of the post-hoc method
            (:class:`wsl.cam.stream.CamSource`).
    """

    threshold: float | str | None = "best"
    image_size: int | None = None
    device: str | torch.device = "auto"
    cam_method: str = "native"
    cam_layer: str | None = None
    aug_smooth: bool = False
    eigen_smooth: bool = False

    def predictor(self, model: ModelSource) -> Predictor:
        """The :class:`Predictor` of ``model`` loaded with these options, as :meth:`Predictor.load` loads it
        (the CAM options checked before a checkpoint is loaded), with the smoothing options."""
        if not isinstance(model, TrainedModel):
            CamSource(self.cam_method, self.cam_layer, self.aug_smooth, self.eigen_smooth)
        wanted = "auto" if self.threshold is None else self.threshold
        loaded = TrainedModel.load(model, self.device, self.image_size, threshold=wanted)
        return Predictor.with_source(loaded, CamSource.of(loaded, self))


class _Files(Dataset):
    """Reads and transforms the files; an unreadable file gives ``{"error": why}``.

    Each file is decoded once at full size (the network input is made from it, as a dataset does), then
    only the picture (shrunk to ``picture_side``) is kept, when pixels are kept at all.
    """

    def __init__(self, files: Sequence[ImageFile], image_size: int, options: PredictOptions) -> None:
        self.files = list(files)
        self.transform = build_transform(image_size, train=False)
        self.keep = options.keep_pixels
        self.side = options.picture_side

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        file = self.files[index]
        try:
            pixels = read_rgb(file.path)
        except UnreadableImage as err:
            return {"file": file, "error": str(err)}
        image = self.transform(torch.from_numpy(pixels).permute(2, 0, 1))
        size = (int(pixels.shape[0]), int(pixels.shape[1]))
        kept = shrink_to(pixels, self.side) if self.keep else None
        return {"file": file, "image": image, "size": size, "pixels": kept}


def iter_predictions(
    predictor: Predictor,
    images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    options: PredictOptions | None = None,
    *,
    image_ids: dict[str, int] | None = None,
    skipped: list[str] | None = None,
    **overrides: Any,
) -> Iterator[ImagePrediction]:
    """Yield one :class:`ImagePrediction` per readable image, in listing order (see :func:`predict`).

    ``options`` (:class:`PredictOptions`; its fields may also be given as keywords, which override it).
    ``image_ids`` (file name → COCO image id): files it does not list are skipped. The files that were
    skipped (unreadable, not images, not in ``image_ids``) and the paths that named nothing, one
    ``"PATH: why"`` line each, are appended to ``skipped`` when it is given; else, when the files are
    exhausted, they are listed in one :class:`UnreadableImagesWarning`.

    Memory: the loader holds one batch (``batch_size`` network inputs and kept pictures) at a time;
    each file is decoded at full size once and its full-size pixels dropped after the transform.

    Raises:
        ValueError: ``images`` names no file at all, or a bad option.
        TypeError: a keyword that is not a field of :class:`PredictOptions`.
    """
    [own] = split_fields("iter_predictions", overrides, (PredictOptions,))
    opts: PredictOptions = apply_fields(PredictOptions, options, own)
    paths, missing = find_images(images)
    if not paths:
        raise ValueError(
            f"images: {missing[0] if len(missing) == 1 else '; '.join(missing[:5])}; pass image files, "
            "folders or glob patterns (JPEG, PNG or WebP)"
        )
    files = _numbered(paths, image_ids, missing)
    dataset = _Files(files, predictor.image_size, opts)
    loader = DataLoader(dataset, batch_size=opts.batch_size, num_workers=opts.num_workers, collate_fn=list)
    bar = None
    if opts.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), desc="predict", unit="image", dynamic_ncols=True)
    try:
        # the training precision, as evaluate --ckpt runs the model
        stream = cam_batches(
            predictor.net,
            _readable_batches(loader, missing, bar),
            _request(predictor, opts),
            autocast=predictor.autocast,
        )
        for batch, cams in stream:
            yield from _predictions(predictor, batch, cams, opts.multi_contour)
    finally:
        if bar is not None:
            bar.close()
    if skipped is not None:
        skipped.extend(missing)
    elif missing:
        warnings.warn(
            f"skipped {len(missing)} path(s) that are not readable images:\n  " + "\n  ".join(missing),
            UnreadableImagesWarning,
            stacklevel=2,
        )


def _request(predictor: Predictor, opts: PredictOptions) -> CamRequest:
    """The CAM request: the predictor's CAM source, the classes chosen from the scores by ``opts``."""

    def chosen(batch: Any, scores: torch.Tensor | None) -> list[list[int]]:
        assert scores is not None  # a choice that needs the scores gets them
        return [choose_classes(p, opts.top_k, opts.min_score) for p in predictor.probabilities(scores)]

    return CamRequest(predictor.source, ClassChoice(chosen))


def _numbered(paths: Sequence[Path], image_ids: dict[str, int] | None, missing: list[str]) -> list[ImageFile]:
    """The files with their image ids: 1, 2, … in listing order, or the COCO ground truth's (a file it does
    not list is added to ``missing``)."""
    if image_ids is None:
        return [ImageFile(path, k) for k, path in enumerate(paths, start=1)]
    files = []
    for path in paths:
        if path.name in image_ids:
            files.append(ImageFile(path, image_ids[path.name]))
        else:
            missing.append(f"{path}: not an image of the COCO ground truth (coco_gt)")
    return files


def _readable_batches(loader: DataLoader, skipped: list[str], bar: Any) -> Iterator[dict[str, Any]]:
    """Collated batches of the readable files (``image``, ``image_id``, ``orig_size``, ``items``); the
    unreadable ones are added to ``skipped``."""
    for items in loader:
        good = []
        for item in items:
            if "error" in item:
                skipped.append(f"{item['file'].path}: {item['error']}")
            else:
                good.append(item)
        if good:
            yield {
                "image": torch.stack([item["image"] for item in good]),
                "image_id": [item["file"].image_id for item in good],
                "orig_size": torch.tensor([item["size"] for item in good], dtype=torch.int64),
                "items": good,
            }
        if bar is not None:
            bar.update(len(items))


def _predictions(
    predictor: Predictor, batch: dict[str, Any], cams: CamBatch, multi_contour: bool
) -> Iterator[ImagePrediction]:
    """The :class:`ImagePrediction` of every image of a batch of the CAM stream."""
    assert cams.scores is not None
    logits = cams.scores
    probs = predictor.probabilities(logits)
    for i, item in enumerate(batch["items"]):
        positions = list(cams.of_image(i))
        image_cams = [cams.cams[p] for p in positions]
        boxes = [quantized_to_boxes(cams.quantized[p], predictor.threshold, multi_contour) for p in positions]
        yield ImagePrediction(
            path=item["file"].path,
            image_id=item["file"].image_id,
            size=item["size"],
            logits=logits[i],
            probs=probs[i],
            classes=list(cams.classes[i]),
            class_names=predictor.class_names,
            cams=image_cams,
            raw_range=cams.raw_range[positions] if positions else torch.zeros(0, 2, dtype=torch.float64),
            boxes=boxes,
            threshold=predictor.threshold,
            pixels=item["pixels"],
        )


def predict(
    model: ModelSource,
    images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    options: PredictOptions | None = None,
    model_options: ModelOptions | None = None,
    **overrides: Any,
) -> list[ImagePrediction]:
    """Class scores, CAMs and boxes of a trained model on image files.

    Args:
        model: a ``.ckpt`` written by ``tools/train.py``, a :func:`wsl.serving.save_pretrained` folder,
            or a module (``WSLModule`` / ``WSLNet``).
        images: files, folders (their files, not subfolders) and glob patterns; JPEG, PNG or WebP by
            content, read by the datasets' reader with the EXIF orientation applied
            (:func:`wsl.jobs.predict.images.read_rgb`). Unreadable files are skipped and listed in one
            :class:`UnreadableImagesWarning`.
        options: :class:`PredictOptions` (``top_k``, ``min_score``, ``multi_contour``, ``batch_size``,
            ``num_workers``, ``progress``, ``keep_pixels``, ``picture_side``).
        model_options: :class:`ModelOptions` (``threshold``, ``image_size``, ``device``, ``cam_method``,
            ``cam_layer``).
        **overrides: any field of the two options classes by name (``top_k=3, device="cpu"``), applied
            over ``options`` / ``model_options``.

    Returns:
        One :class:`ImagePrediction` per readable image, in listing order: ``probs`` ``(C,)``,
        ``cams`` (k float64 ``(H, W)`` at the image size), ``boxes`` (k ``(K, 4)`` inclusive ``xyxy``).

    Raises:
        ValueError: a missing or foreign checkpoint, ``images`` naming no file, a bad argument.
        TypeError: a keyword that is no field of either options class.

    Example:
        >>> from wsl.lit import WSLModule
        >>> import tempfile; from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "a.png"; Image.new("RGB", (40, 30)).save(path)
        >>> [result] = predict(WSLModule(num_classes=3), [path], threshold=0.5, image_size=64, device="cpu")
        >>> result.size, len(result.classes), result.cams[0].shape, result.boxes[0].shape[1]
        ((30, 40), 1, torch.Size([30, 40]), 4)
    """
    run, load = split_fields("predict", overrides, (PredictOptions, ModelOptions))
    opts: PredictOptions = apply_fields(PredictOptions, options, run)
    how: ModelOptions = apply_fields(ModelOptions, model_options, load)
    return list(iter_predictions(how.predictor(model), images, opts))
