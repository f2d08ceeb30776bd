"""Per-(image, class) trials and the evaluator that streams them through every metric."""

from __future__ import annotations

import pytest
import torch

from wsl.evaluation import LocalizationEvaluator, image_trials, read_pointing_subset
from wsl.metrics import classification_targets, format_table


def make_batch():
    """Two 20×30 images: image 0 has class 0 (box) and class 2 (difficult only); image 1 has class 1."""
    return {
        "labels": torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
        "orig_size": torch.tensor([[20, 30], [20, 30]]),
        "boxes": [torch.tensor([[2, 3, 9, 8], [20, 10, 25, 15]]), torch.tensor([[10, 5, 19, 14]])],
        "box_labels": [torch.tensor([0, 2]), torch.tensor([1])],
        "difficult": [torch.tensor([False, True]), torch.tensor([False])],
        "masks": [None, None],
        "ignore": [None, None],
        "image_id": ["a", "b"],
    }


def test_difficult_only_classes_are_ignored_by_the_map_targets():
    assert classification_targets(make_batch()).tolist() == [[1, 0, -1], [0, 1, 0]]


def test_trials_skip_difficult_only_classes_and_fill_boxes_without_masks():
    trials = image_trials(make_batch(), 0)
    assert [t.class_index for t in trials] == [0]
    mask = trials[0].mask
    assert mask.shape == (20, 30) and not trials[0].has_mask
    assert int(mask.sum()) == (9 - 2 + 1) * (8 - 3 + 1)
    assert bool(mask[3, 2]) and bool(mask[8, 9]) and not bool(mask[9, 9]) and not bool(mask[8, 10])


def test_perfect_class_maps_score_one_everywhere():
    batch = make_batch()
    cams = torch.zeros(2, 3, 20, 30)
    cams[0, 0, 3:9, 2:10] = 1.0  # image 0, class 0 inside its box
    cams[1, 1, 5:15, 10:20] = 1.0  # image 1, class 1 inside its box
    scores = torch.tensor([[5.0, -5.0, 0.0], [-5.0, 5.0, -5.0]])
    evaluator = LocalizationEvaluator(num_classes=3)
    evaluator.update(scores, cams, batch)
    results = evaluator.compute()
    assert results["map"] == pytest.approx(1.0)
    assert results["pointing_game"] == pytest.approx(1.0)
    assert results["maxboxacc"] == pytest.approx(1.0)
    assert results["maxboxacc_v2"] == pytest.approx(1.0)
    assert "pxap" not in results  # no segmentation masks were given


def test_single_label_reports_top1_accuracy_and_top1_loc():
    batch = make_batch()
    batch["labels"] = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    cams = torch.zeros(2, 3, 20, 30)
    cams[0, 0, 3:9, 2:10] = 1.0
    cams[1, 1, 5:15, 10:20] = 1.0
    scores = torch.tensor([[5.0, 0.0, 0.0], [5.0, 0.0, 0.0]])  # image 1 misclassified
    evaluator = LocalizationEvaluator(num_classes=3, single_label=True)
    evaluator.update(scores, cams, batch)
    results = evaluator.compute()
    assert results["top1_acc"] == pytest.approx(0.5)
    assert results["maxboxacc"] == pytest.approx(1.0)
    assert results["top1_loc"] == pytest.approx(0.5)


def test_reset_forgets_everything():
    evaluator = LocalizationEvaluator(num_classes=3)
    batch = make_batch()
    evaluator.update(torch.zeros(2, 3), torch.rand(2, 3, 4, 4), batch)
    evaluator.reset()
    evaluator.update(torch.zeros(2, 3), torch.rand(2, 3, 4, 4), batch)
    assert int(evaluator.maxboxacc.total) == 2


def test_format_table_prints_percentages_and_dashes():
    table = format_table([("a", {"map": 0.5, "pxap": 0.25}), ("b", {"map": 1.0})])
    assert "| a | 50.0 | 25.0 |" in table and "| b | 100.0 | – |" in table


def test_pointing_subset_follows_torchray_flags(tmp_path):
    # Image "a" class 0: CAM peak far from its box (miss); image "b" class 1: peak inside (hit).
    batch = make_batch()
    cams = torch.zeros(2, 3, 20, 30)
    cams[0, 0, 19, 29] = 1.0
    cams[1, 1, 8, 15] = 1.0
    scores = torch.zeros(2, 3)
    flags = tmp_path / "difficult.txt"
    flags.write_text("a\t0\t0\t0\n")  # a's class 0 is not in the subset; b is not listed: kept
    subset = read_pointing_subset(flags, num_classes=3)
    assert subset == {"a": (False, False, False)}
    evaluator = LocalizationEvaluator(num_classes=3, pointing_subset=subset)
    evaluator.update(scores, cams, batch)
    results = evaluator.compute()
    assert results["pointing_game"] == pytest.approx(0.5)  # class 0: 0/1, class 1: 1/1
    assert results["pointing_game_difficult"] == pytest.approx(1.0)  # only b's class-1 trial
    flags.write_text("a\t1\t0\t0\nb\t0\t0\t0\n")  # now only a's class 0
    evaluator = LocalizationEvaluator(num_classes=3, pointing_subset=read_pointing_subset(flags, 3))
    evaluator.update(scores, cams, batch)
    assert evaluator.compute()["pointing_game_difficult"] == pytest.approx(0.0)
    assert "pointing_game_difficult" not in LocalizationEvaluator(num_classes=3).compute()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("a\t0\t1\n", r"difficult.txt:1: expected an image name and 3 tab-separated 0/1 flags"),
        ("a\t0\t1\t0\nb\t0\t2\t0\n", r"difficult.txt:2: expected .* got 3 fields \['0', '2', '0'\]"),
        ("\n\n", "holds no line"),
    ],
)
def test_pointing_subset_file_errors_name_the_line(tmp_path, text, match):
    flags = tmp_path / "difficult.txt"
    flags.write_text(text)
    with pytest.raises(ValueError, match=match):
        read_pointing_subset(flags, num_classes=3)
    with pytest.raises(ValueError, match="is not a file"):
        read_pointing_subset(tmp_path / "missing.txt", num_classes=3)
