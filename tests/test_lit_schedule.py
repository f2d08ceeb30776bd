"""WSLModule's ``wsolevaluation`` learning-rate schedule and parameter groups against upstream's rule.

The reference is wsolevaluation's ``main.py`` (commit 96f4b88) written out here on its own: before the
1-based epoch E trains, ``adjust_learning_rate(E)`` multiplies every group's lr by 0.1 when
``E != 0 and E % lr_decay_frequency == 0``; the groups are ``lr`` for every parameter outside ``layer4.`` and
``fc.`` and ``lr * lr_classifier_ratio`` for those inside (ResNet).
"""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch

from wsl.lit import WSLModule


def upstream_lrs(base: float, ratio: float, epochs: int, frequency: int) -> list[tuple[float, float]]:
    """(features lr, classifier lr) during each 1-based epoch 1..epochs, by upstream's loop."""
    lrs, groups = [], [base, base * ratio]
    for epoch in range(1, epochs + 1):  # main.py: for epoch in range(epochs): adjust_learning_rate(epoch + 1)
        if epoch != 0 and epoch % frequency == 0:
            groups = [lr * 0.1 for lr in groups]
        lrs.append((groups[0], groups[1]))
    return lrs


def _module(step_epochs: int, scheduler: str = "wsolevaluation") -> WSLModule:
    # resnet18 cut after layer4 (out_index=4) stands for ResNet50: the same stage names, cheaper.
    return WSLModule(
        num_classes=3,
        backbone="resnet18",
        out_index=4,
        pool="gap",
        head_lr_stages=1,
        backbone_lr=1e-3,
        lr=1e-2,
        optimizer="sgd",
        scheduler=scheduler,
        step_epochs=step_epochs,
        gamma=0.1,
        single_label=True,
        channels_last=False,
    )


class _RecordLR(pl.Callback):
    def __init__(self) -> None:
        self.lrs: list[tuple[float, ...]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.lrs.append(tuple(g["lr"] for g in trainer.optimizers[0].param_groups))


class _CheapStep(WSLModule):
    """The scheduler under test is configure_optimizers'; a loss on the head alone keeps each epoch cheap."""

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return sum(p.sum() for p in self.net.head.parameters()) * 0.0


@pytest.mark.parametrize(("epochs", "frequency"), [(10, 3)])
def test_every_group_follows_upstreams_rule_at_every_epoch_under_lightning(epochs, frequency, cpu_fit):
    module = _CheapStep(**_module(frequency).hparams)
    batch = {"image": torch.zeros(1, 3, 8, 8), "labels": torch.eye(3)[:1]}
    record = _RecordLR()
    # One batch per epoch; the scheduler is stepped by Lightning itself after each epoch.
    cpu_fit(module, [batch], max_epochs=epochs, callbacks=[record])
    expected = upstream_lrs(1e-3, 10.0, epochs, frequency)
    assert len(record.lrs) == epochs
    for epoch, (got, want) in enumerate(zip(record.lrs, expected, strict=True), start=1):
        assert got == pytest.approx(want, rel=1e-12), f"epoch {epoch}"


@pytest.mark.parametrize(("epochs", "frequency"), [(10, 3), (50, 15)])
def test_every_group_follows_upstreams_rule_when_stepped_once_per_epoch(epochs, frequency):
    # What Lightning does with an ``interval: epoch`` scheduler: one scheduler.step() after each epoch.
    config = _module(frequency).configure_optimizers()
    assert (config["lr_scheduler"]["interval"], config["lr_scheduler"].get("frequency", 1)) == ("epoch", 1)
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(epochs):
        lrs.append(tuple(g["lr"] for g in optimizer.param_groups))
        optimizer.step()
        scheduler.step()
    expected = upstream_lrs(1e-3, 10.0, epochs, frequency)
    for epoch, (got, want) in enumerate(zip(lrs, expected, strict=True), start=1):
        assert got == pytest.approx(want, rel=1e-12), f"epoch {epoch}"


def test_the_classifier_group_is_layer4_and_the_head():
    module = _module(3)
    features, classifier = module.configure_optimizers()["optimizer"].param_groups
    named = {id(p): n for n, p in module.net.named_parameters()}
    # upstream: a parameter is a classifier parameter iff its name contains 'layer4.' or 'fc.'
    assert {named[id(p)] for p in classifier["params"]} == {
        n for n in named.values() if "layer4." in n or n.startswith("head.")
    }
    assert all("layer4." not in named[id(p)] for p in features["params"])
    assert (features["lr"], classifier["lr"]) == (1e-3, 1e-2)


def test_step_is_torchs_steplr_one_epoch_later_than_upstream():
    module = _module(3, scheduler="step")
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    # StepLR(3): 1e-3 for 1-based epochs 1-3, decayed before epochs 4, 7, 10 (upstream: 3, 6, 9).
    expected = [1e-3] * 3 + [1e-4] * 3 + [1e-5] * 3 + [1e-6]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert [lr for lr, _ in upstream_lrs(1e-3, 10.0, 10, 3)] == pytest.approx(
        [1e-3] * 2 + [1e-4] * 3 + [1e-5] * 3 + [1e-6] * 2, rel=1e-12
    )


@pytest.mark.parametrize("bad", [0, -3, 1.5, True])
def test_step_epochs_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match=rf"^step_epochs: got {bad!r}; expected an int in \[1, inf\)"):
        WSLModule(num_classes=3, step_epochs=bad)
