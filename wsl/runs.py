"""Run folders, atomic writes and the device rule: one place each.

A run folder is what ``tools/train.py`` writes::

    RUN/config.yaml            the full configuration (LightningCLI)
    RUN/results.json           test scores, best threshold, curves
    RUN/checkpoints/best.ckpt  and last.ckpt
    RUN/logs/version_N/        CSV (and TensorBoard) logs
    RUN/.lock                  held by the training writing the folder (:func:`lock_run_dir`)

Every file ``wsl`` writes goes through :func:`atomic_path`: a temporary file in the target folder that is
renamed into place (``os.replace`` within one folder is atomic), so a reader or a killed process never
sees half a file. Written files get the usual ``0o666 & ~umask`` mode.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from wsl.portable import lock_backend, pid_alive, write_at
from wsl.registry import Registry, unknown_choice

__all__ = [
    "ACCELERATORS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_THRESHOLD",
    "RunFolder",
    "atomic_path",
    "check_writable_dir",
    "check_new_run",
    "check_writable_file",
    "lock_run_dir",
    "nan_to_none",
    "previous_run",
    "parse_threshold",
    "device_names",
    "resolve_device",
    "write_json",
    "write_text",
]

log = logging.getLogger(__name__)

#: Box threshold used when ``best`` is asked for and no ``results.json`` gives one.
DEFAULT_THRESHOLD = 0.5
#: Network input side when neither the checkpoint nor the run's config says.
DEFAULT_IMAGE_SIZE = 128


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def nan_to_none(payload: Any) -> Any:
    """A copy of ``payload`` (dicts, lists, tuples, numbers) with every float NaN replaced by ``None``.

    For scores that can be legitimately undefined (the mAP of a split whose classes have no positive
    image, the PxAP of a split without masks, the pointing game of a class without trials): JSON has no
    NaN, so they are written as ``null``. Infinities are kept (and refused by :func:`write_json`).

    Example:
        >>> nan_to_none({"map": float("nan"), "curve": [0.5, float("nan")]})
        {'map': None, 'curve': [0.5, None]}
    """
    if isinstance(payload, float) and math.isnan(payload):
        return None
    if isinstance(payload, dict):
        return {key: nan_to_none(value) for key, value in payload.items()}
    if isinstance(payload, (list, tuple)):
        return [nan_to_none(value) for value in payload]
    return payload


def _non_finite(payload: Any, where: str = "") -> str | None:
    """The first place (``['test']['map']``) in ``payload`` that holds a non-finite float, else None."""
    if isinstance(payload, float) and not math.isfinite(payload):
        return f"{where or 'the value'} = {payload}"
    items = (
        payload.items()
        if isinstance(payload, dict)
        else enumerate(payload)
        if isinstance(payload, (list, tuple))
        else ()
    )
    for key, value in items:
        found = _non_finite(value, f"{where}[{key!r}]")
        if found:
            return found
    return None


def write_json(path: str | os.PathLike[str], payload: Any, nan_as_null: bool = False) -> Path:
    """Write JSON (indented, keys sorted) atomically; returns the path.

    Every file is valid JSON (``allow_nan=False``): NaN and infinities, which ``json.dumps`` would write
    as the non-standard ``NaN``/``Infinity`` tokens, are refused, or NaN written as ``null`` with
    ``nan_as_null`` (for scores that can be undefined, see :func:`nan_to_none`).

    Raises:
        ValueError: ``payload`` holds a non-finite float (NaN too unless ``nan_as_null``); the message
            names the file and the first such key.
    """
    if nan_as_null:
        payload = nan_to_none(payload)
    try:
        text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=False)
    except ValueError:
        found = _non_finite(payload) or "a value"
        raise ValueError(
            f"{str(path)!r}: {found} is not finite, which JSON cannot hold; not written (a NaN score comes "
            "from non-finite weights or inputs)"
        ) from None
    return write_text(path, text)


def check_writable_dir(path: str | os.PathLike[str], what: str = "folder") -> Path:
    """Raise ``ValueError`` unless ``path`` is a folder this process can write in, or can be created.

    Checked before any work, so that a run does not fail after hours on its first write.

    Args:
        path: the folder (need not exist).
        what: how the message names it (the argument or flag it came from).

    Raises:
        ValueError: ``path`` or one of its parents is a file, or the nearest existing folder is not
            writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a file, not a folder; pass a folder")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{what} {str(path)!r} cannot be created: {str(existing)!r} is a file; pass a folder path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(
            f"{what} {str(path)!r} is not writable (no write permission on {str(existing)!r}); pass a "
            "writable folder"
        )
    return path


