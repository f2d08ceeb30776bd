"""Per-map work outside torch's intra-op thread pool (issue 35 item 12).

Scoring a CAM is a few dozen small tensor operations on one 224×224 map. Torch splits any operation of
more than 32,768 elements over its intra-op threads, and on a busy machine each such split waits for a
thread that is not scheduled: ``torch.isfinite(cam).all()`` on one map took 32.8 ms with two threads and
0.15 ms with one under load, and ``evaluate --cams`` on 2,000 maps 3 min 05 s against 26 s. The
evaluator therefore scores each batch under :func:`single_thread`; the parallelism of scoring is the
compiled core's own thread pool (:func:`wsl.metrics.boxes.best_ious_many`), one map per thread, which
this scope does not touch.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["single_thread"]


@contextmanager
def single_thread() -> Iterator[None]:
    """Run the block with torch's intra-op thread count at 1, restoring the caller's count afterwards.

    The count is process-wide state of torch; the block should be short and on the calling thread's
    own work (the evaluator's per-batch scoring). Results do not depend on it: every operation in the
    scoring is elementwise, a min/max or an integer count.

    Example:
        >>> with single_thread():
        ...     torch.get_num_threads()
        1
    """
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
