"""The VGG16 and InceptionV3 cells of wsolevaluation's table and every method on a cell, run on stand-in
images of the benchmark's real metadata (configs/wsol/<dataset>/{vgg16,inception_v3}.yaml).

Each config states its cell's recipe (:data:`wsl.recipe.UPSTREAM_CELLS`: lr, weight decay,
``large_feature_map``, epochs, decay step) with no difference on its recipe card, and goes through data
setup, two training steps, validation and test on the CPU with ``--model.pretrained false``, batch 2 and
64 px images (the rules do not depend on the size; the ResNet50 cells run at 224 px in
tests/tools/test_wsol_configs.py). Each method (has, cutmix, adl, acol, spg; cam is the cells' own) runs on
at least one cell of each backbone it has upstream.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from wsol_metadata import write_standin

from wsl.cli import train
from wsl.recipe import UPSTREAM_CELLS, recipe_card, recipe_rows

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs" / "wsol"
DATASETS = {"cub": "CUB", "ilsvrc": "ILSVRC", "openimages": "OpenImages"}
#: architecture → (timm backbone, the CAM network's body class)
ARCHITECTURES = {
    "vgg16": ("vgg16.tv_in1k", "VGG16CAMBody"),
    "inception_v3": ("inception_v3.tv_in1k", "InceptionV3CAMBody"),
}
UPSTREAM_FILES = {"vgg16": "wsol/vgg.py", "inception_v3": "wsol/inception.py"}
NEW_CELLS = [(folder, arch) for folder in DATASETS for arch in ARCHITECTURES]


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    """dataset → (image root, metadata folder): train 2, val 1, test 1 image per class, 2 classes; written
    once per dataset for the whole module."""
    made: dict[str, tuple[Path, Path]] = {}

    def get(dataset: str) -> tuple[Path, Path]:
        if dataset not in made:
            made[dataset] = write_standin(dataset, tmp_path_factory.mktemp(dataset))
        return made[dataset]

    return get


def run_cell(folder: str, arch: str, tmp_path: Path, standins, *extra: str) -> dict:
    """tools/train.py on the shipped config with the stand-ins: 1 epoch of 2 steps, validation, test."""
    dataset = DATASETS[folder]
    root, meta = standins(dataset)
    args = ["--config", str(CONFIGS / folder / f"{arch}.yaml")]
    args += ["--data.data", f"wsol:{dataset}:{root}:metadata={meta}:num_val_sample_per_class=0"]
    args += ["--model.pretrained", "false", "--data.batch_size", "2", "--data.num_workers", "0"]
    args += ["--data.image_size", "64", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    args += ["--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false"]
    args += ["--run_dir", str(tmp_path / "run"), *extra]
    results = train(args)
    assert results["global_step"] == 2 and results["epochs"] == 1
    assert list(results["test_by_protocol"]) == ["wsolevaluation", "original"]
    key = "pxap" if dataset == "OpenImages" else "maxboxacc_v2"
    assert 0.0 <= results["test_by_protocol"]["wsolevaluation"][key] <= 1.0
    return results


def saved(tmp_path: Path) -> dict:
    return torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


@pytest.mark.parametrize("folder, arch", NEW_CELLS)
def test_the_config_states_the_cells_recipe_with_no_difference(folder, arch):
    path = CONFIGS / folder / f"{arch}.yaml"
    config = yaml.safe_load(path.read_text())
    model, data, trainer = config["model"], config["data"], config["trainer"]
    cell = UPSTREAM_CELLS[(DATASETS[folder], arch)]
    assert (model["backbone"], model["pretrained"], model["head_init"]) == (
        ARCHITECTURES[arch][0],
        True,
        "default",
    )
    assert model["large_feature_map"] is cell.large_feature_map is (arch == "inception_v3")
    assert model["backbone_lr"] == cell.lr and model["lr"] == pytest.approx(10 * cell.lr, rel=1e-12)
    assert (model["weight_decay"], model["head_lr_stages"], model["step_epochs"]) == (
        cell.weight_decay,
        1,
        cell.lr_decay_frequency,
    )
    assert (trainer["max_epochs"], trainer["precision"], data["batch_size"]) == (cell.epochs, "32-true", 32)
    assert [r for r in recipe_rows(config) if r.status] == []
    assert "0 difference(s) from wsolevaluation's recipe" in recipe_card(config)
    text = path.read_text()
    assert f"{cell.metric} {cell.published};" in text  # the published figure, beside its source
    assert "[unofficial] = public experiment script" in text and UPSTREAM_FILES[arch] in text


def test_a_vgg16_config_without_large_feature_map_is_flagged():
    """Without large_feature_map the backbone is timm's plain VGG16, not upstream's VGG16-CAM."""
    config = yaml.safe_load((CONFIGS / "cub" / "vgg16.yaml").read_text())
    config["model"]["large_feature_map"] = None
    flagged = {r.setting for r in recipe_rows(config) if r.status == "DIFFERS"}
    assert flagged == {"network", "feature map"}


@pytest.mark.parametrize("folder, arch", NEW_CELLS)
def test_each_cell_runs_setup_two_steps_validation_and_test(folder, arch, tmp_path, standins):
    run_cell(folder, arch, tmp_path, standins)
    hparams = saved(tmp_path)["hyper_parameters"]
    assert (hparams["backbone"], hparams["method"]) == (ARCHITECTURES[arch][0], "cam")
    assert hparams["large_feature_map"] is (arch == "inception_v3")


#: (method, its options, cell): each method on at least one cell, on VGG16 and InceptionV3 where upstream's
#: network exists in wsl (spg on ResNet50 runs in tests/methods/test_spg.py, cam is every cell's own).
METHOD_RUNS = [
    ("has", {}, ("cub", "vgg16")),
    ("cutmix", {}, ("openimages", "vgg16")),
    ("adl", {}, ("ilsvrc", "vgg16")),
    ("adl", {}, ("cub", "inception_v3")),
    ("acol", {}, ("openimages", "resnet50")),
    ("acol", {}, ("cub", "vgg16")),
    ("acol", {}, ("ilsvrc", "inception_v3")),
    ("spg", {}, ("cub", "vgg16")),
    ("spg", {}, ("ilsvrc", "inception_v3")),
]


@pytest.mark.parametrize(
    "method, options, cell", METHOD_RUNS, ids=[f"{m}-{'-'.join(c)}" for m, _, c in METHOD_RUNS]
)
def test_each_method_runs_on_a_cell(method, options, cell, tmp_path, standins):
    folder, arch = cell
    extra = [
        "--model.method",
        method,
        "--model.method_kwargs",
        yaml.safe_dump(options, default_flow_style=True),
    ]
    if (folder, arch) == ("ilsvrc", "resnet50"):
        extra += ["--model.head_init", "default"]  # the ImageNet fc needs 1000 classes
    run_cell(folder, arch, tmp_path, standins, *extra)
    checkpoint = saved(tmp_path)
    assert checkpoint["hyper_parameters"]["method"] == method
    keys = checkpoint["state_dict"]
    if method == "spg":
        assert any(k.startswith("net.spg_b_shared.") for k in keys)
    if method == "acol":
        assert any(k.startswith("net.head_b.") for k in keys)
        assert not any(k.startswith(("net.backbone.body.conv6.", "net.backbone.body.SPG_A3")) for k in keys)


def test_the_readme_lists_the_nine_cells_and_the_protocols_page_prints_two_current_cards():
    """The README's reproduction section: each cell's command beside its published figure; docs/protocols.md:
    the VGG16 and InceptionV3 cards as recipe_card prints them now (a changed card fails here)."""
    readme = (REPO / "README.md").read_text()
    protocols = (REPO / "docs" / "protocols.md").read_text()
    for (dataset, arch), cell in UPSTREAM_CELLS.items():
        folder = next(f for f, d in DATASETS.items() if d == dataset)
        command = f"`python tools/train.py --config configs/wsol/{folder}/{arch}.yaml`"
        assert f"{command} | {cell.metric} **{cell.published}** |" in readme
    for path in (CONFIGS / "cub" / "vgg16.yaml", CONFIGS / "ilsvrc" / "inception_v3.yaml"):
        title = str(path.relative_to(REPO))
        card = recipe_card(yaml.safe_load(path.read_text()), title=title)
        assert f"```text\n{card}```" in protocols
