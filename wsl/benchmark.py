"""The localization benchmark of the pooling heads: every (pool, seed) trained and tested like tools/train.py.

Each run goes through :func:`wsl.cli.train` (the code path of ``tools/train.py``) with
``--pool P --seed_everything S --run_dir OUT/runs/P-seedS`` and writes its own ``results.json``; a run
whose ``results.json`` exists is skipped, so an interrupted benchmark resumes where it stopped (a run
is not redone when its arguments change: delete its folder to redo it). From the finished runs the
benchmark writes, into ``OUT`` and atomically:

- ``results.csv`` (one row per run), ``results.json`` (runs, curves and the summary) and ``results.md``
  (mean ± std over seeds per pool, in percent) after every run;
- ``bar_<metric>.png`` (mean per pool, sample-std error bars), ``boxacc_curves.png`` (BoxAcc against the
  CAM threshold, mean over seeds) and ``cams_by_pool.png`` (the CAMs of the first test images, one
  column per pool) at the end.

Std is the sample standard deviation (``n − 1``) over the seeds with a finite value; with one seed it
is not shown. Train images/s = epochs × images per epoch (the train split, or ``limit_train_batches``
batches of it) / ``train_seconds`` (fit time, validation included).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wsl.pooling import POOLS

__all__ = [
    "METRICS",
    "BenchmarkRun",
    "aggregate",
    "format_markdown",
    "parse_pool_kwargs",
    "parse_pools",
    "parse_seeds",
    "plan_runs",
    "run_benchmark",
]

# (key, column title, unit): "%" fractions shown in percent, "s" seconds, "img/s" a rate.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("map", "mAP", "%"),
    ("top1_acc", "Top-1 acc", "%"),
    ("pointing_game", "Pointing game", "%"),
    ("maxboxacc", "MaxBoxAcc", "%"),
    ("maxboxacc_v2", "MaxBoxAccV2", "%"),
    ("pxap", "PxAP", "%"),
    ("top1_loc", "Top-1 Loc", "%"),
    ("train_seconds", "train time (s)", "s"),
    ("train_images_per_s", "train img/s", "img/s"),
)
CURVES = (
    ("maxboxacc", "MaxBoxAcc curve (IoU 50, largest contour)"),
    ("maxboxacc_v2_30", "all contours, IoU 30"),
    ("maxboxacc_v2_50", "all contours, IoU 50"),
    ("maxboxacc_v2_70", "all contours, IoU 70"),
)
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
    def results_path(self) -> Path:
        return self.run_dir / "results.json"


# --------------------------------------------------------------------------------------------- parsing
def parse_pools(pools: str | Sequence[str]) -> list[str]:
    """``"gmp,gap"`` or ``["gmp", "gap"]`` → a list of known pool names, in order, without duplicates.

    Raises:
        ValueError: empty list, unknown or repeated name.
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
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        pool, eq, text = item.partition("=")
        pool = pool.strip()
        if not eq:
            raise ValueError(f'pool-kwargs: got {item!r}; expected POOL=JSON, e.g. lse={{"beta": 10}}')
        if pool not in pools:
            raise ValueError(
                f"pool-kwargs: pool {pool!r} in {item!r} is not benchmarked; pools are {list(pools)}"
            )
        if pool in out:
            raise ValueError(
                f"pool-kwargs: pool {pool!r} is given twice; merge its keys into one JSON object"
            )
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"pool-kwargs: {item!r} is not valid JSON after '=' ({err})") from err
        if not isinstance(value, dict):
            raise ValueError(f'pool-kwargs: {item!r} must give a JSON object like {{"beta": 10}}')
        out[pool] = value
    return out


