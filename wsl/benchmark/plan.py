"""What the benchmark runs: its entries, seeds and settings, the runs of each stage and their train arguments.

The protocol (a fair comparison): an entry whose head has a declared grid (:data:`wsl.benchmark.GRIDS`)
first trains every setting of the grid at the first seed (stage ``grid``); the setting with the best final
validation score is chosen (:mod:`wsl.benchmark.selection`); then the chosen setting trains at every seed and
is scored on the test split (stage ``test``; the first seed's run is the grid's run of that setting, whose
test scores played no part in the choice). Entries without a grid go straight to the test stage.

Run folders: ``OUT/runs/<entry>[_<setting>][_e<N>]-seed<seed>`` (``<entry>`` is :attr:`Entry.slug`, the
setting tag is :func:`wsl.benchmark.setting_tag` of the head's kwargs, present when the entry has a grid or
explicit kwargs; ``_e<N>`` when ``epochs`` gives the entry its own schedule of N epochs), and
``OUT/runs/center`` for the seed-free center baseline.

``epochs`` (``ENTRY=N``) gives an entry that is still improving at the shared schedule a longer one, so
that each entry is compared at a schedule where its validation curve has stopped moving: its runs get
``--trainer.max_epochs N`` after every other argument (the cosine schedule follows ``max_epochs``), and
their folders differ from the shared schedule's, which are kept. ``grid_schedule`` says where such an
entry's grid is searched: ``own`` (the default: every grid setting at the entry's own schedule) or ``shared``
(the grid at the shared schedule, whose runs a first benchmark may already hold; only the chosen setting is
trained at the entry's own schedule, at every seed).

Errors name the fields of :class:`wsl.benchmark.options.BenchmarkOptions` (``entries``, ``seeds``,
``pool_kwargs``, ``extra_args``, ``config``, ``out``, ``jobs`` ...); ``tools/benchmark.py`` translates
them into its flags.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wsl.benchmark.columns import selectable_keys
from wsl.benchmark.entries import GRIDS, Entry, parse_entries, setting_tag
from wsl.benchmark.options import BenchmarkOptions
from wsl.runs import RunFolder

__all__ = [
    "RESERVED",
    "BenchmarkPlan",
    "BenchmarkRun",
    "check_extra_args",
    "make_plan",
    "parse_epochs",
    "parse_pool_kwargs",
    "parse_seeds",
]

# Flags the benchmark sets itself; passing them as extra train arguments would silently break the plan.
RESERVED = (
    "--pool",
    "--model.pool",
    "--seed_everything",
    "--run_dir",
    "--model.pool_kwargs",
    "--method",
    "--model.method",
)


@dataclass(frozen=True)
class BenchmarkRun:
    """One run of the benchmark: an entry at one seed (None: the seed-free center) and one setting.

    Attributes:
        entry: the compared entry.
        seed: ``--seed_everything`` of a trained run; for a post-hoc run, its source run's seed.
        run_dir: the run's folder.
        pool_kwargs: the head's keyword arguments of a trained run (``{}``: the head's defaults).
        source_dir: the trained run whose checkpoint a post-hoc run reads.
        epochs: the run's own ``--trainer.max_epochs`` (None: the shared schedule); a post-hoc run: its
            source's.
    """

    entry: Entry
    seed: int | None
    run_dir: Path
    pool_kwargs: dict[str, Any] = field(default_factory=dict)
    source_dir: Path | None = None
    epochs: int | None = None

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def setting(self) -> str:
        """The setting tag (``beta5``; ``""`` for the defaults), and ``60 epochs`` for an own schedule."""
        parts = [setting_tag(self.pool_kwargs), f"{self.epochs} epochs" if self.epochs else ""]
        return ", ".join(p for p in parts if p)

    @property
    def folder(self) -> RunFolder:
        return RunFolder(self.run_dir)

    @property
    def results_path(self) -> Path:
        return self.folder.results_path


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
    """``['lse={"beta": 10}']`` → ``{"lse": {"beta": 10}}``: fixed kwargs of a head (no grid for it).

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
                f"{name!r} in extra_args is set by the benchmark for every run; set it through entries, "
                "seeds, out or pool_kwargs instead"
            )
    return list(extra_args)


