"""wsl.runs: the atomic writer, run folders and the device rule."""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch

from wsl.runs import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_THRESHOLD,
    RunFolder,
    atomic_path,
    parse_threshold,
    resolve_device,
    write_json,
    write_text,
)


def test_atomic_path_replaces_on_success_and_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]


def test_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_json(tmp_path / "a.json", {"b": 1, "a": 2})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text() == json.dumps({"a": 2, "b": 1}, indent=2, sort_keys=True)


def test_run_folder_of_a_checkpoint(tmp_path):
    assert RunFolder.of_checkpoint(tmp_path / "run" / "checkpoints" / "best.ckpt").root == tmp_path / "run"
    assert RunFolder.of_checkpoint(tmp_path / "loose" / "model.ckpt").root == tmp_path / "loose"


def test_best_threshold_from_results_json(tmp_path):
    run = RunFolder(tmp_path)
    value, note = run.best_threshold()
    assert value == DEFAULT_THRESHOLD and "no results.json" in note
    write_json(run.results_path, {"test": {"maxboxacc_threshold": 0.27}})
    assert run.best_threshold()[0] == 0.27 and run.results()["test"]["maxboxacc_threshold"] == 0.27
    write_json(run.results_path, {"test": {}})
    value, note = run.best_threshold()
    assert value == DEFAULT_THRESHOLD and "no usable test.maxboxacc_threshold" in note


def test_training_image_size_from_checkpoint_then_config_then_default(tmp_path):
    run = RunFolder(tmp_path)
    assert run.training_image_size()[0] == DEFAULT_IMAGE_SIZE
    write_text(run.config_path, "data:\n  image_size: 96\n")
    assert run.training_image_size() == (96, f"image size 96 from {run.config_path}")
    ckpt = tmp_path / "x.ckpt"
    torch.save({"datamodule_hyper_parameters": {"image_size": 72}}, ckpt)
    assert run.training_image_size(ckpt)[0] == 72


def test_device_rule():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


@pytest.mark.parametrize("bad", ["x", 1.0, -0.1, float("nan")])
def test_parse_threshold_refuses_what_is_not_in_0_1(bad):
    with pytest.raises(ValueError, match="threshold must"):
        parse_threshold(bad)
