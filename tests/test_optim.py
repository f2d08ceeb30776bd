"""model.optimizer / model.scheduler: wsl's named recipes and any torch class (wsl.optim), same numbers."""

from __future__ import annotations

import functools

import pytest
import torch
import yaml
from jsonargparse import ArgumentParser, Namespace

from wsl.cli import check_no_global_optimizer
from wsl.lit import WSLModule
from wsl.optim import OPTIMIZERS, SCHEDULERS, describe_spec
from wsl.registry import Registry

TINY = {"num_classes": 3, "backbone": "lcnet_050", "pool": "gap", "channels_last": False}

SGD_CLASS = """
optimizer:
  class_path: torch.optim.SGD
  init_args: {momentum: 0.9, nesterov: true}
scheduler:
  class_path: torch.optim.lr_scheduler.StepLR
  init_args: {step_size: 2, gamma: 0.5}
"""
SGD_NAMED = {"optimizer": "sgd", "scheduler": "step", "step_epochs": 2, "gamma": 0.5}
COMMON = {**TINY, "lr": 0.05, "backbone_lr": 0.01, "head_lr_stages": 1, "weight_decay": 1e-3}


def from_config(text: str, **values) -> WSLModule:
    """WSLModule built the way LightningCLI builds it: jsonargparse over its signature, from YAML."""
    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(WSLModule, "model", fail_untyped=False)
    config = parser.parse_object({"model": {**yaml.safe_load(text), **values}})
    return parser.instantiate(config).model


def fit_three_steps(cpu_fit, module: WSLModule) -> list[torch.Tensor]:
    """Three epochs of one step each, so that the per-epoch StepLR (step_size 2) acts before the third."""
    torch.manual_seed(1)
    cpu_fit(module, [{"image": torch.randn(2, 3, 32, 32), "labels": torch.eye(3)[[0, 2]]}], max_epochs=3)
    return [p.detach().clone() for p in module.parameters()]


def group_settings(optimizer: torch.optim.Optimizer) -> list[dict]:
    return [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]


def test_named_sgd_and_its_class_path_give_the_same_groups_and_the_same_weights_after_three_steps(cpu_fit):
    torch.manual_seed(0)
    named = WSLModule(**COMMON, **SGD_NAMED)
    torch.manual_seed(0)
    classed = from_config(SGD_CLASS, **COMMON)
    assert all(torch.equal(a, b) for a, b in zip(named.parameters(), classed.parameters(), strict=True))
    opt_named = named.configure_optimizers()["optimizer"]
    opt_classed = classed.configure_optimizers()["optimizer"]
    assert type(opt_classed) is torch.optim.SGD
    assert group_settings(opt_named) == group_settings(opt_classed)
    assert [g["lr"] for g in opt_classed.param_groups] == [0.01, 0.05]  # backbone, head
    for a, b in zip(opt_named.param_groups, opt_classed.param_groups, strict=True):
        assert [p.shape for p in a["params"]] == [p.shape for p in b["params"]]
    after_named, after_classed = fit_three_steps(cpu_fit, named), fit_three_steps(cpu_fit, classed)
    assert all(torch.equal(a, b) for a, b in zip(after_named, after_classed, strict=True))


def test_three_steps_move_the_weights_so_the_equality_above_is_not_vacuous(cpu_fit):
    torch.manual_seed(0)
    module = WSLModule(**COMMON, **SGD_NAMED)
    before = [p.detach().clone() for p in module.parameters()]
    after = fit_three_steps(cpu_fit, module)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_any_optimizer_class_gets_wsls_per_group_learning_rates():
    rmsprop = functools.partial(torch.optim.RMSprop, alpha=0.9)
    module = WSLModule(**COMMON, optimizer=rmsprop, scheduler="none")
    optimizer = module.configure_optimizers()
    assert type(optimizer) is torch.optim.RMSprop
    settings = [(g["lr"], g["weight_decay"], g["alpha"]) for g in optimizer.param_groups]
    assert settings == [(0.01, 1e-3, 0.9), (0.05, 1e-3, 0.9)]


def test_a_scheduler_class_steps_per_epoch_and_plateau_watches_val_loss():
    step = WSLModule(**TINY, scheduler=functools.partial(torch.optim.lr_scheduler.StepLR, step_size=3))
    config = step.configure_optimizers()["lr_scheduler"]
    assert type(config["scheduler"]) is torch.optim.lr_scheduler.StepLR and config["interval"] == "epoch"
    plateau = WSLModule(**TINY, scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau)
    config = plateau.configure_optimizers()["lr_scheduler"]
    assert config["monitor"] == "val/loss" and config["strict"] is False


def test_a_callable_is_stored_as_plain_data_and_rebuilds():
    module = WSLModule(**TINY, optimizer=functools.partial(torch.optim.SGD, momentum=0.5), scheduler="none")
    stored = module.hparams["optimizer"]
    assert stored == {"class_path": "torch.optim.sgd.SGD", "init_args": {"momentum": 0.5}}
    rebuilt = WSLModule(**dict(module.hparams))
    optimizer = rebuilt.configure_optimizers()
    assert type(optimizer) is torch.optim.SGD and optimizer.param_groups[0]["momentum"] == 0.5


