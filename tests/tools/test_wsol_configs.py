"""configs/cub.yaml, ilsvrc.yaml, openimages.yaml parse and state wsolevaluation's published recipe."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from wsl.cli import train
from wsl.models import WSLNet

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

#: Per dataset: config, dataset name, epochs, lr step, annotated val images per class, monitor.
RECIPES = [
    ("cub.yaml", "CUB", 50, 15, 5, "val/maxboxacc_v2"),
    ("ilsvrc.yaml", "ILSVRC", 10, 3, 10, "val/maxboxacc_v2"),
    ("openimages.yaml", "OpenImages", 10, 3, 5, "val/pxap"),
]


def _printed(path: Path, capsys) -> dict:
    """``python tools/train.py --config PATH --print_config``: parsed, nothing trained or read."""
    with pytest.raises(SystemExit):
        train(["--config", str(path), "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize(("name", "dataset", "epochs", "step", "per_class", "monitor"), RECIPES)
def test_config_states_the_published_recipe(name, dataset, epochs, step, per_class, monitor, capsys):
    config = _printed(CONFIGS / name, capsys)
    model, data = config["model"], config["data"]
    assert (model["backbone"], model["pretrained"], model["pool"], model["num_maps"]) == (
        "resnet50",
        True,
        "gap",
        1,
    )
    assert (model["out_index"], model["output_stride"]) == (-1, 8)
    assert (model["optimizer"], model["scheduler"], model["step_epochs"], model["gamma"]) == (
        "sgd",
        "step",
        step,
        0.1,
    )
    assert model["lr"] == pytest.approx(10 * model["backbone_lr"])  # last stage + classifier at 10x
    assert (model["protocol"], model["cam_curve_interval"]) == ("wsolevaluation", None)
    assert config["trainer"]["max_epochs"] == epochs and config["trainer"]["check_val_every_n_epoch"] == 1
    assert (data["image_size"], data["batch_size"], data["augment"], data["single_label"]) == (
        224,
        32,
        "wsol",
        True,
    )
    assert data["data"].startswith(f"wsol:{dataset}:")
    assert data["data"].endswith(f":num_val_sample_per_class={per_class}")
    assert (config["checkpoint_select"], config["checkpoint_monitor"]) == ("last", monitor)
    assert config["test_protocols"] == "auto"
    if "head_lr_stages" in model:
        assert model["head_lr_stages"] == 1
    if "method" in model:
        assert model["method"] == "cam"


def test_the_configured_network_has_a_28x28_map_at_224_px():
    config = yaml.safe_load((CONFIGS / "cub.yaml").read_text())["model"]
    net = WSLNet(
        num_classes=3,
        backbone=config["backbone"],
        pool=config["pool"],
        out_index=config["out_index"],
        output_stride=config["output_stride"],
        pretrained=False,
    )
    assert net.backbone.stride == 8 and 224 // net.backbone.stride == 28
    with torch.no_grad():
        _, class_maps = net.eval()(torch.zeros(1, 3, 64, 64))  # 64 / 8 = 8, cheaper than 224 / 8 = 28
    assert tuple(class_maps.shape) == (1, 3, 8, 8)
