"""The output folder of every job that writes one: checked first, locked, staged, swapped in whole.

Every folder writer (the export in both layouts, the score maps, ``predict``) goes through
:func:`staged_output`:

1. **Checked before any work** (:func:`prepare_out_dir`): ``OUT`` must not be a file, the current folder
   (or hold it), nor a non-empty folder that holds no earlier output of the layout; ``OUT`` (when it
   exists) and the folder it is in must be writable. A symbolic link ``OUT`` is followed: the files go
   into its target and the link stays.
2. **Locked** (:func:`lock_out_dir`): ``OUT.lock`` beside ``OUT`` is held with the platform's file lock
   (:func:`wsl.portable.lock_backend`, the lock of a training's run folder): a second job into the same
   ``OUT`` is refused with the folder and the pid of the running one. The lock file is removed when the
   job ends; the OS releases the lock of a killed job.
3. **Staged**: the job writes into ``OUT.partial-<pid>`` beside ``OUT``; when everything is written,
   ``OUT`` is renamed to ``OUT.old-<pid>``, the new folder to ``OUT``, the entries of the old ``OUT`` that
   the layout does not own (``notes.txt`` …) are moved into the new one and the old one is deleted. A
   failed job removes its staging folder; a killed one leaves the old ``OUT`` whole (never old and new
   files mixed), and the next job into ``OUT`` cleans what it left (a left ``OUT.old-<pid>`` is put
   back when ``OUT`` is missing).

What a layout owns, and how an earlier output of it is recognised, is an :class:`OutputLayout`
(:data:`LAYOUTS`: ``wsl``, ``wsolevaluation``, ``predict``).
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wsl.cam.files import CamManifest
from wsl.portable import lock_backend, pid_alive, write_at
from wsl.runs import check_writable_dir

__all__ = [
    "LAYOUTS",
    "OutputLayout",
    "lock_out_dir",
    "out_path",
    "prepare_out_dir",
    "staged_output",
]

MANIFEST = "cams.json"


def _is_manifest_folder(root: Path) -> bool:
    """Whether ``root`` holds a readable ``cams.json`` (:meth:`wsl.cam.files.CamManifest.read`)."""
    try:
        CamManifest.read(root / MANIFEST)
    except ValueError:
        return False
    return True


def _only_npy(root: Path) -> bool:
    """Whether every file under ``root`` is a ``.npy`` (a score-map folder written before the manifest)."""
    files = [p for p in root.rglob("*") if p.is_file()]
    return bool(files) and all(p.suffix == ".npy" for p in files)


def _holds_npy(entry: Path) -> bool:
    if entry.is_dir() and not entry.is_symlink():
        return any(p.suffix == ".npy" for p in entry.rglob("*.npy"))
    return entry.suffix == ".npy"


@dataclass(frozen=True)
class OutputLayout:
    """What a job writes into its folder.

    Attributes:
        name: the layout's name.
        owns: whether a top-level entry of ``OUT`` belongs to the layout (replaced by the next output;
            the other entries are kept).
        is_output: whether a folder holds an earlier output of the layout (one that may be replaced).
    """

    name: str
    owns: Callable[[Path], bool]
    is_output: Callable[[Path], bool]


_WSL_NAMES = frozenset({"index.html", "contact_sheet.png", MANIFEST, "cams", "overlays", "thumbs"})
_PREDICT_NAMES = _WSL_NAMES | {"detections.json", "images.json"}

#: The layouts of the folder writers, by name.
LAYOUTS: dict[str, OutputLayout] = {
    layout.name: layout
    for layout in (
        OutputLayout("wsl", lambda p: p.name in _WSL_NAMES, _is_manifest_folder),
        OutputLayout("predict", lambda p: p.name in _PREDICT_NAMES, _is_manifest_folder),
        OutputLayout(
            "wsolevaluation",
            lambda p: p.name == MANIFEST or _holds_npy(p),
            lambda root: _is_manifest_folder(root) or _only_npy(root),
        ),
    )
}


def _sibling(out: Path, kind: str, pid: int | None = None) -> Path:
    return out.parent / f"{out.name}.{kind}-{os.getpid() if pid is None else pid}"


def _alive(pid: int) -> bool:
    """Whether ``pid`` is another live process (this process's own left folders are not in use)."""
    return pid != os.getpid() and pid_alive(pid)


def out_path(out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir`` as an absolute path, a symbolic link replaced by its target (the link is kept)."""
    out = Path(out_dir).absolute()
    return Path(os.path.realpath(out)) if out.is_symlink() else out


def _carry_over(old: Path, new: Path, layout: OutputLayout) -> None:
    """Move the entries of ``old`` that ``layout`` does not own into ``new`` (which wins on a clash)."""
    for entry in old.iterdir():
        if not layout.owns(entry) and not (new / entry.name).exists():
            os.replace(entry, new / entry.name)


def _clean_left_folders(out: Path, layout: OutputLayout) -> None:
    """Remove the ``OUT.partial-<pid>``/``OUT.old-<pid>`` folders of ended jobs (an old one is put back
    when ``OUT`` is missing)."""
    if not out.parent.is_dir():
        return
    prefix = f"{out.name}."
    left = []
    for path in out.parent.iterdir():
        kind, _, pid = path.name[len(prefix) :].rpartition("-")
        ours = path.name.startswith(prefix) and kind in ("partial", "old") and pid.isdigit()
        if ours and path.is_dir() and not _alive(int(pid)):
            left.append((kind != "old", path))  # the old outputs first
    for _, path in sorted(left):
        if path.name.startswith(f"{prefix}old-"):
            if not out.exists():
                os.replace(path, out)
                continue
            _carry_over(path, out, layout)
        shutil.rmtree(path, ignore_errors=True)


def prepare_out_dir(out_dir: str | os.PathLike[str], layout: str = "wsl") -> Path:
    """Check a job's ``out_dir`` before any work and clean what a killed job into it left.

    Args:
        out_dir: the output folder (need not exist; a symbolic link is followed).
        layout: a name of :data:`LAYOUTS`.

    Returns:
        The folder the files go to (:func:`out_path`).

    Raises:
        ValueError: ``out_dir`` is a file, the current folder (or above it), not writable (nor the folder
            it is in), or a non-empty folder that holds no earlier output of the layout.
    """
    kind = LAYOUTS[layout]
    out = out_path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {str(out_dir)!r} exists and is not a folder; pass a folder path")
    if out.is_dir() and out.resolve() in (Path.cwd().resolve(), *Path.cwd().resolve().parents):
        raise ValueError(
            f"out_dir {str(out_dir)!r} is the current folder or holds it; a job replaces its folder, so "
            "pass a folder below it, e.g. 'cams_out'"
        )
    check_writable_dir(out, "out_dir")
    check_writable_dir(out.parent, f"out_dir {str(out_dir)!r}: the folder it is in")
    _clean_left_folders(out, kind)
    if out.is_dir():
        foreign = sorted(p.name for p in out.iterdir() if not kind.owns(p))
        if foreign and not kind.is_output(out):
            raise ValueError(
                f"out_dir {str(out)!r} is not empty and holds no earlier export (no cams.json; found "
                f"{foreign[:3]}); a job replaces its folder, so pass a new or empty folder or the "
                "folder of an earlier export"
            )
    return out


_HELD: dict[Path, int] = {}  # the lock files this process holds, with their nesting depth


def _read(fd: int) -> dict[str, object]:
    """The JSON object written in the lock file ``fd`` ({} when empty or unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        holder = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the open file ``fd`` (its holder removes it when it ends)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _try_lock(path: Path, out: Path) -> int:
    """Open ``path`` and take its lock; returns the fd.

    Raises:
        ValueError: another live job holds it; the message names ``out`` and that job's pid.
    """
    backend = lock_backend()
    for _ in range(10):  # the holder may remove the file between our open and our lock: open it again
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
        taken = backend.acquire(fd)
        if not _same_file(fd, path):
            if taken:
                backend.release(fd)
            os.close(fd)
            continue
        holder = _read(fd)
        pid = holder.get("pid")
        if taken and not backend.exclusive and isinstance(pid, int) and _alive(pid):
            backend.release(fd)
            taken = False
        if not taken:
            os.close(fd)
            raise ValueError(
                f"out_dir {str(out)!r} is in use by another job (pid {holder.get('pid', '?')}, started "
                f"{holder.get('started', '?')}); wait for it to end or pass another out_dir"
            )
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        write_at(fd, json.dumps({"pid": os.getpid(), "started": started}).encode(), 0)
        return fd
    raise ValueError(f"out_dir {str(out)!r}: its lock file {str(path)!r} keeps changing; try again")


@contextmanager
def lock_out_dir(out: Path) -> Iterator[Path]:
    """Hold ``OUT.lock`` beside ``out`` for the ``with`` block (re-entrant within one process).

    Raises:
        ValueError: another live job holds it; the message names the folder and that job's pid.
    """
    path = out.parent / f"{out.name}.lock"
    if path in _HELD:
        _HELD[path] += 1
        try:
            yield path
        finally:
            _HELD[path] -= 1
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = _try_lock(path, out)
    _HELD[path] = 1
    try:
        yield path
    finally:
        del _HELD[path]
        try:  # removed while held, so a job that opened it before sees another file and retries
            path.unlink()
        except OSError:  # Windows cannot remove an open file: emptied instead
            os.ftruncate(fd, 0)
        lock_backend().release(fd)
        os.close(fd)


@contextmanager
def staged_output(out_dir: str | os.PathLike[str], layout: str = "wsl") -> Iterator[Path]:
    """Lock ``out_dir``, yield the empty staging folder ``OUT.partial-<pid>``, and swap it in when the
    block succeeds (module docstring); on an exception the staging folder is removed and ``out_dir``
    is left as it was.

    Raises:
        ValueError: as :func:`prepare_out_dir` and :func:`lock_out_dir`.
    """
    out = out_path(out_dir)
    with lock_out_dir(out):
        out = prepare_out_dir(out_dir, layout)
        stage = _sibling(out, "partial")
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        try:
            yield stage
            _swap(stage, out, LAYOUTS[layout])
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise


def _swap(stage: Path, out: Path, layout: OutputLayout) -> None:
    """Put ``stage`` in the place of ``out``, carrying over the entries the layout does not own."""
    if not out.is_dir():
        os.replace(stage, out)
        return
    old = _sibling(out, "old")
    os.replace(out, old)
    os.replace(stage, out)
    _carry_over(old, out, layout)
    shutil.rmtree(old, ignore_errors=True)
