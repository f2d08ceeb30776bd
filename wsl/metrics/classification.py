"""Classification metrics (SPEC section 3): VOC-protocol mAP and single-label top-1, from torchmetrics.

Also the two pieces the evaluator needs around the mAP: :func:`classification_targets` (the targets of
a collated batch, "difficult only" classes ignored) and :class:`PositiveCounts` (positives per class, to
average the per-class AP over the classes that have one).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy, MultilabelAveragePrecision

from wsl.checks import check_int

__all__ = ["voc_targets", "classification_targets", "PositiveCounts", "multilabel_map", "top1_accuracy"]

IGNORE_INDEX = -1


def voc_targets(labels: torch.Tensor, difficult_only_mask: torch.Tensor) -> torch.Tensor:
    """Multi-hot targets with VOC's "difficult only" entries set to −1 (ignored by the AP).

    In the VOC protocol an image whose objects of class c are all ``difficult`` is neither a positive nor a
    negative for c. target = −1 where ``difficult_only_mask`` else ``labels``.

    Args:
        labels: (N, C) multi-hot {0, 1} (float or int).
        difficult_only_mask: (N, C) bool, True where every object of that class is difficult.

    Returns:
        (N, C) int64 targets in {−1, 0, 1}.

    Example:
        >>> voc_targets(torch.tensor([[1.0, 0.0]]), torch.tensor([[True, False]])).tolist()
        [[-1, 0]]
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 2:
        raise ValueError(f"labels must be an (N, C) tensor; got {getattr(labels, 'shape', type(labels))}")
    if not isinstance(difficult_only_mask, torch.Tensor) or difficult_only_mask.dtype != torch.bool:
        got = getattr(difficult_only_mask, "dtype", type(difficult_only_mask))
        raise ValueError(f"difficult_only_mask must be a bool tensor; got {got}")
    if difficult_only_mask.shape != labels.shape:
        raise ValueError(
            f"difficult_only_mask must have the shape of labels {tuple(labels.shape)}; "
            f"got {tuple(difficult_only_mask.shape)}"
        )
    targets = labels.round().long()
    if ((targets != 0) & (targets != 1)).any():
        raise ValueError("labels must be multi-hot with values in {0, 1}")
    return targets.masked_fill(difficult_only_mask, IGNORE_INDEX)


def classification_targets(batch: dict) -> torch.Tensor:
    """Multi-hot targets (B, C) with −1 where a class is present only as ``difficult`` objects.

    target[i, c] = −1 if every object of class c in image i is ``difficult`` (VOC: neither positive nor
    negative), else ``round(batch["labels"][i, c])``. The batch form of :func:`voc_targets`.

    Args:
        batch: a collated evaluation batch with ``labels`` (B, C) multi-hot, and per image
            ``box_labels`` (K_i,) int class of each object and ``difficult`` (K_i,) bool.

    Returns:
        (B, C) int64 targets in {−1, 0, 1}.

    Example:
        >>> batch = {"labels": torch.tensor([[1.0, 1.0]]), "box_labels": [torch.tensor([0, 1])],
        ...          "difficult": [torch.tensor([False, True])]}
        >>> classification_targets(batch).tolist()
        [[1, -1]]
    """
    targets = batch["labels"].round().long().clone()
    for i, (labels, difficult) in enumerate(zip(batch["box_labels"], batch["difficult"], strict=True)):
        for c in torch.unique(labels).tolist():
            if bool(difficult[labels == c].all()):
                targets[i, c] = -1
    return targets


class PositiveCounts(Metric):
    """Number of positive targets per class, summed over the split (and over processes).

    count[c] = Σ_batches #{i : targets[i, c] == 1}; targets of −1 (ignored) and 0 do not count. A class
    with count 0 has no defined AP and is left out of the mAP.

    State: ``count`` (C,) int64, sum-reduced.

    Args:
        num_classes: C.

    Example:
        >>> counts = PositiveCounts(2)
        >>> counts.update(torch.tensor([[1, -1], [1, 0]]))
        >>> counts.compute().tolist()
        [2, 0]
    """

    full_state_update = False
    count: torch.Tensor  # add_state's state (nn.Module's attribute typing says Tensor | Module)

    def __init__(self, num_classes: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("count", default=torch.zeros(num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, targets: torch.Tensor) -> None:
        """Add a batch of (B, C) targets in {−1, 0, 1}."""
        self.count += (targets == 1).sum(dim=0).to(self.count.device)

    def compute(self) -> torch.Tensor:
        """The (C,) positive counts."""
        return self.count


def multilabel_map(num_labels: int, **kwargs) -> Metric:
    """Mean average precision over classes (macro), ignoring targets equal to −1 (see :func:`voc_targets`).

    Args:
        num_labels: C.
        **kwargs: passed to ``torchmetrics.classification.MultilabelAveragePrecision``.

    Returns:
        The torchmetrics metric; ``update(scores (N, C), targets (N, C) int)``, ``compute()`` → mAP in [0, 1].
    """
    check_int(num_labels, "num_labels", what="a positive int")
    kwargs.setdefault("average", "macro")
    kwargs.setdefault("ignore_index", IGNORE_INDEX)
    return MultilabelAveragePrecision(num_labels=num_labels, **kwargs)


def top1_accuracy(num_classes: int, **kwargs) -> Metric:
    """Top-1 accuracy for single-label data (micro: correct images / images).

    Args:
        num_classes: C.
        **kwargs: passed to ``torchmetrics.classification.MulticlassAccuracy``.

    Returns:
        The torchmetrics metric; ``update(scores (N, C), target (N,) int)``, ``compute()`` → fraction.
    """
    check_int(num_classes, "num_classes", ge=2)
    kwargs.setdefault("average", "micro")
    kwargs.setdefault("top_k", 1)
    return MulticlassAccuracy(num_classes=num_classes, **kwargs)
