"""Every shipped config chooses (best checkpoint, anything val-driven) on a split it does not test on.

A config whose validation split is its test split must choose nothing on it: validation off
(``trainer.limit_val_batches: 0``) and the last weights tested (``checkpoint_select: last``); its comment
states the protocol.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wsl.cli import train

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHIPPED = sorted(p.name for p in CONFIGS.glob("*.yaml"))


def _printed(path: Path, capsys) -> dict:
    """``python tools/train.py --config PATH --print_config``: every default filled in, nothing read."""
    with pytest.raises(SystemExit):
        train(["--config", str(path), "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


def _validation_off(config: dict) -> bool:
    limit = config["trainer"].get("limit_val_batches")
    return limit is not None and float(limit) == 0.0


def test_the_configs_are_found():
    assert {"voc07.yaml", "coco14.yaml", "default.yaml"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_nothing_is_chosen_on_the_test_split(name, capsys):
    config = _printed(CONFIGS / name, capsys)
    data = config["data"]
    if data["val_split"] != data["test_split"]:
        return
    assert _validation_off(config), f"{name}: validates on its test split {data['test_split']!r}"
    assert config["checkpoint_select"] == "last", f"{name}: chooses best.ckpt on its test split"


@pytest.mark.parametrize(
    ("name", "train_split", "test_split"),
    [("voc07.yaml", "trainval", "test"), ("coco14.yaml", "train2014", "val2014")],
)
def test_the_wildcat_configs_state_their_protocol(name, train_split, test_split, capsys):
    config = _printed(CONFIGS / name, capsys)
    assert (config["data"]["train_split"], config["data"]["test_split"]) == (train_split, test_split)
    assert _validation_off(config) and config["checkpoint_select"] == "last"
    text = (CONFIGS / name).read_text()
    assert "# Protocol (WILDCAT's" in text and "Nothing is chosen on validation" in text
