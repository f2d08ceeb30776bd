"""Skipped files are a structured result (issue 30 step 4): a list, not a warning parsed back."""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image

from wsl.jobs.logs import tool_logging
from wsl.jobs.predict import Predictor, iter_predictions, predict_to_folder
from wsl.lit import WSLModule


def _files(tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(np.full((30, 40, 3), 100, np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    return good, bad


def test_iter_predictions_appends_the_skipped_files_to_the_list_and_warns_nothing(tmp_path):
    good, bad = _files(tmp_path)
    predictor = Predictor.load(WSLModule(num_classes=3, pool="gap"), 0.5, 64, "cpu")
    skipped: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        results = list(iter_predictions(predictor, [good, bad], skipped=skipped))
    assert [r.path for r in results] == [good]
    assert len(skipped) == 1 and skipped[0].startswith(f"{bad}: ")


def test_predict_to_folder_returns_the_skipped_files_and_logs_one_warning(tmp_path):
    good, bad = _files(tmp_path)
    stream = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with tool_logging(stream, logging.WARNING):
            summary = predict_to_folder(
                WSLModule(num_classes=3, pool="gap"), [good, bad], tmp_path / "out", threshold=0.5,
                image_size=64, device="cpu", progress=False,
            )  # fmt: skip
    assert summary["num_images"] == 1 and [line.split(": ")[0] for line in summary["skipped"]] == [str(bad)]
    assert stream.getvalue().count("warning: skipped 1 path(s)") == 1 and str(bad) in stream.getvalue()


def test_tool_logging_prints_the_messages_as_they_are_and_removes_its_handler():
    stream = io.StringIO()
    logger = logging.getLogger("wsl")
    before = list(logger.handlers)
    with tool_logging(stream):
        logging.getLogger("wsl.jobs.evaluate").info("note: image size 64 from the checkpoint")
        logging.getLogger("wsl.jobs.evaluate").debug("not shown")
    logging.getLogger("wsl.jobs.evaluate").info("after")
    assert stream.getvalue() == "note: image size 64 from the checkpoint\n"
    assert logger.handlers == before
