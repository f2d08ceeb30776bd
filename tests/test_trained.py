"""wsl.trained.TrainedModel: one loader for a checkpoint, a save_pretrained folder or a module, and what it
answers (classes, single-label, image size, threshold, precision, data module)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from wsl.lit import WSLModule
from wsl.runs import DEFAULT_IMAGE_SIZE, DEFAULT_THRESHOLD
from wsl.serving import save_pretrained
from wsl.trained import TrainedModel, autocast_for, autocast_note

NAMES = ["cat", "dog", "bird"]


def _module(**kwargs) -> WSLModule:
    torch.manual_seed(0)
    return WSLModule(num_classes=3, class_names=NAMES, backbone="resnet18", pool="gap", **kwargs)


def _run(
    tmp_path: Path, precision: str | None = "32-true", results: dict | None = None, size: int = 48
) -> Path:
    """A run folder as tools/train.py leaves it, the checkpoint written by hand."""
    module = _module()
    (tmp_path / "checkpoints").mkdir()
    payload = {
        "hyper_parameters": dict(module.hparams),
        "state_dict": module.state_dict(),
        "datamodule_hyper_parameters": {"image_size": size},
    }
    if precision is not None:
        payload["precision"] = precision
    ckpt = tmp_path / "checkpoints" / "best.ckpt"
    torch.save(payload, ckpt)
    if results is not None:
        (tmp_path / "results.json").write_text(json.dumps(results))
    return ckpt


def test_a_checkpoint_gives_its_run_s_threshold_size_classes_and_precision(tmp_path):
    ckpt = _run(tmp_path, "bf16-mixed", {"test": {"maxboxacc_threshold": 0.37}}, size=48)
    model = TrainedModel.load(ckpt, device="cpu", threshold="best")
    assert model.class_names == NAMES
    assert model.single_label is False
    assert model.threshold == 0.37
    assert model.image_size == 48
    assert model.precision == "bf16-mixed"
    assert model.source == str(ckpt)
    assert model.notes == [
        f"threshold 0.370 (best MaxBoxAcc) from {tmp_path / 'results.json'}",
        "image size 48 from the checkpoint",
    ]
    assert model.name == "gap / resnet18"
    assert model.frame == "original"
    assert not model.net.training
    # The weights are the checkpoint's.
    reference = _module()
    for name, value in reference.net.state_dict().items():
        assert torch.equal(model.net.state_dict()[name], value), name


def test_given_values_win_and_none_leaves_the_threshold_unresolved(tmp_path):
    ckpt = _run(tmp_path, results={"test": {"maxboxacc_threshold": 0.37}})
    model = TrainedModel.load(ckpt, device="cpu", image_size=80, threshold=0.25)
    assert (model.image_size, model.threshold, model.notes) == (80, 0.25, [])
    assert TrainedModel.load(ckpt, device="cpu", image_size=80).threshold is None


def test_a_run_without_results_falls_back_to_the_default_threshold_with_a_note(tmp_path):
    model = TrainedModel.load(_run(tmp_path), device="cpu", threshold="best")
    assert model.threshold == DEFAULT_THRESHOLD
    assert model.notes[0].startswith("note: no results.json in")


def test_a_save_pretrained_folder_gives_its_config_s_values(tmp_path):
    folder = save_pretrained(_module(), tmp_path / "pretrained", image_size=56, threshold=0.3)
    model = TrainedModel.load(folder, device="cpu", threshold="best")
    assert (model.threshold, model.image_size, model.class_names) == (0.3, 56, NAMES)
    assert model.notes == [
        "threshold 0.300 from the model's config.json",
        "image size 56 from the model's config.json",
    ]
    assert model.precision is None


def test_a_module_in_memory(tmp_path):
    module = _module(single_label=True)
    model = TrainedModel.load(module, device="cpu", threshold="auto")
    assert model.single_label is True
    assert model.threshold == DEFAULT_THRESHOLD
    assert model.image_size == DEFAULT_IMAGE_SIZE
    assert model.notes == [
        f"note: no threshold given; using {DEFAULT_THRESHOLD}",
        f"note: training image size unknown; using {DEFAULT_IMAGE_SIZE}",
    ]
    assert model.net is module.net
    plain = TrainedModel.load(module.net, device="cpu", image_size=32)
    assert plain.class_names == ["0", "1", "2"]  # a plain network knows only its number of classes


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": "best"}, r"threshold='best' needs the run's results.json"),
        ({"threshold": 1.5}, r"threshold must be in \[0, 1\)"),
        ({"threshold": "x"}, r"threshold must be 'best' or a number in \[0, 1\); got 'x'"),
        ({"threshold": True}, r"threshold must be 'best', a number in \[0, 1\) or None; got True"),
        ({"threshold": [0.5]}, r"threshold must be 'best', a number in \[0, 1\) or None; got \[0.5\]"),
        ({"image_size": 0}, r"image_size must be a positive int or None; got 0"),
        ({"image_size": True}, r"image_size must be a positive int or None; got True"),
        (
            {"device": "tpu"},
            r"device: got 'tpu' .*; expected one of \['cpu', 'cuda', 'cuda:N', 'mps', 'mps:N', 'auto'\]",
        ),
    ],
)
def test_bad_arguments_are_errors_that_name_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainedModel.load(_module(), **{"device": "cpu", **kwargs})


def test_a_missing_checkpoint_and_a_module_without_classes_are_errors(tmp_path):
    with pytest.raises(ValueError, match=r"checkpoint .*missing.ckpt' does not exist"):
        TrainedModel.load(tmp_path / "missing.ckpt", device="cpu")
    with pytest.raises(ValueError, match=r"model: cannot tell its classes"):
        TrainedModel.load(torch.nn.Conv2d(3, 3, 1), device="cpu", image_size=8)


def test_autocast_is_the_training_precision(tmp_path):
    model = TrainedModel.load(_run(tmp_path, "bf16-mixed"), device="cpu", threshold=0.5)
    a = torch.ones(2, 2)
    with model.autocast():
        assert (a @ a).dtype == torch.bfloat16
    assert model.autocast_note == (
        "note: evaluating under cpu bfloat16 autocast, the training precision (bf16-mixed) stored in the "
        "checkpoint"
    )
    with autocast_for("32-true", "cpu"):
        assert (a @ a).dtype == torch.float32
    with autocast_for(None, "cpu"):
        assert (a @ a).dtype == torch.float32
    assert autocast_note("32-true", "cpu") is None and autocast_note(None, "cpu") is None


def test_the_predictor_keeps_the_autocast_note_with_the_model_s_notes(tmp_path, caplog):
    from wsl.jobs.predict.core import Predictor

    caplog.set_level(logging.INFO, logger="wsl")
    model = TrainedModel.load(_run(tmp_path, "bf16-mixed"), device="cpu", threshold=0.5)
    assert Predictor.of(model).notes == [*model.notes, model.autocast_note]
    (tmp_path / "fp32").mkdir()
    fp32 = TrainedModel.load(_run(tmp_path / "fp32"), device="cpu", threshold=0.5)
    assert fp32.autocast_note is None and Predictor.of(fp32).notes == fp32.notes
    assert caplog.messages == []  # returned for the job to log, not logged here


def test_probabilities_are_softmax_for_single_label_else_sigmoid():
    logits = torch.tensor([[0.0, math.log(3.0)]])
    multi = TrainedModel.load(_module(), device="cpu", image_size=32)
    single = TrainedModel.load(_module(single_label=True), device="cpu", image_size=32)
    assert multi.probabilities(logits)[0].tolist() == pytest.approx([0.5, 0.75])
    assert single.probabilities(logits)[0].tolist() == pytest.approx([0.25, 0.75])


def test_inputs_go_to_the_device_in_the_training_memory_format():
    images = torch.rand(2, 3, 8, 8)
    nhwc = TrainedModel.load(_module(channels_last=True), device="cpu", image_size=8).inputs(images)
    nchw = TrainedModel.load(_module(channels_last=False), device="cpu", image_size=8).inputs(images)
    assert nhwc.is_contiguous(memory_format=torch.channels_last) and torch.equal(nhwc, images)
    assert nchw.is_contiguous() and torch.equal(nchw, images)


def test_the_data_module_reads_the_model_s_classes_in_the_model_s_order(synthetic_voc_root):
    dataset = (synthetic_voc_root / "classes.txt").read_text().split()
    order = list(reversed(dataset))
    module = WSLModule(num_classes=len(order), class_names=order, backbone="resnet18", pool="gap")
    model = TrainedModel.load(module, device="cpu", image_size=64)
    dm = model.datamodule(f"voc:{synthetic_voc_root}", batch_size=2, num_workers=0)
    assert list(dm.class_names) == order
    assert dm.image_size == 64
    declared = model.datamodule(f"voc:{synthetic_voc_root}", dataset, batch_size=2, num_workers=0)
    assert list(declared.class_names) == order


def test_the_data_module_refuses_other_classes(synthetic_voc_root):
    model = TrainedModel.load(_module(), device="cpu", image_size=64)
    with pytest.raises(ValueError, match=r"the checkpoint was trained on classes \['cat', 'dog', 'bird'\]"):
        model.datamodule(f"voc:{synthetic_voc_root}", batch_size=2, num_workers=0)
    with pytest.raises(ValueError, match=r"class_names \['a'\] are not the checkpoint's classes"):
        model.datamodule(f"voc:{synthetic_voc_root}", ["a"], batch_size=2, num_workers=0)
