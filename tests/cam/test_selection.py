"""wsl.cam.selection: one class-choice rule per policy."""

from __future__ import annotations

import pytest
import torch

from wsl.cam import CLASS_POLICIES, gt_classes, register_policy, select_classes


def batch():
    return {
        "image_id": ["a", "b"],
        "labels": torch.tensor([[1.0, 0, 1, 0], [0, 0, 0, 1]]),
        "box_labels": [torch.tensor([2, 0, 2]), torch.tensor([3])],
        "difficult": [torch.tensor([False, False, True]), torch.tensor([True])],
    }


SCORES = torch.tensor([[0.1, 0.7, 0.2, 0.0], [0.3, 0.1, 0.0, 0.2]])


def test_the_registry_holds_the_four_policies():
    assert set(CLASS_POLICIES) == {"gt", "present", "top1", "all"}


def test_each_policy_chooses_what_it_says():
    assert select_classes("gt", batch()) == [[0, 2], []]  # image b's only class is all-difficult
    assert select_classes("present", batch()) == [[0, 2], [3]]
    assert select_classes("top1", batch(), SCORES) == [[1], [0]]
    assert select_classes("all", batch(), SCORES) == [[0, 1, 2, 3], [0, 1, 2, 3]]


def test_gt_classes_skips_all_difficult_classes():
    assert gt_classes(torch.tensor([1, 1, 4]), torch.tensor([True, False, True])) == [1]
    assert gt_classes(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.bool)) == []


def test_unknown_policy_lists_the_choices_and_the_closest():
    with pytest.raises(
        ValueError,
        match=r"^classes: got 'top' \(did you mean 'top1'\?\); "
        r"expected one of \['all', 'gt', 'present', 'top1'\]$",
    ):
        select_classes("top", batch(), SCORES)


def test_policies_say_what_they_are_missing():
    with pytest.raises(ValueError, match="'top1' needs the image scores"):
        select_classes("top1", batch())
    with pytest.raises(ValueError, match="needs the batch key 'box_labels'"):
        select_classes("gt", {"image_id": ["a"], "labels": torch.ones(1, 2)})


def test_register_policy_adds_a_rule_and_refuses_a_duplicate():
    try:

        @register_policy("last")
        def _last(scores, item):
            return [int(scores.shape[-1]) - 1]

        assert select_classes("last", batch(), SCORES) == [[3], [3]]
        with pytest.raises(ValueError, match=r"class policy name 'last' is already registered to .*_last"):
            register_policy("last")(_last)
    finally:
        CLASS_POLICIES.pop("last", None)
