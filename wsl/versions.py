"""What a run's numbers depend on besides its configuration, for ``results.json``: the versions of the
libraries, and the machine (CPU, its vector extension, the intra-op thread count, the GPU)."""

from __future__ import annotations

import importlib.metadata
import platform
from pathlib import Path

import torch

__all__ = ["cpu_name", "machine", "versions"]

#: The packages recorded, as ``results.json`` names them → their distribution names.
PACKAGES = {"torch": "torch", "timm": "timm", "pytorch_lightning": "pytorch-lightning", "wsl": "wsl"}


def versions() -> dict[str, str | None]:
    """``{"torch": ..., "timm": ..., "pytorch_lightning": ..., "wsl": ...}``: each package's ``__version__``
    as imported (None when it is not installed).

    The imported module's own version is the one that ran, also for a source checkout of ``wsl`` that
    pip does not know.

    Example:
        >>> sorted(versions())
        ['pytorch_lightning', 'timm', 'torch', 'wsl']
    """
    out: dict[str, str | None] = {}
    for name, dist in PACKAGES.items():
        try:
            module = __import__(name)
            out[name] = str(getattr(module, "__version__", None) or importlib.metadata.version(dist))
        except (ImportError, importlib.metadata.PackageNotFoundError):
            out[name] = None
    return out


def cpu_name() -> str:
    """The CPU model and its widest x86 vector extension, e.g. ``AMD EPYC 7B13 (AVX2)``.

    Training results move with the float rounding of the CPU's kernels (AVX2 and AVX512 reduce in
    different orders), so a figure is stated with the CPU that gave it. Read from ``/proc/cpuinfo`` where
    there is one, else ``platform.processor()``.
    """
    model, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = f" {value.strip()} "
    except OSError:
        pass
    model = model or platform.processor() or platform.machine() or "unknown CPU"
    if not flags:
        return model
    vector = "AVX512" if " avx512f " in flags else "AVX2" if " avx2 " in flags else "no AVX2"
    return f"{model} ({vector})"


def machine() -> dict[str, str | int | None]:
    """``{"cpu": cpu_name(), "threads": torch's intra-op threads, "gpu": the CUDA device's name or None}``.

    Example:
        >>> sorted(machine())
        ['cpu', 'gpu', 'threads']
    """
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {"cpu": cpu_name(), "threads": torch.get_num_threads(), "gpu": gpu}
