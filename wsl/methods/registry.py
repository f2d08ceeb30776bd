"""WSOL training methods by name: ``METHODS``, the ``@register_method`` decorator, and ``get_method``.

How to add a method (nothing else needs editing; ``WSLModule(method=...)``, ``--model.method`` and the
generic tests in ``tests/methods`` follow the registry):

1. One module in ``wsl/methods/`` with the math as plain functions (formula and shapes in the
   docstring) and one :class:`~wsl.methods.base.WSOLMethod` subclass decorated with
   ``@register_method("name")`` whose ``__init__`` keyword arguments are its options.
2. Import the module in ``wsl/methods/__init__.py``.
3. Tests of its defining property in ``tests/methods/``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from wsl.methods.base import WSOLMethod
from wsl.registry import Registry

__all__ = ["METHODS", "register_method", "get_method", "method_kwargs"]

# Filled by @register_method when wsl.methods is imported, in order: cam, has, cutmix, adl, acol, spg.
METHODS: Registry[type[WSOLMethod]] = Registry("method")

_M = TypeVar("_M", bound=type[WSOLMethod])


def register_method(name: str) -> Callable[[_M], _M]:
    """Class decorator that registers a :class:`WSOLMethod` subclass in ``METHODS`` under ``name``.

    Raises:
        TypeError: ``name`` is not a non-empty string, or the class is not a ``WSOLMethod`` subclass.
        ValueError: ``name`` is already registered.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_method: name must be a non-empty str; got {name!r}")

    def decorator(cls: _M) -> _M:
        if not (isinstance(cls, type) and issubclass(cls, WSOLMethod)):
            raise TypeError(f"register_method({name!r}): expected a WSOLMethod subclass; got {cls!r}")
        METHODS.add(name, cls)
        cls.name = name
        return cls

    return decorator


def _lookup(name: str) -> type[WSOLMethod]:
    return METHODS.lookup(name)


def method_kwargs(name: str) -> list[str]:
    """The options (``method_kwargs`` keys) of the method ``name``."""
    return METHODS.kwargs_of(name)


def get_method(name: str, **kwargs: object) -> WSOLMethod:
    """Build the method ``name`` with its options.

    Args:
        name: one of ``METHODS`` (``cam``, ``has``, ``cutmix``, ``adl``, ``acol``, ``spg``).
        **kwargs: the method's options (``method_kwargs(name)`` lists them).

    Raises:
        ValueError: unknown name (lists the choices and the closest), unknown option (lists the
            accepted ones), or a bad value.

    Example:
        >>> get_method("has", grid_size=120, drop_rate=0.66)
        HaS(grid_size=120, drop_rate=0.66, grid_unit='pixels')
        >>> method_kwargs("cutmix")
        ['prob', 'alpha']
        >>> get_method("cmm")
        Traceback (most recent call last):
        ...
        ValueError: method: got 'cmm' (did you mean 'cam'?); expected one of [...]
    """
    cls = _lookup(name)
    accepted = method_kwargs(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for method {name!r} (method_kwargs); accepted: {accepted or 'none'}"
        )
    factory: Callable[..., WSOLMethod] = cls
    return factory(**kwargs)
