"""Checkpoints: written atomically, written on SIGTERM, and loaded back with errors that say what is wrong."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from wsl.lit import NET_ARGS, REBUILD_OVERRIDES, WSLModule
from wsl.runs import atomic_path
from wsl.trained import AUTOCAST_DTYPES

__all__ = [
    "AUTOCAST_DTYPES",
    "AtomicCheckpointIO",
    "CheckpointWriteError",
    "LastCheckpoint",
    "SaveOnSigterm",
    "load_module",
    "check_readable",
    "check_resumable",
    "read_checkpoint",
]

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file in the target folder, fsyncs it, then renames it.

    ``os.replace`` within one folder is atomic, so a process killed during a save leaves either the
    previous complete ``last.ckpt`` or the new complete one, never a truncated file. (Lightning's own
    writer stages the file in the system temp folder and moves it, which is a copy across file systems.)
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options; got {storage_options!r}")
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
        except (OSError, RuntimeError) as err:
            if isinstance(err, CheckpointWriteError) or not _is_out_of_space(err):
                raise
            raise CheckpointWriteError(path, err) from err


#: errno values of a write that ran out of room: file too large (``ulimit -f``), disk full, quota.
_OUT_OF_SPACE = {errno.EFBIG, errno.ENOSPC, errno.EDQUOT}


def _is_out_of_space(err: BaseException) -> bool:
    """True for an ``OSError`` with an out-of-room errno, and for ``torch.save``'s wrapping of one: its zip
    writer reports a short write as ``RuntimeError: ... unexpected pos ...`` or ``file write failed``."""
    if isinstance(err, OSError):
        return err.errno in _OUT_OF_SPACE
    text = str(err)
    return "unexpected pos" in text or "file write failed" in text


class CheckpointWriteError(OSError):
    """A checkpoint could not be written because the file system ran out of room; the previous file at the
    path (if any) is untouched and no partial file is left (:class:`AtomicCheckpointIO` writes beside it)."""

    def __init__(self, path: str | os.PathLike[str], cause: BaseException) -> None:
        folder = Path(path).parent
        try:
            free = f"{shutil.disk_usage(folder).free / 2**30:.1f} GiB free there"
        except OSError:
            free = "free space unknown"
        super().__init__(
            f"cannot write the checkpoint {str(path)!r}: file too large or disk full ({free}; "
            f"{type(cause).__name__}: {str(cause)[:120]}). Fix: free space on that disk or raise the "
            "file-size limit (ulimit -f), then resume with --ckpt_path last"
        )


class LastCheckpoint(Checkpoint):
    """Writes ``last.ckpt``: the weights and training state after the latest epoch, and the final ones.

    Lightning's ``ModelCheckpoint(save_last=True)`` (2.6) rewrites ``last.ckpt`` only at a step where it also
    saved a top-k checkpoint, i.e. when the monitored validation score improved, plus once at the end if it
    never saved: a run whose score stopped improving kept the weights of that epoch as ``last.ckpt``, and
    a run whose last epochs had no validation kept an older one. This callback saves at the end of every
    training epoch (after its validation) and when training ends (``max_steps`` or a stop mid-epoch), so
    that ``last.ckpt`` always holds the latest state and, after ``fit``, the final weights. An interrupted
    run's last state is saved by :class:`SaveOnSigterm`.

    Args:
        path: the file (``RUN/checkpoints/last.ckpt``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        #: ``global_step`` of the latest save (None: none yet in this fit).
        self.saved_step: int | None = None

    def _save(self, trainer: pl.Trainer) -> None:
        if trainer.sanity_checking or getattr(trainer, "fast_dev_run", False):
            return
        if self.saved_step == trainer.global_step and self.path.is_file():
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # said, so Lightning logs no default
        self.saved_step = trainer.global_step

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.saved_step = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)


