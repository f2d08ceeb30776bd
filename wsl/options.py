"""Keyword arguments → frozen option objects: the one rule of the jobs that take ``options=`` and
``**fields`` (:mod:`wsl.jobs.evaluate`).

A job that takes an options dataclass also takes its field names as keywords, so that every former
keyword call still works: ``job(x, batch_size=8)`` is ``job(x, options=replace(defaults, batch_size=8))``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, cast

__all__ = ["apply_fields", "check_names"]


def check_names(job: str, fields: Mapping[str, Any], known: Collection[str]) -> None:
    """Raise ``TypeError`` naming ``job`` and the first keyword of ``fields`` not in ``known``."""
    for key in fields:
        if key not in known:
            raise TypeError(
                f"{job}() got an unexpected keyword argument {key!r}; expected one of {sorted(known)}"
            )


def apply_fields(kind: type, options: Any, fields: Mapping[str, Any]) -> Any:
    """``options`` (None: the defaults of ``kind``) with those ``fields`` that name a field of ``kind``
    replaced; the other ``fields`` are left to the caller.

    Raises:
        TypeError: ``options`` is neither None nor a ``kind``.
    """
    base: Any = kind() if options is None else options
    if not isinstance(base, kind):
        raise TypeError(f"options must be a {kind.__name__} or None; got {type(base).__name__}")
    names = {f.name for f in dataclasses.fields(kind)}
    own = {key: value for key, value in fields.items() if key in names}
    return dataclasses.replace(cast(Any, base), **own) if own else base
