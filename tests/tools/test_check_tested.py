"""tools/check_tested.py: the table of the runs that tested earlier weights than their final ones."""

from __future__ import annotations

import json

from tools.check_tested import main

TRAINED = {"checkpoint_select": "last", "checkpoint_monitor": "val/map", "global_step": 30, "epochs": 3}


def _run(folder, csv_text):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(TRAINED))
    (folder / "metrics.csv").write_text(csv_text)


def test_prints_the_affected_runs_and_a_count(tmp_path, capsys):
    _run(tmp_path / "runs" / "gap-seed0", "epoch,step,val/map\n0,9,0.5\n1,19,0.7\n2,29,0.6\n")
    _run(tmp_path / "runs" / "gap-seed1", "epoch,step,val/map\n0,9,0.5\n2,29,0.6\n")
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| gap-seed0 | – | 30 (3) | 20 (2) | **yes** |" in out and "gap-seed1" not in out
    assert "1 of 2 runs tested weights older than their final ones; 0 undecidable." in out
    assert main([str(tmp_path), "--all"]) == 0
    assert "| gap-seed1 | – | 30 (3) | 30 (3) | no |" in capsys.readouterr().out


def test_a_folder_without_runs_exits_2(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "error: folder: " in capsys.readouterr().err