def test_the_cli_config_is_what_the_hyperparameters_hold():
    module = from_config(SGD_CLASS, **TINY)
    assert describe_spec(module.hparams["scheduler"])["class_path"].endswith("StepLR")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"optimizer": "adam"}, r"model.optimizer: got 'adam' .*; expected one of \['adamw', 'sgd'\]"),
        ({"scheduler": "linear"}, r"model.scheduler: got 'linear'; expected one of .*lr_scheduler.StepLR"),
        ({"optimizer": {"class_path": "torch.optim.Nope"}}, r"class_path 'torch.optim.Nope' does not name"),
        ({"optimizer": {"init_args": {}}}, r"model.optimizer: got .*expected a name or \{class_path"),
        ({"optimizer": 3}, r"model.optimizer: got 3; expected a name"),
        (
            {"optimizer": functools.partial(torch.optim.SGD, lr=0.3)},
            r"model.optimizer.init_args.lr: got 0.3; .*from model.lr \(head\) and model.backbone_lr",
        ),
        (
            {"optimizer": functools.partial(torch.optim.AdamW, weight_decay=0.05)},
            r"model.optimizer.init_args.weight_decay: got 0.05; .*from model.weight_decay: set that instead",
        ),
    ],
)
def test_bad_specs_name_the_field_and_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WSLModule(**TINY, **kwargs)


@pytest.mark.parametrize(
    ("field", "name", "closest", "names"),
    [
        ("optimizer", "adam", "adamw", ["adamw", "sgd"]),
        ("scheduler", "cosin", "cosine", ["cosine", "none", "step", "wsolevaluation"]),
        ("scheduler", "wsol_evaluation", "wsolevaluation", ["cosine", "none", "step", "wsolevaluation"]),
    ],
)
def test_a_wrong_name_gets_the_registrys_error_naming_the_closest_name(field, name, closest, names):
    example = "torch.optim.Adam" if field == "optimizer" else "torch.optim.lr_scheduler.StepLR"
    with pytest.raises(ValueError) as error:
        WSLModule(**TINY, **{field: name})
    assert str(error.value) == (
        f"model.{field}: got {name!r} (did you mean {closest!r}?); expected one of {names} or a class: "
        f"{{class_path: {example}, init_args: {{...}}}}"
    )


def test_the_named_recipes_are_registries_in_their_documented_order():
    assert OPTIMIZERS.names() == ["adamw", "sgd"]
    assert SCHEDULERS.names() == ["cosine", "step", "wsolevaluation", "none"]
    assert isinstance(OPTIMIZERS, Registry) and isinstance(SCHEDULERS, Registry)


def test_an_lr_equal_to_the_class_default_is_accepted():
    """jsonargparse fills every init_arg, ``lr`` included, with the class's default."""
    module = from_config("optimizer: {class_path: torch.optim.AdamW}", **TINY)
    assert type(module.optimizer_spec(torch.nn.Linear(1, 1).parameters())) is torch.optim.AdamW


@pytest.mark.parametrize("key", ["optimizer", "lr_scheduler"])
def test_lightningclis_top_level_optimizer_is_refused_with_the_model_flag(key):
    check_no_global_optimizer(Namespace(optimizer=None, lr_scheduler=None))
    config = Namespace(optimizer=None, lr_scheduler=None)
    config[key] = Namespace(class_path="torch.optim.SGD")
    with pytest.raises(ValueError, match=rf"--{key} .*would drop wsl's backbone/head .*--model"):
        check_no_global_optimizer(config)


def test_the_recipe_card_shows_a_class_spec_with_its_arguments():
    from wsl.recipe import recipe_card

    model = {
        "backbone": "resnet50",
        "optimizer": {"class_path": "torch.optim.SGD", "init_args": {"momentum": 0.9, "foreach": None}},
        "scheduler": {"class_path": "torch.optim.lr_scheduler.StepLR", "init_args": {"step_size": 3}},
    }
    card = recipe_card({"model": model, "data": {"data": "wsol:CUB:x"}})
    assert "torch.optim.SGD(momentum=0.9)" in card
    assert "torch.optim.lr_scheduler.StepLR(step_size=3)" in card


def test_hyperparameters_of_a_class_spec_load_with_weights_only_and_rebuild(tmp_path):
    """A checkpoint's hyper-parameters must load with ``torch.load(weights_only=True)`` (wsl's reader)."""
    module = from_config(SGD_CLASS, **TINY)
    torch.save({"hyper_parameters": dict(module.hparams)}, tmp_path / "h.ckpt")
    stored = torch.load(tmp_path / "h.ckpt", weights_only=True)["hyper_parameters"]
    assert stored["optimizer"]["class_path"] in ("torch.optim.SGD", "torch.optim.sgd.SGD")
    rebuilt = WSLModule(**stored)
    scheduler = rebuilt.configure_optimizers()["lr_scheduler"]["scheduler"]
    assert type(scheduler) is torch.optim.lr_scheduler.StepLR


def test_print_config_round_trips_a_class_spec(capsys):
    from wsl.cli import _make_cli, _ParseOnlyCLI

    argv = ["--model.optimizer", "torch.optim.RMSprop", "--model.optimizer.alpha", "0.9"]
    with pytest.raises(SystemExit):
        _make_cli(_ParseOnlyCLI, [*argv, "--print_config"])
    model = yaml.safe_load(capsys.readouterr().out)["model"]
    assert model["optimizer"]["class_path"] == "torch.optim.RMSprop"
    assert model["optimizer"]["init_args"]["alpha"] == 0.9
