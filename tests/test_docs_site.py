"""The documentation site builds with warnings as errors (mkdocs.yml, the ``docs`` extra)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly_with_the_tutorials_and_the_api_reference(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    pytest.importorskip("material")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tutorial = (site / "tutorials" / "bring-your-own-dataset" / "index.html").read_text(encoding="utf-8")
    assert "VOCWriter" in tutorial
    reference = (site / "reference" / "sharing" / "index.html").read_text(encoding="utf-8")
    assert "push_to_hub" in reference and "draw_text" in reference
    assert "wsol-lightning" in (site / "changelog" / "index.html").read_text(encoding="utf-8")


def test_the_griffe_extension_rewrites_examples_and_sphinx_roles():
    pytest.importorskip("griffe")
    import importlib.util

    spec = importlib.util.spec_from_file_location("griffe_wsl", ROOT / "docs" / "hooks" / "griffe_wsl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Load a :class:`~wsl.lit.WSLModule` with :func:`wsl.hub.push_to_hub`.\n\n    Example:\n"
    text += "        >>> 1\n"
    assert module.rewrite(text) == (
        "Load a `WSLModule` with `wsl.hub.push_to_hub`.\n\n    Examples:\n        >>> 1\n"
    )
