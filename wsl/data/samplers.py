"""Samplers: distributed evaluation without padding, and a training shuffle that resumes mid-epoch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sized
from typing import Any, cast

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from wsl.rng import rng_state, set_rng_state

__all__ = ["ResumableRandomSampler", "ShardedEvalSampler", "eval_sampler"]


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


class ResumableRandomSampler(RandomSampler):
    """``RandomSampler`` (same order for the same generator state) whose epoch resumes mid-way exactly.

    Each epoch draws its seed from torch's global generator when its first index is asked for, as
    ``RandomSampler`` does, and yields ``randperm(n)`` of a generator seeded with it. Before the first index
    of every batch it records the process's RNG states (:func:`wsl.rng.rng_state`): with
    ``num_workers=0`` the training transforms draw from torch's global generator right after, between
    training steps, so a resume must give batch ``b`` the generator state it had then.

    :meth:`state_dict` (at a checkpoint taken after ``b`` batches) and :meth:`load_state_dict` (before
    the next epoch starts) make the resumed epoch yield the rest of the same permutation, set the RNG
    to the recorded state before batch ``b`` and to the checkpoint's own state (``rng_at_save``) when the
    batch after it is asked for (Lightning fetches one batch ahead), and stop after the batches the
    interrupted epoch would have run (``stop``: ``limit_train_batches``).

    Args:
        data_source: the training dataset (only its length is used).
        batch_size: the loader's batch size (the sampler records states at batch starts).
        keep: how many recent batch starts to keep states of (loader workers fetch ahead).

    Example:
        >>> _ = torch.manual_seed(0); a = list(ResumableRandomSampler(range(6), 2))
        >>> _ = torch.manual_seed(0); a == list(RandomSampler(range(6)))
        True
    """

    def __init__(self, data_source: Sized, batch_size: int, keep: int = 16) -> None:
        super().__init__(data_source)
        if batch_size < 1:
            raise ValueError(f"batch_size: got {batch_size}; expected a positive int")
        self.batch_size = batch_size
        self.keep = keep
        self.seed: int | None = None
        self._starts: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._plan: dict[str, Any] | None = None

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        plan, self._plan = self._plan, None
        if plan is None:
            seed, done, stop = int(torch.empty((), dtype=torch.int64).random_().item()), 0, None
        else:
            seed, done, stop = plan["seed"], plan["batches_done"], plan.get("stop")
        self.seed = seed
        self._starts.clear()
        generator = torch.Generator()
        generator.manual_seed(seed)
        order = torch.randperm(n, generator=generator).tolist()
        # Batch ``done`` is given the RNG state it had: the one recorded when its indices were asked for, if
        # that was before the save (a loader that fetches ahead), else the checkpoint's own. In the first
        # case the checkpoint's state follows when the next batch is asked for (or the epoch ends).
        ahead = plan is not None and plan.get("rng_next_batch") is not None
        for position in range(done * self.batch_size, n):
            if position % self.batch_size == 0:
                batch = position // self.batch_size
                if plan is not None and batch == done:
                    set_rng_state(plan["rng_next_batch"] if ahead else plan["rng_at_save"])
                elif plan is not None and ahead and batch == done + 1:
                    set_rng_state(plan["rng_at_save"])
                    ahead = False
                if stop is not None and batch >= stop:
                    break
                self._starts[batch] = rng_state()
                while len(self._starts) > self.keep:
                    self._starts.popitem(last=False)
            yield order[position]
        if plan is not None and ahead:
            set_rng_state(plan["rng_at_save"])

    def state_dict(self, batches_done: int) -> dict[str, Any]:
        """What resumes this epoch after ``batches_done`` batches: the epoch's seed, the position and the
        RNG state recorded before batch ``batches_done`` (None when it was not recorded)."""
        return {
            "seed": self.seed,
            "batches_done": batches_done,
            "num_samples": len(self.data_source),
            "batch_size": self.batch_size,
            "rng_next_batch": self._starts.get(batches_done),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the next epoch from ``state`` (:meth:`state_dict` plus ``rng_at_save`` and ``stop``).

        Raises:
            ValueError: the state is of another dataset size or batch size.
        """
        for key, mine in (("num_samples", len(self.data_source)), ("batch_size", self.batch_size)):
            if state[key] != mine:
                raise ValueError(
                    f"the checkpoint's training epoch has {key}={state[key]} but this run has {key}={mine}; "
                    "resume with the same data and --data.batch_size"
                )
        self._plan = dict(state)
