"""wsl.cam.frames: frames as registered objects, looked up by the names users type."""

from __future__ import annotations

import inspect

import pytest
import torch

import wsl.cam.frames as frames_module
from wsl.cam import FRAMES, CamBatch, Frame, check_frame, frame_boxes, frame_mask, frame_size, get_frame
from wsl.cam.frames import OriginalFrame, WsolevaluationFrame, default_interval, frame_dtype, resize_to_frame
from wsl.evaluation import LocalizationEvaluator, image_trials


def test_every_frame_class_has_a_registered_instance():
    classes = {
        cls
        for _, cls in inspect.getmembers(frames_module, inspect.isclass)
        if issubclass(cls, Frame) and cls is not Frame and cls.__module__ == frames_module.__name__
    }
    assert classes == {type(f) for f in FRAMES.values()}
    assert FRAMES.names() == ["original", "wsolevaluation"]
    assert all(name == f.name for name, f in FRAMES.items())


def test_frame_attributes():
    original, wsol = FRAMES["original"], FRAMES["wsolevaluation"]
    assert (original.interval, wsol.interval) == (0.01, 0.001)
    assert original.dtype == wsol.dtype == torch.float64
    assert wsol.side == 224 and isinstance(original, OriginalFrame) and isinstance(wsol, WsolevaluationFrame)
    assert default_interval("wsolevaluation") == 0.001 and frame_dtype("original") == torch.float64


def test_names_and_objects_are_accepted_alike():
    wsol = FRAMES["wsolevaluation"]
    assert get_frame("wsolevaluation") is wsol and get_frame(wsol) is wsol
    assert check_frame(wsol) == check_frame("wsolevaluation") == "wsolevaluation"
    assert frame_size(wsol, (30, 40)) == frame_size("wsolevaluation", (30, 40)) == (224, 224)
    assert frame_size("original", (30, 40)) == (30, 40)


def test_unknown_frame_names_the_argument_and_the_closest():
    with pytest.raises(
        ValueError,
        match=r"^frame: got 'orignal' \(did you mean 'original'\?\); "
        r"expected one of \['original', 'wsolevaluation'\]$",
    ):
        get_frame("orignal")
    with pytest.raises(ValueError, match=r"^protocol: got 'x'; expected one of"):
        LocalizationEvaluator(2, protocol="x")
    with pytest.raises(ValueError, match=r"^frame: got 'x'; expected one of"):
        CamBatch.from_maps(lambda i, c: torch.zeros(len(c), 2, 2), [(4, 4)], [[0]], frame="x")


def test_wsolevaluation_boxes_rescale_by_int_truncation():
    # int(coord * 224 / size) per axis, hand-computed: W = 100, H = 150.
    boxes = torch.tensor([[10.0, 20.0, 99.0, 149.0]])
    expected = [[int(10 * 2.24), int(20 * 224 / 150), int(99 * 2.24), int(149 * 224 / 150)]]
    assert expected == [[22, 29, 221, 222]]
    assert frame_boxes("wsolevaluation", boxes, (150, 100)).tolist() == expected
    assert (
        frame_boxes("original", torch.tensor([[1, 2, 3, 4]], dtype=torch.int32), (9, 9)).dtype == torch.int64
    )


def test_wsolevaluation_mask_nearest_and_maps_bicubic_float64():
    mask = torch.zeros(2, 2, dtype=torch.bool)
    mask[0, 1] = True
    out = frame_mask("wsolevaluation", mask)
    # nearest from 2 to 224: each source pixel covers a 112 × 112 block
    assert out.shape == (224, 224) and bool(out[:112, 112:].all()) and int(out.sum()) == 112 * 112
    assert frame_mask("original", mask) is mask
    maps = torch.ones(1, 7, 7)
    resized = resize_to_frame("wsolevaluation", maps, (50, 60))
    assert resized.dtype == torch.float64 and resized.shape == (1, 224, 224)
    torch.testing.assert_close(
        resized, torch.ones(1, 224, 224, dtype=torch.float64)
    )  # a constant stays constant
    assert resize_to_frame("original", maps, (5, 6)).shape == (1, 5, 6)


def test_trial_boxes_use_the_annotated_floats_only_in_the_wsolevaluation_frame():
    batch = {
        "orig_size": torch.tensor([[150, 100]]),
        "boxes": [torch.tensor([[10, 20, 99, 149]])],
        "box_coords": [torch.tensor([[10.9, 20.9, 99.0, 149.0]])],
        "box_labels": [torch.tensor([1])],
        "difficult": [torch.tensor([False])],
        "masks": [None],
        "ignore": [None],
    }
    (original,) = image_trials(batch, 0, "original")
    assert original.boxes.tolist() == [[10, 20, 99, 149]]
    (wsol,) = image_trials(batch, 0, FRAMES["wsolevaluation"])
    assert wsol.boxes.tolist() == [[int(10.9 * 2.24), int(20.9 * 224 / 150), 221, 222]]
    assert wsol.mask.shape == (224, 224)


def test_evaluator_takes_a_frame_object():
    ev = LocalizationEvaluator(2, protocol=FRAMES["wsolevaluation"])
    assert ev.protocol == "wsolevaluation" and ev.frame is FRAMES["wsolevaluation"]
    assert ev.cam_curve_interval == 0.001
