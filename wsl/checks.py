"""Argument checks shared by the package: each check is written once.

Every check raises ``ValueError`` naming the argument, the value received and what is accepted:
``"{name} must be {what}; got {value!r}"``, with ``what`` a default description or the caller's own
(so that messages users already see keep their words). Bools are never numbers here, although Python
makes ``True`` an int: ``k=True`` is a mistake, not ``k=1``. An unknown name is checked by its registry
(:meth:`wsl.registry.Registry.lookup`) or :func:`wsl.registry.unknown_choice`.
"""

from __future__ import annotations

import math

__all__ = ["check_int", "check_number"]


def check_int(value: object, name: str, *, ge: int | None = 1, what: str | None = None) -> int:
    """An int (not bool), ``>= ge`` unless ``ge`` is None; returns it.

    Args:
        value: the value to check.
        name: the argument's name.
        ge: inclusive lower bound (None: any int).
        what: the accepted values as the message says them (default ``an int >= ge`` or ``an int``).

    Raises:
        ValueError: ``{name} must be {what}; got {value!r}``.

    Example:
        >>> check_int(3, "batch_size")
        3
        >>> check_int(0, "batch_size", what="a positive int")
        Traceback (most recent call last):
        ...
        ValueError: batch_size must be a positive int; got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or (ge is not None and value < ge):
        accepted = what or ("an int" if ge is None else f"an int >= {ge}")
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return value


def check_number(
    value: object,
    name: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    finite: bool = True,
    what: str | None = None,
) -> float:
    """A real number (int or float, not bool), optionally finite, ``>= ge`` and ``> gt``; returns it.

    Args:
        value: the value to check.
        name: the argument's name.
        ge: inclusive lower bound.
        gt: exclusive lower bound.
        finite: reject NaN and ±inf.
        what: the accepted values as the message says them (default ``a finite float[ >= ge][ > gt]``).

    Raises:
        ValueError: ``{name} must be {what}; got {value!r}``.

    Example:
        >>> check_number(0.5, "beta", gt=0)
        0.5
        >>> check_number(float("nan"), "beta", gt=0)
        Traceback (most recent call last):
        ...
        ValueError: beta must be a finite float > 0; got nan
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (finite and not math.isfinite(value))
        or (ge is not None and not value >= ge)
        or (gt is not None and not value > gt)
    ):
        bound = (f" >= {ge}" if ge is not None else "") + (f" > {gt}" if gt is not None else "")
        accepted = what or (("a finite float" if finite else "a float") + bound)
        raise ValueError(f"{name} must be {accepted}; got {value!r}")
    return value
