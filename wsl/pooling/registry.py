"""Pooling heads by name: ``POOLS`` and ``build_pool``.

Adding a head is one functional, one ``PoolHead`` subclass, one line here and it gets every generic
test (the tests parametrize over ``POOLS``).

Training defaults (the class defaults): ``lse`` β = 5; ``kmax`` k = 0.1 and ``weldon`` k⁺ = k⁻ = 0.1,
α = 1 (proportions, so a head behaves the same on 14×14 and 28×28 maps); ``autopool`` α = 0 at init,
unconstrained, no RAP.
"""

from __future__ import annotations

import difflib
import inspect

from torch import nn

from wsl.pooling.modules import (
    AutoPool2d,
    GlobalAvgPool,
    GlobalMaxPool,
    KMaxPool,
    LSEPool,
    PoolHead,
    SoftPool,
    WeldonPool,
)

__all__ = ["POOLS", "build_pool", "pool_kwargs"]

POOLS: dict[str, type[PoolHead]] = {
    "gmp": GlobalMaxPool,
    "gap": GlobalAvgPool,
    "lse": LSEPool,
    "kmax": KMaxPool,
    "weldon": WeldonPool,
    "softpool": SoftPool,
    "autopool": AutoPool2d,
}


def pool_kwargs(name: str) -> list[str]:
    """Keyword arguments accepted by the head ``name`` (``num_classes`` excluded)."""
    params = inspect.signature(_lookup(name).__init__).parameters
    return [p for p in params if p not in ("self", "num_classes")]


def _lookup(name: str) -> type[PoolHead]:
    if not isinstance(name, str) or name not in POOLS:
        choices = ", ".join(POOLS)
        close = difflib.get_close_matches(str(name).lower(), list(POOLS), n=1, cutoff=0.4)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown pool name {name!r}; choose one of: {choices}{hint}")
    return POOLS[name]


def build_pool(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """Build the pooling head ``name`` with its keyword arguments.

    Names and keyword arguments: ``gmp``, ``gap``, ``softpool`` (none); ``lse`` (``beta``,
    ``learnable``); ``kmax`` (``k``); ``weldon`` (``kmax``, ``kmin``, ``alpha``); ``autopool``
    (``alpha_init``, ``constraint``, ``alpha_max``, ``rap_weight``). Heads that do not need
    ``num_classes`` ignore it.

    Args:
        name: one of ``POOLS``.
        num_classes: number of classes C (AutoPool learns one α per class).
        **kwargs: the head's keyword arguments.

    Returns:
        A :class:`PoolHead`, ``forward((N, C, H, W)) -> (N, C)``.

    Raises:
        ValueError: unknown name (lists the choices and the closest), unknown keyword (lists the
            accepted ones), or a bad value.

    Example:
        >>> build_pool("weldon", 20, kmax=0.2, alpha=0.7)
        WeldonPool(kmax=0.2 (proportion: ...), ...)
    """
    cls = _lookup(name)
    accepted = pool_kwargs(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown keyword argument(s) {unknown} for pool {name!r}; accepted: {accepted or 'none'}"
        )
    if "num_classes" in inspect.signature(cls.__init__).parameters:
        return cls(num_classes, **kwargs)
    return cls(**kwargs)
