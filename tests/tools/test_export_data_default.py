"""``export_cams --ckpt`` without ``--data`` (the trap ``evaluate`` had, issue 35 item 5): it exports the data
the checkpoint was trained on, or refuses in one ``error:`` line naming ``--data``; it never falls back to
the synthetic set."""

from __future__ import annotations

import json

import pytest
from test_trained_data_spec import _ckpt, _voc

from tools.export_cams import main


def _argv(ckpt, out, *extra: str) -> list[str]:
    return [
        "--ckpt", str(ckpt), "--out", str(out), "--device", "cpu", "--no-progress", "--num-workers", "0",
        "--threshold", "0.5", *extra,
    ]  # fmt: skip


def test_export_without_data_exports_the_training_data(tmp_path, capsys):
    root = _voc(tmp_path / "voc")
    ckpt = _ckpt(tmp_path / "run", {"data": f"voc:{root}", "image_size": 48})
    assert main(_argv(ckpt, tmp_path / "out")) == 0
    assert f"data voc:{root} (the training data recorded in {ckpt})" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "out" / "cams.json").read_text())
    assert [image["image_id"] for image in manifest["images"]] == ["im0", "im1"]
    assert [image["classes"] for image in manifest["images"]] == [["cat"], ["bird"]]


@pytest.mark.parametrize("layout", ["wsl", "wsolevaluation"])
def test_export_refuses_when_the_checkpoint_records_no_data(tmp_path, capsys, layout):
    ckpt = _ckpt(tmp_path / "run", {"image_size": 48})
    assert main(_argv(ckpt, tmp_path / "out", "--layout", layout)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: data: not given") and "--data" in err[-1]
    assert not (tmp_path / "out" / "cams.json").exists()
