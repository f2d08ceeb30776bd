"""wsl.benchmark.plots: one bar chart per metric with a value, BoxAcc and val curves, atomic PNGs."""

from __future__ import annotations

from wsl.benchmark import CURVES, aggregate
from wsl.benchmark import plots as wp

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_bars_per_present_metric_and_curves_as_png(tmp_path):
    rows = [
        {"entry": p, "seed": s, "map": 0.5 + 0.1 * s, "train_seconds": 3.0}
        for p in ("gap", "lse")
        for s in (0, 1)
    ]
    written = wp.plot_bars(tmp_path, aggregate(rows))
    assert [p.name for p in written] == ["bar_map.png", "bar_train_seconds.png"]
    curve = {key: [0.5, 0.4, 0.0] for key, _ in CURVES}
    averaged = {"gap": {"thresholds": [0.0, 0.5, 1.0], **curve}, "lse": {"thresholds": [0.0, 1.0]}}
    curves = wp.plot_curves(tmp_path, averaged)
    assert curves == tmp_path / "boxacc_curves.png"
    assert wp.plot_curves(tmp_path, {}) is None
    convergence = {
        "gap": {"epochs": [4, 9], "mean": [0.2, 0.3], "still_improving": True},
        "lse": {"epochs": [4, 9], "mean": [0.3, 0.3], "still_improving": False},
    }
    assert wp.plot_val_curves(tmp_path, convergence, "maxboxacc") == tmp_path / "val_curves.png"
    assert wp.plot_val_curves(tmp_path, {}, "maxboxacc") is None
    names = ["bar_map.png", "bar_train_seconds.png", "boxacc_curves.png", "val_curves.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in tmp_path.iterdir())