@dataclass(frozen=True)
class BenchmarkPlan:
    """A checked benchmark: its entries, seeds, settings, and the arguments every trained run shares.

    ``checkpoint_select`` (default ``last``: the weights at the end of the schedule, where the validation
    curves have flattened) comes before ``extra_args``, so a ``--checkpoint_select`` there overrides it.
    """

    root: Path
    entries: list[Entry]
    seeds: list[int]
    config: str | None = None
    data: str | None = None
    extra_args: list[str] = field(default_factory=list)
    pool_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    grid: bool = True
    select_metric: str = "maxboxacc"
    checkpoint_select: str = "last"
    epochs: dict[str, int] = field(default_factory=dict)
    grid_schedule: str = "own"

    def settings(self, entry: Entry) -> list[dict[str, Any]]:
        """The head settings an entry tries: its grid (stage ``grid``), else one setting."""
        if entry.kind != "train":
            return [{}]
        assert entry.pool is not None
        if entry.pool in self.pool_kwargs:
            return [self.pool_kwargs[entry.pool]]
        if self.grid and entry.method == "cam" and entry.pool in GRIDS:
            return list(GRIDS[entry.pool])
        return [{}]

    def run(
        self, entry: Entry, seed: int, pool_kwargs: dict[str, Any], own_schedule: bool = True
    ) -> BenchmarkRun:
        """The trained run of ``entry`` at ``seed`` with ``pool_kwargs``, and its folder; at the entry's own
        schedule (:attr:`epochs`) unless ``own_schedule`` is False."""
        tagged = len(self.settings(entry)) > 1 or bool(pool_kwargs)
        tag = setting_tag(pool_kwargs)
        stem = f"{entry.slug}_{tag}" if tagged and tag else entry.slug
        epochs = self.epochs.get(entry.name) if own_schedule else None
        stem += f"_e{epochs}" if epochs else ""
        folder = self.root / "runs" / f"{stem}-seed{seed}"
        return BenchmarkRun(entry, seed, folder, dict(pool_kwargs), epochs=epochs)

    def grid_runs(self) -> list[BenchmarkRun]:
        """Stage ``grid``: every setting of every entry with more than one, at the first seed (at the
        entry's own schedule when :attr:`grid_schedule` is ``own``, else at the shared one)."""
        own = self.grid_schedule == "own"
        return [
            self.run(e, self.seeds[0], kw, own)
            for e in self.entries
            if len(self.settings(e)) > 1
            for kw in self.settings(e)
        ]

    def test_runs(self, chosen: dict[str, dict[str, Any]]) -> list[BenchmarkRun]:
        """Stage ``test``: each trained entry at every seed with its chosen setting (``chosen``: entry name
        → kwargs, for the entries with a grid), then the post-hoc runs and the center baseline."""
        trained = {}
        runs = []
        for entry in self.entries:
            if entry.kind == "train":
                kwargs = chosen.get(entry.name, self.settings(entry)[0])
                mine = [self.run(entry, s, kwargs) for s in self.seeds]
                trained[entry.name] = mine
                runs += mine
        for entry in self.entries:
            if entry.kind == "posthoc":
                for source in trained[str(entry.source)]:
                    stem = entry.slug + (f"_e{source.epochs}" if source.epochs else "")
                    folder = self.root / "runs" / f"{stem}-seed{source.seed}"
                    run = BenchmarkRun(entry, source.seed, folder, {}, source.run_dir, source.epochs)
                    runs.append(run)
            elif entry.kind == "center":
                runs.append(BenchmarkRun(entry, None, self.root / "runs" / "center"))
        return runs

    def shared_schedule_runs(self, chosen: dict[str, dict[str, Any]]) -> list[BenchmarkRun]:
        """The runs of each entry with its own schedule at the shared one (same setting, every seed): read
        when a first benchmark left them, never trained, to show what the longer schedule changed."""
        return [
            self.run(entry, seed, chosen.get(entry.name, self.settings(entry)[0]), own_schedule=False)
            for entry in self.entries
            if entry.kind == "train" and entry.name in self.epochs
            for seed in self.seeds
        ]

    def train_args(self, run: BenchmarkRun) -> list[str]:
        """The ``wsl.cli.train`` arguments of a trained run (the config first, so that flags override it)."""
        entry = run.entry
        args = ["--config", str(self.config)] if self.config else []
        args += ["--pool", str(entry.pool), "--seed_everything", str(run.seed), "--run_dir", str(run.run_dir)]
        if entry.method != "cam":
            args += ["--model.method", entry.method]
        if self.data:
            args += ["--dataset", self.data]
        args += ["--checkpoint_select", self.checkpoint_select, *self.extra_args]
        if run.pool_kwargs:
            args += ["--model.pool_kwargs", json.dumps(run.pool_kwargs)]
        if run.epochs:
            args += ["--trainer.max_epochs", str(run.epochs)]
        return args

    def meta(self) -> dict[str, Any]:
        """The settings written at the top of ``results.json``."""
        return {
            "entries": [e.name for e in self.entries],
            "seeds": self.seeds,
            "data": self.data,
            "config": self.config,
            "extra_args": self.extra_args,
            "pool_kwargs": self.pool_kwargs,
            "grid": {e.name: self.settings(e) for e in self.entries if len(self.settings(e)) > 1},
            "select_metric": self.select_metric,
            "checkpoint_select": self.checkpoint_select,
            "epochs": self.epochs,
            "grid_schedule": self.grid_schedule,
        }


