"""tools/train.py end to end on a tiny synthetic VOC set: every pool, resume, config round trip, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tiny_training import tiny_args

from tools.train import main
from wsl.cli import expand_aliases, run_name, train
from wsl.pooling import POOLS


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_every_pool_trains_tests_and_writes_results(pool, synthetic_voc_root, tmp_path):
    results = train(tiny_args(synthetic_voc_root, tmp_path, "--pool", pool))
    assert results["pool"] == pool and results["global_step"] == 2
    for key in ("map", "maxboxacc", "maxboxacc_v2", "pointing_game", "pxap"):
        assert 0.0 <= results["test"][key] <= 1.0 and math.isfinite(results["test"][key])
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["test"] == pytest.approx(results["test"])
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "logs" / "version_0" / "metrics.csv").is_file()


def test_resume_from_last_checkpoint_continues_the_step_count(synthetic_voc_root, tmp_path):
    first = train(tiny_args(synthetic_voc_root, tmp_path, "--skip_test", "true"))
    assert first["global_step"] == 2
    resumed = train(
        tiny_args(synthetic_voc_root, tmp_path, "--skip_test", "true", "--trainer.max_epochs", "2")
        + ["--ckpt_path", "last"]
    )
    assert resumed["global_step"] == 4 and resumed["epochs"] == 2


def test_print_config_round_trips(synthetic_voc_root, tmp_path, capsys):
    args = tiny_args(synthetic_voc_root, tmp_path, "--pool", "lse", "--model.pool_kwargs", '{"beta": 3.0}')
    with pytest.raises(SystemExit) as stop:
        train([*args, "--print_config"])
    assert stop.value.code == 0
    config = tmp_path / "my.yaml"  # not the run folder's own config.yaml, which marks a started run
    config.write_text(capsys.readouterr().out)
    results = train(["--config", str(config), "--skip_test", "true"])
    assert results["pool"] == "lse"
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["pool_kwargs"] == {"beta": 3.0}


def test_config_typo_names_the_key(synthetic_voc_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        train(tiny_args(synthetic_voc_root, tmp_path, "--model.poool", "gap"))
    assert stop.value.code != 0
    assert "poool" in capsys.readouterr().err


def test_unknown_pool_exits_2_and_lists_the_choices(synthetic_voc_root, tmp_path, capsys):
    assert main(tiny_args(synthetic_voc_root, tmp_path, "--pool", "weldn")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "weldon" in err


def test_unknown_backbone_exits_2_with_the_closest_names(synthetic_voc_root, tmp_path, capsys):
    assert main(tiny_args(synthetic_voc_root, tmp_path, "--backbone", "resnet5O")) == 2
    assert "resnet50" in capsys.readouterr().err


def test_aliases_and_run_names():
    assert expand_aliases(["--pool", "gap", "--pool=gmp", "--x"]) == [
        "--model.pool",
        "gap",
        "--model.pool=gmp",
        "--x",
    ]
    assert run_name("synthetic", "weldon") == "synthetic-weldon"
    assert run_name("voc:/data/VOC2007/", "gap") == "voc-VOC2007-gap"


def test_default_config_file_is_the_built_in_default(capsys):
    """configs/default.yaml documents the main job: it must equal what --print_config prints."""
    import yaml

    with pytest.raises(SystemExit):
        train(["--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    from pathlib import Path

    with open(Path(__file__).resolve().parents[2] / "configs" / "default.yaml") as handle:
        assert yaml.safe_load(handle) == printed


@pytest.mark.parametrize(
    "flag, value, stored",
    [
        ("--pool", "gap", "'weldon'"),
        ("--backbone", "resnet18", "'lcnet_050'"),
        ("--model.num_maps", "2", "1"),
    ],
)
@pytest.mark.parametrize("resume", ["last", "file"])
def test_resume_with_another_model_is_refused_naming_both_values(
    synthetic_voc_root, tmp_path, capsys, flag, value, stored, resume
):
    run = tmp_path / "run"
    train(tiny_args(synthetic_voc_root, run, "--skip_test", "true"))
    ckpt = "last" if resume == "last" else str(run / "checkpoints" / "last.ckpt")
    other = tmp_path / "other" if resume == "file" else run
    before = (run / "checkpoints" / "last.ckpt").read_bytes()
    args = tiny_args(synthetic_voc_root, other, "--skip_test", "true", "--trainer.max_epochs", "2")
    assert main([*args, flag, value, "--ckpt_path", ckpt]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    name = flag.split(".")[-1].lstrip("-")
    assert name in line and stored in line and value in line, line
    assert (run / "checkpoints" / "last.ckpt").read_bytes() == before


def test_a_vit_trains_at_the_data_image_size(synthetic_voc_root, tmp_path):
    """timm ViTs are built for 224 px; the data's image size (64) is passed to them as ``img_size``."""
    results = train(tiny_args(synthetic_voc_root, tmp_path, "--backbone", "vit_tiny_patch16_224"))
    assert results["backbone"] == "vit_tiny_patch16_224" and results["global_step"] == 2
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["img_size"] == 64


def test_an_image_size_the_backbone_cannot_take_is_refused_before_the_run_folder(
    synthetic_voc_root, tmp_path, capsys
):
    run = tmp_path / "run"
    args = tiny_args(synthetic_voc_root, run, "--backbone", "vit_tiny_patch16_224", "--data.image_size", "8")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert "vit_tiny_patch16_224" in line and "8" in line and "--data.image_size" in line, line
    assert not run.exists()


def test_a_cnn_run_resumes_at_another_image_size(synthetic_voc_root, tmp_path):
    """img_size is part of the network only for backbones built for one size: a CNN resumes at 96 px."""
    train(tiny_args(synthetic_voc_root, tmp_path, "--skip_test", "true"))
    more = ["--skip_test", "true", "--trainer.max_epochs", "2", "--data.image_size", "96"]
    resumed = train(tiny_args(synthetic_voc_root, tmp_path, *more) + ["--ckpt_path", "last"])
    assert resumed["global_step"] == 4


def test_cam_sheets_flag_writes_a_sheet_into_the_run_folder(synthetic_voc_root, tmp_path):
    run_dir = tmp_path / "run"
    train(
        [*tiny_args(synthetic_voc_root, run_dir), "--pool", "gap", "--cam_sheets", "1", "--skip_test", "true"]
    )
    assert sorted(p.name for p in (run_dir / "cams").iterdir()) == ["epoch_000.png"]


def test_cam_sheets_must_not_be_negative(synthetic_voc_root, tmp_path, capsys):
    assert main([*tiny_args(synthetic_voc_root, tmp_path / "run"), "--cam_sheets", "-1"]) == 2
    assert "cam_sheets must be >= 0" in capsys.readouterr().err
