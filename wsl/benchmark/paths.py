"""Paths in the benchmark's records that survive moving the folder: written relative, read either way.

The benchmark's tables (``OUT/results.json``, ``OUT/results.csv``) name each run's folder and tested
checkpoint, and key the BoxAcc curves by the run's folder. They are written relative to ``OUT``
(``runs/gap-seed0``, ``runs/gap-seed0/checkpoints/last.ckpt``; :func:`portable_path`), so that records
copied to another machine or committed (``docs/benchmark_results``) do not carry the producing machine's
folders. Readers accept both forms (:func:`resolve_path`; records written before 2026-12-07 hold absolute
paths). A run's own ``results.json`` (written by ``tools/train.py``) keeps absolute paths; a checkpoint it
names inside its recorded run folder is found in the run folder where it lies now (:func:`anchored`).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

__all__ = ["anchored", "portable_path", "resolve_path"]


def portable_path(path: str | os.PathLike[str] | None, root: str | os.PathLike[str]) -> str | None:
    """``path`` relative to ``root`` (POSIX separators) when it lies under it, else unchanged.

    Example:
        >>> portable_path("/b/out/runs/gap-seed0", "/b/out"), portable_path("/elsewhere/x.ckpt", "/b/out")
        ('runs/gap-seed0', '/elsewhere/x.ckpt')
    """
    if path is None:
        return None
    absolute, base = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    if not Path(path).is_absolute() or not absolute.is_relative_to(base):
        return str(path)
    return absolute.relative_to(base).as_posix()


def resolve_path(path: str | os.PathLike[str] | None, root: str | os.PathLike[str]) -> str | None:
    """A path of the records as a path on this machine: an absolute one as it is, a relative one under
    ``root``.

    Example:
        >>> resolve_path("runs/gap-seed0", "/b/out"), resolve_path("/old/out/runs/gap-seed0", "/b/out")
        ('/b/out/runs/gap-seed0', '/old/out/runs/gap-seed0')
    """
    if path is None:
        return None
    if Path(path).is_absolute() or PurePosixPath(str(path)).is_absolute():
        return str(path)
    return str(Path(root) / path)


def anchored(
    path: str | os.PathLike[str] | None,
    recorded_root: str | os.PathLike[str] | None,
    current_root: str | os.PathLike[str],
) -> str | None:
    """A path a run recorded inside its folder ``recorded_root``, moved with the folder to ``current_root``;
    a relative ``path`` is taken under ``current_root``; any other path is returned unchanged.

    Example:
        >>> anchored("/old/gap-seed0/checkpoints/last.ckpt", "/old/gap-seed0", "/new/gap-seed0")
        '/new/gap-seed0/checkpoints/last.ckpt'
    """
    if path is None or str(path) == "":
        return None if path is None else str(path)
    if not Path(path).is_absolute():
        return str(Path(current_root) / path)
    if recorded_root is not None and Path(path).is_relative_to(recorded_root):
        return str(Path(current_root) / Path(path).relative_to(recorded_root))
    return str(path)
