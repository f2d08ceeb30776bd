"""wsl.recipe: the rows of the recipe card, their verdicts, and its errors (no training, no files read)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from wsl.recipe import UPSTREAM_CELLS, recipe_card, recipe_rows, upstream_cell

CUB = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/wsol/cub/resnet50.yaml").read_text())


def _status(config: dict) -> dict[str, str]:
    return {r.setting: r.status for r in recipe_rows(config)}


def _with(**changes: object) -> dict:
    config = copy.deepcopy(CUB)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        config[section][key] = value
    return config


def test_the_table_holds_the_issues_values():
    cell = upstream_cell("OpenImages", "resnet50.tv_in1k")
    assert (cell.lr, cell.weight_decay, cell.large_feature_map, cell.epochs, cell.lr_decay_frequency) == (
        1.07117324e-3,
        1e-4,
        False,
        10,
        3,
    )
    assert (cell.metric, cell.published) == ("PxAP", 58.5)
    assert {k: v.published for k, v in UPSTREAM_CELLS.items() if k[1] == "resnet50"} == {
        ("ILSVRC", "resnet50"): 63.7,
        ("CUB", "resnet50"): 63.0,
        ("OpenImages", "resnet50"): 58.5,
    }


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"model__lr": 0.01}, "lr, classifier group"),
        ({"model__head_lr_stages": 0}, "lr, classifier group"),
        ({"model__backbone_lr": 2e-4}, "lr, base group"),
        ({"trainer__precision": None}, "precision"),
        ({"trainer__precision": "bf16-mixed"}, "precision"),
        ({"model__scheduler": "step"}, "lr schedule"),
        ({"model__step_epochs": 14}, "lr schedule"),
        ({"model__large_feature_map": False}, "feature map"),
        ({"model__output_stride": 8}, "feature map"),
        ({"model__backbone": "resnet50"}, "weights"),
        ({"model__pretrained": False}, "weights"),
        ({"model__head_init": "pretrained_fc"}, "head init"),
        ({"model__weight_decay": 5e-4}, "weight decay"),
        ({"data__batch_size": 64}, "batch size"),
        ({"trainer__max_epochs": 40}, "epochs"),
        ({"data__augment": "light"}, "augmentation"),
        ({"data__data": "wsol:CUB:d:num_val_sample_per_class=5"}, "val subset"),
        ({"model__protocol": "original"}, "evaluation frame"),  # and its 0.01 grid: see below
        ({"model__cam_curve_interval": 0.01}, "CAM thresholds"),
        ({"model__pool": "lse"}, "network"),
        ({"model__optimizer": "adamw"}, "optimizer"),
        ({"model__cam_flips": "hv"}, "class maps"),
        ({"model__cam_flips": "h"}, "class maps"),
    ],
)
def test_each_changed_setting_is_flagged_and_only_it(changes, setting):
    assert all(s == "" for s in _status(CUB).values())
    flagged = {k for k, v in _status(_with(**changes)).items() if v}
    # the original frame's default grid (cam_curve_interval null) is 0.01, a second difference
    also = {"CAM thresholds"} if changes == {"model__protocol": "original"} else set()
    assert flagged == {setting, *also}


def test_checkpoint_and_a_local_weights_file():
    config = _with(model__pretrained="/weights/resnet50-19c8e357.pth")
    config["checkpoint_select"] = "best"
    status = _status(config)
    assert status["weights"] == "check" and status["checkpoint tested"] == "DIFFERS"
    assert "1 difference(s) from wsolevaluation's recipe, 1 to check by hand" in recipe_card(config)


def test_ilsvrc_wants_the_imagenet_fc_except_for_acol():
    config = _with(data__data="wsol:ILSVRC:d", model__head_init="pretrained_fc", model__lr=3.108411e-4)
    config["model"]["backbone_lr"], config["trainer"]["max_epochs"] = 3.108411e-5, 10
    config["model"]["step_epochs"] = 3
    assert all(s == "" for s in _status(config).values())
    config["model"]["method"] = "acol"
    assert _status(config)["head init"] == "DIFFERS"


def test_method_rows_compare_options_with_upstreams_defaults():
    config = _with(model__method="adl", model__method_kwargs={"drop_rate": 0.75, "gamma": 0.8})
    rows = {r.setting: r for r in recipe_rows(config)}
    assert rows["dataset / cell"].status == "DIFFERS"  # the cell's values are CAM's
    assert (
        rows["adl drop_rate"].status == "" and rows["adl gamma"].status == "DIFFERS"
    )  # 0.8 (wsl's earlier default), upstream 0.9
    assert rows["adl structure"].status == "" and rows["adl lr / wd"].status == "check"
    assert rows["adl structure"].ours == "after layer3.0, layer4.0, layer4.2"
    stages = _with(model__method="adl", model__method_kwargs={"placement": "stages"})
    assert {r.setting: r.status for r in recipe_rows(stages)}["adl structure"] == "DIFFERS"
    for variant, status in (("wsolevaluation", ""), ("wsl", "DIFFERS")):
        acol = _with(model__method="acol", model__method_kwargs={"variant": variant})
        assert {r.setting: r.status for r in recipe_rows(acol)}["acol structure"] == status
    has = {
        r.setting: r.status
        for r in recipe_rows(_with(model__method="has", model__method_kwargs={"grid_size": 4}))
    }
    assert has["has grid_size"] == "" and has["has drop_rate"] == "" and has["has grid_unit"] == ""
    cells = {
        r.setting: r.status
        for r in recipe_rows(_with(model__method="has", model__method_kwargs={"grid_unit": "cells"}))
    }
    assert cells["has grid_unit"] == "DIFFERS"


def test_errors_name_the_argument_and_the_choices():
    with pytest.raises(
        ValueError, match=r"model\.backbone: got 'vit_small_patch16_224'.*\['inception_v3', 're"
    ):
        recipe_rows(_with(model__backbone="vit_small_patch16_224"))
    with pytest.raises(
        ValueError, match=r"data\.data: got 'voc:/data/VOC'.*wsol:DATASET:ROOT.*'CUB', 'ILSVRC'"
    ):
        recipe_rows(_with(data__data="voc:/data/VOC"))
    with pytest.raises(ValueError, match=r"data\.data: got 'wsol:SYNTH:x'"):
        recipe_rows(_with(data__data="wsol:SYNTH:x"))
    with pytest.raises(
        ValueError, match=r"dataset: got 'VOC'; expected one of \['CUB', 'ILSVRC', 'OpenImages'\]"
    ):
        upstream_cell("VOC", "resnet50")
