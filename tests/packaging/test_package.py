"""The distribution: one version, the metadata files, and what ``python -m build`` puts in the wheel.

The sdist is built from the files git tracks (what a clean checkout holds), the wheel from the unpacked
sdist (what ``python -m build`` does), both through setuptools' PEP 517 hooks without build isolation
(offline). The wheel is then installed, not editable, into a fresh venv that takes torch & co. from
this interpreter's site-packages, and imported from outside the repository.
"""

from __future__ import annotations

import email
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml

import wsl

REPO = Path(__file__).resolve().parents[2]
DIST_NAME = "wsol-lightning"


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _tracked_files() -> list[str]:
    """The repository's files as a clean checkout has them (git), else the tree less build outputs."""
    done = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True)
    if done.returncode == 0 and done.stdout.strip():
        return [name for name in done.stdout.splitlines() if (REPO / name).is_file()]
    skip = {"__pycache__", ".git", "build", "dist", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
    return [
        p.relative_to(REPO).as_posix()
        for p in REPO.rglob("*")
        if p.is_file() and not skip & set(p.relative_to(REPO).parts) and p.suffix not in (".so", ".pyd")
    ]


# ------------------------------------------------------------------------------------ version and metadata


def test_the_version_is_written_once():
    project = _pyproject()["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert _pyproject()["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "wsl.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", wsl.__version__)
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert str(cff["version"]) == wsl.__version__


def test_the_distribution_name_is_not_the_unrelated_pypi_wsl():
    assert _pyproject()["project"]["name"] == DIST_NAME


def test_license_is_the_mit_text_pyproject_names():
    project = _pyproject()["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def _is_person_or_entity(author: object) -> bool:
    if not isinstance(author, dict):
        return False
    return isinstance(author.get("name"), str) or isinstance(author.get("family-names"), str)


def test_citation_cff_has_the_keys_cff_1_2_requires():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title"):
        assert isinstance(cff[key], str) and cff[key].strip(), key
    assert cff["authors"] and all(_is_person_or_entity(a) for a in cff["authors"])
    assert cff["license"] == "MIT"
    for reference in cff.get("references", []):
        assert reference["type"] and reference["title"] and reference["authors"]
        assert all(_is_person_or_entity(a) for a in reference["authors"])


def test_citation_cff_is_valid_for_cffconvert_where_it_is_installed():
    pytest.importorskip("cffconvert", reason="cffconvert is not installed (pip install cffconvert)")
    cffconvert = shutil.which("cffconvert") or pytest.skip("no cffconvert command")
    done = subprocess.run(
        [cffconvert, "--validate", "-i", str(REPO / "CITATION.cff")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_changelog_keeps_a_changelog():
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n") and "keepachangelog.com" in text
    releases = re.findall(r"^## \[([^\]]+)\]", text, flags=re.M)
    assert releases and releases[0] == "Unreleased"
    kinds = set(re.findall(r"^### (.+)$", text, flags=re.M))
    assert kinds and kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def test_project_urls_and_classifiers():
    project = _pyproject()["project"]
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(project["urls"])
    classifiers = project["classifiers"]
    assert "Operating System :: OS Independent" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX expression says it


# -------------------------------------------------------------------------------------------- sdist, wheel


def _hook(hook: str, source: Path, out: Path) -> Path:
    code = f"import sys, setuptools.build_meta as b; print(b.{hook}(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("build")
    checkout = root / "checkout"
    for name in _tracked_files():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, checkout / name)
    dist = root / "dist"
    dist.mkdir()
    sdist = _hook("build_sdist", checkout, dist)
    with tarfile.open(sdist) as archive:
        archive.extractall(root / "unpacked", filter="data")
    (unpacked,) = (root / "unpacked").iterdir()
    wheel = _hook("build_wheel", unpacked, dist)
    return {"sdist": sdist, "wheel": wheel, "root": root}


def _has_c_compiler() -> bool:
    return shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0]) is not None


def test_sdist_holds_the_sources_and_the_project_files(built):
    assert built["sdist"].name == f"wsol_lightning-{wsl.__version__}.tar.gz"
    with tarfile.open(built["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "CITATION.cff", "CHANGELOG.md", "pyproject.toml", "setup.py"} <= names
    tracked = {name for name in _tracked_files() if name.startswith("wsl/")}
    assert tracked <= names, sorted(tracked - names)


def test_wheel_holds_the_package_its_data_and_nothing_else(built):
    wheel = built["wheel"]
    assert wheel.name.startswith(f"wsol_lightning-{wsl.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = f"wsol_lightning-{wsl.__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    tracked = {name for name in _tracked_files() if name.startswith("wsl/")}
    assert tracked <= names, sorted(tracked - names)  # py.typed, the C source and its stub included
    assert {"wsl/py.typed", "wsl/metrics/_cam_levels.c", "wsl/metrics/_cam_levels.pyi"} <= names
    assert {name.split("/")[0] for name in names} == {"wsl", info}  # no tests/, tools/, configs/, bench/
    assert not any("__pycache__" in name for name in names)
    assert f"{info}/licenses/LICENSE" in names
    compiled = [n for n in names if re.fullmatch(r"wsl/metrics/_cam_levels\..*(so|pyd)", n)]
    if _has_c_compiler():
        assert len(compiled) == 1, sorted(names)
    assert metadata["Name"] == DIST_NAME and metadata["Version"] == wsl.__version__
    assert metadata["License-Expression"] == "MIT"
    assert "Operating System :: OS Independent" in metadata.get_all("Classifier")


_SMOKE = textwrap.dedent(
    """
    import importlib.metadata, json, struct
    import numpy as np
    import wsl
    from wsl.metrics import _cam_levels, boxes
    # A 4x4 map whose 2x2 block (rows/cols 1-2) is the foreground at every level 1..255; its box by the
    # wsolevaluation rule is (x, y, min(x + w, W - 1), min(y + h, H - 1)) = (1, 1, 3, 3): IoU 1 with it.
    q = np.zeros((4, 4), np.uint8)
    q[1:3, 1:3] = 255
    gt = np.array([[1, 1, 3, 3]], np.int64)
    ious = struct.unpack("256d", _cam_levels.best_ious_per_value(q, 4, 4, gt, False))
    print(json.dumps({
        "file": wsl.__file__, "version": wsl.__version__,
        "metadata": importlib.metadata.version("wsol-lightning"),
        "core_used": boxes._cam_levels is _cam_levels, "ious": [ious[0], min(ious[1:]), max(ious[1:])],
    }))
    """
)


def _clean_env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONNOUSERSITE": "1"}


@pytest.fixture(scope="module")
def wheel_venv(built) -> Path:
    """A fresh venv (seeing this interpreter's site-packages for torch & co.) with the wheel installed."""
    if not _has_c_compiler():
        pytest.skip("no C compiler: the wheel has no compiled core to smoke-test")
    venv = built["root"] / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(built["wheel"])],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def _in_venv(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    name = "Scripts/{}.exe" if sys.platform == "win32" else "bin/{}"
    program = str(venv / name.format(args[0]))
    return subprocess.run(
        [program, *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=900, env=_clean_env()
    )


def test_the_wheel_installs_into_a_fresh_venv_and_imports_with_its_compiled_core(built, wheel_venv):
    venv = wheel_venv
    outside = built["root"] / "elsewhere"
    outside.mkdir(exist_ok=True)
    done = _in_venv(venv, ["python", "-c", _SMOKE], outside)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve().is_relative_to(venv.resolve())  # the wheel, not this checkout
    assert result["version"] == result["metadata"] == wsl.__version__
    assert result["core_used"] and result["ious"] == [0.0, 1.0, 1.0]
    # The console script: a normal (not editable) install has every tool as ``wsol SUBCOMMAND``.
    done = _in_venv(venv, ["wsol", "--help"], outside)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "train" in done.stdout and "evaluate" in done.stdout and "predict" in done.stdout


def test_every_subcommand_of_the_wheel_answers_help(built, wheel_venv):
    from wsl.commands import SUBCOMMANDS

    outside = built["root"] / "elsewhere"
    outside.mkdir(exist_ok=True)
    for name in SUBCOMMANDS:
        done = _in_venv(wheel_venv, ["wsol", name, "--help"], outside)
        assert done.returncode == 0, (name, done.stderr[-2000:])
        assert "usage:" in done.stdout.lower(), name


def test_the_wheel_trains_evaluates_exports_and_predicts_end_to_end(built, wheel_venv):
    """From the installed wheel only (no checkout on the path): data, 2 training steps, evaluate, export,
    predict, each through the console script, in a folder outside the checkout."""
    work = built["root"] / "e2e"
    work.mkdir()
    steps = [
        ["make-synthetic", "--format", "voc", "--out", "voc", "--num-train", "8", "--num-val", "4",
         "--num-test", "4", "--image-size", "64", "--workers", "1"],
        ["train", "--pool", "gap", "--dataset", f"voc:{work / 'voc'}", "--data.image_size", "64",
         "--data.batch_size", "4", "--data.num_workers", "0", "--trainer.max_epochs", "1",
         "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
         "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false", "--run_dir", "run"],
        ["evaluate", "--ckpt", "run/checkpoints/last.ckpt", "--data", f"voc:{work / 'voc'}",
         "--split", "test", "--device", "cpu", "--no-progress", "--out", "eval.json"],
        ["export", "--ckpt", "run/checkpoints/last.ckpt", "--data", f"voc:{work / 'voc'}", "--split", "test",
         "--out", "cams", "--device", "cpu", "--no-progress", "--num-workers", "0"],
        ["predict", "--ckpt", "run/checkpoints/last.ckpt", "--images", str(work / "voc" / "JPEGImages"),
         "--out", "pred", "--device", "cpu", "--no-progress"],
    ]  # fmt: skip
    for args in steps:
        done = _in_venv(wheel_venv, ["wsol", *args], work)
        assert done.returncode == 0, (args[0], done.stdout[-2000:], done.stderr[-4000:])
    assert json.loads((work / "run" / "results.json").read_text())["test"]
    assert "maxboxacc" in json.loads((work / "eval.json").read_text())["results"]
    assert (work / "cams" / "cams.json").is_file() and list((work / "cams" / "cams").glob("*.npz"))
    assert (work / "pred" / "detections.json").is_file()
