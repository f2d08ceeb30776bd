"""Same seed, same numbers; every pooling head and the loss stay finite in bf16 autocast at |logit| 1e4."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_training import reproducible_tiny_args as tiny_args

from wsl.cli import train
from wsl.lit import WSLModule
from wsl.pooling import POOLS, build_pool

RUN_SPECIFIC = ("run_dir", "checkpoint", "train_seconds")


def _comparable(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in RUN_SPECIFIC}


def test_same_seed_and_config_give_identical_results(synthetic_voc_root, tmp_path):
    first = train(tiny_args(synthetic_voc_root, tmp_path / "a", "--trainer.max_epochs", "2"))
    second = train(tiny_args(synthetic_voc_root, tmp_path / "b", "--trainer.max_epochs", "2"))
    assert first["global_step"] == 4 and first["test"]
    assert _comparable(first) == _comparable(second)  # exact, curves included


def _logits(scale: float, sign: float) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 7, generator=gen) * scale
    x[0, 0] = sign * scale  # a constant map at the extreme
    return x.to(torch.bfloat16).requires_grad_(True)


@pytest.mark.parametrize("pool", sorted(POOLS))
@pytest.mark.parametrize("scale, sign", [(1.0, 1.0), (1e2, -1.0), (1e4, 1.0), (1e4, -1.0)])
def test_every_pool_is_finite_in_bf16_autocast(pool, scale, sign):
    head = build_pool(pool, num_classes=3)
    x = _logits(scale, sign)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        scores = head(x)
        loss = scores.float().square().mean() + head.regularization_loss()
    assert scores.shape == (2, 3) and torch.isfinite(scores.float()).all(), scores
    loss.backward()
    assert torch.isfinite(x.grad.float()).all()
    for param in head.parameters():
        assert param.grad is None or torch.isfinite(param.grad).all()


@pytest.mark.parametrize("single_label", [False, True])
@pytest.mark.parametrize("pool", sorted(POOLS))
def test_wslmodule_loss_is_finite_in_bf16_autocast_at_large_logits(pool, single_label):
    module = WSLModule(num_classes=3, pool=pool, single_label=single_label)
    x = _logits(1e4, 1.0)
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = module.loss(module.net.pool(x), labels)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(x.grad.float()).all()


def test_bf16_mixed_training_gives_finite_metrics(synthetic_voc_root, tmp_path):
    results = train(tiny_args(synthetic_voc_root, tmp_path, "--trainer.precision", "bf16-mixed"))
    assert results["global_step"] == 2
    assert results["test"] and all(math.isfinite(v) for v in results["test"].values()), results["test"]


def test_evaluate_of_a_bf16_mixed_checkpoint_equals_the_training_time_test_scores(
    synthetic_voc_root, tmp_path, caplog
):
    """The checkpoint stores the training precision; evaluate runs the forward under the same autocast."""
    from wsl.jobs.evaluate import evaluate_from_checkpoint

    results = train(tiny_args(synthetic_voc_root, tmp_path, "--trainer.precision", "bf16-mixed"))
    assert torch.load(results["checkpoint"], weights_only=True)["precision"] == "bf16-mixed"
    caplog.set_level("INFO", logger="wsl")
    payload = evaluate_from_checkpoint(
        results["checkpoint"],
        data=f"voc:{synthetic_voc_root}",
        split="test",
        batch_size=4,  # the training run's, so that the batches (and their bf16 rounding) are the same
        num_workers=0,
        device="cpu",
        progress=False,
    )
    scores = {k: v for k, v in results["test"].items() if k != "loss"}
    assert {k: payload["results"][k] for k in scores} == pytest.approx(scores, abs=1e-6)
    notes = [r.getMessage() for r in caplog.records if r.name == "wsl.jobs.evaluate"]
    assert any("bf16" in note for note in notes), notes
