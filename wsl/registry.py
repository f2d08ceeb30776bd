"""One registry mechanism for every extension point: name → entry, filled by a decorator.

Pooling heads (:data:`wsl.pooling.POOLS`), dataset formats (:data:`wsl.data.FORMATS`), class policies
(:data:`wsl.cam.CLASS_POLICIES`), post-hoc CAM methods (:data:`wsl.cam.POSTHOC_METHODS`), evaluation
frames (:data:`wsl.cam.FRAMES`), localization metrics (:data:`wsl.metrics.METRICS`), the named optimizers
and schedules (:data:`wsl.optim.OPTIMIZERS`, :data:`wsl.optim.SCHEDULERS`), the accelerators
(:data:`wsl.runs.ACCELERATORS`), the ``wsol`` subcommands (:data:`wsl.commands.SUBCOMMANDS`) and the rules
that draw a WSOL validation sample (:data:`wsl.data.wsol.VAL_SAMPLES`) are each a :class:`Registry`. A
:class:`Registry` is a ``dict`` (registration order) with four additions:

- ``register(name)``: a decorator that adds the decorated object (``add(name, entry)`` without one);
  a name already taken raises ``ValueError``.
- ``lookup(name, what=..., usage=...)``: the entry, or the one ``ValueError`` for an unknown name, written
  by :func:`unknown_choice`: ``"{what}: got 'x' (did you mean 'y'?); expected one of [...][ usage]"``.
- ``names()``: the names in registration order.
- ``kwargs_of(name)``: the keyword arguments an entry accepts (a class's ``__init__`` or a function's).

The closest names come from :func:`closest`: ``difflib`` with one cutoff (:data:`CUTOFF`), case folded.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

__all__ = ["CUTOFF", "Registry", "closest", "unknown_choice"]

#: ``difflib`` similarity a name needs to be offered as "did you mean".
CUTOFF = 0.6

T = TypeVar("T")
_E = TypeVar("_E")


def closest(value: object, names: Iterable[str], n: int = 1) -> list[str]:
    """Up to ``n`` names most similar to ``value`` (case folded, similarity ≥ :data:`CUTOFF`), best first.

    Example:
        >>> closest("WLEDON", ["gap", "weldon", "lse"])
        ['weldon']
    """
    by_folded: dict[str, str] = {}
    for name in names:
        by_folded.setdefault(name.lower(), name)
    found = difflib.get_close_matches(str(value).lower(), list(by_folded), n=n, cutoff=CUTOFF)
    return [by_folded[f] for f in found]


def unknown_choice(
    what: str, got: object, choices: Sequence[str], shown: object | None = None, usage: str = ""
) -> ValueError:
    """The ``ValueError`` for an unknown name: the value, the closest choice and the list of choices.

    Args:
        what: the argument (or registry) the value was given for.
        got: the value received.
        choices: the accepted names, listed in this order.
        shown: the value as printed (default ``got``), e.g. the whole data spec around a bad kind.
        usage: text appended after the list of choices.

    Returns:
        ``ValueError("{what}: got {shown!r}[ (did you mean {close!r}?)]; expected one of [...][ usage]")``.

    Example:
        >>> unknown_choice("pool", "gmpp", ["gmp", "gap"])
        ValueError("pool: got 'gmpp' (did you mean 'gmp'?); expected one of ['gmp', 'gap']")
    """
    close = closest(got, choices)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    value = got if shown is None else shown
    tail = f" {usage}" if usage else ""
    return ValueError(f"{what}: got {value!r}{hint}; expected one of {list(choices)}{tail}")


def _describe(entry: object) -> str:
    """``module.qualname`` of a class or function, else its repr (for the duplicate message)."""
    qualname = getattr(entry, "__qualname__", None)
    module = getattr(entry, "__module__", None)
    if isinstance(qualname, str) and isinstance(module, str):
        return f"{module}.{qualname}"
    return repr(entry)


class Registry(dict[str, T]):
    """Name → entry, in registration order, with a decorator, a checked lookup and the entries' kwargs.

    Args:
        kind: what an entry is, for messages (``"pool"``, ``"class policy"``).
        what: the argument named by a failed :meth:`lookup` (default ``kind``).

    Example:
        >>> shapes = Registry("shape")
        >>> @shapes.register("square")
        ... def square(side: float = 1.0) -> float:
        ...     return side * side
        >>> shapes.names(), shapes.kwargs_of("square"), shapes.lookup("square")(side=3.0)
        (['square'], ['side'], 9.0)
        >>> shapes.lookup("squares")
        Traceback (most recent call last):
        ...
        ValueError: shape: got 'squares' (did you mean 'square'?); expected one of ['square']
    """

    def __init__(self, kind: str, what: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.what = what or kind

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

    def add(self, name: str, entry: _E) -> _E:
        """Register ``entry`` under ``name`` and return it.

        Raises:
            TypeError: ``name`` is not a non-empty str.
            ValueError: ``name`` is already registered (to another entry or the same one).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty str; got {name!r}")
        if name in self:
            raise ValueError(
                f"{self.kind} name {name!r} is already registered to {_describe(self[name])}; "
                "choose another name"
            )
        self[name] = entry  # type: ignore[assignment]
        return entry

    def register(self, name: str) -> Callable[[_E], _E]:
        """Decorator: ``@registry.register("name")`` adds the decorated object and returns it unchanged.

        Raises:
            TypeError: ``name`` is not a non-empty str (raised at once, before decorating).
            ValueError: ``name`` is already registered (raised when decorating).
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty str; got {name!r}")

        def decorator(entry: _E) -> _E:
            return self.add(name, entry)

        return decorator

    def lookup(self, name: object, what: str | None = None, usage: str = "") -> T:
        """The entry of ``name``.

        Args:
            name: a registered name.
            what: the argument named in the error (default the registry's ``what``).
            usage: text the error appends after the names (e.g. the other forms the argument takes).

        Raises:
            ValueError: unknown name, by :func:`unknown_choice` (the value, the closest name, the
                registered names sorted, ``usage``).
        """
        if not isinstance(name, str) or name not in self:
            raise unknown_choice(what or self.what, name, sorted(self), usage=usage)
        return self[name]

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self)

    def kwargs_of(self, name: str, exclude: Sequence[str] = ()) -> list[str]:
        """The keyword arguments the entry ``name`` accepts, in signature order.

        A class's ``__init__`` parameters (``self`` dropped), or a function's parameters; ``*args`` and
        ``**kwargs`` are not listed, nor the names in ``exclude``.
        """
        entry = self.lookup(name)
        target = entry.__init__ if inspect.isclass(entry) else entry  # type: ignore[misc]
        params = inspect.signature(target).parameters.values()  # type: ignore[arg-type]
        keep = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return [p.name for p in params if p.kind in keep and p.name not in ("self", *exclude)]
