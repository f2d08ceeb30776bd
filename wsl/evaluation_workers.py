"""Scoring a split's maps in worker processes: the parent reads the annotations, N workers read and
score the maps, the parent sums the counts (issue 33, ``evaluate --cams --workers N``).

Every localization metric of :class:`~wsl.evaluation.LocalizationEvaluator` keeps sum-reduced integer
counts (BoxAcc hits per (δ, t), PxAP histograms, pointing hits and misses), so for any partition of the
batches ``counts(split) = Σ_batches counts(batch)`` exactly and the scores are identical, key for key, to
those of one process fed every batch.

How: ``workers`` processes (``multiprocessing``'s ``forkserver`` where it exists, which starts them from a
process that has imported this module once, else ``spawn``) each receive a copy of the evaluator and of
the map reader (:class:`MapReader`, e.g. :class:`FolderMaps`) once. One task is one batch of annotations
(its tensors sent as numpy arrays, not as torch's shared-memory handles); the worker resets its
evaluator, scores the batch with ``update_localization`` (reading the maps there) and returns the
counts and the reader's new notes; the parent adds them in submission order
(:meth:`~wsl.evaluation.LocalizationEvaluator.add_localization_counts`). At most ``2 · workers`` batches
are in flight, so memory does not grow with the number of maps. Each worker runs torch on one thread
and the compiled core's pool on ``max(1, CPUs // workers)`` threads
(:func:`wsl.metrics.boxes.set_scoring_threads`).

As with any ``multiprocessing`` start method other than ``fork``, a script that calls this at import
time needs the ``if __name__ == "__main__":`` guard (the forkserver imports the main module once).
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from wsl.cam.files import SavedCams
from wsl.evaluation import LocalizationEvaluator
from wsl.metrics.boxes import set_scoring_threads

__all__ = ["FolderMaps", "MapReader", "check_workers", "score_in_processes", "start_method"]

MapsOf = Callable[[int, list[int]], torch.Tensor]


class MapReader(Protocol):
    """What a worker reads maps with: picklable, sent to each worker once.

    ``reader(batch)`` returns ``maps_of(i, classes)`` for that batch (as
    :meth:`~wsl.evaluation.LocalizationEvaluator.update_localization` takes it); ``reader.notes()``
    returns the notes made since its last call (e.g. the maps that held NaN), which the parent collects.
    """

    def __call__(self, batch: Mapping[str, Any]) -> MapsOf: ...

    def notes(self) -> list[str]: ...


@dataclass
class FolderMaps:
    """The maps of a folder of saved CAMs (:class:`~wsl.cam.files.SavedCams`) for the images of a batch.

    ``FolderMaps(folder, protocol)(batch)(i, classes)`` is ``folder.maps(image_id_i, classes, size_i)``
    with ``size_i`` the largest map accepted: the image size, and at least the 224×224 frame of
    wsolevaluation's maps under ``protocol="wsolevaluation"``. :meth:`notes` gives the entries of
    ``folder.non_finite`` (maps scored as zeros) added since its last call.
    """

    folder: SavedCams
    protocol: str = "original"
    _noted: int = field(default=0, repr=False)

    def __call__(self, batch: Mapping[str, Any]) -> MapsOf:
        least = 224 if self.protocol == "wsolevaluation" else 0
        sizes = [(max(int(h), least), max(int(w), least)) for h, w in batch["orig_size"]]
        ids = batch["image_id"]
        return lambda i, classes: self.folder.maps(ids[i], classes, sizes[i])

    def notes(self) -> list[str]:
        new = self.folder.non_finite[self._noted :]
        self._noted = len(self.folder.non_finite)
        return list(new)


def start_method() -> str:
    """``forkserver`` where this platform has it (Linux, macOS), else ``spawn`` (Windows): never ``fork``,
    which would copy the parent's threads' locks (its loader, its progress bar, torch's pool)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


# ------------------------------------------------------------------------------------------ the wire


@dataclass(frozen=True)
class _Array:
    """A torch tensor on its way to or from a worker, as a numpy array (plain pickling)."""

    array: np.ndarray


def _to_wire(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return _Array(value.detach().cpu().numpy())
    if isinstance(value, Mapping):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_wire(v) for v in value)
    return value


def _from_wire(value: Any) -> Any:
    if isinstance(value, _Array):
        return torch.from_numpy(value.array)
    if isinstance(value, dict):
        return {k: _from_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_wire(v) for v in value)
    return value


# ------------------------------------------------------------------------------------- the worker side

_WORKER: dict[str, Any] = {}


def _start_worker(evaluator: LocalizationEvaluator, reader: MapReader, threads: int) -> None:
    torch.set_num_threads(1)
    set_scoring_threads(threads)
    _WORKER.update(evaluator=evaluator, reader=reader)


def _score_batch(wire_batch: dict[str, Any]) -> tuple[dict[str, Any], list[str], int]:
    """One task: the counts of one batch, the reader's new notes and the batch's image count."""
    evaluator: LocalizationEvaluator = _WORKER["evaluator"]
    reader: MapReader = _WORKER["reader"]
    batch = _from_wire(wire_batch)
    evaluator.reset()
    evaluator.update_localization(batch, reader(batch))
    return _to_wire(evaluator.localization_counts()), reader.notes(), len(batch["image_id"])


# ------------------------------------------------------------------------------------- the parent side


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_workers(workers: Any) -> int:
    """``workers`` as an int >= 1, else a ValueError naming the option and the fix."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(
            f"workers must be an int >= 1 (1: score in this process; N: N worker processes); got {workers!r}"
        )
    return workers


def score_in_processes(
    evaluator: LocalizationEvaluator,
    batches: Iterable[Mapping[str, Any]],
    reader: MapReader,
    workers: int,
) -> tuple[int, list[str]]:
    """Score ``batches`` into ``evaluator`` in ``workers`` processes: the same counts as
    ``for b in batches: evaluator.update_localization(b, reader(b))``, hence the same scores.

    Args:
        evaluator: the evaluator to add the counts to (its settings are copied to the workers).
        batches: collated evaluation batches (annotations; no image is needed).
        reader: picklable :class:`MapReader`, sent to each worker once.
        workers: processes (>= 1; 1 scores in this process, without starting any).

    Returns:
        ``(images, notes)``: the images of the batches scored, the reader's notes in batch order.

    Raises:
        ValueError: ``workers`` < 1; any error of a worker (a bad map file...) is raised here as is.
        RuntimeError: a worker process died (killed, out of memory).
    """
    workers = check_workers(workers)
    if workers == 1:
        return _score_here(evaluator, batches, reader)
    context = multiprocessing.get_context(start_method())
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["__main__", __name__])
    pool = ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(evaluator, reader, max(1, _cpus() // workers)),
    )
    images, notes = 0, list[str]()
    pending: deque[Future] = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(_score_batch, _to_wire(batch)))
            while len(pending) >= 2 * workers or (pending and pending[0].done()):
                images += _collect(evaluator, pending.popleft(), notes)
        while pending:
            images += _collect(evaluator, pending.popleft(), notes)
    except BrokenProcessPool as err:
        raise RuntimeError(
            f"a scoring worker process died ({err}); rerun with fewer workers (or 1) if memory ran out"
        ) from err
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return images, notes


def _collect(evaluator: LocalizationEvaluator, future: Future, notes: list[str]) -> int:
    counts, new_notes, images = future.result()
    evaluator.add_localization_counts(_from_wire(counts))
    notes.extend(new_notes)
    return images


def _score_here(
    evaluator: LocalizationEvaluator, batches: Iterable[Mapping[str, Any]], reader: MapReader
) -> tuple[int, list[str]]:
    images, notes = 0, []
    for batch in batches:
        evaluator.update_localization(dict(batch), reader(batch))
        notes.extend(reader.notes())
        images += len(batch["image_id"])
    return images, notes
