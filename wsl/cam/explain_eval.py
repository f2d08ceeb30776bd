"""Score the CAMs of any classifier on a single-label evaluation split, through wsl's evaluator.

The classic experiment "Grad-CAM of a pretrained ImageNet classifier on ILSVRC val, scored with
MaxBoxAccV2": :func:`evaluate_classifier` runs :func:`wsl.cam.explain` on every batch with the
ground-truth class as the target and feeds :class:`~wsl.evaluation.LocalizationEvaluator` (either frame:
``original`` or ``wsolevaluation``), whose results are wsl's usual keys (``top1_acc``, ``maxboxacc``,
``maxboxacc_v2``, ``top1_loc``, ...).

Classes: the data's class label ``k`` is the classifier's output ``k`` (wsolevaluation's ILSVRC labels are
ImageNet's class indices, the order of timm's and torchvision's ImageNet heads). The evaluator counts the
classifier's C outputs, so Top-1 accuracy is over all of them even when the split holds fewer classes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from wsl.cam.classifier import ClassifierCAM
from wsl.cam.explain import explain, layer_list
from wsl.evaluation import LocalizationEvaluator
from wsl.faithfulness import confidence_change, deletion, insertion, road

__all__ = ["FAITHFULNESS_STEPS", "FaithfulnessSums", "evaluate_classifier", "update_with_explanations"]

#: Deletion / insertion curves take this many steps (``step = ceil(HW / steps)`` pixels each).
FAITHFULNESS_STEPS = 50


class FaithfulnessSums:
    """Sums over images of deletion AUC, insertion AUC, drop and increase (:mod:`wsl.faithfulness`), and
    with ``road`` of ROAD's MoRF, LeRF and combined scores (the default percentages, noise and seed).

    The confidence ``p^c`` is ``score``'s (:func:`wsl.faithfulness.perturbation_curves`): ``softmax``
    (the class's softmax probability, single-label; the default, as ``explain``) or ``sigmoid`` (its
    sigmoid, a multi-label network's class probability)."""

    KEYS = ("deletion_auc", "insertion_auc", "average_drop", "increase_in_confidence")
    ROAD_KEYS = ("road_morf", "road_lerf", "road_combined")

    def __init__(self, road: bool = False, score: str = "softmax") -> None:
        self.road = road
        self.score = score
        self.sums = dict.fromkeys(self.KEYS + (self.ROAD_KEYS if road else ()), 0.0)
        self.count = 0

    def update(
        self, model: nn.Module, images: torch.Tensor, cams: torch.Tensor, targets: torch.Tensor
    ) -> None:
        """Add a batch: ``cams`` (N, H, W) at the input size, ``targets`` (N,) classes."""
        step = -(-images.shape[-2] * images.shape[-1] // FAITHFULNESS_STEPS)
        cams = cams.to(images.dtype)
        score = self.score
        change = confidence_change(model, images, cams, targets, score=score)
        values = {
            "deletion_auc": deletion(model, images, cams, targets, step=step, score=score).auc.sum(),
            "insertion_auc": insertion(model, images, cams, targets, step=step, score=score).auc.sum(),
            "average_drop": change["drop"].sum(),
            "increase_in_confidence": change["increased"].double().sum(),
        }
        if self.road:
            scores = road(model, images, cams, targets, score=score)
            values.update(road_morf=scores.morf_mean.sum(), road_lerf=scores.lerf_mean.sum(),
                          road_combined=scores.combined.sum())  # fmt: skip
        for key, value in values.items():
            self.sums[key] += float(value)
        self.count += len(images)

    def compute(self) -> dict[str, float]:
        """Means over the images."""
        return {key: value / self.count for key, value in self.sums.items()} if self.count else {}


def update_with_explanations(
    evaluator: LocalizationEvaluator,
    net: ClassifierCAM,
    batch: dict[str, Any],
    faithfulness: FaithfulnessSums | None = None,
    **options: Any,
) -> None:
    """Explain one single-label batch for its ground-truth classes and add it to ``evaluator``.

    ``options`` are :func:`~wsl.cam.explain` keywords (``method``, ``aug_smooth``, ``eigen_smooth``,
    ``batch_size``). With ``faithfulness`` the same maps (at the input size) are also scored for
    faithfulness to the classifier.
    """
    labels = batch["labels"]
    if bool((labels.sum(dim=1) != 1).any()):
        raise ValueError("data: evaluate_classifier needs single-label data (one class per image)")
    gt = labels.argmax(dim=1)
    out = explain(net, batch["image"], targets=gt.tolist(), **options)
    if gt.numel() and int(gt.max()) >= out.scores.shape[1]:
        raise ValueError(
            f"data: class label {int(gt.max())} is past the classifier's {out.scores.shape[1]} outputs; the "
            "data's labels must be the classifier's class indices"
        )
    evaluator.update_classification(out.scores.float(), batch)

    def maps_of(i: int, classes: list[int]) -> torch.Tensor:
        if any(c != int(gt[i]) for c in classes):
            raise ValueError(f"image {i}: trials for classes {classes}, explained for {int(gt[i])} only")
        return out.maps[i, [0] * len(classes)]

    ranked = out.scores.topk(min(5, out.scores.shape[1]), dim=1).indices
    ranked[:, 0] = out.scores.argmax(dim=1)
    evaluator.update_localization(batch, maps_of, ranked.cpu())
    if faithfulness is not None:
        faithfulness.update(net.classifier, batch["image"], out.cams[:, 0], gt.to(out.scores.device))


def evaluate_classifier(
    model: nn.Module,
    loader: Any,
    *,
    layer: str | None = None,
    protocol: str = "wsolevaluation",
    cam_threshold: float | None = None,
    faithfulness: bool = False,
    road: bool = False,
    limit: int | None = None,
    **options: Any,
) -> dict[str, float]:
    """Results of the CAMs of ``model`` on the batches of ``loader`` (an evaluation loader with boxes).

    Args:
        model: a classifier or a :class:`ClassifierCAM`.
        loader: batches as ``WSLDataModule.dataloader(split)`` yields them (single-label data).
        layer: the CAM layer (None: the model's usual one); several (``"a,b"``): their maps fused
            (:func:`~wsl.cam.explain.fuse_layers`).
        protocol: the evaluation frame, ``original`` or ``wsolevaluation``.
        cam_threshold: also report GT-known / Top-1 / Top-5 Loc at this CAM threshold, and Top-5 Cls.
        faithfulness: also report the means of deletion / insertion AUC, Average Drop and Increase in
            Confidence of the same maps (:class:`FaithfulnessSums`).
        road: with ``faithfulness``, also ROAD's means ``road_morf``, ``road_lerf``, ``road_combined``
            (18 imputations per image).
        limit: stop after this many images (None: all).
        **options: :func:`~wsl.cam.explain` keywords (``method``, ``aug_smooth``, ...).

    Returns:
        The evaluator's results (fractions) plus ``images_scored``.
    """
    names = layer_list(layer)
    net = model if isinstance(model, ClassifierCAM) else ClassifierCAM(model, names[0])
    if len(names) > 1:
        options["layer"] = layer
    evaluator: LocalizationEvaluator | None = None
    if road and not faithfulness:
        raise ValueError("road=True needs faithfulness=True (ROAD is reported with the faithfulness metrics)")
    sums = FaithfulnessSums(road) if faithfulness else None
    seen = 0
    for batch in loader:
        if limit is not None and seen >= limit:
            break
        if evaluator is None:
            with torch.no_grad():
                num_classes = int(net(batch["image"][:1])[0].shape[1])
            if batch["labels"].shape[1] > num_classes:
                raise ValueError(
                    f"data: {batch['labels'].shape[1]} classes but the classifier has {num_classes} outputs; "
                    "the data's labels must be the classifier's class indices"
                )
            evaluator = LocalizationEvaluator(
                num_classes, single_label=True, protocol=protocol, cam_threshold=cam_threshold
            )
        update_with_explanations(evaluator, net, batch, sums, **options)
        seen += len(batch["image"])
    if evaluator is None:
        raise ValueError("data: the loader yielded no batch")
    faithful = sums.compute() if sums is not None else {}
    return {**evaluator.compute(), **faithful, "images_scored": float(seen)}
