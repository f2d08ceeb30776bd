"""The benchmark's figures: ``bar_<metric>.png`` (mean per entry, sample-std error bars),
``boxacc_curves.png`` (BoxAcc against the CAM threshold, mean over seeds) and ``val_curves.png`` (the
selection metric on val against the epoch, mean over seeds: has each entry stopped improving?).

Figures are ``matplotlib.figure.Figure`` objects, not pyplot ones: no global backend state, the Agg
canvas; each is written through :func:`wsl.runs.atomic_path`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wsl.benchmark.columns import CURVES
from wsl.benchmark.stats import present_metrics
from wsl.runs import atomic_path

__all__ = ["plot_bars", "plot_curves", "plot_val_curves", "save_figure"]


def save_figure(fig: Any, path: Path) -> Path:
    """Write a matplotlib figure as a PNG (100 dpi), atomically; returns the path."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def plot_bars(out: Path, summary: Sequence[dict[str, Any]]) -> list[Path]:
    """``bar_<metric>.png`` per metric with a value: mean per entry with sample-std error bars."""
    from matplotlib.figure import Figure

    written = []
    for key, title, unit in present_metrics(summary):
        entries = [e for e in summary if key in e["metrics"]]
        scale = 100.0 if unit == "%" else 1.0
        means = [scale * e["metrics"][key]["mean"] for e in entries]
        stds = [scale * (e["metrics"][key]["std"] or 0.0) for e in entries]
        fig = Figure(figsize=(max(4.0, 0.8 * len(entries) + 1.5), 3.5), layout="tight")
        ax = fig.add_subplot()
        ax.bar([e["entry"] for e in entries], means, yerr=stds, capsize=4, color="tab:blue")
        ax.set_ylabel(f"{title}" + (" (%)" if unit == "%" else ""))
        ax.set_title(f"{title}: mean ± std over seeds")
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        written.append(save_figure(fig, out / f"bar_{key}.png"))
    return written


def plot_curves(out: Path, averaged: dict[str, dict]) -> Path | None:
    """``boxacc_curves.png``: BoxAcc (%) against the CAM threshold, one line per entry, one panel per curve.

    Args:
        out: the benchmark folder.
        averaged: :func:`wsl.benchmark.stats.mean_curves`; nothing is drawn when it is empty.
    """
    if not averaged:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 3.8), layout="tight")
    axes = fig.subplots(1, len(CURVES), sharey=True)
    for ax, (key, title) in zip(axes, CURVES, strict=True):
        for name, entry in averaged.items():
            if key in entry:
                ax.plot(entry["thresholds"], 100 * np.asarray(entry[key]), label=name)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("CAM threshold")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("BoxAcc (%), mean over seeds")
    axes[-1].legend(fontsize=8)
    return save_figure(fig, out / "boxacc_curves.png")


def plot_val_curves(out: Path, convergence: dict[str, dict[str, Any]], metric: str) -> Path | None:
    """``val_curves.png``: val ``metric`` (%) against the epoch, mean over each entry's seeds.

    Args:
        out: the benchmark folder.
        convergence: :func:`wsl.benchmark.selection.convergence`; nothing is drawn when it is empty.
        metric: the plotted metric's key (for the axis label).
    """
    if not convergence:
        return None
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="tight")
    ax = fig.add_subplot()
    colors = colormaps["tab20"]  # 20 distinct colours (an int picks one): the default cycle repeats after 10
    markers = "os^vD"
    for k, (name, info) in enumerate(convergence.items()):
        style = "--" if info["still_improving"] else "-"
        ax.plot(
            info["epochs"], 100 * np.asarray(info["mean"]), style, color=colors((2 * k) % 20 + (k // 10) % 2),
            marker=markers[k % len(markers)], markersize=3, label=name,
        )  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"val {metric} (%), mean over seeds")
    ax.set_title("Validation curves (dashed: still improving over the last third)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save_figure(fig, out / "val_curves.png")
