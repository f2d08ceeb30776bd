"""Scoring a trained model, or a folder of saved CAMs, on a dataset split: the library behind
``tools/evaluate.py``.

- :func:`evaluate_from_checkpoint` / :func:`evaluate_model`: network → :class:`~wsl.cam.CamBatch` →
  every metric of :class:`~wsl.evaluation.LocalizationEvaluator`.
  ``cam_method`` scores a post-hoc CAM of the same network instead of its own class maps
  (:data:`wsl.cam.POSTHOC_METHODS`: Grad-CAM, Grad-CAM++, LayerCAM, EigenCAM, on ``cam_layer``).
- :func:`evaluate_cams` / :func:`evaluate_cam_folder`: saved maps → the same pipeline and metrics. Only
  the annotations are read: no image of the dataset is decoded.
- :func:`evaluate_center`: the center baseline (:mod:`wsl.cam.center`), the floor every method must beat;
  no model, no image decoded.

Saved-CAM folders hold, per image id, either
- ``<image_id>.npz`` with one 2-D array per class, keyed by class name (the format written by
  :func:`wsl.jobs.export.export_cams`; its ``cams.json`` maps ids to files when an id is not a safe
  file name), or
- ``<image_id>.npy``, one 2-D map used for every ground-truth class of that image (single-label data,
  the wsolevaluation layout).
Maps may be at any resolution up to the image size; they are bilinearly upsampled to the image size.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Any

import torch
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from wsl.cam import CamBatch, gt_classes
from wsl.cam.center import CENTER_SIGMA, center_map, center_maps_of
from wsl.cam.classifier import classifier_of
from wsl.cam.explain_eval import FaithfulnessSums
from wsl.cam.files import SavedCams, manifest_class_names
from wsl.cam.stream import CamRequest, CamSource, ClassChoice, cam_batches
from wsl.evaluation import LocalizationEvaluator, image_trials, read_pointing_subset
from wsl.evaluation_workers import FolderMaps, check_workers, score_in_processes
from wsl.jobs.source import check_int
from wsl.lit import WSLModule
from wsl.options import apply_fields, check_names
from wsl.trained import TrainedModel

__all__ = [
    "evaluate_model",
    "evaluate_trained",
    "evaluate_cam_folder",
    "evaluate_from_checkpoint",
    "evaluate_cams",
    "evaluate_center",
    "EvalData",
    "EvalOptions",
]

log = logging.getLogger(__name__)


def evaluate_model(
    module: WSLModule, loader: DataLoader, options: EvalOptions | None = None, **fields: Any
) -> dict[str, float]:
    """Classification and localization scores of ``module`` on the split of ``loader``.

    The edge of :func:`evaluate_trained` for a ``WSLModule`` in memory (on its own device).

    Args:
        module: a trained :class:`~wsl.lit.WSLModule` (see :func:`wsl.checkpoint.load_module`).
        loader, options, fields: see :func:`evaluate_trained`.

    Returns:
        The fractions of :meth:`~wsl.evaluation.LocalizationEvaluator.compute`.
    """
    _, opts = _resolve("evaluate_model", None, options, fields)
    device = next(module.parameters()).device
    return evaluate_trained(TrainedModel.load(module, device=device), loader, opts)


def evaluate_trained(
    model: TrainedModel, loader: DataLoader, options: EvalOptions | None = None, **fields: Any
) -> dict[str, float]:
    """Classification and localization scores of a trained model on the split of ``loader``.

    With a post-hoc ``cam_method`` the scores come from the same forward pass and the CAMs of each batch's
    ground-truth classes (the evaluation trials) from :func:`wsl.cam.class_maps_for`, in one batched call
    per batch; the loop itself runs under ``torch.no_grad()``, which that function leaves for its gradients.
    A frame (``protocol``) other than the model's own uses that frame's threshold interval, the model's
    frame its ``cam_curve_interval`` hyper-parameter. A ``cam_threshold`` hyper-parameter (single-label)
    adds the fixed-threshold scores (:mod:`wsl.metrics.fixed_loc`) in every frame.

    Args:
        model: the trained model (:meth:`wsl.trained.TrainedModel.load`).
        loader: an evaluation loader (with annotations) of a :class:`~wsl.data.WSLDataModule`.
        options, fields: :class:`EvalOptions` (``protocol`` None: the model's ``protocol``
            hyper-parameter) and keywords of its fields ``protocol pointing_subset progress cam_method
            cam_layer aug_smooth eigen_smooth``.

    Returns:
        The fractions of :meth:`~wsl.evaluation.LocalizationEvaluator.compute`.
    """
    _, opts = _resolve("evaluate_trained", None, options, fields)
    source = CamSource.of(model, opts)  # a classifier: its own method
    return _score_trained(model, loader, opts, source)


@torch.no_grad()
def _score_trained(
    model: TrainedModel, loader: DataLoader, opts: EvalOptions, source: CamSource
) -> dict[str, float]:
    """:func:`evaluate_trained` with its CAM source resolved (:meth:`wsl.trained.TrainedModel.cam_source`):
    ``opts.cam_method``, ``opts.cam_layer`` and the smoothing options are not read."""
    trained = model.frame
    protocol = opts.protocol or trained
    num_classes = model.num_classes
    evaluator = LocalizationEvaluator(
        num_classes,
        model.single_label,
        model.hparams.get("cam_curve_interval") if protocol == trained else None,
        pointing_subset=opts.pointing_flags(num_classes),
        protocol=protocol,
        cam_threshold=model.hparams.get("cam_threshold") if model.single_label else None,
    ).to(model.device)
    trials = _Trials(evaluator.frame)
    choice = ClassChoice(trials, needs_scores=False)
    faithful = _Faithfulness.of(model, opts)
    request = CamRequest(source, choice, evaluator.frame, input_maps=faithful is not None)
    batches = tqdm(loader, desc="evaluate", unit="batch", disable=not opts.progress)
    for batch, cams in cam_batches(model.net, batches, request, inputs=model.inputs):
        assert cams.scores is not None
        evaluator.update_classification(cams.scores.to(model.device), batch)
        ranked = cams.scores.topk(min(5, cams.scores.shape[1]), dim=1).indices  # column 0: the top-1
        evaluator.update_cams(cams, batch, ranked, trials=trials.last)
        if faithful is not None:
            faithful.update(batch, cams)
    return {**evaluator.compute(), **(faithful.sums.compute() if faithful is not None else {})}


class _Faithfulness:
    """The faithfulness sink of :func:`_score_trained` (``EvalOptions.faithfulness``): per batch, every
    evaluation pair ``(image, class)`` of the stream (single-label: the image's ground-truth class;
    multi-label: each of its ground-truth classes) adds its CAM at the network input size
    (:attr:`wsl.cam.CamBatch.input_cams`), the network input image and the class to
    :class:`~wsl.cam.explain_eval.FaithfulnessSums`, whose classifier is the network's scores (a
    classifier's own module for :class:`~wsl.cam.ClassifierCAM`).

    Confidence ``p^c`` (:mod:`wsl.faithfulness`): the softmax probability of class ``c`` for a
    single-label model (as ``explain --faithfulness``), its sigmoid for a multi-label model (each class
    is an independent probability there). The means are over the pairs.
    """

    def __init__(self, model: TrainedModel, road: bool) -> None:
        self.model = model
        self.classifier = classifier_of(model.net)
        self.sums = FaithfulnessSums(road, "softmax" if model.single_label else "sigmoid")

    @classmethod
    def of(cls, model: TrainedModel, opts: EvalOptions) -> _Faithfulness | None:
        """The sink of ``opts.faithfulness`` (None when off)."""
        return cls(model, opts.road) if opts.faithfulness else None

    def update(self, batch: Mapping[str, Any], cams: CamBatch) -> None:
        """Add the pairs of one batch of the stream."""
        if not len(cams):
            return
        images = self.model.inputs(batch["image"])
        index = cams.image_index.to(images.device)
        maps = cams.input_cams.to(images.device)
        self.sums.update(self.classifier, images[index], maps, cams.class_index.to(images.device))


class _Trials:
    """The evaluator's class choice: the classes of each image's evaluation trials
    (:func:`wsl.evaluation.image_trials`), the trials kept for ``LocalizationEvaluator.update_cams``."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.last: list[Any] = []

    def __call__(self, batch: Mapping[str, Any], scores: torch.Tensor | None) -> list[list[int]]:
        per_image = [image_trials(dict(batch), i, self.frame) for i in range(len(batch["orig_size"]))]
        self.last = [t for trials in per_image for t in trials]
        return [[t.class_index for t in trials] for trials in per_image]


