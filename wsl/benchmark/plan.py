"""What the benchmark runs: the parsed pools, seeds and pool kwargs, the runs, and each run's train arguments.

Errors name the arguments of :func:`wsl.benchmark.run_benchmark` (``pools``, ``seeds``, ``pool_kwargs``,
``extra_args``, ``config``, ``out``, ``num_cam_images``); ``tools/benchmark.py`` translates them into its
flags.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsl.pooling import POOLS
from wsl.runs import RunFolder

__all__ = [
    "RESERVED",
    "BenchmarkPlan",
    "BenchmarkRun",
    "check_extra_args",
    "make_plan",
    "parse_pool_kwargs",
    "parse_pools",
    "parse_seeds",
    "plan_runs",
    "train_args",
]

# Flags the benchmark sets itself; passing them as extra train arguments would silently break the plan.
RESERVED = ("--pool", "--model.pool", "--seed_everything", "--run_dir", "--model.pool_kwargs")


@dataclass(frozen=True)
class BenchmarkRun:
    """One (pool, seed) of the benchmark and its run folder."""

    pool: str
    seed: int
    run_dir: Path

    @property
    def name(self) -> str:
        return f"{self.pool}-seed{self.seed}"

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)

    @property
    def results_path(self) -> Path:
        return self.folder.results_path


def parse_pools(pools: str | Sequence[str]) -> list[str]:
    """``"gmp,gap"`` or ``["gmp", "gap"]`` → a list of known pool names, in order, without duplicates.

    Raises:
        ValueError: empty list, unknown or repeated name.

    Example:
        >>> parse_pools("gmp, gap")
        ['gmp', 'gap']
    """
    names = [p.strip() for p in pools.split(",")] if isinstance(pools, str) else [str(p) for p in pools]
    if not names or any(not n for n in names):
        raise ValueError(f"pools: got {pools!r}; expected comma-separated names from {', '.join(POOLS)}")
    for name in names:
        if name not in POOLS:
            raise ValueError(f"pools: unknown pool {name!r} in {pools!r}; choose from {', '.join(POOLS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"pools: got {pools!r} with a repeated name; list each pool once")
    return names


def parse_seeds(seeds: str | Sequence[int]) -> list[int]:
    """``"0,1,2"`` or ``[0, 1, 2]`` → distinct non-negative ints, in order.

    Raises:
        ValueError: empty list, a value that is not a non-negative int, or a repeated seed.

    Example:
        >>> parse_seeds(" 0, 2 ")
        [0, 2]
    """
    items = [s.strip() for s in seeds.split(",")] if isinstance(seeds, str) else list(seeds)
    out = []
    for item in items:
        if isinstance(item, str) and item.isdigit():
            out.append(int(item))
        elif isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            out.append(item)
        else:
            raise ValueError(f"seeds: got {seeds!r}; expected comma-separated non-negative ints like 0,1,2")
    if not out:
        raise ValueError(f"seeds: got {seeds!r}; expected comma-separated non-negative ints like 0,1,2")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds: got {seeds!r} with a repeated seed; list each seed once")
    return out


def parse_pool_kwargs(items: Sequence[str], pools: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``['lse={"beta": 10}']`` → ``{"lse": {"beta": 10}}`` (passed as ``--model.pool_kwargs``).

    Raises:
        ValueError: no ``=``, a pool not in ``pools``, a pool given twice, or a value that is not a JSON
            object.

    Example:
        >>> parse_pool_kwargs(['lse={"beta": 10}'], ["gap", "lse"])
        {'lse': {'beta': 10}}
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        pool, eq, text = item.partition("=")
        pool = pool.strip()
        if not eq:
            raise ValueError(f'pool_kwargs: got {item!r}; expected POOL=JSON, e.g. lse={{"beta": 10}}')
        if pool not in pools:
            raise ValueError(
                f"pool_kwargs: pool {pool!r} in {item!r} is not benchmarked; the benchmarked ones are "
                f"{list(pools)}"
            )
        if pool in out:
            raise ValueError(
                f"pool_kwargs: pool {pool!r} is given twice; merge its keys into one JSON object"
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"pool_kwargs: {item!r} is not valid JSON after '=' ({err})") from err
        if not isinstance(value, dict):
            raise ValueError(f'pool_kwargs: {item!r} must give a JSON object like {{"beta": 10}}')
        out[pool] = value
    return out


def check_extra_args(extra_args: Sequence[str]) -> list[str]:
    """The extra ``tools/train.py`` arguments, refusing the flags the benchmark sets per run.

    Raises:
        ValueError: one of :data:`RESERVED` is among them.
    """
    for arg in extra_args:
        name = arg.partition("=")[0]
        if name in RESERVED:
            raise ValueError(
                f"{name!r} in extra_args is set by the benchmark for every run; set it through pools, "
                "seeds, out or pool_kwargs instead"
            )
    return list(extra_args)


def plan_runs(pools: Sequence[str], seeds: Sequence[int], out: Path) -> list[BenchmarkRun]:
    """Every (pool, seed), pool-major, with its folder ``out/runs/<pool>-seed<seed>``."""
    return [BenchmarkRun(p, s, Path(out) / "runs" / f"{p}-seed{s}") for p in pools for s in seeds]


def train_args(
    run: BenchmarkRun,
    config: str | None = None,
    data: str | None = None,
    extra_args: Sequence[str] = (),
    pool_kwargs: dict[str, Any] | None = None,
) -> list[str]:
    """The ``wsl.cli.train`` arguments of one run (the config first, so that flags override it)."""
    args = ["--config", str(config)] if config else []
    args += ["--pool", run.pool, "--seed_everything", str(run.seed), "--run_dir", str(run.run_dir)]
    if data:
        args += ["--dataset", data]
    args += list(extra_args)
    if pool_kwargs is not None:
        args += ["--model.pool_kwargs", json.dumps(pool_kwargs)]
    return args


@dataclass(frozen=True)
class BenchmarkPlan:
    """A checked benchmark: its runs and the settings every run shares."""

    root: Path
    pools: list[str]
    seeds: list[int]
    runs: list[BenchmarkRun]
    config: str | None = None
    data: str | None = None
    extra_args: list[str] = field(default_factory=list)
    pool_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def train_args(self, run: BenchmarkRun) -> list[str]:
        """The ``wsl.cli.train`` arguments of one of the plan's runs."""
        return train_args(run, self.config, self.data, self.extra_args, self.pool_kwargs.get(run.pool))

    def meta(self) -> dict[str, Any]:
        """The settings written at the top of ``results.json``."""
        return {
            "pools": self.pools,
            "seeds": self.seeds,
            "data": self.data,
            "config": self.config,
            "extra_args": self.extra_args,
            "pool_kwargs": self.pool_kwargs,
            "planned_runs": len(self.runs),
        }


