"""wsl.versions: the versions results.json records."""

from __future__ import annotations

import pytorch_lightning
import timm
import torch

import wsl
from wsl import versions as versions_module
from wsl.versions import versions


def test_the_versions_are_the_imported_modules():
    assert versions() == {
        "torch": torch.__version__,
        "timm": timm.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "wsl": wsl.__version__,
    }


def test_a_package_that_is_not_installed_is_none(monkeypatch):
    monkeypatch.setattr(versions_module, "PACKAGES", {"torch": "torch", "no_such_package_xyz": "nope"})
    assert versions() == {"torch": torch.__version__, "no_such_package_xyz": None}