class SaveOnSigterm(pl.Callback):
    """On SIGTERM (a scheduler's pre-emption, ``kill``) or SIGINT (Ctrl-C), save ``last.ckpt`` and stop.

    Lightning turns SIGTERM into a ``SIGTERMException`` at the next batch boundary; this callback
    writes the checkpoint there, so ``--ckpt_path last`` resumes from that exact step. Ctrl-C is handled
    the same way: the first SIGINT during ``fit`` is noted and raised as ``KeyboardInterrupt`` at the next
    batch boundary (a KeyboardInterrupt in the middle of an optimizer step would leave half-updated
    weights), the checkpoint is saved, and :attr:`interrupted` is set. A second Ctrl-C stops at once,
    without saving. The save is logged at INFO on global rank zero (logger ``wsl.checkpoint``):
    ``SIGTERM: saved RUN/checkpoints/last.ckpt; resume with --ckpt_path last`` (``tools/train.py`` prints
    it).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        #: True once a Ctrl-C stopped ``fit`` (``train()`` then raises ``KeyboardInterrupt``).
        self.interrupted = False
        self._sigint_pending = False
        self._previous_handler: Any = None

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._sigint_pending:  # the second Ctrl-C: the person wants out now
            raise KeyboardInterrupt
        self._sigint_pending = True

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.interrupted = self._sigint_pending = False
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self._sigint_pending:
            raise KeyboardInterrupt

    def _restore(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException):
        self._restore()
        if trainer.state.fn != "fit":
            return
        if isinstance(exception, SIGTERMException):
            name = "SIGTERM"
        elif isinstance(exception, KeyboardInterrupt) and self._sigint_pending:
            name, self.interrupted = "SIGINT", True
        else:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # said, so Lightning logs no default
        if trainer.is_global_zero:  # a message to the person at the terminal of tools/train.py
            log.info("%s: saved %s; resume with --ckpt_path last", name, self.path)


#: :func:`read_checkpoint` refuses a checkpoint whose zip members declare more bytes than this in all:
#: far above any network of ``wsl`` (a ResNet-50 checkpoint with optimizer state is ~0.3 GiB).
DEFAULT_MAX_CHECKPOINT_BYTES = 8 * 2**30


def _check_unpacked_size(path: Path, what: str, max_bytes: int) -> None:
    """Refuse a zip checkpoint whose members declare more than ``max_bytes`` uncompressed bytes.

    ``torch.save`` writes a zip; its central directory declares each member's size, so a small file
    that would unpack (or decompress) to gigabytes is refused before ``torch.load`` allocates them.
    """
    import zipfile

    def size(n: int) -> str:
        for unit, k in (("GiB", 30), ("MiB", 20), ("kB", 10)):
            if n >= 2**k:
                return f"{n / 2**k:.1f} {unit}"
        return f"{n} B"

    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return  # not a zip (a legacy checkpoint) or a broken one: torch.load says which
    if total > max_bytes:
        raise ValueError(
            f"{what} {str(path)!r} would unpack to {size(total)} (the sizes its zip members declare, "
            f"{path.stat().st_size} bytes on disk), above the limit of {size(max_bytes)}; it may be "
            "corrupt or crafted: pass a checkpoint written by tools/train.py"
        )


def read_checkpoint(
    path: str | Path,
    what: str = "checkpoint",
    fix: str = "",
    mmap: bool = False,
    max_bytes: int = DEFAULT_MAX_CHECKPOINT_BYTES,
) -> Any:
    """``torch.load(path, weights_only=True)`` with one clear error for a missing or unreadable file.

    Args:
        path: the file.
        what: how the error names it (the argument it came from).
        fix: what the user should pass instead, said after a missing file.
        mmap: map the file instead of reading it (enough to check that it is readable).
        max_bytes: refuse a checkpoint whose zip members declare more uncompressed bytes than this.

    Raises:
        ValueError: the file is missing, truncated, not a checkpoint, holds pickled objects, or would
            unpack to more than ``max_bytes``.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist; {fix or 'pass a .ckpt file'}")
    _check_unpacked_size(path, what, max_bytes)
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same message
        raise ValueError(
            # Only the type: torch's messages span many lines and suggest weights_only=False, which is unsafe.
            f"{what} {str(path)!r} cannot be read as a PyTorch checkpoint ({type(err).__name__}); "
            "it may be truncated, not a .ckpt file, or hold pickled objects (refused); pass a checkpoint "
            "written by tools/train.py"
        ) from err


