"""configs/wsol/<dataset>/resnet50.yaml: wsolevaluation's recipe per cell, run on the real metadata.

Each shipped WSOL config goes through data setup, two training steps, validation and test on stand-in
images of the benchmark's real metadata (tests/wsol_metadata.py; skipped, naming the folder, where the
metadata is absent), on the CPU with ``--model.pretrained false`` and batch 2. Its recipe card has no
difference from wsolevaluation's recipe, and a changed value is flagged.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from wsol_metadata import require_wsol_metadata, write_standin

from wsl.cli import train
from wsl.data import WSOLDataset
from wsl.lit import WSLModule
from wsl.recipe import recipe_card, recipe_rows

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "wsol"

#: folder → (dataset, epochs, lr decay every, large_feature_map, head_init, base lr, monitor)
CELLS = {
    "cub": ("CUB", 50, 15, True, "default", 2.3222617e-4, "val/maxboxacc_v2"),
    "ilsvrc": ("ILSVRC", 10, 3, True, "pretrained_fc", 3.108411e-5, "val/maxboxacc_v2"),
    "openimages": ("OpenImages", 10, 3, False, "default", 1.07117324e-3, "val/pxap"),
}


def _config_here(name: str, tmp_path: Path) -> Path:
    """The shipped config of a cell (``tmp_path`` unused: kept so the call sites read the same)."""
    return CONFIGS / name / "resnet50.yaml"


def _printed(path: Path, capsys, *extra: str) -> dict:
    """``tools/train.py --config PATH --print_config``: parsed, nothing trained or read."""
    with pytest.raises(SystemExit):
        train(["--config", str(path), *extra, "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_config_states_the_cells_recipe(name):
    dataset, epochs, step, lfm, head_init, base, monitor = CELLS[name]
    config = yaml.safe_load((CONFIGS / name / "resnet50.yaml").read_text())
    model, data, trainer = config["model"], config["data"], config["trainer"]
    assert (model["backbone"], model["pretrained"], model["pool"], model["num_maps"], model["out_index"]) == (
        "resnet50.tv_in1k",
        True,
        "gap",
        1,
        -1,
    )
    assert (model["large_feature_map"], model["output_stride"], model["head_init"]) == (lfm, None, head_init)
    assert (model["optimizer"], model["scheduler"], model["step_epochs"], model["gamma"]) == (
        "sgd",
        "wsolevaluation",
        step,
        0.1,
    )
    assert model["backbone_lr"] == base and model["lr"] == pytest.approx(10 * base, rel=1e-12)
    assert (model["head_lr_stages"], model["weight_decay"], model["warmup_epochs"]) == (1, 1e-4, 0)
    assert (model["method"], model["protocol"], model["cam_curve_interval"]) == (
        "cam",
        "wsolevaluation",
        None,
    )
    assert (trainer["max_epochs"], trainer["check_val_every_n_epoch"], trainer["precision"]) == (
        epochs,
        1,
        "32-true",
    )
    assert (data["image_size"], data["batch_size"], data["augment"], data["single_label"]) == (
        224,
        32,
        "wsol",
        True,
    )
    assert data["data"] == f"wsol:{dataset}:dataset/{dataset}:metadata=metadata:num_val_sample_per_class=0"
    assert (config["checkpoint_select"], config["checkpoint_monitor"]) == ("last", monitor)
    text = (CONFIGS / name / "resnet50.yaml").read_text()
    assert "[unofficial] = public experiment script" in text and "issues #38/#60" in text  # sources named
    assert "main.py:337-340" in text and "resnet.py:73" in text


@pytest.mark.parametrize("name", sorted(CELLS))
def test_config_parses_through_the_training_cli(name, tmp_path, capsys):
    config = _printed(_config_here(name, tmp_path), capsys)
    assert config["model"]["scheduler"] == "wsolevaluation" and config["trainer"]["precision"] == "32-true"


@pytest.mark.parametrize("name", sorted(CELLS))
def test_config_runs_setup_two_steps_validation_and_test_on_the_real_metadata(name, tmp_path):
    dataset = CELLS[name][0]
    root, meta = write_standin(
        dataset, tmp_path / "images"
    )  # train 2, val 1, test 1 image per class, 2 classes
    args = ["--config", str(_config_here(name, tmp_path))]
    args += ["--data.data", f"wsol:{dataset}:{root}:metadata={meta}:num_val_sample_per_class=0"]
    args += ["--model.pretrained", "false", "--data.batch_size", "2", "--data.num_workers", "0"]
    args += [
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_train_batches",
        "2",
        "--trainer.accelerator",
        "cpu",
    ]
    args += ["--trainer.enable_progress_bar", "false", "--run_dir", str(tmp_path / "run")]
    if CELLS[name][4] == "pretrained_fc" and "head_init" in inspect.signature(WSLModule).parameters:
        # The ImageNet fc needs the ImageNet weights and 1000 classes: neither exists offline with 2 classes.
        args += ["--model.head_init", "default"]
    results = train(args)
    assert results["global_step"] == 2 and results["epochs"] == 1
    assert list(results["test_by_protocol"]) == ["wsolevaluation", "original"]
    scores = results["test_by_protocol"]["wsolevaluation"]
    key = "pxap" if dataset == "OpenImages" else "maxboxacc_v2"
    assert 0.0 <= scores[key] <= 1.0 and results["test"] == {**scores, "loss": results["test"]["loss"]}


def test_real_cub_val_has_a_class_with_3_images_and_k_5_names_it(tmp_path):
    metadata = require_wsol_metadata()
    with pytest.raises(
        ValueError,
        match=r"num_val_sample_per_class: class 58 \(059\.California_Gull\) has 3 image\(s\) in this split, "
        r"fewer than 5 \(1 class\(es\) have fewer\).*pass num_val_sample_per_class <= 3, or 0",
    ):
        WSOLDataset(
            f"CUB:{tmp_path}:metadata={metadata}:num_val_sample_per_class=5", "val", with_images=False
        )


@pytest.mark.parametrize("name", sorted(CELLS))
def test_recipe_card_of_each_shipped_config_has_no_difference(name):
    config = yaml.safe_load((CONFIGS / name / "resnet50.yaml").read_text())
    rows = recipe_rows(config)
    assert [r for r in rows if r.status] == []
    card = recipe_card(config, title=name)
    assert "0 difference(s) from wsolevaluation's recipe" in card


def test_print_recipe_flags_a_changed_lr_and_precision(tmp_path, capsys):
    path = _config_here("cub", tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        train(
            [
                "--config",
                str(path),
                "--print_recipe",
                "--model.lr",
                "0.01",
                "--trainer.precision",
                "bf16-mixed",
            ]
        )
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    lines = {line.split("  ")[0]: line for line in out.splitlines()}
    assert out.startswith(f"Recipe card: {path}")
    assert lines["lr, classifier group"].endswith("<- DIFFERS") and " 0.01 " in lines["lr, classifier group"]
    assert lines["precision"].endswith("<- DIFFERS") and "bf16-mixed" in lines["precision"]
    assert not lines["lr, base group"].endswith("DIFFERS") and not lines["epochs"].endswith("DIFFERS")
    assert not (tmp_path / "runs").exists() and not (REPO / "runs" / "wsol-CUB-gap").exists()


def test_no_reference_to_the_old_config_paths_is_left():
    old = ("configs/cub.yaml", "configs/ilsvrc.yaml", "configs/openimages.yaml")
    files = [REPO / "README.md", *(REPO / "docs").rglob("*.md"), *(REPO / "tools").glob("*.py")]
    files += [p for p in (REPO / "tests").rglob("*.py") if p.name != "test_wsol_configs.py"]
    assert [(str(f), o) for f in files for o in old if o in f.read_text()] == []
