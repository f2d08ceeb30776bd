"""wsl is built on the ``pytorch_lightning`` package, not on the unified ``lightning`` package.

Both distributions ship the same trainer under two import names (``pytorch_lightning`` and
``lightning.pytorch``) whose classes are distinct: a ``lightning.pytorch.Trainer`` refuses a
``pytorch_lightning.LightningModule`` ("`model` must be a `LightningModule`"), and a callback of one
package is not a ``Callback`` of the other. wsl's module, data module, callbacks, checkpoint plugin and
command line all come from ``pytorch_lightning`` (the ``pytorch-lightning`` dependency), so user code
that trains wsl's modules imports ``pytorch_lightning as pl`` and names classes
``pytorch_lightning.callbacks.…`` in configs. This module turns a ``lightning.*`` class met on the way
into one error that names the ``pytorch_lightning`` twin, before jsonargparse's "does not correspond
to a subclass" or the trainer's type error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["PACKAGE", "check_lightning_object", "check_lightning_paths", "twin"]

#: The import name wsl is built on.
PACKAGE = "pytorch_lightning"
#: The unified package's prefixes and the ``pytorch_lightning`` module each maps to.
PREFIXES = {"lightning.pytorch": "pytorch_lightning", "lightning.fabric": "lightning_fabric"}


def twin(path: str) -> str | None:
    """The ``pytorch_lightning`` name of a ``lightning.pytorch`` (or ``lightning.fabric``) dotted path
    (None: not one).

    Example:
        >>> twin("lightning.pytorch.callbacks.LearningRateMonitor")
        'pytorch_lightning.callbacks.LearningRateMonitor'
        >>> twin("pytorch_lightning.callbacks.LearningRateMonitor") is None
        True
    """
    for prefix, target in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "."):
            return target + path[len(prefix) :]
    return None


def _message(path: str, where: str) -> str:
    return (
        f"{where}: {path} is from the unified `lightning` package; wsl is built on `{PACKAGE}` (the two "
        f"packages' classes do not mix): use {twin(path)} instead (docs/packaging.md, 'Lightning')"
    )


def check_lightning_object(obj: Any, where: str) -> None:
    """Raise ``TypeError`` when ``obj`` (a callback, logger, plugin …) is of a ``lightning.*`` class.

    Args:
        obj: the object handed to wsl's trainer.
        where: the field it came from, for the message (``trainer.callbacks[0]``).
    """
    cls = obj if isinstance(obj, type) else type(obj)
    path = f"{cls.__module__}.{cls.__qualname__}"
    if twin(path) is not None:
        raise TypeError(_message(path, where))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _config_files(argv: list[str]) -> Iterable[str]:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            yield argv[i + 1]
        elif arg.startswith("--config="):
            yield arg.partition("=")[2]


#: A ``lightning.pytorch`` / ``lightning.fabric`` dotted name anywhere in a text (a value, inline JSON).
MENTION = re.compile(r"(?<![\w.])lightning\.(?:pytorch|fabric)(?:\.\w+)*")


def _mention(text: str) -> str | None:
    found = MENTION.search(text)
    return found.group(0) if found else None


def check_lightning_paths(argv: list[str]) -> None:
    """Raise ``ValueError`` when a command-line value or a ``--config`` file names a ``lightning.*`` class.

    Example:
        >>> check_lightning_paths(  # doctest: +ELLIPSIS
        ...     ["--trainer.logger", "lightning.pytorch.loggers.CSVLogger"]
        ... )
        Traceback (most recent call last):
        ...
        ValueError: --trainer.logger: lightning.pytorch.loggers.CSVLogger is from the unified `lightning` ...
    """
    import yaml

    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        inline = bool(eq) and flag.startswith("--")
        if arg.startswith("--") and not inline:
            continue  # a flag's name
        found = _mention(value if inline else arg)
        if found is not None:
            raise ValueError(_message(found, flag if inline else (argv[i - 1] if i else "argument")))
    for name in _config_files(argv):
        path = Path(name)
        if not path.is_file():
            continue  # the config reader reports it
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError, OSError):
            continue
        for text in _strings(config):
            found = _mention(text)
            if found is not None:
                raise ValueError(_message(found, str(path)))