def load_module(path: str | Path, map_location: str | torch.device = "cpu") -> WSLModule:
    """Load a :class:`~wsl.lit.WSLModule` from a checkpoint written by ``tools/train.py``.

    The file is read with ``torch.load(weights_only=True)``: no pickled code from the file is run.
    The network is rebuilt from the hyper-parameters stored in the checkpoint (backbone, pool, classes),
    so a checkpoint always loads into the architecture it was trained with.

    Args:
        path: a ``.ckpt`` file (``runs/<name>/checkpoints/best.ckpt`` or ``last.ckpt``).
        map_location: device to load the weights on.

    Returns:
        The module in eval mode.

    Raises:
        ValueError: the file is missing, is not a checkpoint, or was not written by ``wsl``.
    """
    path = Path(path)
    payload = read_checkpoint(path, "checkpoint", "pass the .ckpt written by tools/train.py")
    hparams = payload.get("hyper_parameters") if isinstance(payload, dict) else None
    if not hparams or "pool" not in hparams or "state_dict" not in payload:
        raise ValueError(
            f"checkpoint {str(path)!r} was not written by wsl's tools/train.py (no 'hyper_parameters' with a "
            "'pool', or no 'state_dict'); for plain backbone weights use the model's pretrained=PATH"
        )
    # LightningCLI stores its own bookkeeping keys (``_instantiator``, ``_class_path``) beside ours.
    # The state dict holds every weight: the training run's pretrained download or file is not needed.
    stored = {k: v for k, v in hparams.items() if not k.startswith("_")}
    module = WSLModule(**{**stored, **REBUILD_OVERRIDES})
    missing, unexpected = module.load_state_dict(payload["state_dict"], strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {str(path)!r} does not match the network its hyper-parameters describe "
            f"(missing keys: {missing[:5]}, unexpected keys: {unexpected[:5]})"
        )
    #: The trainer precision the checkpoint was written under (None: written before it was stored).
    module.training_precision = payload.get("precision")
    return module.to(map_location).eval()


def check_readable(path: str | Path) -> None:
    """Raise ``ValueError`` unless ``path`` is a checkpoint ``torch.load(weights_only=True)`` can read.

    Used before resuming, where Lightning would otherwise fail with a traceback on a truncated or
    foreign file.
    """
    read_checkpoint(path, "ckpt_path", "pass a .ckpt file or 'last'", mmap=True)


#: Hyper-parameters that must match to resume: the network's (its weights file aside) and the labels.
RESUME_MUST_MATCH = tuple(a for a in NET_ARGS if a != "pretrained") + ("class_names", "single_label")


def check_resumable(path: str | Path, module: WSLModule) -> None:
    """Raise ``ValueError`` unless the checkpoint at ``path`` can resume training of ``module``.

    Lightning would load another pool's or backbone's weights with a state-dict traceback, or silently
    when the shapes happen to agree (a parameter-free pool), so the stored hyper-parameters are compared
    with the configured ones first.

    Raises:
        ValueError: unreadable; a network hyper-parameter differs (the message names both values); or the
            checkpoint holds backbone stages that ``wsl`` now drops (written before that change).
    """
    payload = read_checkpoint(path, "ckpt_path", "pass a .ckpt file or 'last'", mmap=True)
    stored = payload.get("hyper_parameters") if isinstance(payload, dict) else None
    if not isinstance(stored, dict):
        raise ValueError(
            f"ckpt_path {str(path)!r} has no hyper_parameters; it was not written by tools/train.py"
        )
    for name in RESUME_MUST_MATCH:
        if name == "img_size" and module.net.backbone.img_size is None:
            continue  # a backbone that takes any size resumes at another image size
        if name in stored and stored[name] != module.hparams.get(name):
            flag = "dataset classes" if name in ("class_names", "num_classes") else f"model.{name}"
            raise ValueError(
                f"ckpt_path {str(path)!r} was trained with {name}={stored[name]!r} but this run is "
                f"configured with {name}={module.hparams.get(name)!r}; resume with the checkpoint's {flag} "
                "(or start a new run_dir)"
            )
    dropped = tuple(f"net.backbone.{p}" for p in module.net.backbone.dropped_prefixes)
    if dropped and any(k.startswith(dropped) for k in payload.get("state_dict", {})):
        raise ValueError(
            f"ckpt_path {str(path)!r} holds weights of backbone stages after out_index, which wsl no "
            "longer builds (they reach no output); it cannot be resumed, but tools/evaluate.py --ckpt "
            "still scores it"
        )