def _image_ids(dataset: Any) -> list[str]:
    """Image ids of a WSLDataset (or a Subset of one) without decoding any image."""
    if isinstance(dataset, Subset):
        return [_image_ids(dataset.dataset)[i] for i in dataset.indices]
    return [record.image_id for record in dataset.records]


def _subset(batch: Mapping[str, Any], keep: list[int]) -> dict[str, Any]:
    return {k: (v[keep] if isinstance(v, torch.Tensor) else [v[i] for i in keep]) for k, v in batch.items()}


def _with_files(loader: Any, missing: set[str]) -> Iterator[dict[str, Any]]:
    """The batches restricted to the images that have CAM files (batches left empty are dropped)."""
    for batch in loader:
        keep = [i for i, image_id in enumerate(batch["image_id"]) if image_id not in missing]
        if keep:
            yield _subset(batch, keep) if len(keep) < len(batch["image_id"]) else dict(batch)


def _read_batches(
    loader: Any, folder: SavedCams, missing: set[str], protocol: str = "original"
) -> Iterator[tuple[dict[str, Any], Any]]:
    """Batches of the images that have CAM files, each with the maps of its ground-truth classes read."""
    for sub in _with_files(loader, missing):
        read = FolderMaps(folder, protocol)(sub)
        maps = {}
        for i in range(len(sub["image_id"])):
            classes = gt_classes(sub["box_labels"][i], sub["difficult"][i])
            if classes:
                maps[i, tuple(classes)] = read(i, classes)
        yield sub, _cached_maps(maps, read)


