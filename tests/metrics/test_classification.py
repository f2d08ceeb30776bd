"""VOC-protocol mAP (difficult-only entries ignored), batch targets, positive counts and top-1 accuracy."""

from __future__ import annotations

import pytest
import torch

from wsl.metrics import PositiveCounts, classification_targets, multilabel_map, top1_accuracy, voc_targets


def test_voc_targets_marks_difficult_only_entries():
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    difficult = torch.tensor([[False, False, True], [False, True, False]])
    assert voc_targets(labels, difficult).tolist() == [[1, 0, -1], [0, -1, 0]]


def _batch() -> dict:
    """Image 0: class 0 and class 2 (difficult only); image 1: class 1, one of its two boxes difficult."""
    return {
        "labels": torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
        "box_labels": [torch.tensor([0, 2, 2]), torch.tensor([1, 1])],
        "difficult": [torch.tensor([False, True, True]), torch.tensor([True, False])],
    }


def test_classification_targets_ignore_difficult_only_classes():
    batch = _batch()
    targets = classification_targets(batch)
    assert targets.dtype == torch.int64
    assert targets.tolist() == [[1, 0, -1], [0, 1, 0]]
    assert batch["labels"].tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]  # the batch is not modified
    difficult = torch.tensor([[False, False, True], [False, False, False]])
    assert torch.equal(targets, voc_targets(batch["labels"], difficult))


def test_positive_counts_count_ones_only_and_sum_over_states():
    targets = classification_targets(_batch())
    counts = PositiveCounts(3)
    counts.update(targets)
    counts.update(torch.tensor([[1, 1, 0]]))
    assert counts.count.tolist() == [2, 2, 0]  # −1 and 0 are not positives
    other = PositiveCounts(3)
    other.update(torch.tensor([[0, -1, 1], [1, 0, 1]]))
    assert {fx.__name__ for fx in counts._reductions.values()} == {"dim_zero_sum"}
    counts.merge_state(other)
    assert counts.compute().tolist() == [3, 2, 2]
    counts.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert counts.compute().tolist() == [0, 0, 0]


def test_multilabel_map_ignores_minus_one():
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.95, 0.7]])
    targets = torch.tensor([[1, 0], [0, 1], [0, 0]])
    metric = multilabel_map(2)
    metric.update(scores, targets)
    with_wrong = float(metric.compute())
    assert with_wrong < 1.0  # image 2 is a confident false positive for class 0
    metric = multilabel_map(2)
    metric.update(scores, voc_targets(targets, torch.tensor([[False, False], [False, False], [True, False]])))
    assert float(metric.compute()) == pytest.approx(1.0)


def test_top1_accuracy():
    metric = top1_accuracy(3)
    metric.update(torch.tensor([[0.1, 0.8, 0.1], [0.9, 0.05, 0.05]]), torch.tensor([1, 2]))
    assert float(metric.compute()) == 0.5


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (
            lambda: voc_targets(torch.zeros(3), torch.zeros(3, dtype=torch.bool)),
            r"labels must be an \(N, C\)",
        ),
        (lambda: voc_targets(torch.zeros(2, 3), torch.zeros(2, 3)), "difficult_only_mask must be a bool"),
        (lambda: voc_targets(torch.zeros(2, 3), torch.zeros(2, 2, dtype=torch.bool)), "shape of labels"),
        (lambda: voc_targets(torch.full((1, 2), 2.0), torch.zeros(1, 2, dtype=torch.bool)), "multi-hot"),
        (lambda: multilabel_map(0), "num_labels must be a positive int"),
        (lambda: top1_accuracy(1), "num_classes must be an int >= 2"),
    ],
)
def test_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
