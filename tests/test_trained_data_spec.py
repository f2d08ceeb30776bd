"""Issue 35 item 5: ``evaluate --ckpt`` without ``--data`` reads the data the checkpoint was trained on (its
data module's hyper-parameters, else its run's ``config.yaml``), or refuses in one ``error:`` line; it never
falls back to the synthetic set, which a model with the same class names would be scored on silently."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsl.commands.evaluate import main as evaluate_main
from wsl.jobs.evaluate import evaluate_from_checkpoint
from wsl.lit import WSLModule
from wsl.trained import TrainedModel

NAMES = ["cat", "dog", "bird"]


def _ckpt(run: Path, datamodule: dict | None) -> Path:
    """A checkpoint of a 3-class resnet18/GAP module, written by hand, in ``run/checkpoints``."""
    torch.manual_seed(0)
    module = WSLModule(num_classes=3, class_names=NAMES, backbone="resnet18", pool="gap")
    (run / "checkpoints").mkdir(parents=True)
    payload = {"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict()}
    if datamodule is not None:
        payload["datamodule_hyper_parameters"] = datamodule
    ckpt = run / "checkpoints" / "best.ckpt"
    torch.save(payload, ckpt)
    return ckpt


def _voc(root: Path) -> Path:
    """A two-image VOC set of the model's classes (``classes.txt`` declares them)."""
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "JPEGImages").mkdir()
    (root / "classes.txt").write_text("\n".join(NAMES) + "\n")
    for k, name in enumerate(("cat", "bird")):
        xml = (
            "<annotation><size><width>40</width><height>30</height><depth>3</depth></size><object>"
            f"<name>{name}</name><difficult>0</difficult><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>20</xmax>"
            "<ymax>25</ymax></bndbox></object></annotation>"
        )
        (root / "Annotations" / f"im{k}.xml").write_text(xml)
        pixels = np.random.default_rng(k).integers(0, 256, (30, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "JPEGImages" / f"im{k}.jpg")
    (root / "ImageSets" / "Main" / "test.txt").write_text("im0\nim1\n")
    return root


def test_the_checkpoint_s_data_module_gives_the_training_data(tmp_path):
    ckpt = _ckpt(tmp_path / "run", {"data": "voc:/data/VOC2007", "image_size": 48})
    model = TrainedModel.load(ckpt, device="cpu")
    assert model.data == "voc:/data/VOC2007"
    spec, note = model.data_spec(None)
    assert spec == "voc:/data/VOC2007" and note is not None and str(ckpt) in note
    assert model.data_spec("synthetic") == ("synthetic", None)


def test_the_run_s_config_yaml_gives_it_when_the_checkpoint_does_not(tmp_path):
    ckpt = _ckpt(tmp_path / "run", None)
    (tmp_path / "run" / "config.yaml").write_text("data:\n  data: coco:/data/coco\n  image_size: 48\n")
    assert TrainedModel.load(ckpt, device="cpu").data == "coco:/data/coco"


def test_without_a_record_no_dataset_is_guessed(tmp_path):
    ckpt = _ckpt(tmp_path / "run", {"image_size": 48})
    model = TrainedModel.load(ckpt, device="cpu")
    assert model.data is None
    with pytest.raises(ValueError, match=r"does not record the data it was trained on.*--data"):
        model.data_spec(None)


def test_evaluate_without_data_scores_the_training_data(tmp_path):
    root = _voc(tmp_path / "voc")
    ckpt = _ckpt(tmp_path / "run", {"data": f"voc:{root}", "image_size": 48})
    payload = evaluate_from_checkpoint(ckpt, batch_size=2, num_workers=0, device="cpu", progress=False)
    given = evaluate_from_checkpoint(
        ckpt, f"voc:{root}", batch_size=2, num_workers=0, device="cpu", progress=False
    )
    assert payload["data"] == f"voc:{root}"
    assert payload["results"] == given["results"]


def test_the_tool_refuses_in_one_error_line_when_the_checkpoint_records_no_data(tmp_path, capsys):
    ckpt = _ckpt(tmp_path / "run", {"image_size": 48})
    code = evaluate_main(["--ckpt", str(ckpt), "--device", "cpu", "--no-progress", "--num-workers", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error:") and "--data" in err[0]
    assert not (tmp_path / "run" / "evaluation_test.json").exists()
