"""tools/train.py records where the weights came from and the library versions, and takes the
wsolevaluation network options (large_feature_map, head_init) from the command line."""

from __future__ import annotations

import hashlib
import json

import pytest
import timm
import torch
from tiny_training import reproducible_tiny_args

import wsl
from tools.train import main
from wsl.cli import train


def test_results_record_the_weights_file_its_hash_and_the_versions(synthetic_voc_root, tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18").state_dict(), weights)
    run = tmp_path / "run"
    flags = ["--backbone", "resnet18.tv_in1k", "--model.out_index", "-1", "--model.pool", "gap",
             "--model.pretrained", str(weights), "--model.large_feature_map", "true",
             "--skip_test", "true"]  # fmt: skip
    results = train(reproducible_tiny_args(synthetic_voc_root, run, *flags))
    expected = {
        "source": "file",
        "name": "resnet18.tv_in1k",
        "file": str(weights.resolve()),
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }
    written = json.loads((run / "results.json").read_text())
    assert results["weights"] == written["weights"] == expected
    assert written["versions"] == {
        "torch": torch.__version__,
        "timm": timm.__version__,
        "pytorch_lightning": __import__("pytorch_lightning").__version__,
        "wsl": wsl.__version__,
    }
    config = (run / "config.yaml").read_text()
    assert "large_feature_map: true" in config and "head_init: default" in config


def test_a_bad_tag_on_the_command_line_is_one_error_line(synthetic_voc_root, tmp_path, capsys):
    status = main(reproducible_tiny_args(synthetic_voc_root, tmp_path, "--backbone", "resnet18.tv_inik"))
    assert status == 2
    err = capsys.readouterr().err
    assert "unknown pretrained tag 'tv_inik'" in err and "resnet18.tv_in1k" in err


def test_large_feature_map_takes_only_a_bool_or_null(synthetic_voc_root, tmp_path, capsys):
    with pytest.raises(SystemExit):
        train(reproducible_tiny_args(synthetic_voc_root, tmp_path, "--model.large_feature_map", "sometimes"))
    assert "large_feature_map" in capsys.readouterr().err
