"""wsl.lit: the numeric options are validated, and a non-finite training loss stops the run."""

from __future__ import annotations

import math

import pytest
import torch

from wsl.lit import TrainingDiverged, WSLModule, check_finite_loss, check_options

BAD_OPTIONS = [
    ({"lr": -1.0}, r"lr: got -1\.0; expected a finite number in \(0, inf\)"),
    ({"lr": 0.0}, r"lr: got 0\.0; expected a finite number in \(0, inf\)"),
    ({"lr": math.nan}, r"lr: got nan"),
    ({"lr": math.inf}, r"lr: got inf"),
    ({"backbone_lr": -1e-3}, r"backbone_lr: got -0\.001; expected a finite number in \[0, inf\) or None"),
    ({"weight_decay": -0.1}, r"weight_decay: got -0\.1; expected a finite number in \[0, inf\)"),
    ({"warmup_epochs": -1.0}, r"warmup_epochs: got -1\.0"),
    ({"step_epochs": 0}, r"step_epochs: got 0; expected an int in \[1, inf\)"),
    ({"step_epochs": 2.5}, r"step_epochs: got 2\.5; expected an int"),
    ({"gamma": 0.0}, r"gamma: got 0\.0; expected a finite number in \(0, 1\]"),
    ({"gamma": 1.5}, r"gamma: got 1\.5; expected a finite number in \(0, 1\]"),
    ({"num_maps": 0}, r"num_maps: got 0; expected an int in \[1, inf\)"),
    ({"num_classes": 0, "class_names": None}, r"num_classes: got 0"),
    (
        {"cam_curve_interval": 1.0},
        r"cam_curve_interval: got 1\.0; expected a finite number in \(0, 1\) or None",
    ),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS)
def test_a_bad_numeric_option_is_a_value_error_naming_it(options, message):
    with pytest.raises(ValueError, match=message):
        WSLModule(**options)


def test_the_edges_of_the_ranges_are_accepted():
    check_options(lr=1e-9, backbone_lr=0.0, weight_decay=0.0, warmup_epochs=0.0, step_epochs=1, gamma=1.0)
    check_options(backbone_lr=None, cam_curve_interval=None)


def test_backbone_lr_zero_freezes_the_backbone_instead_of_meaning_lr():
    module = WSLModule(backbone="resnet18", lr=0.1, backbone_lr=0.0, scheduler="none")
    optimizer = module.configure_optimizers()
    assert [group["lr"] for group in optimizer.param_groups] == [0.0, 0.1]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_raises_naming_the_step_the_value_and_the_fixes(value):
    with pytest.raises(
        TrainingDiverged,
        match=rf"loss is {value} at step 7 \(epoch 2\).*--model\.lr 0\.02.*"
        r"--model\.lr 0\.002.*gradient_clip_val",
    ):
        check_finite_loss(torch.tensor(value), step=7, epoch=2, lr=0.02)


def test_a_finite_loss_passes_and_any_process_that_diverged_stops_every_process():
    check_finite_loss(torch.tensor(3.0), step=0, epoch=0, lr=1.0)
    # This process is finite, another one is not: the reduced decision stops this one too.
    with pytest.raises(TrainingDiverged):
        check_finite_loss(torch.tensor(3.0), 0, 0, 1.0, world_size=2, reduce=lambda bad: True)


def test_the_training_step_refuses_a_nan_loss_before_the_backward_pass():
    module = WSLModule(num_classes=2, backbone="resnet18", pool="gap")
    with torch.no_grad():
        next(module.net.parameters()).fill_(math.nan)
    batch = {"image": torch.randn(2, 3, 32, 32), "labels": torch.tensor([[1.0, 0.0], [0.0, 1.0]])}
    with pytest.raises(TrainingDiverged, match="loss is nan at step 0"):
        module.training_step(batch, 0)
