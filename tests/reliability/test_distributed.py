"""Two CPU processes (gloo) give the single-process metrics: metric sync, sampler, a Lightning test run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tiny_training import reproducible_tiny_args
from torch.utils.data.distributed import DistributedSampler

from wsl.data import WSLDataModule
from wsl.data.samplers import ShardedEvalSampler, eval_sampler
from wsl.evaluation import LocalizationEvaluator
from wsl.lit import WSLModule

WORLD = 2
REPO = Path(__file__).resolve().parents[2]
DDP_CPU = ["--trainer.strategy", "ddp", "--trainer.devices", "2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fake_outputs(batch: dict, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (B, C) and class maps (B, C, 8, 8) that depend only on the image id, not on the rank."""
    scores, maps = [], []
    for image_id in batch["image_id"]:
        gen = torch.Generator().manual_seed(zlib.crc32(image_id.encode()))
        scores.append(torch.randn(num_classes, generator=gen))
        maps.append(torch.rand(num_classes, 8, 8, generator=gen))
    return torch.stack(scores), torch.stack(maps)


def _evaluate_split(root: str, split: str, limit: int) -> tuple[dict, list[str]]:
    dm = WSLDataModule(f"voc:{root}", image_size=64, batch_size=2, num_workers=0)
    evaluator = LocalizationEvaluator(dm.num_classes)
    seen = []
    for batch in dm.dataloader(split, limit=limit):
        evaluator.update(*_fake_outputs(batch, dm.num_classes), batch)
        seen += batch["image_id"]
    return evaluator.compute(), seen


def _metric_worker(rank: int, port: int, root: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        results, seen = _evaluate_split(root, "train", limit=7)
        gathered: list = [None] * WORLD
        dist.all_gather_object(gathered, seen)
        if rank == 0:
            with open(out, "w") as handle:
                json.dump({"results": results, "seen": gathered}, handle)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("world, length", [(2, 5), (2, 4), (3, 7), (4, 2)])
def test_sharded_sampler_takes_every_index_once(world, length):
    shards = [list(ShardedEvalSampler(range(length), num_replicas=world, rank=r)) for r in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(length))
    assert [len(ShardedEvalSampler(range(length), num_replicas=world, rank=r)) for r in range(world)] == [
        len(s) for s in shards
    ]
    assert shards[0] == list(range(0, length, world))


def test_torch_distributed_sampler_pads_which_is_the_bug_being_fixed():
    padded = [list(DistributedSampler(range(5), num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    assert sum(len(s) for s in padded) == 6  # image 0 is evaluated twice


def test_no_sampler_without_a_process_group(tiny_datamodule):
    assert not dist.is_initialized()
    assert eval_sampler(range(5)) is None
    assert tiny_datamodule.dataloader("test").sampler.__class__.__name__ == "SequentialSampler"


def test_two_gloo_processes_give_the_single_process_metrics(synthetic_voc_root, tmp_path):
    """BoxAccuracy, PxAP, PointingGame and the mAP of LocalizationEvaluator, 7 images over 2 ranks."""
    expected, seen = _evaluate_split(str(synthetic_voc_root), "train", limit=7)
    out = tmp_path / "rank0.json"
    mp.spawn(_metric_worker, args=(_free_port(), str(synthetic_voc_root), str(out)), nprocs=WORLD)
    got = json.loads(out.read_text())
    assert [len(s) for s in got["seen"]] == [4, 3]  # the datamodule sharded without padding
    assert sorted(got["seen"][0] + got["seen"][1]) == sorted(seen)
    assert set(got["results"]) == set(expected)
    assert {"map", "maxboxacc", "maxboxacc_v2", "pxap", "pointing_game"} <= set(expected)
    assert got["results"] == pytest.approx(expected, abs=1e-6)


def _lightning_test(root, devices: int) -> dict:
    pl.seed_everything(0)
    dm = WSLDataModule(f"voc:{root}", image_size=64, batch_size=2, num_workers=0)
    module = WSLModule(num_classes=dm.num_classes, class_names=dm.class_names, pool="weldon")
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp_spawn" if devices > 1 else "auto",
        precision="32-true",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    (metrics,) = trainer.test(module, datamodule=dm, verbose=False)
    return metrics


def test_lightning_ddp_spawn_test_run_on_an_odd_split_equals_one_process(odd_voc_root):
    """The real path: Lightning's DDP keeps the non-padding sampler, so 5 images are scored once each."""
    single = _lightning_test(odd_voc_root, devices=1)
    double = _lightning_test(odd_voc_root, devices=2)
    metrics = {k: v for k, v in single.items() if k != "test/loss"}  # loss: mean of per-rank means
    assert {"test/map", "test/pxap", "test/pointing_game", "test/maxboxacc"} <= set(metrics)
    assert {k: double[k] for k in metrics} == pytest.approx(metrics, abs=1e-6)


def ddp_train(root: Path, run_dir: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``tools/train.py`` with Lightning's DDP over 2 CPU processes (gloo); every rank runs ``train()``.

    A subprocess: Lightning starts rank 1 by re-running the command line, which must be the tool's.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    args = reproducible_tiny_args(root, run_dir, *DDP_CPU, *extra)
    return subprocess.run(
        [sys.executable, "tools/train.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_ddp_on_two_cpu_processes_trains_the_default_model(synthetic_voc_root, tmp_path):
    """The default lcnet_050 cut at out_index 3 has no parameter that DDP would find unused."""
    run = tmp_path / "run"
    done = ddp_train(synthetic_voc_root, run)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((run / "results.json").read_text())
    assert results["global_step"] == 2  # limit_train_batches is per rank; DDP failed on step 2
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert all(0.0 <= results["test"][k] <= 1.0 for k in ("map", "maxboxacc", "pxap"))


class _IdWriter(pl.callbacks.BasePredictionWriter):
    """Writes the image ids each rank predicted to ``out/rank<r>.json`` (module level: picklable)."""

    def __init__(self, out: str) -> None:
        super().__init__(write_interval="epoch")
        self.out = out

    def write_on_epoch_end(self, trainer, pl_module, predictions, batch_indices) -> None:
        ids = [image_id for batch in predictions for image_id in batch["image_id"]]
        with open(Path(self.out) / f"rank{trainer.global_rank}.json", "w") as handle:
            json.dump(ids, handle)


def test_lightning_ddp_predict_writes_every_image_once(odd_voc_root, tmp_path):
    """trainer.predict over 2 CPU processes: each of the 5 test images is predicted by exactly one rank."""
    pl.seed_everything(0)
    dm = WSLDataModule(f"voc:{odd_voc_root}", image_size=64, batch_size=2, num_workers=0)
    module = WSLModule(num_classes=dm.num_classes, class_names=dm.class_names, pool="gap")
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_spawn", precision="32-true", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        callbacks=[_IdWriter(str(tmp_path))],
    )  # fmt: skip
    trainer.predict(module, datamodule=dm, return_predictions=False)
    per_rank = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    expected = [r.image_id for r in dm.dataset("test").records]
    assert sorted(per_rank[0] + per_rank[1]) == sorted(expected)
    assert len(per_rank[0] + per_rank[1]) == len(expected) == 5
