"""wsl.jobs.predict.folder: the printed summary and the manifest settings of a prediction folder (the folder
itself is written in ``test_predict_pictures.py`` and ``tests/tools/test_predict.py``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from wsl.jobs.predict.core import ModelOptions, PredictOptions
from wsl.jobs.predict.folder import FRAME, FolderOptions, summary_text

SUMMARY = {
    "num_images": 3,
    "num_detections": 5,
    "threshold": 0.125,
    "image_size": 224,
    "seconds": 1.25,
    "index": "out/index.html",
    "detections": "out/detections.json",
    "images_json": "out/images.json",
    "skipped": [],
}


def test_summary_text_is_three_lines_without_skipped_files():
    assert summary_text(SUMMARY) == (
        "3 images, 5 detections (threshold 0.12, input 224 px) in 1.2 s\n"
        "gallery:    out/index.html\n"
        "detections: out/detections.json (COCO results; image ids in images.json)"
    )


def test_summary_text_counts_the_skipped_paths_on_a_fourth_line():
    text = summary_text({**SUMMARY, "skipped": ["a.txt", "b.gif"]})
    assert text.splitlines()[3] == "skipped:    2 path(s), listed above" and len(text.splitlines()) == 4


PREDICTOR = SimpleNamespace(class_names=["a", "b"], single_label=True, threshold=0.3)


@pytest.mark.parametrize(
    ("run", "classes"),
    [(PredictOptions(top_k=2), "top_k"), (PredictOptions(min_score=0.4, multi_contour=True), "min_score")],
)
def test_the_manifest_records_the_selection_threshold_source_and_frame(run, classes):
    options = FolderOptions(predict_options=run, model_options=ModelOptions(cam_method="gradcam"))
    manifest = options.manifest_options(PREDICTOR)
    assert manifest.class_names == ["a", "b"] and manifest.single_label is True
    assert manifest.classes == classes
    assert manifest.selection == {"top_k": run.top_k, "min_score": run.min_score}
    assert manifest.threshold == 0.3 and manifest.multi_contour is run.multi_contour
    assert (manifest.cam_method, manifest.cam_layer) == ("gradcam", None)
    assert manifest.frame == FRAME == "original"


def test_the_folder_shows_progress_by_default_and_refuses_a_negative_sheet():
    assert FolderOptions().predict_options.progress is True
    for bad in (-1, True, 2.0):
        with pytest.raises(ValueError, match=rf"^sheet_size must be an int >= 0; got {bad!r}$"):
            FolderOptions(sheet_size=bad)
