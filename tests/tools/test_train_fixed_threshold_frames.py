"""``--model.cam_threshold T`` in both test frames: the fixed-threshold scores (GT-known / Top-1 / Top-5 Loc
at T, Top-5 Cls) are in ``test_by_protocol`` for the configured frame and the other one, on the same
images, and each frame's are what ``evaluate --ckpt`` gives for the checkpoint in that frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_training import CPU_FP32, TINY_TRAIN
from wsl.cli import train
from wsl.jobs.evaluate import evaluate_from_checkpoint

FIXED = ("gt_known_loc_at_t", "top1_loc_at_t", "top5_loc_at_t", "top5_cls", "fixed_cam_threshold")


@pytest.fixture(scope="module")
def wsol_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wsl.data import make_synthetic

    out = tmp_path_factory.mktemp("wsol") / "s"
    return make_synthetic(out, "wsol", progress=False, num_train=8, num_val=4, num_test=4, image_size=48)


def test_the_fixed_threshold_scores_are_in_both_frames(wsol_root, tmp_path):
    args = [
        "--dataset", f"wsol:{wsol_root}", "--data.single_label", "true", "--model.protocol", "wsolevaluation",
        "--model.cam_threshold", "0.3", *TINY_TRAIN, *CPU_FP32, "--run_dir", str(tmp_path),
        "--checkpoint_select", "last",
    ]  # fmt: skip
    results = train(args)
    by_frame = results["test_by_protocol"]
    assert list(by_frame) == ["wsolevaluation", "original"]
    for frame, scores in by_frame.items():
        assert set(FIXED) <= set(scores), frame
        assert scores["fixed_cam_threshold"] == pytest.approx(0.3)
        assert 0.0 <= scores["top1_loc_at_t"] <= scores["top5_loc_at_t"] <= scores["gt_known_loc_at_t"] <= 1.0
        again = evaluate_from_checkpoint(
            results["checkpoint"], f"wsol:{wsol_root}", "test", num_workers=0, progress=False, protocol=frame
        )["results"]
        assert again == pytest.approx(scores), frame
    # Top-5 Cls reads the scores only: the same images give the same value in both frames.
    assert by_frame["original"]["top5_cls"] == by_frame["wsolevaluation"]["top5_cls"]
