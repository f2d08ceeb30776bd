"""What a benchmark is asked to do: every setting of :func:`wsl.jobs.benchmark.run_benchmark` in one frozen
object, checked by :func:`wsl.benchmark.plan.make_plan` (the plan's settings) and by the driver (how it runs).

Field names are the names errors use (``tools/benchmark.py`` translates them into its flags, e.g.
``num_cam_images`` → ``--cam-images``).

Example:
    >>> options = BenchmarkOptions("gap,lse", "0,1", "runs/bench", grid=False)
    >>> options.select_metric, options.jobs
    ('maxboxacc', 1)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BenchmarkOptions"]


@dataclass(frozen=True)
class BenchmarkOptions:
    """The settings of one benchmark.

    Attributes:
        entries: what is compared (:func:`wsl.benchmark.parse_entries`: pools, methods, ``CAM@ENTRY``,
            ``center``), as ``"gap,has,gradcam@gap,center"`` or a list.
        seeds: seeds (``"0,1,2"`` or a list); each becomes ``--seed_everything``.
        out: output folder (runs in ``out/runs``).
        config: a ``tools/train.py`` config file applied to every run (flags override it).
        data: data spec (``--dataset``); default: the config's or ``synthetic``.
        extra_args: more ``tools/train.py`` arguments for every run (e.g. ``--trainer.max_epochs 5``).
        pool_kwargs: fixed per-pool ``--model.pool_kwargs`` (no grid for that pool), as a dict or as
            ``POOL=JSON`` strings.
        num_cam_images: test images in ``cams_by_pool.png`` (0: no sheet).
        jobs: trained runs at a time (worker processes sharing the CPU cores).
        grid: search the declared grids (:data:`wsl.benchmark.GRIDS`) on val; False: each head's defaults.
        select_metric: the validation metric that chooses a grid setting and ranks the entries.
        method_pool: the pooling head of a method entry without ``/POOL``.
        checkpoint_select: the tested weights of every run (``last`` or ``best`` on val).
        epochs: per-entry schedules, ``"has=60,gmp=60"`` (:func:`wsl.benchmark.plan.parse_epochs`), for the
            entries still improving at the shared one.
        grid_schedule: where an entry with its own schedule searches its grid: ``own`` (every setting at
            that schedule) or ``shared`` (the grid at the shared schedule, the chosen setting at its own).
        stale: a finished run whose key (:mod:`wsl.benchmark.keys`: its arguments and the code) differs from
            the current one, or that has none: ``refuse`` (an error naming the runs and the differences),
            ``redo`` (moved to ``out/stale/`` and trained again) or ``keep`` (reused, with a note).
        faithfulness: also the faithfulness means (``deletion_auc``, ``insertion_auc``, ``average_drop``,
            ``increase_in_confidence``) of every trained and post-hoc test run, from the evaluate job on its
            tested checkpoint (:func:`wsl.benchmark.execute.add_faithfulness`), so that those columns fill.
    """

    entries: str | Sequence[str]
    seeds: str | Sequence[int]
    out: str | os.PathLike[str]
    config: str | None = None
    data: str | None = None
    extra_args: Sequence[str] = ()
    pool_kwargs: dict[str, dict[str, Any]] | Sequence[str] | None = None
    num_cam_images: int = 6
    jobs: int = 1
    grid: bool = True
    select_metric: str = "maxboxacc"
    method_pool: str = "gap"
    checkpoint_select: str = "last"
    epochs: dict[str, int] | Sequence[str] | str | None = None
    grid_schedule: str = "own"
    stale: str = "refuse"
    faithfulness: bool = False
