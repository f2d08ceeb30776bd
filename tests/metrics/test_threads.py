"""wsl.metrics.threads: the evaluator's per-map work runs outside torch's intra-op pool (issue 35 item 12)."""

from __future__ import annotations

import pytest
import torch

import wsl.evaluation as evaluation_module
from wsl.cam import CamBatch
from wsl.evaluation import LocalizationEvaluator
from wsl.metrics.threads import single_thread


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def make_batch():
    return {
        "labels": torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        "orig_size": torch.tensor([[20, 30], [20, 30]]),
        "boxes": [torch.tensor([[2, 3, 9, 8]]), torch.tensor([[10, 5, 19, 14]])],
        "box_labels": [torch.tensor([0]), torch.tensor([1])],
        "difficult": [torch.tensor([False]), torch.tensor([False])],
        "masks": [None, None],
        "ignore": [None, None],
        "image_id": ["a", "b"],
    }


def test_single_thread_sets_one_and_restores_the_count(two_threads):
    with single_thread():
        assert torch.get_num_threads() == 1
        with single_thread():  # nested: still one, and the outer scope restores
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2


def test_single_thread_restores_the_count_after_an_error(two_threads):
    with pytest.raises(RuntimeError, match="boom"), single_thread():
        raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


def test_update_localization_reads_and_scores_every_map_on_one_thread(two_threads, monkeypatch):
    seen = []
    real_trial_batch = evaluation_module.TrialBatch

    def recording_trial_batch(**kwargs):
        seen.append(("score", torch.get_num_threads()))
        return real_trial_batch(**kwargs)

    monkeypatch.setattr(evaluation_module, "TrialBatch", recording_trial_batch)
    maps = torch.rand(2, 2, 20, 30)

    def maps_of(i, classes):
        seen.append(("read", torch.get_num_threads()))
        return maps[i, classes]

    evaluator = LocalizationEvaluator(num_classes=2, single_label=True)
    evaluator.update_localization(make_batch(), maps_of)
    assert seen == [("read", 1), ("read", 1), ("score", 1)]
    assert torch.get_num_threads() == 2


def test_update_cams_scores_on_one_thread(two_threads, monkeypatch):
    seen = []
    real_trial_batch = evaluation_module.TrialBatch
    monkeypatch.setattr(
        evaluation_module,
        "TrialBatch",
        lambda **kwargs: seen.append(torch.get_num_threads()) or real_trial_batch(**kwargs),
    )
    batch = make_batch()
    scores = torch.tensor([[2.0, -2.0], [-2.0, 2.0]])
    cams = CamBatch.from_output(scores, torch.rand(2, 2, 5, 6), batch, "gt")
    evaluator = LocalizationEvaluator(num_classes=2, single_label=True)
    evaluator.update_cams(cams, batch)
    assert seen == [1] and torch.get_num_threads() == 2


def test_scores_are_the_same_on_one_thread_and_two(two_threads):
    batch = make_batch()
    gen = torch.Generator().manual_seed(1)
    maps = torch.rand(2, 2, 20, 30, generator=gen) * 1e3

    def score() -> dict:
        evaluator = LocalizationEvaluator(num_classes=2, single_label=True, cam_curve_interval=0.01)
        evaluator.update_localization(batch, lambda i, classes: maps[i, classes])
        return evaluator.compute()

    two = score()
    torch.set_num_threads(1)
    assert score() == two