def check_writable_file(path: str | os.PathLike[str], what: str = "output file") -> Path:
    """Raise ``ValueError`` unless :func:`atomic_path` can write ``path`` (its folder is writable).

    Raises:
        ValueError: ``path`` is a folder, a parent is a file, or the folder is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{what} {str(path)!r} is a folder; pass a file path")
    check_writable_dir(path.parent, f"{what} {str(path)!r}: folder")
    return path


@contextmanager
def lock_run_dir(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an exclusive lock on ``run_dir/.lock`` for the duration of the ``with`` block.

    Two trainings writing one run folder would mix their checkpoints and ``results.json``. The lock is
    the platform's file lock (:func:`wsl.portable.lock_backend`: ``fcntl.flock`` on Linux and macOS,
    ``msvcrt.locking`` on Windows), which the OS releases when its holder dies (SIGKILL included); the
    file holds the holder's pid and start time, for the error message. Contents left by a process that
    ended without releasing (killed) are taken over with a note. On a platform with neither lock, a
    lock file naming a live process other than this one is refused instead (with a note that there is
    no OS lock). The notes are logged at INFO (logger ``wsl.runs``), not printed.

    Args:
        run_dir: the run folder (created if missing).

    Raises:
        ValueError: another live process holds the lock; the message names the folder and its pid.
    """
    path = Path(run_dir) / ".lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    backend = lock_backend()
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
    try:
        if not backend.exclusive:
            log.info("note: no file lock on %s; %s is checked by the pid it names", sys.platform, path)
        if not backend.acquire(fd):
            raise _in_use(path)
        left = _read_holder(path)
        if left.get("pid") not in (None, os.getpid()):
            alive = pid_alive(int(left["pid"]))
            if alive and not backend.exclusive:
                raise _in_use(path)
            state = "no longer holds it" if alive else "is no longer running"
            log.info(
                "note: %s was left by pid %s (started %s), which %s; taking it over",
                path,
                left["pid"],
                left.get("started", "?"),
                state,
            )
        started = datetime.datetime.now().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        write_at(fd, json.dumps({"pid": os.getpid(), "started": started}).encode(), 0)
        try:
            yield path
        finally:
            # Emptied, not removed: removing would let a third process lock a new file while a second
            # one waits on the old one.
            os.ftruncate(fd, 0)
            backend.release(fd)
    finally:
        os.close(fd)


#: What a training writes into its run folder: a folder holding one of these holds a run (started or
#: finished). ``checkpoints/*.ckpt`` is checked by pattern.
RUN_MARKERS = ("config.yaml", "results.json")


def previous_run(run_dir: str | os.PathLike[str]) -> list[str]:
    """The outputs of an earlier training in ``run_dir`` (paths relative to it, sorted); [] for a new run.

    A run is marked by its ``config.yaml`` (written first), its ``results.json`` (written last) and its
    ``checkpoints/*.ckpt``. The lock file and other files (logs, exported CAMs) do not count.
    """
    root = Path(run_dir)
    found = [name for name in RUN_MARKERS if (root / name).is_file()]
    found += [f"checkpoints/{p.name}" for p in sorted((root / "checkpoints").glob("*.ckpt"))]
    return sorted(found)


def check_new_run(
    run_dir: str | os.PathLike[str], resume: str | os.PathLike[str] | None, overwrite: bool = False
) -> list[str]:
    """Refuse a second training into a run folder that holds a run, unless it continues that run.

    A second training writing into a run folder would leave ``best.ckpt`` of one run beside the
    ``results.json`` of the other (or Lightning's ``best-v1.ckpt``). Continuing is allowed: ``resume`` is
    ``last`` or a checkpoint inside ``run_dir/checkpoints``. With ``overwrite`` the earlier run's
    outputs (:func:`previous_run`) are deleted instead.

    Args:
        run_dir: the run folder.
        resume: the ``ckpt_path`` of the training (None: a new training).
        overwrite: delete the earlier run's outputs.

    Returns:
        The outputs deleted by ``overwrite`` ([] otherwise).

    Raises:
        ValueError: the folder holds a run and ``resume`` does not continue it; the message names the
            folder, what it holds and the three ways out.
    """
    root = Path(run_dir)
    found = previous_run(root)
    if not found:
        return []
    if overwrite:
        for name in found:
            (root / name).unlink(missing_ok=True)
        return found
    if resume is not None:
        inside = str(resume) == "last" or Path(resume).resolve().parent == (root / "checkpoints").resolve()
        if inside:
            return []
    state = "a finished run" if "results.json" in found else "a started run"
    shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
    raise ValueError(
        f"run_dir {str(root)!r} already holds {state} ({shown}); pass a new --run_dir, "
        "--ckpt_path last to continue that run, or --overwrite true to delete it and start again"
    )


def _in_use(path: Path) -> ValueError:
    holder = _read_holder(path)
    return ValueError(
        f"run_dir {str(path.parent)!r} is in use by another training (pid {holder.get('pid', '?')}, "
        f"started {holder.get('started', '?')}); wait for it to end or pass another run_dir"
    )


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        holder = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
        return {}
    return holder


#: The accelerators :func:`resolve_device` accepts by name (also as ``NAME:N``), each with how to ask torch
#: whether this machine has one.
ACCELERATORS: Registry[Callable[[], bool]] = Registry("accelerator", what="device")


@ACCELERATORS.register("cuda")
def _has_cuda() -> bool:
    return torch.cuda.is_available()


@ACCELERATORS.register("mps")
def _has_mps() -> bool:
    return torch.backends.mps.is_available()


