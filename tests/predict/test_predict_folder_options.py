"""FolderOptions (wsl.jobs.predict.folder) holds a PredictOptions and a ModelOptions beside its own fields;
predict_to_folder's keywords are routed to the object that has the field."""

from __future__ import annotations

import inspect

import pytest

from wsl.jobs.predict import FolderOptions, ModelOptions, PredictOptions, predict_to_folder
from wsl.lit import WSLModule

#: The flags of tools/predict.py, as predict_to_folder took them before FolderOptions held the two objects.
FORMER = {
    "top_k", "min_score", "threshold", "image_size", "device", "coco_gt", "multi_contour", "batch_size",
    "num_workers", "sheet_size", "thumb_size", "progress", "cam_method", "cam_layer",
}  # fmt: skip


def test_the_folder_options_compose_the_prediction_and_model_options():
    assert {"predict_options", "model_options", "coco_gt", "sheet_size", "thumb_size"} == {
        name for name in inspect.signature(FolderOptions).parameters
    }
    default = FolderOptions()
    assert default.predict_options == PredictOptions(progress=True)  # the tool shows a bar by default
    assert default.model_options == ModelOptions()


def test_every_former_keyword_reaches_the_object_that_has_its_field():
    values = {
        "top_k": 2, "min_score": 0.3, "threshold": 0.4, "image_size": 48, "device": "cpu",
        "coco_gt": "gt.json", "multi_contour": True, "batch_size": 3, "num_workers": 1, "sheet_size": 5,
        "thumb_size": 64, "progress": False, "cam_method": "gradcam", "cam_layer": "backbone",
    }  # fmt: skip
    assert set(values) == FORMER
    got = FolderOptions.of(None, values)
    assert got == FolderOptions(
        PredictOptions(
            top_k=2, min_score=0.3, multi_contour=True, batch_size=3, num_workers=1, progress=False
        ),
        ModelOptions(threshold=0.4, image_size=48, device="cpu", cam_method="gradcam", cam_layer="backbone"),
        coco_gt="gt.json",
        sheet_size=5,
        thumb_size=64,
    )
    base = FolderOptions(sheet_size=0)
    over = FolderOptions.of(base, {"top_k": 1})
    assert over.sheet_size == 0 and over.predict_options.top_k == 1 and over.predict_options.progress is True
    assert FolderOptions.of(base, {}) == base


def test_an_unknown_or_drawing_keyword_is_a_type_error_naming_the_closest_field(tmp_path):
    module = WSLModule(num_classes=2, pool="gap")
    with pytest.raises(TypeError, match=r"predict_to_folder\(\) got an unexpected keyword argument 'topk' "
                       r"\(did you mean 'top_k'\?\)"):  # fmt: skip
        predict_to_folder(module, [str(tmp_path / "x.png")], tmp_path / "out", topk=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'picture_side'"):
        FolderOptions.of(None, {"picture_side": 512})  # the folder draws at PICTURE_SIDE itself
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"predict_options": PredictOptions(keep_pixels=True)}, "options.keep_pixels = True is set by"),
        ({"predict_options": PredictOptions(picture_side=64)}, "options.picture_side = 64 is set by"),
        ({"sheet_size": -1}, "sheet_size must be an int >= 0; got -1"),
        ({"sheet_size": True}, "sheet_size must be an int >= 0; got True"),
    ],
)
def test_bad_folder_options_are_refused_at_construction(options, match):
    with pytest.raises(ValueError, match=match):
        FolderOptions(**options)


def test_a_bad_prediction_option_fails_before_the_folder_is_touched(tmp_path):
    module = WSLModule(num_classes=2, pool="gap")
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        predict_to_folder(module, [str(tmp_path / "x.png")], tmp_path / "out", batch_size=0)
    assert not (tmp_path / "out").exists()
