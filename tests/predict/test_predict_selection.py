"""wsl.jobs.predict.core, the parts that need no model: the class choice, its checks, the option objects and
the properties of ``ImagePrediction`` (the predictions themselves are in ``test_predict_core.py``)."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import torch

from wsl.jobs.predict.core import (
    ImagePrediction,
    ModelOptions,
    PredictOptions,
    check_selection,
    choose_classes,
)


def reference_choice(probs: list[float], top_k: int | None, min_score: float | None) -> list[int]:
    """From the docstring: the top k (ties: the lower index first) of the classes with p >= min_score."""
    if top_k is None and min_score is None:
        top_k = 1
    kept = [c for c in range(len(probs)) if min_score is None or probs[c] >= min_score]
    ranked = sorted(kept, key=lambda c: (-probs[c], c))
    return sorted(ranked if top_k is None else ranked[:top_k])


def test_choose_classes_is_the_reference_on_every_small_case():
    probs = [0.5, 0.75, 0.5, 0.125, 0.75]  # exact in float32, so p >= min_score is the same comparison
    for top_k in (None, 1, 2, 3, 5, 9):
        for min_score in (None, 0.0, 0.125, 0.5, 0.625, 0.75, 1.0):
            got = choose_classes(torch.tensor(probs), top_k, min_score)
            assert got == reference_choice(probs, top_k, min_score), (top_k, min_score)


def test_ties_go_to_the_lower_class_index():
    assert choose_classes(torch.tensor([0.3, 0.7, 0.7, 0.7]), 2, None) == [1, 2]
    assert choose_classes(torch.tensor([0.25, 0.25]), None, None) == [0]


def test_a_larger_k_or_lower_min_score_only_adds_classes():
    probs = torch.tensor([0.05, 0.8, 0.3, 0.6, 0.3, 0.95])
    for k, larger in combinations([1, 2, 4, 6], 2):
        assert set(choose_classes(probs, k, None)) <= set(choose_classes(probs, larger, None))
    for high, low in combinations([0.9, 0.5, 0.3, 0.0], 2):
        assert set(choose_classes(probs, None, high)) <= set(choose_classes(probs, None, low))


@pytest.mark.parametrize(("top_k", "min_score"), [(None, None), (1, None), (None, 0.0), (None, 1), (3, 0.5)])
def test_check_selection_accepts_positive_k_and_probabilities(top_k, min_score):
    check_selection(top_k, min_score)


@pytest.mark.parametrize(
    ("top_k", "min_score", "message"),
    [
        (0, None, "top_k must be a positive int or None; got 0"),
        (True, None, "top_k must be a positive int or None; got True"),
        (2.0, None, "top_k must be a positive int or None; got 2.0"),
        (None, 1.5, "min_score must be a probability in [0, 1] or None; got 1.5"),
        (None, -0.1, "min_score must be a probability in [0, 1] or None; got -0.1"),
        (None, "0.5", "min_score must be a probability in [0, 1] or None; got '0.5'"),
    ],
)
def test_check_selection_names_the_field_and_the_value(top_k, min_score, message):
    with pytest.raises(ValueError) as caught:
        check_selection(top_k, min_score)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"batch_size": 0}, "batch_size must be a positive int; got 0"),
        ({"num_workers": -1}, "num_workers must be an int >= 0; got -1"),
        ({"picture_side": 0}, "picture_side must be a positive int; got 0"),
        ({"top_k": -2}, "top_k must be a positive int or None; got -2"),
    ],
)
def test_predict_options_are_checked_at_construction(fields, message):
    with pytest.raises(ValueError) as caught:
        PredictOptions(**fields)
    assert str(caught.value) == message


def test_the_option_defaults_are_the_documented_ones():
    run, load = PredictOptions(), ModelOptions()
    assert (run.top_k, run.min_score, run.batch_size, run.num_workers, run.keep_pixels) == (
        None,
        None,
        16,
        0,
        False,
    )
    assert (load.threshold, load.image_size, load.device, load.cam_method) == ("best", None, "auto", "native")


def test_labels_are_the_chosen_names_and_scores_every_class():
    probs = torch.tensor([0.25, 0.5, 0.75])
    result = ImagePrediction(
        path=Path("x.jpg"),
        image_id=1,
        size=(4, 4),
        logits=torch.zeros(3),
        probs=probs,
        classes=[0, 2],
        class_names=["cat", "dog", "bird"],
        cams=[torch.zeros(4, 4, dtype=torch.float64)] * 2,
        raw_range=torch.zeros(2, 2),
        boxes=[np.zeros((1, 4), np.int64)] * 2,
        threshold=0.5,
    )
    assert result.labels == ["cat", "bird"]
    assert result.scores() == {"cat": 0.25, "dog": 0.5, "bird": 0.75}
    assert all(type(v) is float for v in result.scores().values())
    cam, boxes = result.picture_maps(1)  # no pixels kept: the maps at the image size, unchanged
    assert cam.shape == (4, 4) and boxes is result.boxes[1]