def make_plan(
    pools: str | Sequence[str],
    seeds: str | Sequence[int],
    out: str | os.PathLike[str],
    *,
    config: str | None = None,
    data: str | None = None,
    extra_args: Sequence[str] = (),
    pool_kwargs: dict[str, dict[str, Any]] | Sequence[str] | None = None,
) -> BenchmarkPlan:
    """Check every argument of :func:`wsl.benchmark.run_benchmark` and plan its runs (nothing is written).

    Raises:
        ValueError: unknown pool, bad seeds, bad pool kwargs, a reserved extra argument, a config that is
            not a file, or an output path that is a file.
    """
    pool_names = parse_pools(pools)
    seed_list = parse_seeds(seeds)
    if pool_kwargs is None:
        items: list[str] = []
    elif isinstance(pool_kwargs, dict):
        items = [f"{p}={json.dumps(v)}" for p, v in pool_kwargs.items()]
    else:
        items = list(pool_kwargs)
    kwargs_by_pool = parse_pool_kwargs(items, pool_names)
    extra = check_extra_args(extra_args)
    if config is not None and not Path(config).is_file():
        raise ValueError(f"config: {str(config)!r} is not a file")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ValueError(f"out: {str(root)!r} exists and is not a folder")
    runs = plan_runs(pool_names, seed_list, root)
    return BenchmarkPlan(root, pool_names, seed_list, runs, config, data, extra, kwargs_by_pool)
