"""One results table formatter: scores as fractions in, a Markdown table in percent out (SPEC section 3)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["format_table"]


def format_table(rows: Sequence[tuple[str, dict[str, float]]], keys: Sequence[str] | None = None) -> str:
    """A Markdown table of results in percent: one row per (name, results).

    A cell is ``f"{100 · value:.1f}"``; a key missing from a row prints ``–``. Without ``keys`` the
    columns are every key of every row in first-seen order, except those ending in ``threshold`` (a CAM
    threshold is not a score).

    Args:
        rows: ``(run name, {metric name: fraction in [0, 1]})`` pairs.
        keys: the columns, in order (threshold keys included if asked for).

    Returns:
        The table, lines joined by ``\\n``, without a trailing newline.

    Example:
        >>> print(format_table([("a", {"map": 0.5, "maxboxacc_threshold": 0.3})]))
        | run | map |
        |---|---:|
        | a | 50.0 |
    """
    keys = list(keys or dict.fromkeys(k for _, r in rows for k in r if not k.endswith("threshold")))
    lines = ["| run | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    for name, results in rows:
        cells = [f"{100 * results[k]:.1f}" if k in results else "–" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
