"""Per-(image, class) evaluation of class maps against boxes, masks and image labels.

The localization metrics score one CAM per trial; a trial is an (image, class present) pair, so that
multi-label data (VOC, COCO) and single-label data (CUB/ImageNet style) go through the same code:
- the CAM is the class map of the ground-truth class, upsampled to the original image size
  (GT-known localization, as in wsolevaluation),
- its boxes are that class's ground-truth boxes, its mask the union of that class's instance masks
  (or, without masks, the filled boxes: TorchRay's pointing-game protocol for VOC),
- trials whose boxes are all ``difficult`` are skipped (VOC protocol), and so are their entries in
  the classification targets (set to −1, ignored by the mAP),
- optionally, the pointing game is also scored on TorchRay's "difficult" subset (Zhang et al.'s EBP
  protocol), read from TorchRay's per-(image, class) flag files (:func:`read_pointing_subset`).

``protocol`` chooses the evaluation frame (SPEC section 3, :mod:`wsl.cam.frames`): ``original`` (the
default: the original image size) or ``wsolevaluation`` (clovaai/wsolevaluation's 224×224 frame: CAMs
bicubic to 224, GT boxes rescaled ``int(coord · 224 / size)``, masks nearest; threshold interval 0.001).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision
from torchmetrics.utilities.data import dim_zero_sum

from wsl.cam import CamBatch, Frame, batch_sizes, get_frame, gt_classes
from wsl.metrics import (
    METRICS,
    BoxAccuracy,
    EvalSettings,
    PositiveCounts,
    TrialBatch,
    classification_targets,
)
from wsl.metrics.threads import single_thread

__all__ = ["Trial", "LocalizationEvaluator", "image_trials", "read_pointing_subset"]


@dataclass(frozen=True)
class Trial:
    """One (image, class) pair to score: that class's ground truth in the evaluation frame (by default
    the original image size)."""

    image_index: int
    class_index: int
    boxes: torch.Tensor  # (K, 4) int64, inclusive xyxy
    mask: torch.Tensor  # (H, W) bool: the instance masks' union, or the filled boxes
    ignore: torch.Tensor | None  # (H, W) bool pixels excluded from PxAP
    has_mask: bool  # True when ``mask`` comes from real segmentation masks


def _filled_boxes(boxes: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    mask = torch.zeros(size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes.tolist():
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return mask


def image_trials(batch: dict, index: int, frame: str | Frame = "original") -> list[Trial]:
    """The trials of image ``index`` of a collated evaluation batch (see docs/design.md), in ``frame``.

    In the ``wsolevaluation`` frame boxes are rescaled to 224×224 from the annotated coordinates
    (``batch["box_coords"]`` when the dataset keeps float coordinates, else ``boxes``), masks and the
    ignore region are resized nearest, and box-only trials fill the rescaled boxes.
    """
    frame = get_frame(frame)
    orig = (int(batch["orig_size"][index][0]), int(batch["orig_size"][index][1]))
    size = frame.size(orig)
    box_labels = batch["box_labels"][index]
    coords = batch.get("box_coords")
    boxes = frame.trial_boxes(batch["boxes"][index], coords[index] if coords is not None else None, orig)
    difficult = batch["difficult"][index]
    masks = batch["masks"][index]
    ignore = batch["ignore"][index]
    if ignore is not None:
        ignore = frame.mask(ignore)
    trials = []
    for c in gt_classes(box_labels, difficult):
        of_class = box_labels == c
        class_boxes = boxes[of_class]
        if masks is not None:
            mask = frame.mask(masks[of_class].any(dim=0))
        else:
            mask = _filled_boxes(class_boxes, size)
        trials.append(Trial(index, c, class_boxes, mask, ignore, masks is not None))
    return trials


def read_pointing_subset(path: str | Path, num_classes: int) -> dict[str, tuple[bool, ...]]:
    """Per-(image, class) flags of a pointing-game subset, in TorchRay's file format.

    One line per image: the image name (file name without extension, e.g. ``000001``), then one 0/1 flag
    per class, tab-separated (TorchRay ships ``pointing_game_ebp_voc07_difficult.txt`` and
    ``pointing_game_ebp_coco_difficult.txt`` for EBP's "difficult" subsets). As in TorchRay's
    ``PointingGameBenchmark``, a trial (image, class) is in the subset unless its image is listed with flag
    0 for that class; images missing from the file keep all their trials.

    Args:
        path: the flag file.
        num_classes: C, the number of flags each line must hold (the dataset's class order).

    Returns:
        ``{image name: (C,) flags}``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"pointing subset {str(path)!r} is not a file; pass TorchRay's flag file")
    flags: dict[str, tuple[bool, ...]] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        name, *values = (field.strip() for field in line.split("\t"))
        if len(values) != num_classes or any(v not in ("0", "1") for v in values):
            raise ValueError(
                f"{path}:{number}: expected an image name and {num_classes} tab-separated 0/1 flags (one per "
                f"class of the dataset); got {len(values)} fields {values[:4]!r}"
            )
        flags[name] = tuple(v == "1" for v in values)
    if not flags:
        raise ValueError(f"{path} holds no line; expected '<image name>\\t<flag>...' per image")
    return flags


def _add_counts(metric: Metric, states: Mapping[str, torch.Tensor], name: str) -> None:
    """``metric``'s states += ``states``, each a sum-reduced integer tensor of the same shape."""
    if set(states) != set(metric.metric_state):
        expected = sorted(metric.metric_state)
        raise ValueError(f"counts[{name!r}] has the states {sorted(states)}; expected {expected}")
    for state, local in metric.metric_state.items():
        incoming = torch.as_tensor(states[state])
        summed = metric._reductions[state] is dim_zero_sum
        floats = local.is_floating_point() or incoming.is_floating_point()
        if not summed or floats or incoming.shape != local.shape:
            raise ValueError(
                f"{name}.{state}: only sum-reduced integer counts of shape {tuple(local.shape)} can be "
                f"added; got {incoming.dtype} {tuple(incoming.shape)} (reduction sum: {summed})"
            )
    metric.merge_state({state: torch.as_tensor(v).to(metric.device) for state, v in states.items()})
    metric._update_count += 1  # merge_state does not count an update; compute() warns without one
    metric._computed = None


class LocalizationEvaluator(nn.Module):
    """Streams a split through every classification and localization metric.

    ``update(scores, class_maps, batch)`` takes the network outputs for a collated evaluation batch;
    ``compute()`` returns fractions in [0, 1]:
    ``map`` (multi-label) or ``top1_acc`` (single-label), ``maxboxacc`` (IoU 50, largest contour),
    ``maxboxacc_v2`` (mean over IoU 30/50/70, all contours), ``pxap`` (only when masks exist),
    ``pointing_game``, ``pointing_game_difficult`` (only with ``pointing_subset``: the same on the subset's
    trials), and for single-label data ``top1_loc`` (MaxBoxAcc trials whose top-1 class is right), with
    ``maxboxacc_threshold`` the best CAM threshold.

    Args:
        num_classes: C.
        single_label: top-1 accuracy and Top-1 Loc instead of mAP.
        cam_curve_interval: threshold grid step; None: the protocol's default (0.01 ``original``,
            0.001 ``wsolevaluation``).
        pointing_subset: per-image class flags of :func:`read_pointing_subset`.
        protocol: the evaluation frame, ``original`` or ``wsolevaluation`` (:mod:`wsl.cam.frames`), by name
            or as a :class:`~wsl.cam.Frame`; ``self.protocol`` is its name, ``self.frame`` the object.
        cam_threshold: a CAM threshold in [0, 1): single-label data also reports GT-known / Top-1 / Top-5
            Loc at it and Top-5 Cls (:mod:`wsl.metrics.fixed_loc`); None: not reported.

    The localization metrics are those of :data:`wsl.metrics.METRICS`, each built from its entry and held
    as the attribute of its name (``maxboxacc``, ``maxboxacc_v2``, ``pointing_game``,
    ``pointing_game_subset``, ``pxap``); a registered metric is fed and reported with no edit here. All
    metric states are sum-reduced torchmetrics states, so DDP needs no extra gathering.
    """

    classification: MulticlassAccuracy | MultilabelAveragePrecision
    maxboxacc: BoxAccuracy  # built from METRICS; named for curves()
    maxboxacc_v2: BoxAccuracy

    def __init__(
        self,
        num_classes: int,
        single_label: bool = False,
        cam_curve_interval: float | None = None,
        pointing_subset: Mapping[str, Sequence[bool]] | None = None,
        protocol: str | Frame = "original",
        cam_threshold: float | None = None,
    ) -> None:
        super().__init__()
        self.frame = get_frame(protocol, "protocol")
        self.protocol = self.frame.name
        if cam_curve_interval is None:
            cam_curve_interval = self.frame.interval
        self.cam_curve_interval = float(cam_curve_interval)
        self.single_label = single_label
        self.pointing_subset = pointing_subset
        if single_label:
            self.classification = MulticlassAccuracy(num_classes=num_classes, average="micro")
        else:
            # Per-class AP averaged over the classes that have a positive in the split (VOC protocol):
            # a class with no positive has no defined AP and must not count as 0.
            self.classification = MultilabelAveragePrecision(
                num_labels=num_classes, average=None, ignore_index=-1
            )
            self.positives = PositiveCounts(num_classes)
        self.settings = EvalSettings(
            num_classes,
            single_label,
            cam_curve_interval,
            with_subset=pointing_subset is not None,
            cam_threshold=cam_threshold,
        )
        #: Registry name → the metric built for this evaluation (entries that do not apply are absent).
        self.metric_names: list[str] = []
        for name, entry in METRICS.items():
            metric = entry.build(self.settings)
            if metric is not None:
                self.add_module(name, metric)
                self.metric_names.append(name)
        self._has_scores = False

    def reset(self) -> None:
        for metric in self.children():
            metric.reset()
        self._has_scores = False

    @torch.no_grad()
    def update(self, scores: torch.Tensor, class_maps: torch.Tensor, batch: dict) -> None:
        """Add a batch: ``scores`` (B, C), ``class_maps`` (B, C, h, w), the collated ``batch``."""
        scores = scores.detach().float()
        self.update_classification(scores, batch)
        maps = class_maps.detach()  # the trials are built once, in update_localization
        ranked = scores.topk(min(5, scores.shape[1]), dim=1).indices
        ranked[:, 0] = scores.argmax(dim=1)  # the top-1 class as everywhere else (argmax's tie rule)
        self.update_localization(batch, lambda i, classes: maps[i, classes], ranked.cpu())

    def update_classification(self, scores: torch.Tensor, batch: dict) -> None:
        """Add image scores (B, C) to the mAP (multi-label) or top-1 accuracy (single-label)."""
        if self.single_label:
            self.classification.update(scores, batch["labels"].argmax(dim=1).to(scores.device))
        else:
            targets = classification_targets(batch).to(scores.device)
            self.classification.update(scores, targets)
            self.positives.update(targets)
        self._has_scores = True

    def update_localization(
        self,
        batch: dict,
        maps_of: Callable[[int, list[int]], torch.Tensor],
        predicted: torch.Tensor | None = None,
    ) -> None:
        """Add the localization trials of a batch from any source of maps.

        Args:
            batch: a collated evaluation batch (boxes, labels, masks at the original size).
            maps_of: ``maps_of(i, classes)`` returns the maps (len(classes), h, w) of image ``i`` for
                those classes, at any resolution (they are resized into the protocol's frame).
            predicted: (B,) top-1 predicted classes, for Top-1 Loc on single-label data, or (B, k) ranked
                classes (column 0 the top-1), which also gives the top-5 flags.
        """
        with single_thread():  # per-map work: the intra-op pool only slows it down (wsl.metrics.threads)
            per_image = [image_trials(batch, i, self.frame) for i in range(len(batch["orig_size"]))]
            classes = [[t.class_index for t in trials] for trials in per_image]
            cams = CamBatch.from_maps(maps_of, batch_sizes(batch), classes, frame=self.frame)
            self._score_cams(cams, batch, predicted, [t for trials in per_image for t in trials])

    def update_cams(
        self,
        cams: CamBatch,
        batch: dict,
        predicted: torch.Tensor | None = None,
        trials: list[Trial] | None = None,
    ) -> None:
        """Score the CAMs of a :class:`~wsl.cam.CamBatch` built with the ``gt`` policy against ``batch``.

        Args:
            cams: one CAM per trial (image, ground-truth class), normalised once by the pipeline.
            batch: the collated evaluation batch the CAMs belong to.
            predicted: (B,) top-1 predicted classes, for Top-1 Loc on single-label data, or (B, k) ranked
                classes as :meth:`update_localization` takes them.
            trials: the batch's trials when the caller has them already (:func:`image_trials`).
        """
        with single_thread():  # per-map work: the intra-op pool only slows it down (wsl.metrics.threads)
            self._score_cams(cams, batch, predicted, trials)

    def _score_cams(
        self, cams: CamBatch, batch: dict, predicted: torch.Tensor | None, trials: list[Trial] | None
    ) -> None:
        if cams.frame != self.protocol:
            raise ValueError(
                f"cams are in the {cams.frame!r} frame but the evaluator's protocol is {self.protocol!r}; "
                f"build them with CamBatch.from_output(..., frame={self.protocol!r})"
            )
        if trials is None:
            trials = [t for i in range(len(batch["orig_size"])) for t in image_trials(batch, i, self.frame)]
        if [(t.image_index, t.class_index) for t in trials] != list(
            zip(cams.image_index.tolist(), cams.class_index.tolist(), strict=True)
        ):
            raise ValueError("cams must hold one CAM per trial of the batch, in order (CamBatch policy 'gt')")
        if not trials:
            return
        correct = top5 = None
        if self.single_label and predicted is not None:
            ranked = predicted[:, None] if predicted.ndim == 1 else predicted
            correct = torch.tensor([bool(ranked[t.image_index, 0] == t.class_index) for t in trials])
            if ranked.shape[1] > 1:
                top5 = torch.tensor([t.class_index in ranked[t.image_index, :5].tolist() for t in trials])
        outside = None
        if self.pointing_subset is not None:
            ids = batch["image_id"]
            skip = []
            for t in trials:
                flags = self.pointing_subset.get(ids[t.image_index])
                skip.append(flags is not None and not flags[t.class_index])
            outside = torch.tensor(skip, dtype=torch.bool)
        fed = TrialBatch(
            cams=cams.cams,
            quantized=cams.quantized,
            boxes=[t.boxes for t in trials],
            masks=[t.mask for t in trials],
            has_mask=[t.has_mask for t in trials],
            ignore=[t.ignore for t in trials],
            classes=torch.tensor([t.class_index for t in trials]),
            correct=correct,
            outside_subset=outside,
            top5_correct=top5,
        )
        for name in self.metric_names:
            METRICS[name].update(getattr(self, name), fed)

    def localization_counts(self) -> dict[str, dict[str, torch.Tensor]]:
        """The localization metrics' states by metric name: sum-reduced integer counts (BoxAcc hits per
        (δ, t), PxAP histograms, pointing hits and misses), as :meth:`add_localization_counts` takes them.
        """
        return {name: dict(getattr(self, name).metric_state) for name in self.metric_names}

    def add_localization_counts(self, counts: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        """Add the :meth:`localization_counts` of an evaluator with the same settings (a worker process's):
        ``state += counts[name][state]`` for every state of every localization metric.

        The counts are integers, so any partition of a split's batches sums to the same state and the
        scores are identical to one evaluator fed every batch (:mod:`wsl.evaluation_workers`).

        Raises:
            ValueError: ``counts`` does not name exactly this evaluator's metrics and states, or a state
                is not a sum-reduced integer tensor of the same shape.
        """
        if set(counts) != set(self.metric_names):
            raise ValueError(
                f"counts name the metrics {sorted(counts)}; this evaluator has {sorted(self.metric_names)}: "
                "add the counts of an evaluator built with the same settings"
            )
        for name in self.metric_names:
            metric = getattr(self, name)
            _add_counts(metric, counts[name], name)

    def curves(self) -> dict[str, list[float]]:
        """BoxAcc per CAM threshold: ``thresholds``, ``maxboxacc`` (IoU 50, largest contour) and
        ``maxboxacc_v2_30/50/70`` (all contours), as plain lists for JSON and plots."""
        single = self.maxboxacc.compute()
        multi = self.maxboxacc_v2.compute()
        out = {"thresholds": self.maxboxacc.thresholds.tolist(), "maxboxacc": single["curve_50"].tolist()}
        for delta in (30, 50, 70):
            out[f"maxboxacc_v2_{delta}"] = multi[f"curve_{delta}"].tolist()
        return out

    def compute(self) -> dict[str, float]:
        """Fractions in [0, 1], keyed as documented in the class docstring."""
        results: dict[str, float] = {}
        if self._has_scores and self.single_label:
            results["top1_acc"] = float(self.classification.compute())
        elif self._has_scores:
            per_class = self.classification.compute()
            with_positives = self.positives.compute() > 0
            results["map"] = (
                float(per_class[with_positives].mean()) if bool(with_positives.any()) else math.nan
            )
        for name in self.metric_names:
            results.update(METRICS[name].results(getattr(self, name), self.settings))
        return results