def check_extra_args(extra_args: Sequence[str]) -> list[str]:
    """The extra ``tools/train.py`` arguments, refusing the flags the benchmark sets per run."""
    for arg in extra_args:
        name = arg.partition("=")[0]
        if name in RESERVED:
            raise ValueError(
                f"extra train arguments: {name!r} is set by the benchmark for every run; use --pools, "
                "--seeds, --out or --pool-kwargs instead"
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


# --------------------------------------------------------------------------------------------- rows
def _config_path(run_dir: Path) -> Path | None:
    """The run's ``config.yaml``: ``run_dir/config.yaml`` (written by :func:`wsl.cli.train`), else the one
    LightningCLI saved in the newest log dir ``run_dir/logs/version_N`` (runs of older versions)."""
    versions = sorted(
        run_dir.glob("logs/version_*/config.yaml"),
        key=lambda p: int(p.parent.name.rpartition("_")[2]) if p.parent.name[8:].isdigit() else -1,
    )
    candidates = [run_dir / "config.yaml", *reversed(versions)]
    return next((p for p in candidates if p.is_file()), None)


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = _config_path(run_dir)
    if path is None:
        return {}
    import yaml

    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _images_per_epoch(config: dict[str, Any], split_sizes: dict[tuple, int]) -> int | None:
    """Training images per epoch from a run's ``config.yaml``: the train split, cut by
    ``limit_train_batches`` like Lightning does."""
    data, trainer = config.get("data") or {}, config.get("trainer") or {}
    if "data" not in data or "batch_size" not in data:
        return None
    from wsl.data import WSLDataModule

    keys = ("data", "train_split", "class_names", "single_label", "cache_dir", "seed")
    key = tuple(json.dumps(data.get(k), sort_keys=True) for k in keys)
    if key not in split_sizes:
        kwargs = {k: data[k] for k in keys if data.get(k) is not None}
        module = WSLDataModule(num_workers=0, **kwargs)
        split_sizes[key] = len(module.dataset(module.train_split, train=True, with_annotations=False))
    size, batch = split_sizes[key], int(data["batch_size"])
    batches = math.ceil(size / batch)
    limit = trainer.get("limit_train_batches")
    if isinstance(limit, float) and limit <= 1.0:
        batches = int(batches * limit)
    elif isinstance(limit, (int, float)):
        batches = min(batches, int(limit))
    return min(size, batches * batch)


def run_row(run: BenchmarkRun, results: dict[str, Any], images_per_epoch: int | None) -> dict[str, Any]:
    """One flat row (CSV) from a run's ``results.json``: identity, timing, and the test fractions."""
    seconds = results.get("train_seconds")
    epochs = results.get("epochs")
    images = epochs * images_per_epoch if images_per_epoch is not None and epochs is not None else None
    rate = images / seconds if images is not None and seconds else None
    row: dict[str, Any] = {
        "pool": run.pool,
        "seed": run.seed,
        "run_dir": str(run.run_dir),
        "data": results.get("data"),
        "backbone": results.get("backbone"),
        "epochs": epochs,
        "global_step": results.get("global_step"),
        "train_seconds": seconds,
        "train_images": images,
        "train_images_per_s": round(rate, 2) if rate is not None else None,
        "checkpoint": results.get("checkpoint"),
    }
    row.update(results.get("test") or {})
    return row


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def aggregate(rows: Sequence[dict[str, Any]], metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Mean and sample std over seeds, per pool (pools in order of first appearance).

    Args:
        rows: flat run rows (see :func:`run_row`), each with ``pool`` and ``seed``.
        metrics: keys to aggregate; default: every key of :data:`METRICS`.

    Returns:
        One dict per pool: ``pool``, ``runs`` (number of rows), ``seeds`` and, per metric with at least one
        finite value, ``{"mean", "std", "n"}`` under ``metrics[key]``; ``std`` is None when ``n < 2``.
    """
    keys = list(metrics) if metrics is not None else [k for k, _, _ in METRICS]
    pools = list(dict.fromkeys(r["pool"] for r in rows))
    summary = []
    for pool in pools:
        mine = [r for r in rows if r["pool"] == pool]
        entry: dict[str, Any] = {"pool": pool, "runs": len(mine), "seeds": [r["seed"] for r in mine]}
        stats = {}
        for key in keys:
            values = [float(r[key]) for r in mine if _finite(r.get(key))]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else None
                stats[key] = {"mean": statistics.fmean(values), "std": std, "n": len(values)}
        entry["metrics"] = stats
        summary.append(entry)
    return summary


def _present(summary: Sequence[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """The :data:`METRICS` that have a value for some pool (so mAP or top-1 acc, PxAP only with masks)."""
    return [m for m in METRICS if any(m[0] in e["metrics"] for e in summary)]


def _cell(stat: dict[str, Any] | None, unit: str) -> str:
    if stat is None:
        return "–"
    scale, digits = (100.0, 1) if unit == "%" else (1.0, 1)
    text = f"{scale * stat['mean']:.{digits}f}"
    if stat["std"] is not None:
        text += f" ± {scale * stat['std']:.{digits}f}"
    return text


def format_markdown(summary: Sequence[dict[str, Any]]) -> str:
    """The Markdown table of :func:`aggregate`'s summary: mean ± std, scores in percent."""
    columns = _present(summary)
    lines = [
        "| pool | runs | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for entry in summary:
        cells = [_cell(entry["metrics"].get(key), unit) for key, _, unit in columns]
        lines.append(f"| {entry['pool']} | {entry['runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- writing
def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _csv_text(rows: Sequence[dict[str, Any]]) -> str:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_tables(
    out: Path, rows: list[dict[str, Any]], curves: dict[str, Any], summary: list[dict[str, Any]], meta: dict
) -> None:
    """``results.csv``, ``results.json`` and ``results.md`` in ``out``, each atomically."""
    from wsl.cli import write_json_atomic

    _write_text_atomic(out / "results.csv", _csv_text(rows) if rows else "")
    write_json_atomic(out / "results.json", {**meta, "runs": rows, "curves": curves, "summary": summary})
    done, planned = len(rows), meta["planned_runs"]
    header = (
        f"# Pooling benchmark\n\nData: {meta.get('data') or 'default'}; pools {', '.join(meta['pools'])}; "
        f"seeds {', '.join(map(str, meta['seeds']))}; {done}/{planned} runs finished.\n"
        "Test split; mean ± sample std over seeds; scores in percent; train time is the fit time "
        "(validation included).\n\n"
    )
    _write_text_atomic(out / "results.md", header + format_markdown(summary) + "\n")


def _save_figure(fig: Any, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, path)


def plot_bars(out: Path, summary: Sequence[dict[str, Any]]) -> list[Path]:
    """``bar_<metric>.png`` per metric: mean per pool with sample-std error bars."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, Agg canvas

    written = []
    for key, title, unit in _present(summary):
        entries = [e for e in summary if key in e["metrics"]]
        scale = 100.0 if unit == "%" else 1.0
        means = [scale * e["metrics"][key]["mean"] for e in entries]
        stds = [scale * (e["metrics"][key]["std"] or 0.0) for e in entries]
        fig = Figure(figsize=(max(4.0, 0.8 * len(entries) + 1.5), 3.5), layout="tight")
        ax = fig.add_subplot()
        ax.bar([e["pool"] for e in entries], means, yerr=stds, capsize=4, color="tab:blue")
        ax.set_ylabel(f"{title}" + (" (%)" if unit == "%" else ""))
        ax.set_title(f"{title}: mean ± std over seeds")
        ax.grid(axis="y", alpha=0.3)
        path = out / f"bar_{key}.png"
        _save_figure(fig, path)
        written.append(path)
    return written


def mean_curves(curves: dict[str, dict[str, Any]], rows: Sequence[dict[str, Any]]) -> dict[str, dict]:
    """Per pool, the BoxAcc curves averaged over its runs (runs with another threshold grid are left out)."""
    out: dict[str, dict] = {}
    for pool in dict.fromkeys(r["pool"] for r in rows):
        runs = [curves[r["run_dir"]] for r in rows if r["pool"] == pool and curves.get(r["run_dir"])]
        if not runs:
            continue
        grid = runs[0]["thresholds"]
        same = [c for c in runs if c.get("thresholds") == grid]
        entry = {"thresholds": grid, "runs": len(same)}
        for key, _ in CURVES:
            if all(key in c for c in same):
                entry[key] = np.mean([c[key] for c in same], axis=0).tolist()
        out[pool] = entry
    return out


def plot_curves(out: Path, averaged: dict[str, dict]) -> Path | None:
    """``boxacc_curves.png``: BoxAcc (%) against the CAM threshold, one line per pool, one panel per curve."""
    if not averaged:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 3.8), layout="tight")
    axes = fig.subplots(1, len(CURVES), sharey=True)
    for ax, (key, title) in zip(axes, CURVES, strict=True):
        for pool, entry in averaged.items():
            if key in entry:
                ax.plot(entry["thresholds"], 100 * np.asarray(entry[key]), label=pool)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("CAM threshold")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("BoxAcc (%), mean over seeds")
    axes[-1].legend(fontsize=8)
    path = out / "boxacc_curves.png"
    _save_figure(fig, path)
    return path


def cams_by_pool(out: Path, rows: Sequence[dict[str, Any]], num_images: int = 6) -> Path | None:
    """``cams_by_pool.png``: rows = the first ``num_images`` test images, columns = the image with its
    GT boxes, then each pool's CAM (its lowest-seed run) of the GT class it scores highest."""
    if num_images < 1 or not rows:
        return None
    import torch

    from wsl.checkpoint import load_module
    from wsl.data import WSLDataModule
    from wsl.data.base import read_image
    from wsl.viz import GT_COLOR, contact_sheet, draw_boxes, overlay_cam, save_png

    chosen: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["seed"]):
        if row["pool"] not in chosen and row.get("checkpoint") and Path(row["checkpoint"]).is_file():
            chosen[row["pool"]] = row
    if not chosen:
        return None
    data = _read_config(Path(next(iter(chosen.values()))["run_dir"])).get("data") or {}
    keys = ("data", "image_size", "test_split", "class_names", "single_label", "cache_dir", "seed")
    module_data = WSLDataModule(num_workers=0, **{k: data[k] for k in keys if data.get(k) is not None})
    loader = module_data.dataloader(module_data.test_split, limit=num_images, batch_size=num_images)
    batch = next(iter(loader))
    records = module_data.dataset(module_data.test_split).records
    names = module_data.class_names
    count = len(batch["image"])
    images = [read_image(records[i].image_path) for i in range(count)]
    sizes = [tuple(int(s) for s in size) for size in batch["orig_size"]]
    tiles: list[list[np.ndarray]] = [
        [draw_boxes(images[i], np.asarray(batch["boxes"][i]), GT_COLOR, thickness=1)] for i in range(count)
    ]
    captions: list[list[str]] = [[str(records[i].image_id)] for i in range(count)]
    for pool, row in chosen.items():
        module = load_module(row["checkpoint"])
        scores, cams = module.predict_cams(batch["image"], sizes)
        probs = scores.softmax(1) if module.hparams.single_label else scores.sigmoid()
        for i in range(count):
            present = torch.nonzero(batch["labels"][i] > 0).flatten()
            candidates = present if len(present) else torch.arange(scores.shape[1])
            c = int(candidates[scores[i, candidates].argmax()])
            tiles[i].append(overlay_cam(images[i], cams[i][c].float().numpy()))
            captions[i].append(f"{pool}: {names[c]} {float(probs[i, c]):.2f}")
    flat = [t for line in tiles for t in line]
    side = max(128, *(max(image.shape[:2]) for image in images))  # room for the captions
    sheet = contact_sheet(
        flat, ncols=len(tiles[0]), tile_size=(side, side), captions=[c for line in captions for c in line]
    )
    path = out / "cams_by_pool.png"
    tmp = save_png(out / "cams_by_pool.tmp.png", sheet)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------- driver
def run_benchmark(
    pools: str | Sequence[str],
    seeds: str | Sequence[int],
    out: str | os.PathLike[str],
    config: str | None = None,
    data: str | None = None,
    extra_args: Sequence[str] = (),
    pool_kwargs: dict[str, dict[str, Any]] | Sequence[str] | None = None,
    num_cam_images: int = 6,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and test every (pool, seed) through :func:`wsl.cli.train`, skipping finished runs, and write
    the tables and figures described in the module docstring.

    Args:
        pools: pool names (``"gmp,gap"`` or a list).
        seeds: seeds (``"0,1,2"`` or a list); each becomes ``--seed_everything``.
        out: output folder; runs go to ``out/runs/<pool>-seed<seed>``.
        config: a ``tools/train.py`` config file applied to every run (flags override it).
        data: data spec (``--dataset``); default: the config's or ``synthetic``.
        extra_args: more ``tools/train.py`` arguments for every run (e.g. ``--trainer.max_epochs 5``).
        pool_kwargs: per-pool ``--model.pool_kwargs``, as a dict or as ``POOL=JSON`` strings.
        num_cam_images: test images in ``cams_by_pool.png`` (0: no sheet).
        log: where progress lines go.

    Returns:
        ``{"rows", "summary", "markdown", "files"}``.

    Raises:
        ValueError: unknown pool, bad seeds, bad pool kwargs, a reserved extra argument, or an output path
            that is a file.
    """
    from wsl import cli  # looked up at call time so that tests can patch wsl.cli.train

    pools = parse_pools(pools)
    seeds = parse_seeds(seeds)
    if pool_kwargs is None:
        kwargs_by_pool: dict[str, dict[str, Any]] = {}
    elif isinstance(pool_kwargs, dict):
        kwargs_by_pool = parse_pool_kwargs([f"{p}={json.dumps(v)}" for p, v in pool_kwargs.items()], pools)
    else:
        kwargs_by_pool = parse_pool_kwargs(list(pool_kwargs), pools)
    extra = check_extra_args(extra_args)
    if config is not None and not Path(config).is_file():
        raise ValueError(f"config: {str(config)!r} is not a file")
    if num_cam_images < 0:
        raise ValueError(f"num_cam_images: got {num_cam_images}; expected >= 0")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise ValueError(f"out: {str(root)!r} exists and is not a folder")
    (root / "runs").mkdir(parents=True, exist_ok=True)

    plan = plan_runs(pools, seeds, root)
    meta = {
        "pools": pools,
        "seeds": seeds,
        "data": data,
        "config": config,
        "extra_args": extra,
        "pool_kwargs": kwargs_by_pool,
        "planned_runs": len(plan),
    }
    split_sizes: dict[tuple, int] = {}

    def collect() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        rows, curves = [], {}
        for run in plan:
            if run.results_path.is_file():
                results = json.loads(run.results_path.read_text(encoding="utf-8"))
                per_epoch = _images_per_epoch(_read_config(run.run_dir), split_sizes)
                row = run_row(run, results, per_epoch)
                rows.append(row)
                curves[row["run_dir"]] = results.get("test_curves")
        return rows, curves

    started = time.perf_counter()
    for index, run in enumerate(plan, 1):
        tag = f"[{index}/{len(plan)}] {run.name}"
        if run.results_path.is_file():
            log(f"{tag}: skip ({run.results_path} exists)")
            continue
        log(f"{tag}: start {time.strftime('%H:%M:%S')}")
        t0 = time.perf_counter()
        results = cli.train(train_args(run, config, data, extra, kwargs_by_pool.get(run.pool)))
        test = results.get("test") or {}
        scores = ", ".join(f"{k} {100 * test[k]:.1f}" for k in ("map", "top1_acc", "maxboxacc") if k in test)
        log(f"{tag}: done {time.strftime('%H:%M:%S')} in {time.perf_counter() - t0:.1f} s ({scores})")
        rows, curves = collect()
        write_tables(root, rows, curves, aggregate(rows), meta)

    rows, curves = collect()
    summary = aggregate(rows)
    write_tables(root, rows, curves, summary, meta)
    files = [root / "results.csv", root / "results.json", root / "results.md"]
    files += plot_bars(root, summary)
    curve_path = plot_curves(root, mean_curves(curves, rows))
    sheet_path = cams_by_pool(root, rows, num_cam_images)
    files += [p for p in (curve_path, sheet_path) if p is not None]
    markdown = format_markdown(summary)
    log(f"\n{markdown}\n\n{len(rows)}/{len(plan)} runs in {root} ({time.perf_counter() - started:.0f} s)")
    return {"rows": rows, "summary": summary, "markdown": markdown, "files": [str(f) for f in files]}
