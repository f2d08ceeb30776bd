"""Argument checks shared by the pooling functions and the heads: each check is written once.

A functional twin checks its arguments on every call; a head checks the same arguments once, at
construction (``build_pool`` on a bad config value then fails before training starts). Both call
the functions here, so the two paths raise the same error with the same message. The number checks
are the package's own (:mod:`wsl.checks`) with pooling's wording.
"""

from __future__ import annotations

import math

import torch

from wsl.checks import check_int as _check_int
from wsl.checks import check_number

__all__ = ["PoolArgumentTypeError", "check_maps", "check_k", "check_float", "check_int"]


class PoolArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (e.g. ``k="3"``).

    A ``TypeError``; also a ``ValueError`` because the heads' constructors, and so ``build_pool``,
    raised ``ValueError`` for it before the checks were shared, and callers may catch either.
    """


def check_maps(x: torch.Tensor, name: str = "x") -> None:
    """(N, C, H, W) tensor with at least one spatial position."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (N, C, H, W); got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"{name} must be a 4-D tensor (N, C, H, W); got shape {tuple(x.shape)}")
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError(f"{name} must have at least one spatial position; got shape {tuple(x.shape)}")


def check_k(
    k: int | float | None, name: str, *, allow_none: bool = False, allow_nonpositive: bool = False
) -> None:
    """A region count (int ≥ 1 or integral float ≥ 1) or a proportion (float in (0, 1)).

    The count itself depends on the map size; see ``functional.resolve_k``.

    Args:
        k: the value to check.
        name: argument name used in error messages.
        allow_none: accept ``None`` (WELDON's k⁻ = k⁺).
        allow_nonpositive: accept k ≤ 0 (WELDON's "no bottom term").

    Raises:
        PoolArgumentTypeError: k is not an int or a float (bools are rejected).
        ValueError: k is not finite, k ≤ 0 (unless allowed), or a non-integral float ≥ 1.
    """
    if k is None and allow_none:
        return
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        kinds = ("None, " if allow_none else "") + "an int count or a float proportion"
        raise PoolArgumentTypeError(f"{name} must be {kinds}; got {k!r} ({type(k).__name__})")
    accepted = "an int >= 1 (count) or a float in (0, 1) (proportion)"
    if allow_nonpositive:
        accepted += ", or <= 0 (none)"
    if not math.isfinite(k) or (k <= 0 and not allow_nonpositive):
        raise ValueError(f"{name} must be {accepted}; got {k!r}")
    if isinstance(k, float) and k >= 1 and not k.is_integer():
        raise ValueError(f"{name} must be {accepted}; got {k!r} (a float >= 1 must be integral)")


def check_float(
    value: object, name: str, *, ge: float | None = None, gt: float | None = None, when: str = ""
) -> None:
    """A finite real number (int or float, not bool), optionally ``>= ge`` or ``> gt``.

    Args:
        value: the value to check.
        name: argument name used in error messages.
        ge: inclusive lower bound.
        gt: exclusive lower bound.
        when: the condition under which the check applies, appended to the message
            (e.g. ``" with constraint='maxnorm'"``).

    Raises:
        ValueError: ``name must be a finite float[ >= ge| > gt][when]; got value``.
    """
    bound = (f" >= {ge}" if ge is not None else "") + (f" > {gt}" if gt is not None else "")
    check_number(value, name, ge=ge, gt=gt, what=f"a finite float{bound}{when}")


def check_int(value: object, name: str, *, ge: int = 1) -> None:
    """An int (not bool) ``>= ge``; raises ``ValueError: name must be an int >= ge; got value``."""
    _check_int(value, name, ge=ge)
