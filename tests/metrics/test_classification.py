"""VOC-protocol mAP (difficult-only entries ignored) and top-1 accuracy helpers."""

from __future__ import annotations

import pytest
import torch

from wsl.metrics import multilabel_map, top1_accuracy, voc_targets


def test_voc_targets_marks_difficult_only_entries():
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    difficult = torch.tensor([[False, False, True], [False, True, False]])
    assert voc_targets(labels, difficult).tolist() == [[1, 0, -1], [0, -1, 0]]


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