def _pool_kwargs_items(pool_kwargs: dict[str, dict[str, Any]] | Sequence[str] | None) -> list[str]:
    """``pool_kwargs`` as ``POOL=JSON`` strings (a dict is written as such)."""
    if pool_kwargs is None:
        return []
    if isinstance(pool_kwargs, dict):
        return [f"{p}={json.dumps(v)}" for p, v in pool_kwargs.items()]
    return list(pool_kwargs)


def _check_choices(options: BenchmarkOptions) -> None:
    """The config file, ``checkpoint_select``, ``grid_schedule``, ``select_metric`` and ``out``."""
    if options.config is not None and not Path(options.config).is_file():
        raise ValueError(f"config: {str(options.config)!r} is not a file")
    if options.checkpoint_select not in ("best", "last"):
        raise ValueError(f"checkpoint_select: got {options.checkpoint_select!r}; expected best or last")
    if options.grid_schedule not in ("own", "shared"):
        raise ValueError(f"grid_schedule: got {options.grid_schedule!r}; expected own or shared")
    scores = selectable_keys()
    if options.select_metric not in scores:
        raise ValueError(f"select_metric: got {options.select_metric!r}; choose from {', '.join(scores)}")
    root = Path(options.out)
    if root.exists() and not root.is_dir():
        raise ValueError(f"out: {str(root)!r} exists and is not a folder")


def make_plan(options: BenchmarkOptions) -> BenchmarkPlan:
    """Check the plan's settings of ``options`` (all but ``num_cam_images``, ``jobs`` and ``stale``, which
    the driver checks) and plan it (nothing is written).

    Raises:
        ValueError: an unknown entry, bad seeds, bad pool kwargs, a reserved extra argument, a config that
            is not a file, an unknown ``select_metric``, ``checkpoint_select`` or ``grid_schedule``,
            ``epochs`` naming no trained entry or not a positive int, or an output path that is a file.
    """
    parsed = parse_entries(options.entries, options.method_pool)
    seed_list = parse_seeds(options.seeds)
    pools = [e.pool for e in parsed if e.pool is not None]
    kwargs_by_pool = parse_pool_kwargs(_pool_kwargs_items(options.pool_kwargs), pools)
    extra = check_extra_args(options.extra_args)
    _check_choices(options)
    schedules = parse_epochs(options.epochs, [e.name for e in parsed if e.kind == "train"])
    return BenchmarkPlan(
        Path(options.out),
        parsed,
        seed_list,
        config=options.config,
        data=options.data,
        extra_args=extra,
        pool_kwargs=kwargs_by_pool,
        grid=options.grid,
        select_metric=options.select_metric,
        checkpoint_select=options.checkpoint_select,
        epochs=schedules,
        grid_schedule=options.grid_schedule,
    )


def parse_epochs(
    epochs: dict[str, int] | Sequence[str] | str | None, trained: Sequence[str]
) -> dict[str, int]:
    """``"has=60,gmp=60"`` (or a list of ``ENTRY=N``, or a dict) → entry name → its own number of epochs.

    Example:
        >>> parse_epochs("has=60, gmp=45", ["gap", "gmp", "has"])
        {'has': 60, 'gmp': 45}
    """
    if epochs is None:
        return {}
    items: list[tuple[str, object]]
    if isinstance(epochs, dict):
        items = [(str(k), v) for k, v in epochs.items()]
    else:
        tokens = epochs.split(",") if isinstance(epochs, str) else [str(t) for t in epochs]
        pairs = (t.partition("=") for t in tokens if t.strip())
        items = [(name.strip(), value.strip()) for name, _, value in pairs]
    out: dict[str, int] = {}
    for name, value in items:
        if name not in trained:
            raise ValueError(
                f"epochs: {name!r} is not a trained entry of the benchmark; give ENTRY=N for one of "
                f"{', '.join(trained) or 'none'}"
            )
        text = str(value)
        if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
            raise ValueError(f"epochs: {name}={value!r} is not a positive number of epochs; e.g. {name}=60")
        if name in out:
            raise ValueError(f"epochs: {name!r} is given twice; give each entry one schedule")
        out[name] = int(text)
    return out
