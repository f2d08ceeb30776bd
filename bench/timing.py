"""The timing setup the CAM benchmarks share: the best (wall, process-CPU) seconds of repeated calls.

Process-CPU seconds (user + system of this process and its threads, ``os.times``) are reported beside wall
seconds because a shared machine's wall time depends on its load. On CUDA the device is synchronised
before and after each call, so wall time covers the kernels.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

__all__ = ["cpu_seconds", "measure"]


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far."""
    t = os.times()
    return t.user + t.system


def measure(fn: Callable[[], object], repeats: int, device: torch.device) -> tuple[float, float]:
    """Best (wall, CPU) seconds of ``repeats`` calls of ``fn`` after one warm-up call (the pair with the
    smallest wall time, ties by CPU)."""
    fn()
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), cpu_seconds()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - wall, cpu_seconds() - cpu))
    return best
