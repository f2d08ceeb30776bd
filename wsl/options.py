"""Keyword arguments → frozen option objects: the one rule of the jobs that take ``options=`` and
``**fields`` (:mod:`wsl.jobs.evaluate`, :mod:`wsl.jobs.predict`).

A job that takes an options dataclass also takes its field names as keywords, so that every former
keyword call still works: ``job(x, batch_size=8)`` is ``job(x, options=replace(defaults, batch_size=8))``.
A job over several option objects routes each keyword to the object that has that field
(:func:`split_fields`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any, cast

from wsl.registry import closest

__all__ = ["apply_fields", "check_names", "field_names", "split_fields"]


def field_names(kind: type) -> list[str]:
    """The field names of the dataclass ``kind``, in declaration order."""
    return [f.name for f in dataclasses.fields(kind)]


def check_names(job: str, fields: Mapping[str, Any], known: Collection[str]) -> None:
    """Raise ``TypeError`` naming ``job``, the first keyword of ``fields`` not in ``known`` and the closest
    known name (:func:`wsl.registry.closest`)."""
    for key in fields:
        if key not in known:
            close = closest(key, known)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(
                f"{job}() got an unexpected keyword argument {key!r}{hint}; expected one of {sorted(known)}"
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
    names = set(field_names(kind))
    own = {key: value for key, value in fields.items() if key in names}
    return dataclasses.replace(cast(Any, base), **own) if own else base


def split_fields(
    job: str, fields: Mapping[str, Any], kinds: tuple[type, ...], exclude: Collection[str] = ()
) -> list[dict[str, Any]]:
    """The keywords ``fields`` routed to the option classes ``kinds``: one dict per class, each keyword in
    the dict of the first class that has a field of its name.

    Args:
        job: the job's name, for the error.
        fields: the keywords the job was given.
        kinds: option dataclasses, in routing order.
        exclude: field names of ``kinds`` the job does not take as keywords (it sets them itself).

    Raises:
        TypeError: a keyword that is no field of any of ``kinds``, or is in ``exclude``
            (:func:`check_names`: the job, the keyword and the closest name taken).

    Example:
        >>> from wsl.jobs.predict import ModelOptions, PredictOptions
        >>> split_fields("predict", {"top_k": 2, "device": "cpu"}, (PredictOptions, ModelOptions))
        [{'top_k': 2}, {'device': 'cpu'}]
    """
    names = [[n for n in field_names(kind) if n not in exclude] for kind in kinds]
    check_names(job, fields, {n for own in names for n in own})
    parts: list[dict[str, Any]] = [{} for _ in kinds]
    for key, value in fields.items():
        parts[next(i for i, own in enumerate(names) if key in own)][key] = value
    return parts
