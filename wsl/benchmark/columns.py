"""What a benchmark measures: the compared metrics (key in ``results.json``, column title, unit) and the
BoxAcc curves it averages per entry.

The columns come from the metric registry (:func:`wsl.metrics.registry.result_columns`: each registered
metric declares its :class:`~wsl.metrics.registry.Column`\\ s, the evaluator's classification scores and the
faithfulness means are declared beside it) plus the benchmark's own timing columns (:data:`TIMING`), in
rank order. A table shows the columns that have a value for some entry, so the fixed-threshold scores
(``gt_known_loc_at_t``, ``top1_loc_at_t``, ``top5_loc_at_t``, ``top5_cls``) and the faithfulness means
(``deletion_auc``, ...) appear only for runs whose results have them. A metric registered after import shows
up in the functions' answers (:func:`columns`, :func:`metric_columns`, :func:`compared_keys`,
:func:`selectable_keys`); :data:`METRICS` is their view at import.
"""

from __future__ import annotations

import wsl.metrics  # noqa: F401 - registers every metric of the package (their columns)
from wsl.metrics.registry import Column, result_columns

__all__ = [
    "CURVES",
    "METRICS",
    "TIMING",
    "columns",
    "compared_keys",
    "metric_columns",
    "selectable_keys",
    "titles",
]

#: The benchmark's own columns: the fit time (``wsl.cli``'s ``train_seconds``) and the training rate
#: (:func:`wsl.benchmark.stats.run_row`), after every score.
TIMING: tuple[Column, ...] = (
    Column("train_seconds", "train time (s)", 90, unit="s"),
    Column("train_images_per_s", "train img/s", 91, unit="img/s"),
)


def columns() -> list[Column]:
    """Every benchmark column, ordered by rank: the registry's (:func:`result_columns`) and :data:`TIMING`.

    Raises:
        ValueError: two columns share a key.
    """
    found = [*result_columns(), *TIMING]
    keys = [c.key for c in found]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"benchmark columns: keys {twice} are declared twice; keep one Column per key")
    return sorted(found, key=lambda c: c.rank)


def metric_columns() -> tuple[tuple[str, str, str], ...]:
    """``(key, column title, unit)`` of :func:`columns`: ``"%"`` fractions shown in percent, ``"s"``
    seconds, ``"img/s"`` a rate."""
    return tuple((c.key, c.title, c.unit) for c in columns())


def compared_keys() -> tuple[str, ...]:
    """The scores whose differences to the best entry (and own − shared schedule) are tested, in order."""
    return tuple(c.key for c in columns() if c.compared)


def selectable_keys() -> tuple[str, ...]:
    """The scores a benchmark may select settings and rank entries by (``select_metric``), in order."""
    return tuple(c.key for c in columns() if c.selectable)


def titles() -> dict[str, str]:
    """Key → column title, in column order."""
    return {c.key: c.title for c in columns()}


#: (key, column title, unit) of every column, as registered when this module was imported.
METRICS: tuple[tuple[str, str, str], ...] = metric_columns()
# (key in results.json's test_curves, panel title).
CURVES = (
    ("maxboxacc", "MaxBoxAcc curve (IoU 50, largest contour)"),
    ("maxboxacc_v2_30", "all contours, IoU 30"),
    ("maxboxacc_v2_50", "all contours, IoU 50"),
    ("maxboxacc_v2_70", "all contours, IoU 70"),
)
