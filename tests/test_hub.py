"""wsl.hub against a file-based stand-in of the Hub: uploads land in huggingface_hub's own cache layout, and
loading reads them back through the real ``snapshot_download`` with the network off."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from wsl.hub import from_pretrained, hub_name, prepare_folder, push_to_hub
from wsl.lit import WSLModule
from wsl.model_card import dataset_name, scores_of

hf = pytest.importorskip("huggingface_hub")

RESULTS = {
    "data": "wsol:CUB:data/CUB",
    "pool": "gap",
    "test": {"loss": 0.3, "top1_acc": 0.75, "maxboxacc": 0.625, "maxboxacc_threshold": 0.2},
    "test_by_protocol": {
        "wsolevaluation": {"top1_acc": 0.75, "maxboxacc": 0.625, "maxboxacc_threshold": 0.2, "pxap": None},
        "original": {"top1_acc": 0.75, "maxboxacc": 0.5},
    },
}


class LocalHub:
    """Stand-in for the Hub: ``upload_folder`` writes the snapshot where ``snapshot_download`` looks."""

    def __init__(self, cache: Path) -> None:
        self.cache, self.created = cache, []

    def create_repo(self, repo_id, private=False, exist_ok=False, repo_type=None):
        self.created.append((repo_id, private))

    def upload_folder(self, repo_id, folder_path, commit_message=None, repo_type=None):
        files = sorted(p for p in Path(folder_path).rglob("*") if p.is_file())
        commit = hashlib.sha1(b"".join(p.read_bytes() for p in files)).hexdigest()
        storage = self.cache / f"models--{repo_id.replace('/', '--')}"
        shutil.copytree(folder_path, storage / "snapshots" / commit)
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / "main").write_text(commit)
        return SimpleNamespace(commit_url=f"local://{repo_id}/commit/{commit}")


@pytest.fixture
def hub(tmp_path, monkeypatch):
    stand_in = LocalHub(tmp_path / "cache")
    monkeypatch.setattr(hf.HfApi, "create_repo", stand_in.create_repo)
    monkeypatch.setattr(hf.HfApi, "upload_folder", stand_in.upload_folder)

    def no_network(*args, **kwargs):
        raise AssertionError("the test touched the network")

    monkeypatch.setattr(hf.HfApi, "repo_info", no_network)
    return stand_in


def tiny_module() -> WSLModule:
    torch.manual_seed(0)
    return WSLModule(num_classes=3, class_names=["Fußball", "鸟", "car"], backbone="lcnet_050", pool="gap")


def test_a_pushed_model_loads_back_by_name_with_identical_scores_and_maps(hub, tmp_path):
    module = tiny_module().eval()
    picture = tmp_path / "sheet.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(picture)
    url = push_to_hub(module, "hf://me/tiny", results=RESULTS, picture=picture, private=True)
    assert url.startswith("local://me/tiny/commit/") and hub.created == [("me/tiny", True)]
    loaded = from_pretrained("hf://me/tiny", cache_dir=hub.cache, local_files_only=True)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected, got = module(images), loaded(images)
    assert torch.equal(expected[0], got[0]) and torch.equal(expected[1], got[1])
    assert loaded.class_names == ["Fußball", "鸟", "car"]
    assert sorted(p.name for p in loaded.hub_folder.iterdir()) == [
        "README.md",
        "cams.png",
        "config.json",
        "model.safetensors",
        "results.json",
    ]


def test_a_pushed_model_scores_the_same_on_a_test_split(hub, tmp_path):
    from wsl.data import WSLDataModule, make_synthetic
    from wsl.inference import evaluate_model

    sizes = {"num_train": 0, "num_val": 0, "num_test": 6, "image_size": 64}
    root = make_synthetic(tmp_path / "toy", "voc", progress=False, num_workers=0, **sizes)
    data = WSLDataModule(data=f"voc:{root}", image_size=64, batch_size=3, num_workers=0)
    module = WSLModule(num_classes=data.num_classes, class_names=data.class_names).eval()
    push_to_hub(module, "me/scores")
    loaded = from_pretrained("hf://me/scores", cache_dir=hub.cache, local_files_only=True)
    before = evaluate_model(module, data.dataloader("test"), progress=False)
    after = evaluate_model(loaded, data.dataloader("test"), progress=False)
    assert json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)  # NaN-safe
    assert "maxboxacc" in after


def test_the_model_card_carries_the_test_metrics_and_the_picture(hub, tmp_path):
    push_to_hub(tiny_module(), "me/card", results=RESULTS)
    folder = from_pretrained("me/card", cache_dir=hub.cache, local_files_only=True).hub_folder
    text = (folder / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["library_name"] == "wsol-lightning" and front["datasets"] == ["CUB"]
    assert front["metrics"] == ["maxboxacc", "top1_acc"]  # no loss, no threshold, no null score
    assert {"gap", "lcnet_050", "weakly-supervised-object-localization"} <= set(front["tags"])
    results = front["model-index"][0]["results"]
    assert [r["dataset"]["name"] for r in results] == ["CUB (wsolevaluation frame)", "CUB (original frame)"]
    assert results[0]["metrics"][1] == {"type": "maxboxacc", "value": 62.5, "name": "maxboxacc (%)"}
    assert "| wsolevaluation | 62.50 | 75.00 |" in text and "| original | 50.00 | 75.00 |" in text
    assert 'from_pretrained("hf://me/card")' in text and "Fußball, 鸟, car" in text
    assert "[wsol-lightning](https://pypi.org/project/wsol-lightning/)" in text
    assert "cams.png" not in text  # no picture given


def test_offline_mode_reads_the_cache_without_local_files_only(hub, monkeypatch):
    push_to_hub(tiny_module(), "me/offline")
    monkeypatch.setattr(hf.constants, "HF_HUB_OFFLINE", True)
    module = from_pretrained("hf-hub:me/offline", cache_dir=hub.cache)
    assert module.pretrained_config["class_names"] == ["Fußball", "鸟", "car"]


def test_a_model_missing_from_the_cache_offline_is_one_error(hub):
    with pytest.raises(ValueError, match=r"hf://me/absent: not in the Hugging Face cache .*once online"):
        from_pretrained("hf://me/absent", cache_dir=hub.cache, local_files_only=True)


def test_a_local_folder_loads_without_the_hub(tmp_path):
    folder = prepare_folder(tiny_module(), tmp_path / "m", "me/local", results=RESULTS)
    assert (folder / "results.json").is_file()
    again = prepare_folder(folder, tmp_path / "copy", "me/local")  # a save_pretrained folder as the source
    assert from_pretrained(again).pretrained_config["class_names"][1] == "鸟"


def test_without_huggingface_hub_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    with pytest.raises(ImportError, match=r'pip install "wsol-lightning\[hub\]"'):
        from_pretrained("hf://me/x")


@pytest.mark.parametrize("name", ["hf://me", "hf://a/b/c", "hf-hub:/x"])
def test_malformed_names_are_refused(name):
    with pytest.raises(ValueError, match=r"expected hf://user/repo"):
        hub_name(name)


def test_a_source_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"neither a checkpoint file nor a save_pretrained folder"):
        prepare_folder(str(tmp_path), tmp_path / "out", "me/x")


def test_scores_and_dataset_names_from_results():
    assert scores_of({"test": {"map": 0.5, "loss": 1.0}}) == {"original": {"map": 0.5}}
    assert scores_of(None) == {} and dataset_name("coco:data/coco14") == "coco14"


def test_a_run_trained_with_an_optimizer_class_is_pushed_from_its_ckpt(hub, tmp_path, synthetic_voc_root):
    """The whole path: LightningCLI with model.optimizer as a class, its checkpoint, the Hub and back."""
    from tiny_training import reproducible_tiny_args

    from wsl.checkpoint import load_module
    from wsl.cli import train

    run = tmp_path / "run"
    optimizer = ["--model.optimizer", "torch.optim.SGD", "--model.optimizer.momentum", "0.9"]
    results = train(reproducible_tiny_args(synthetic_voc_root, run, *optimizer))
    ckpt = run / "checkpoints" / "last.ckpt"
    assert load_module(ckpt).hparams["optimizer"]["class_path"] == "torch.optim.SGD"
    push_to_hub(ckpt, "me/run")
    loaded = from_pretrained("hf://me/run", cache_dir=hub.cache, local_files_only=True)
    card = (loaded.hub_folder / "README.md").read_text(encoding="utf-8")
    assert f"| original | {100 * results['test']['map']:.2f} |" in card
    images = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_module(ckpt).eval()(images)[1], loaded(images)[1])
