"""tools/train.py: the test in both evaluation frames, and the choice of the tested checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tiny_training import CPU_FP32, TINY_TRAIN, tiny_args
from tools.train import main
from wsl.cli import checkpoint_monitor, resolve_test_protocols, train
from wsl.jobs.evaluate import evaluate_from_checkpoint


@pytest.fixture(scope="module")
def wsol_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from wsl.data import make_synthetic

    out = tmp_path_factory.mktemp("wsol") / "s"
    return make_synthetic(out, "wsol", progress=False, num_train=8, num_val=4, num_test=4, image_size=48)


def _wsol_args(root: Path, run_dir: Path, *extra: str) -> list[str]:
    return [
        "--dataset",
        f"wsol:{root}",
        "--data.single_label",
        "true",
        "--model.protocol",
        "wsolevaluation",
        *TINY_TRAIN,
        *CPU_FP32,
        "--run_dir",
        str(run_dir),
        *extra,
    ]


def test_wsol_data_is_tested_in_both_frames_with_the_last_checkpoint(wsol_root, tmp_path, capsys):
    args = _wsol_args(
        wsol_root, tmp_path, "--checkpoint_select", "last", "--checkpoint_monitor", "val/maxboxacc_v2"
    )
    results = train(args)
    out = capsys.readouterr().out
    assert "Test split (test), wsolevaluation frame" in out and "Test split (test), original frame" in out
    by_frame = results["test_by_protocol"]
    assert list(by_frame) == ["wsolevaluation", "original"]
    # `test` stays the configured frame's scores, for existing readers.
    assert {k: v for k, v in results["test"].items() if k != "loss"} == by_frame["wsolevaluation"]
    assert results["checkpoint"].endswith("last.ckpt")
    assert results["checkpoint_select"] == "last" and results["checkpoint_monitor"] == "val/maxboxacc_v2"
    written = json.loads((tmp_path / "results.json").read_text())
    assert {f: pytest.approx(v) for f, v in by_frame.items()} == written["test_by_protocol"]
    # Each frame's numbers are what evaluate --ckpt gives for the same checkpoint in that frame.
    for frame, scores in by_frame.items():
        again = evaluate_from_checkpoint(
            results["checkpoint"], f"wsol:{wsol_root}", "test", num_workers=0, progress=False, protocol=frame
        )["results"]
        assert again == pytest.approx(scores), frame


def test_other_data_is_tested_only_in_the_configured_frame(synthetic_voc_root, tmp_path):
    results = train(tiny_args(synthetic_voc_root, tmp_path, *CPU_FP32))
    assert list(results["test_by_protocol"]) == ["original"]
    assert results["checkpoint_select"] == "best" and results["checkpoint_monitor"] == "val/map"
    assert results["checkpoint"].endswith("best.ckpt")


def test_test_protocols_resolution():
    assert resolve_test_protocols("auto", "synthetic:easy:wsol", "original") == ["original", "wsolevaluation"]
    assert resolve_test_protocols("auto", "voc:data/VOC2007", "original") == ["original"]
    assert resolve_test_protocols("wsolevaluation", "voc:x", "original") == ["original", "wsolevaluation"]
    assert resolve_test_protocols("original, original", "wsol:CUB:x", "original") == ["original"]
    with pytest.raises(ValueError, match=r"test_protocols: got 'wsol' .* \['original', 'wsolevaluation'\]"):
        resolve_test_protocols("original,wsol", "voc:x", "original")


def test_checkpoint_monitor_defaults_and_errors():
    assert checkpoint_monitor(None, True) == "val/top1_acc"
    assert checkpoint_monitor(None, False) == "val/map"
    assert checkpoint_monitor("val/pxap", False) == "val/pxap"
    with pytest.raises(ValueError, match=r"checkpoint_monitor: got 'maxboxacc'.*val/maxboxacc_v2"):
        checkpoint_monitor("maxboxacc", False)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--checkpoint_select", "first", "checkpoint_select: got 'first'; expected one of"),
        ("--test_protocols", "orignal", "test_protocols: got 'orignal'"),
        ("--checkpoint_monitor", "map", "checkpoint_monitor: got 'map'"),
    ],
)
def test_bad_choices_exit_2_before_any_training(synthetic_voc_root, tmp_path, capsys, flag, value, message):
    run = tmp_path / "run"
    assert main(tiny_args(synthetic_voc_root, run, flag, value)) == 2
    assert message in capsys.readouterr().err
    assert not (run / "checkpoints").exists()
