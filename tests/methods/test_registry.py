"""The method registry, WSLModule's method plumbing, ``cam`` = today's training step, head_lr_stages."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from wsl.lit import WSLModule
from wsl.methods import METHODS, WSOLMethod, get_method, method_kwargs, register_method
from wsl.models import create_backbone


def test_the_registry_names_the_five_methods_in_order():
    assert list(METHODS)[:5] == ["cam", "has", "cutmix", "adl", "acol"]


def test_unknown_method_lists_the_choices_and_the_closest():
    with pytest.raises(ValueError, match=r"method: got 'cmm' \(did you mean 'cam'\?\); expected one of"):
        get_method("cmm")
    with pytest.raises(ValueError, match="method: got 'hass'"):
        WSLModule(num_classes=2, method="hass")


def test_unknown_method_option_lists_the_accepted_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown option\(s\) \['grd'\] for method 'has'.*accepted: "
        r"\['grid_size', 'drop_rate', 'grid_unit'\]",
    ):
        WSLModule(num_classes=2, method="has", method_kwargs={"grd": 4})
    with pytest.raises(ValueError, match="accepted: none"):
        get_method("cam", grid=3)


def test_register_method_refuses_duplicates_and_non_methods():
    with pytest.raises(ValueError, match="already registered"):
        register_method("cam")(type("X", (WSOLMethod,), {}))
    with pytest.raises(TypeError, match="WSOLMethod subclass"):
        register_method("x")(int)  # type: ignore[type-var]


@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_lists_its_options(name):
    kwargs = method_kwargs(name)
    assert isinstance(get_method(name), METHODS[name]) and "self" not in kwargs


def _todays_training_loss(module: WSLModule, batch: dict) -> torch.Tensor:
    # The training step before methods existed, written out: forward, BCE, pool regulariser.
    scores, _ = module(batch["image"])
    return (
        F.binary_cross_entropy_with_logits(scores.float(), batch["labels"])
        + module.net.pool.regularization_loss()
    )


def test_cam_training_step_is_bit_identical_to_the_plain_step():
    torch.manual_seed(0)
    module = WSLModule(num_classes=3, backbone="resnet18", pool="lse", method="cam")
    reference = copy.deepcopy(module)
    batch = {"image": torch.randn(2, 3, 64, 64), "labels": torch.tensor([[1.0, 0, 1], [0, 1, 0]])}
    loss = module.training_step(batch, 0)
    expected = _todays_training_loss(reference, batch)
    assert torch.equal(loss, expected)
    loss.backward()
    expected.backward()
    for (name, a), b in zip(module.net.named_parameters(), reference.net.parameters(), strict=True):
        assert torch.equal(a.grad, b.grad), name


def test_cam_is_the_default_and_old_hparams_without_method_build_the_same_net():
    hparams = dict(num_classes=3, backbone="resnet18", pool="gap")
    old, new = WSLModule(**hparams), WSLModule(**hparams, method="cam", method_kwargs={})
    assert old.hparams["method"] == "cam" and type(old.net) is type(new.net)
    assert old.net.state_dict().keys() == new.net.state_dict().keys()


@pytest.mark.parametrize("stages", [0, 1, 2, 4])
def test_head_lr_stages_puts_the_last_stages_in_the_head_group(stages):
    # resnet18 cut at out_index=3: stages act1 (stem conv1/bn1), layer1, layer2, layer3.
    module = WSLModule(
        num_classes=3, backbone="resnet18", out_index=3, head_lr_stages=stages, backbone_lr=1e-3
    )
    early, late = module.net.backbone.split_last_stages(stages)
    body = dict(module.net.backbone.body.named_parameters())
    late_names = {n for n, p in body.items() if any(p is q for q in late)}
    prefixes = {0: (), 1: ("layer3.",), 2: ("layer2.", "layer3."), 4: ("conv1.", "bn1.", "layer")}[stages]
    expected = {n for n in body if n.startswith(prefixes)}
    assert late_names == expected
    assert len(early) + len(late) == len(body)


def test_head_lr_stages_groups_and_their_learning_rates():
    module = WSLModule(
        num_classes=3,
        backbone="resnet18",
        out_index=3,
        head_lr_stages=1,
        lr=0.1,
        backbone_lr=0.01,
        scheduler="none",
    )
    optimizer = module.configure_optimizers()
    slow, fast = optimizer.param_groups
    named = {id(p): n for n, p in module.net.named_parameters()}
    assert (slow["lr"], fast["lr"]) == (0.01, 0.1)
    assert all(not named[id(p)].startswith(("backbone.body.layer3.", "head.")) for p in slow["params"])
    assert {named[id(p)].split(".")[2] for p in fast["params"] if named[id(p)].startswith("backbone.")} == {
        "layer3"
    }
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(named)


def test_head_lr_stages_beyond_the_stage_count_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"head_lr_stages=5 is out of range: backbone 'resnet18' has 4 feature stages.*use 0 … 4",
    ):
        WSLModule(num_classes=3, backbone="resnet18", out_index=3, head_lr_stages=5)
    with pytest.raises(ValueError, match="head_lr_stages must be an int >= 0"):
        WSLModule(num_classes=3, head_lr_stages=-1)


def test_split_last_stages_of_an_efficientnet_style_backbone_follows_its_blocks():
    backbone = create_backbone("lcnet_050", out_index=3)  # stage modules blocks.0 blocks.1 blocks.2 blocks.4
    _, late = backbone.split_last_stages(1)
    names = {n for n, p in backbone.body.named_parameters() if any(p is q for q in late)}
    assert names and {n.split(".")[1] for n in names} == {"3", "4"}
