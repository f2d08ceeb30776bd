"""wsl runs on ``pytorch_lightning``; a class of the unified ``lightning`` package is one clear error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

import wsl
from wsl.cli import _make_cli, _ParseOnlyCLI, check_trainer_objects
from wsl.data import WSLDataModule
from wsl.lightning_package import check_lightning_object, check_lightning_paths, twin
from wsl.lit import WSLModule


def _foreign(name: str, module: str) -> type:
    """A stand-in for a class of the ``lightning`` package (not installed here): only its module differs."""
    return type(name, (), {"__module__": module})


def test_the_chosen_package_is_pytorch_lightning_and_its_trainer_fits_a_wsl_module(cpu_fit):
    module = WSLModule(num_classes=2, backbone="lcnet_050", pool="gap", channels_last=False)
    assert isinstance(module, pl.LightningModule) and issubclass(WSLDataModule, pl.LightningDataModule)
    batch = {"image": torch.randn(2, 3, 32, 32), "labels": torch.eye(2)}
    trainer = cpu_fit(module, [batch], max_steps=1)
    assert trainer.global_step == 1


def test_no_wsl_module_imports_the_unified_package():
    pattern = re.compile(r"^\s*(import lightning\b|from lightning(\.| ))", re.MULTILINE)
    offenders = [
        str(path)
        for path in Path(wsl.__file__).parent.rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (
            "lightning.pytorch.callbacks.LearningRateMonitor",
            "pytorch_lightning.callbacks.LearningRateMonitor",
        ),
        ("lightning.pytorch", "pytorch_lightning"),
        ("lightning.fabric.plugins.Precision", "lightning_fabric.plugins.Precision"),
        ("pytorch_lightning.callbacks.LearningRateMonitor", None),
        ("lightning.jpg", None),
        ("lightningx.pytorch.A", None),
    ],
)
def test_twin(path, expected):
    assert twin(path) == expected


def test_an_object_of_the_other_package_names_its_twin():
    callback = _foreign("LearningRateMonitor", "lightning.pytorch.callbacks.lr_monitor")()
    with pytest.raises(TypeError, match=r"trainer.callbacks\[1\]: .*use pytorch_lightning.callbacks.lr_"):
        check_trainer_objects({"callbacks": [pl.Callback(), callback], "logger": None})
    check_lightning_object(pl.Callback(), "trainer.callbacks[0]")  # the chosen package passes


def test_a_class_path_of_the_other_package_on_the_command_line_is_one_error():
    argv = ["--trainer.callbacks", "lightning.pytorch.callbacks.LearningRateMonitor"]
    with pytest.raises(ValueError, match=r"^--trainer.callbacks: .*use pytorch_lightning.callbacks.Learn"):
        _make_cli(_ParseOnlyCLI, argv)
    with pytest.raises(ValueError, match=r"^--trainer.logger: lightning.pytorch.loggers.CSVLogger"):
        check_lightning_paths(["--trainer.logger=lightning.pytorch.loggers.CSVLogger"])
    inline = '{"class_path": "lightning.pytorch.callbacks.Timer"}'
    with pytest.raises(ValueError, match=r"^--trainer.callbacks: lightning.pytorch.callbacks.Timer is"):
        check_lightning_paths(["--trainer.callbacks", inline])
    ours = "pytorch_lightning.callbacks.Timer"
    check_lightning_paths(["--trainer.callbacks", ours, "--data.data", "a.lightning"])


def test_a_class_path_of_the_other_package_in_a_config_file_is_one_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.Timer\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(str(config))}: lightning.pytorch.callbacks.Timer .*"):
        check_lightning_paths(["--config", str(config)])
    check_lightning_paths(["--data.data", "lightning.jpg", "--config", str(tmp_path / "absent.yaml")])


def test_the_unified_packages_trainer_refuses_a_wsl_module_which_is_why_we_check():
    lightning_pytorch = pytest.importorskip("lightning.pytorch")
    module = WSLModule(num_classes=2, backbone="lcnet_050", pool="gap")
    with pytest.raises(TypeError, match="LightningModule"):
        lightning_pytorch.Trainer(accelerator="cpu", logger=False, max_steps=1).fit(module, [])