def device_names() -> list[str]:
    """The devices :func:`resolve_device` accepts: ``cpu``, each accelerator as ``NAME`` and ``NAME:N``, and
    ``auto``.

    Example:
        >>> device_names()
        ['cpu', 'cuda', 'cuda:N', 'mps', 'mps:N', 'auto']
    """
    return ["cpu", *(form for name in ACCELERATORS for form in (name, f"{name}:N")), "auto"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """The device to run on: ``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``mps:N`` as given, or ``auto``.

    ``auto`` is ``cuda`` when available, else ``cpu`` (as before ``mps`` was accepted); Apple's ``mps`` is
    used only when asked for: MPS has no float64 tensors, and no machine with MPS has run wsl's tests.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')

    Raises:
        ValueError: another name or a malformed index (by :func:`~wsl.registry.unknown_choice`: the closest of
            :func:`device_names`), or an accelerator this machine does not have.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if ACCELERATORS["cuda"]() else "cpu")
    kind, colon, index = device.partition(":")
    if device != "cpu" and (kind not in ACCELERATORS or (colon and not index.isdigit())):
        raise unknown_choice(ACCELERATORS.what, device, device_names())
    if kind in ACCELERATORS and not ACCELERATORS[kind]():
        raise ValueError(
            f"device {device!r} was asked for but {kind.upper()} is not available; use 'cpu' or 'auto'"
        )
    return torch.device(device)


def parse_threshold(value: Any) -> float:
    """A box threshold in [0, 1) from a float or a string.

    Raises:
        ValueError: not a number, not finite, or outside [0, 1).
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be 'best' or a number in [0, 1); got {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number < 1.0):
        raise ValueError(f"threshold must be in [0, 1) (a fraction of the CAM maximum); got {value!r}")
    return number


class RunFolder:
    """Read-only view of a run folder (layout in the module docstring).

    Args:
        root: the run folder.

    Example:
        >>> run = RunFolder.of_checkpoint("runs/synthetic-weldon/checkpoints/best.ckpt")
        >>> run.root.as_posix()
        'runs/synthetic-weldon'
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @classmethod
    def of_checkpoint(cls, ckpt: str | os.PathLike[str]) -> RunFolder:
        """The run a checkpoint belongs to: the parent of ``checkpoints/``, else the checkpoint's folder."""
        folder = Path(ckpt).parent
        return cls(folder.parent if folder.name == "checkpoints" else folder)

    @property
    def results_path(self) -> Path:
        return self.root / "results.json"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    def results(self) -> dict[str, Any] | None:
        """``results.json`` as a dict, or None when it is missing or unreadable."""
        try:
            payload = json.loads(self.results_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return payload if isinstance(payload, dict) else None

    def config(self) -> dict[str, Any] | None:
        """``config.yaml`` as a dict, or None when it is missing or unreadable."""
        try:
            import yaml

            payload = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        except Exception:  # noqa: BLE001 - an unreadable config only means "unknown"
            return None
        return payload if isinstance(payload, dict) else None

    def best_threshold(self) -> tuple[float, str]:
        """The run's best MaxBoxAcc threshold (``results.json`` → ``test.maxboxacc_threshold``).

        Returns:
            ``(threshold, note)``; :data:`DEFAULT_THRESHOLD` with a note saying why when there is none.
        """
        path = self.results_path
        if not path.is_file():
            return DEFAULT_THRESHOLD, (
                f"note: no results.json in {self.root} (train with tools/train.py to get one); "
                f"using threshold {DEFAULT_THRESHOLD}"
            )
        try:
            value = json.loads(path.read_text(encoding="utf-8"))["test"]["maxboxacc_threshold"]
            return parse_threshold(value), f"threshold {float(value):.3f} (best MaxBoxAcc) from {path}"
        except (OSError, ValueError, KeyError, TypeError) as err:
            return DEFAULT_THRESHOLD, (
                f"note: {path} has no usable test.maxboxacc_threshold ({type(err).__name__}: {err}); "
                f"using threshold {DEFAULT_THRESHOLD}"
            )

    def training_image_size(self, ckpt: str | os.PathLike[str] | None = None) -> tuple[int, str]:
        """The network input side the run was trained at.

        Looks at the checkpoint's ``datamodule_hyper_parameters.image_size`` (Lightning stores it), then
        at ``data.image_size`` in ``config.yaml``, else :data:`DEFAULT_IMAGE_SIZE`.

        Returns:
            ``(size, note)``, the note saying where the size came from.
        """
        if ckpt is not None and Path(ckpt).is_file():
            try:
                payload = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
                size = payload.get("datamodule_hyper_parameters", {}).get("image_size")
                if isinstance(size, int) and size > 0:
                    return size, f"image size {size} from the checkpoint"
            except Exception:  # noqa: BLE001 - loading reports an unreadable checkpoint with a clear error
                pass
        size = ((self.config() or {}).get("data") or {}).get("image_size")
        if isinstance(size, int) and size > 0:
            return size, f"image size {size} from {self.config_path}"
        return DEFAULT_IMAGE_SIZE, f"note: training image size unknown; using {DEFAULT_IMAGE_SIZE}"
