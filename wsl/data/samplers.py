"""Samplers for distributed evaluation."""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import cast

import torch.distributed as dist
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

__all__ = ["ShardedEvalSampler", "eval_sampler"]


class ShardedEvalSampler(DistributedSampler):
    """Rank ``r`` of ``W`` takes the indices ``r, r + W, r + 2W, …``: every index exactly once overall.

    ``torch.utils.data.DistributedSampler`` (which Lightning injects under DDP) pads uneven splits with
    repeated indices so every rank gets as many batches, which counts those images twice in evaluation
    metrics. This sampler does not pad, so ranks may get one sample fewer; that is fine for evaluation,
    whose metrics sync sum-reduced states once per epoch. It subclasses ``DistributedSampler`` only so
    that Lightning (``use_distributed_sampler=True``) keeps it instead of replacing it.

    Args:
        dataset: the evaluation dataset (only its length is used).
        num_replicas: world size ``W`` (default: the initialised process group's).
        rank: this process's rank (default: the process group's).

    Example:
        >>> [list(ShardedEvalSampler(range(5), num_replicas=2, rank=r)) for r in (0, 1)]
        [[0, 2, 4], [1, 3]]
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None, rank: int | None = None) -> None:
        # DistributedSampler only takes len(dataset); its annotation asks for a Dataset.
        super().__init__(
            cast(Dataset, dataset), num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False
        )
        self.num_samples = len(range(self.rank, len(dataset), self.num_replicas))
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


def eval_sampler(dataset: Sized) -> ShardedEvalSampler | None:
    """A :class:`ShardedEvalSampler` when a process group of more than one process is running, else None."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return ShardedEvalSampler(dataset)
    return None