def _cached_maps(maps: dict[tuple[int, tuple[int, ...]], torch.Tensor], read: Any) -> Any:
    def maps_of(i: int, classes: list[int]) -> torch.Tensor:
        found = maps.get((i, tuple(classes)))
        return found if found is not None else read(i, classes)

    return maps_of


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Iterate ``items`` in a background thread, ``depth`` ahead, so that reading overlaps scoring.

    File reading, zlib and PNG decoding and the metrics' compiled core release the GIL, so on two cores
    the reading of batch k+1 runs while batch k is scored. An exception in the reader is raised here.
    """
    done = object()
    queue: Queue = Queue(maxsize=depth)

    def work() -> None:
        try:
            for item in items:
                queue.put(item)
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, raised there
            queue.put(err)
        queue.put(done)

    thread = threading.Thread(target=work, name="wsl-cam-reader", daemon=True)
    thread.start()
    while (item := queue.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()


@dataclass(frozen=True)
class EvalData:
    """The data side of an evaluation job: which split is read, and how.

    Attributes:
        data: data spec (``synthetic``, ``voc:PATH``, ``coco:PATH`` …); None: the data a checkpoint was
            trained on (:meth:`wsl.trained.TrainedModel.data_spec`) for a checkpoint, ``synthetic`` otherwise.
        split: split name.
        class_names: the dataset's classes as declared, or None (the dataset's own declaration; for saved
            CAMs, the ``class_names`` of the folder's ``cams.json`` first). A checkpoint's must be the
            model's classes in any order (:meth:`wsl.trained.TrainedModel.datamodule`).
        single_label: single-label data (saved CAMs and the center baseline; a checkpoint knows its own).
        batch_size: loader batch size (>= 1).
        num_workers: loader workers (>= 0); None: 2 for a checkpoint, 0 for saved CAMs and the center.
        skip_bad: skip unreadable or inconsistent samples with one warning instead of raising.

    Raises:
        ValueError: ``batch_size`` or ``num_workers`` out of range.
    """

    data: str | None = None
    split: str = "test"
    class_names: Sequence[str] | None = None
    single_label: bool = False
    batch_size: int = 32
    num_workers: int | None = None
    skip_bad: bool = False

    def __post_init__(self) -> None:
        check_int("batch_size", self.batch_size, 1)
        if self.num_workers is not None:
            check_int("num_workers", self.num_workers, 0)

    def datamodule(self, class_names: Sequence[str] | None) -> Any:
        """The :class:`~wsl.data.WSLDataModule` of these settings (``data`` None: ``synthetic``)."""
        from wsl.data import WSLDataModule

        return WSLDataModule(
            self.data or "synthetic",
            batch_size=self.batch_size,
            num_workers=self.num_workers or 0,
            single_label=self.single_label,
            class_names=None if class_names is None else list(class_names),
            skip_bad=self.skip_bad,
        )


@dataclass(frozen=True)
class EvalOptions:
    """The scoring side of an evaluation job. Each job reads some of these fields (``_FIELDS``); one it
    does not read must stay at its default.

    Attributes:
        protocol: evaluation frame, ``original`` or ``wsolevaluation`` (:mod:`wsl.cam.frames`); None: the
            checkpoint's ``protocol`` hyper-parameter, ``original`` for saved CAMs and the center.
        cam_curve_interval: threshold grid step (None: the protocol's default, 0.01 or 0.001); a checkpoint
            scored in its own frame uses its ``cam_curve_interval`` hyper-parameter.
        pointing_subset: TorchRay's per-(image, class) flag file, or its flags already read
            (:func:`wsl.evaluation.read_pointing_subset`), to also report ``pointing_game_difficult``.
        skip_missing: score only the images that have a CAM file instead of raising (saved CAMs).
        progress: show a progress bar.
        image_size: network input side; None: :meth:`wsl.runs.RunFolder.training_image_size` (checkpoint).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (:func:`wsl.runs.resolve_device`) (checkpoint).
        cam_method: ``native`` (the model's class maps) or a post-hoc method of
            :data:`wsl.cam.POSTHOC_METHODS` (:func:`wsl.cam.posthoc.posthoc_names`) (checkpoint).
        cam_layer: the post-hoc methods' layer, a dotted module name of the ``WSLNet`` (None: ``backbone``,
            its output feature map); ``"a,b"``: several layers fused (checkpoint).
        aug_smooth, eigen_smooth: :func:`wsl.cam.explain`'s options of the post-hoc method
            (:class:`wsl.cam.stream.CamSource`) (checkpoint).
        sigma: the center baseline's standard deviation as a fraction of each side (center).
        workers: processes that read and score the maps (saved CAMs): 1 scores in this process; N > 1
            starts N worker processes whose integer counts are summed, so the scores are identical
            (:mod:`wsl.evaluation_workers`).
        faithfulness: also report the means over the scored (image, class) pairs of ``deletion_auc``,
            ``insertion_auc``, ``average_drop`` and ``increase_in_confidence`` of the same CAMs at the
            network input size (:class:`wsl.cam.explain_eval.FaithfulnessSums`) (checkpoint, classifier).
        road: with ``faithfulness``, also ROAD's means ``road_morf``, ``road_lerf``, ``road_combined``.

    Raises:
        ValueError: ``road`` without ``faithfulness``.
    """

    protocol: str | None = None
    cam_curve_interval: float | None = None
    pointing_subset: str | Path | Mapping[Any, Any] | None = None
    skip_missing: bool = False
    progress: bool = True
    image_size: int | None = None
    device: str = "auto"
    cam_method: str = "native"
    cam_layer: str | None = None
    aug_smooth: bool = False
    eigen_smooth: bool = False
    sigma: float = CENTER_SIGMA
    workers: int = 1
    faithfulness: bool = False
    road: bool = False

    def __post_init__(self) -> None:
        if self.road and not self.faithfulness:
            raise ValueError("road: ROAD is reported with the faithfulness metrics; set faithfulness too")

    def pointing_flags(self, num_classes: int) -> dict | None:
        """The flags of ``pointing_subset``: read when it is a file, as given when already read."""
        if self.pointing_subset is None or isinstance(self.pointing_subset, Mapping):
            return None if self.pointing_subset is None else dict(self.pointing_subset)
        return read_pointing_subset(self.pointing_subset, num_classes)


_DATA = {f.name for f in dataclasses.fields(EvalData)}
_SCORING = {"protocol", "pointing_subset", "progress"}
_CAM = {"cam_method", "cam_layer", "aug_smooth", "eigen_smooth"}
_FAITH = {"faithfulness", "road"}
_TRAINED = frozenset(_SCORING | _CAM | _FAITH)
#: The fields of :class:`EvalData` and :class:`EvalOptions` each job reads (and takes as keywords).
_FIELDS: dict[str, frozenset[str]] = {
    "evaluate_trained": _TRAINED,
    "evaluate_model": _TRAINED,
    "evaluate_from_checkpoint": frozenset(
        (_DATA - {"single_label"}) | _SCORING | {"image_size", "device"} | _CAM | _FAITH
    ),
    "evaluate_cams": frozenset(_DATA | _SCORING | {"cam_curve_interval", "skip_missing", "workers"}),
    "evaluate_center": frozenset(_DATA | _SCORING | {"cam_curve_interval", "sigma"}),
    "evaluate_cam_folder": frozenset(_SCORING | {"cam_curve_interval", "skip_missing", "workers"}),
}


def _resolve(job: str, source: Any, options: Any, given: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(EvalData, EvalOptions)`` of a job: ``source`` and ``options`` with the keywords ``given`` applied.

    Raises:
        TypeError: a keyword the job does not take, or an object of the wrong class.
        ValueError: a field the job does not read set away from its default in ``source`` or ``options``.
    """
    known = _FIELDS[job]
    check_names(job, given, known)
    data: EvalData = apply_fields(EvalData, source, given)
    opts: EvalOptions = apply_fields(EvalOptions, options, given)
    _check_unread(job, (data, opts), known)
    return data, opts


def _check_unread(job: str, objects: Sequence[Any], known: Collection[str]) -> None:
    for obj in objects:
        defaults = type(obj)()
        for f in dataclasses.fields(obj):
            if f.name not in known and getattr(obj, f.name) != getattr(defaults, f.name):
                raise ValueError(
                    f"{job}: {type(obj).__name__}.{f.name} = {getattr(obj, f.name)!r} is not read by "
                    "this job; "
                    f"leave it at its default {getattr(defaults, f.name)!r}"
                )


def _only(job: str, opts: EvalOptions, **changes: Any) -> EvalOptions:
    """``opts`` with ``changes`` applied and every field ``job`` does not read back at its default: the
    options a job hands to the job it runs (e.g. :func:`evaluate_from_checkpoint` to
    :func:`evaluate_trained`, once the fields of the loading are spent)."""
    kept = {name: getattr(opts, name) for name in _FIELDS[job] if hasattr(opts, name)}
    return EvalOptions(**{**kept, **changes})


def _positional(data: str | None, split: str | None, fields_: dict[str, Any]) -> dict[str, Any]:
    """The keyword fields with the positional ``data`` and ``split`` (None: not given) added."""
    for name, value in (("data", data), ("split", split)):
        if value is not None:
            if name in fields_:
                raise TypeError(f"got multiple values for argument {name!r}")
            fields_[name] = value
    return fields_


def evaluate_cam_folder(
    cam_dir: str | Path,
    loader: DataLoader,
    class_names: list[str],
    single_label: bool = False,
    options: EvalOptions | None = None,
    **fields: Any,
) -> dict[str, float]:
    """Localization scores of CAMs saved by any method against a split's ground truth.

    This is the drop-in for wsolevaluation: same box and mask rules, same pointing game as TorchRay.
    Classification scores are not available from CAMs alone and are not reported.

    Args:
        cam_dir: the folder of saved CAMs (layout in the module docstring).
        loader: an evaluation loader (with annotations; images are not needed) over the split.
        class_names: the dataset's classes.
        single_label: single-label data (no Top-1 Loc: the predicted class is unknown).
        options, fields: :class:`EvalOptions` (``protocol`` None: ``original``) and keywords of its fields
            ``protocol cam_curve_interval pointing_subset skip_missing progress workers``.

    Returns:
        The localization fractions of :meth:`~wsl.evaluation.LocalizationEvaluator.compute` and
        ``images_scored``.
    """
    _, opts = _resolve("evaluate_cam_folder", None, options, fields)
    check_workers(opts.workers)
    protocol = opts.protocol or "original"
    folder = SavedCams(cam_dir, class_names, frame=protocol)
    ids = _image_ids(loader.dataset)
    missing = set(folder.check_ids(ids, opts.skip_missing))
    evaluator = LocalizationEvaluator(
        len(class_names),
        single_label,
        opts.cam_curve_interval,
        pointing_subset=opts.pointing_flags(len(class_names)),
        protocol=protocol,
    )
    batches = tqdm(loader, desc="evaluate CAMs", unit="batch", disable=not opts.progress)
    if opts.workers > 1:
        reader = FolderMaps(folder, protocol)
        _, notes = score_in_processes(evaluator, _with_files(batches, missing), reader, opts.workers)
        folder.non_finite.extend(notes)  # the maps the workers scored as zeros
    else:
        for sub, maps_of in _prefetch(_read_batches(batches, folder, missing, protocol)):
            evaluator.update_localization(sub, maps_of)
    if folder.non_finite:
        log.warning(
            "%d maps hold NaN or Inf and were scored as all-zero maps, e.g. %s",
            len(folder.non_finite),
            folder.non_finite[:3],
        )
    results = evaluator.compute()
    results["images_scored"] = float(len(ids) - len(missing))
    return results


def evaluate_from_checkpoint(
    ckpt: str | Path | TrainedModel,
    data: str | None = None,
    split: str | None = None,
    *,
    source: EvalData | None = None,
    options: EvalOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Load a checkpoint and score it on a split: the whole ``tools/evaluate.py --ckpt``.

    Where the image size and the precision came from is logged (INFO) by this module's logger. The
    dataset is read with the class list stored in the checkpoint
    (:meth:`wsl.trained.TrainedModel.datamodule`).

    Args:
        ckpt: a ``.ckpt`` written by ``tools/train.py``, or a :class:`~wsl.trained.TrainedModel` (e.g. any
            classifier, :meth:`~wsl.trained.TrainedModel.from_classifier`: its CAMs: its post-hoc method).
        data, split: :attr:`EvalData.data` (None: the checkpoint's data) and :attr:`EvalData.split`.
        source, options: :class:`EvalData` (``num_workers`` None: 2) and :class:`EvalOptions`.
        fields: keywords of their fields ``data split class_names batch_size num_workers skip_bad protocol
            pointing_subset progress image_size device cam_method cam_layer aug_smooth eigen_smooth``.

    Returns:
        ``{"data", "split", "protocol", "source", "name", "cam_method", "cam_layer", "aug_smooth",
        "eigen_smooth", "results"}`` with the fractions in ``results``.
    """
    src, opts = _resolve("evaluate_from_checkpoint", source, options, _positional(data, split, fields))
    if not isinstance(ckpt, TrainedModel):  # a bad CAM request fails before the checkpoint is loaded
        CamSource(opts.cam_method, opts.cam_layer, opts.aug_smooth, opts.eigen_smooth)
    model = TrainedModel.load(ckpt, device=opts.device, image_size=opts.image_size)
    cam = CamSource.of(model, opts)  # a classifier: its own method
    cam.check(model.net)  # an unknown layer fails before any image
    spec, data_note = model.data_spec(src.data)
    for note in [*model.notes, data_note] if data_note else model.notes:
        log.info(note)
    workers = 2 if src.num_workers is None else src.num_workers
    dm = model.datamodule(
        spec, src.class_names, batch_size=src.batch_size, num_workers=workers, skip_bad=src.skip_bad
    )
    scoring = _only("evaluate_trained", opts, pointing_subset=opts.pointing_flags(dm.num_classes))
    if model.autocast_note is not None:
        log.info(model.autocast_note)
    with model.autocast():  # the precision of results.json
        results = _score_trained(model, dm.dataloader(src.split), scoring, cam)
    layer = cam.layer
    if model.cam_method is not None:  # its layer is the one it was built on
        layer = layer or getattr(model.net, "layer", None)
    label = dataclasses.replace(cam, layer=layer).label
    name = f"{label} / {model.name}" if cam.posthoc or model.cam_method else model.name
    return {
        "data": spec,
        "split": src.split,
        "protocol": opts.protocol or model.frame,
        "source": (model.source or model.name) if isinstance(ckpt, TrainedModel) else str(ckpt),
        "name": name,
        "cam_method": cam.method,
        "cam_layer": layer,
        "aug_smooth": cam.aug_smooth,
        "eigen_smooth": cam.eigen_smooth,
        "results": results,
    }


def evaluate_cams(
    cam_dir: str | Path,
    data: str | None = None,
    split: str | None = None,
    *,
    source: EvalData | None = None,
    options: EvalOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Score a folder of saved CAMs on a split: the whole ``tools/evaluate.py --cams``.

    Only annotations are read (no image is decoded). Class names default to the ``class_names`` of the
    folder's ``cams.json`` when there is one, else the dataset's own.

    Args:
        cam_dir: the folder of saved CAMs (layout in the module docstring).
        data, split: :attr:`EvalData.data` (None: ``synthetic``) and :attr:`EvalData.split`.
        source, options: :class:`EvalData` (``num_workers`` None: 0) and :class:`EvalOptions`
            (``protocol`` None: ``original``).
        fields: keywords of their fields ``data split class_names single_label batch_size num_workers
            skip_bad protocol cam_curve_interval pointing_subset skip_missing progress workers``.

    Returns:
        ``{"data", "split", "protocol", "source", "name", "results"}`` with the fractions in ``results``.
    """
    src, opts = _resolve("evaluate_cams", source, options, _positional(data, split, fields))
    check_workers(opts.workers)  # before the data are read
    names = src.class_names if src.class_names is not None else manifest_class_names(Path(cam_dir))
    dm = src.datamodule(names)
    protocol = opts.protocol or "original"
    flags = opts.pointing_flags(dm.num_classes)
    scoring = _only("evaluate_cam_folder", opts, protocol=protocol, pointing_subset=flags)
    loader = dm.dataloader(src.split, with_images=False)
    results = evaluate_cam_folder(cam_dir, loader, dm.class_names, src.single_label, scoring)
    return {
        "data": src.data or "synthetic",
        "split": src.split,
        "protocol": protocol,
        "source": str(cam_dir),
        "name": Path(cam_dir).name,
        "results": results,
    }


def evaluate_center(
    data: str | None = None,
    split: str | None = None,
    *,
    source: EvalData | None = None,
    options: EvalOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Score the center baseline (:mod:`wsl.cam.center`) on a split: ``tools/evaluate.py --center``.

    Every ground-truth class of every image gets the same centred Gaussian (``sigma``: its standard
    deviation as a fraction of each side), built in the frame of ``protocol`` and scored by the same
    :class:`~wsl.evaluation.LocalizationEvaluator` as a network. No model is needed and no image is
    decoded (only the annotations and the image sizes are read); there are no classification scores.

    Args:
        data, split: :attr:`EvalData.data` (None: ``synthetic``) and :attr:`EvalData.split`.
        source, options: :class:`EvalData` (``num_workers`` None: 0) and :class:`EvalOptions`
            (``protocol`` None: ``original``).
        fields: keywords of their fields ``data split class_names single_label batch_size num_workers
            skip_bad protocol sigma cam_curve_interval pointing_subset progress``.

    Returns:
        ``{"data", "split", "protocol", "source", "name", "cam_method", "sigma", "results"}`` with the
        localization fractions and ``images_scored`` in ``results``.
    """
    src, opts = _resolve("evaluate_center", source, options, _positional(data, split, fields))
    center_map((1, 1), opts.sigma)  # a bad sigma fails before the data are read
    dm = src.datamodule(src.class_names)
    protocol = opts.protocol or "original"
    evaluator = LocalizationEvaluator(
        dm.num_classes,
        src.single_label,
        opts.cam_curve_interval,
        pointing_subset=opts.pointing_flags(dm.num_classes),
        protocol=protocol,
    )
    images = 0
    loader = dm.dataloader(src.split, with_images=False)
    for batch in tqdm(loader, desc="evaluate center", unit="batch", disable=not opts.progress):
        evaluator.update_localization(batch, center_maps_of(batch, protocol, opts.sigma))
        images += len(batch["image_id"])
    results = evaluator.compute()
    results["images_scored"] = float(images)
    return {
        "data": src.data or "synthetic",
        "split": src.split,
        "protocol": protocol,
        "source": "center",
        "name": f"center baseline (Gaussian, sigma {opts.sigma:g})",
        "cam_method": "center",
        "sigma": opts.sigma,
        "results": results,
    }
