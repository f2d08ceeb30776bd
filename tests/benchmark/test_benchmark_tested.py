"""wsl.benchmark.tested: which weights a finished run's test scored, checked against Lightning itself."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from wsl.benchmark.tested import check_tested, format_tested, last_improvement, val_points, which_tested

RECORDS = Path(__file__).resolve().parents[2] / "docs" / "benchmark_results" / "comparison"
BATCHES = 3  # optimizer steps per epoch in the Lightning runs below


class _Scripted(pl.LightningModule):
    """One weight; validation logs a scripted ``val/map`` per epoch (and ``val/maxboxacc`` = 1 − it)."""

    def __init__(self, scores: list[float]) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.scores = scores

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        score = self.scores[self.current_epoch]
        self.log("val/map", score)
        self.log("val/maxboxacc", 1.0 - score)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _loader() -> torch.utils.data.DataLoader:
    data = torch.utils.data.TensorDataset(torch.ones(2 * BATCHES, 2))
    return torch.utils.data.DataLoader(data, batch_size=2)


def _train(run_dir: Path, scores: list[float], every: int) -> dict:
    """A run with the callback ``wsl.cli`` used up to Lightning 2.6.6, and the results.json fields the check
    reads; returns the ``global_step`` and ``epoch`` stored in ``last.ckpt``."""
    callback = ModelCheckpoint(
        dirpath=run_dir / "checkpoints", filename="best", monitor="val/map", mode="max", save_top_k=1,
        save_last=True,
    )  # fmt: skip
    trainer = pl.Trainer(
        max_epochs=len(scores), check_val_every_n_epoch=every, logger=CSVLogger(run_dir, name="logs"),
        callbacks=[callback], enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        accelerator="cpu",
    )  # fmt: skip
    trainer.fit(_Scripted(scores), _loader(), _loader())
    results = {
        "checkpoint_select": "last",
        "checkpoint_monitor": "val/map",
        "global_step": trainer.global_step,
        "epochs": len(scores),
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    return {"global_step": last["global_step"], "epoch": last["epoch"]}


# (scores by epoch, check_val_every_n_epoch, the tested global step by the rule, by hand)
CASES = [
    ([0.5, 0.7, 0.6], 1, 2 * BATCHES),  # falls at the end: epoch 2's weights
    ([0.5, 0.5, 0.4], 1, 1 * BATCHES),  # a tie is no improvement: epoch 1's
    ([0.3, 0.4, 0.5], 1, 3 * BATCHES),  # rising: the final weights
    ([0.9, 0.6, 0.1, 0.95], 2, 4 * BATCHES),  # validations at epochs 2 and 4 only: 0.6 then 0.95
    ([0.9, 0.6, 0.1, 0.5], 2, 2 * BATCHES),
]


@pytest.mark.parametrize(("scores", "every", "expected"), CASES)
def test_the_rule_gives_the_step_lightning_stored_in_last_ckpt(tmp_path, scores, every, expected):
    stored = _train(tmp_path, scores, every)
    assert stored["global_step"] == expected  # Lightning 2.6.6 behaves as the module docstring says
    row = which_tested(tmp_path)
    assert row["tested_step"] == expected
    assert row["final_step"] == len(scores) * BATCHES
    assert row["tested_epoch"] == stored["epoch"] + 1
    assert row["affected"] is (expected != len(scores) * BATCHES)
    assert row["val_tested"] == pytest.approx(scores[expected // BATCHES - 1])
    assert row["metric_tested"] == pytest.approx(1.0 - scores[expected // BATCHES - 1])


def test_val_points_step_is_the_csv_step_plus_one(tmp_path):
    (tmp_path / "metrics.csv").write_text(
        "epoch,step,train/loss,val/map\n0,8,0.5,\n0,9,,0.25\n1,19,,0.5\n2,29,0.1,\n"
    )
    assert val_points(tmp_path, "val/map") == [(0, 10, 0.25), (1, 20, 0.5)]


def test_val_points_reads_every_logger_version_in_order(tmp_path):
    for version, text in ((10, "epoch,step,val/map\n1,19,0.5\n"), (2, "epoch,step,val/map\n0,9,0.25\n")):
        (tmp_path / "logs" / f"version_{version}").mkdir(parents=True)
        (tmp_path / "logs" / f"version_{version}" / "metrics.csv").write_text(text)
    (tmp_path / "metrics.csv").write_text("epoch,step,val/map\n0,9,0.99\n")  # ignored beside the logs
    assert val_points(tmp_path, "val/map") == [(0, 10, 0.25), (1, 20, 0.5)]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([], None),
        ([(0, 5, 0.5)], (0, 5)),
        ([(0, 5, 0.5), (1, 10, 0.4), (2, 15, 0.5)], (0, 5)),  # equal to the best: not saved
        ([(0, 5, 0.5), (1, 10, 0.6), (2, 15, math.nan)], (1, 10)),  # NaN never improves
        ([(0, 5, math.nan), (1, 10, 0.1)], (1, 10)),  # a first NaN counts as -inf
    ],
)
def test_last_improvement_by_hand(points, expected):
    assert last_improvement(points) == expected


def _write_run(folder: Path, results: dict, csv_text: str | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(results))
    if csv_text is not None:
        (folder / "metrics.csv").write_text(csv_text)
    return folder


TRAINED = {"checkpoint_select": "last", "checkpoint_monitor": "val/map", "global_step": 30, "epochs": 3}
CURVE = "epoch,step,val/map\n0,9,0.5\n1,19,0.7\n2,29,0.6\n"


def test_a_posthoc_run_shares_its_source_runs_answer_found_by_name(tmp_path):
    _write_run(tmp_path / "gap-seed0", TRAINED, CURVE)
    moved = {"kind": "posthoc", "source_run": "/elsewhere/runs/gap-seed0", "checkpoint": "/elsewhere/x.ckpt"}
    _write_run(tmp_path / "gradcam-on-gap-seed0", moved)
    row = which_tested(tmp_path / "gradcam-on-gap-seed0")
    assert (row["run"], row["tested_step"], row["affected"]) == ("gradcam-on-gap-seed0", 20, True)
    assert "gap-seed0" in row["note"]


def test_best_selection_and_runs_without_validation_are_not_affected(tmp_path):
    best = which_tested(_write_run(tmp_path / "best", {**TRAINED, "checkpoint_select": "best"}, CURVE))
    assert (best["tested_step"], best["affected"]) == (20, False)
    no_val = which_tested(_write_run(tmp_path / "noval", TRAINED, "epoch,step,train/loss\n0,9,0.5\n"))
    assert (no_val["tested_step"], no_val["affected"]) == (30, False)
    center = which_tested(_write_run(tmp_path / "center", {"kind": "center"}))
    assert center["affected"] is False


def test_undecidable_runs_say_why(tmp_path):
    no_step = which_tested(_write_run(tmp_path / "a", {**TRAINED, "global_step": None}, CURVE))
    assert no_step["affected"] is None and "global_step" in no_step["note"]
    lost = which_tested(_write_run(tmp_path / "b", {"kind": "posthoc", "source_run": "/x/gone"}))
    assert lost["affected"] is None and "gone" in lost["note"]


def test_check_tested_marks_the_runs_of_the_table(tmp_path):
    _write_run(tmp_path / "runs" / "gap-seed0", TRAINED, CURVE)
    _write_run(tmp_path / "runs" / "gap-seed1", TRAINED, "epoch,step,val/map\n0,9,0.5\n2,29,0.6\n")
    (tmp_path / "results.json").write_text(json.dumps({"runs": [{"run_dir": "/old/runs/gap-seed1"}]}))
    rows = check_tested(tmp_path)
    assert [(r["run"], r["reported"], r["affected"]) for r in rows] == [
        ("gap-seed0", False, True),
        ("gap-seed1", True, False),
    ]
    table = format_tested(rows)
    assert "| gap-seed0 | no | 30 (3) | 20 (2) | **yes** | 60.0 / 70.0 |" in table


def test_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="run_dir: .* has no readable results.json"):
        which_tested(tmp_path)
    with pytest.raises(ValueError, match="folder: .* has no run folders with a results.json"):
        check_tested(tmp_path)


@pytest.mark.skipif(not RECORDS.is_dir(), reason=f"no committed records at {RECORDS}")
def test_the_committed_comparison_records():
    rows = {r["run"]: r for r in check_tested(RECORDS)}
    # lse_beta2-seed0's val/map by epoch 5..30: 45.3, 96.1, 99.42, 99.845, 99.767, 99.749: the last
    # improvement is after epoch 20, global step 940 (47 steps per epoch), of 1410.
    lse = rows["lse_beta2-seed0"]
    assert (lse["tested_step"], lse["final_step"], lse["affected"]) == (940, 1410, True)
    # gap-seed0 rises to its last validation: its final weights were tested (and so was its Grad-CAM).
    assert rows["gap-seed0"]["affected"] is False and rows["gradcam-on-gap-seed0"]["affected"] is False
