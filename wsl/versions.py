"""The versions of the libraries a run's numbers depend on, for ``results.json``."""

from __future__ import annotations

import importlib.metadata

__all__ = ["versions"]

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
