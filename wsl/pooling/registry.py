"""Pooling heads by name: ``POOLS``, the ``@register_pool`` decorator that fills it, and ``build_pool``.

How to add a head (nothing else needs editing: ``POOLS``, the package ``__all__`` and the generic
tests all follow the registry):

1. One function in ``functional.py`` that holds the math, with a Google-style docstring (formula,
   limits, shapes); it checks its arguments with the validators in ``_checks.py``. Every public
   function there is exported.
2. One ``PoolHead`` subclass in ``modules.py``, decorated with ``@register_pool("name")``. It only
   holds the parameters, checks them at construction with the same validators, and calls the
   function in ``forward``. Its ``__init__`` keyword arguments (``num_classes`` excluded) are what
   ``build_pool`` and ``pool_kwargs`` accept; the class docstring is the head's reference doc.
3. Its reference: an entry in ``REFERENCES`` in ``tests/pooling/pooling_reference.py``, a literal,
   independent float64 implementation of the formula plus the expected keyword arguments. Every
   test parametrized over ``POOLS`` (reference values, gradcheck, invariances, numerics) then runs
   on the new head.
4. Its docs: the class docstring, and the head's row in the pooling table of the design docs
   (SPEC section 2).

Training defaults (the class defaults): ``lse`` β = 5; ``kmax`` k = 0.1 and ``weldon`` k⁺ = k⁻ = 0.1,
α = 1 (proportions, so a head behaves the same on 14×14 and 28×28 maps); ``autopool`` α = 0 at init,
unconstrained, no RAP.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from wsl.pooling.base import PoolHead
from wsl.registry import Registry

__all__ = ["POOLS", "register_pool", "build_pool", "pool_kwargs"]

# Filled by @register_pool when wsl.pooling.modules is imported (wsl/pooling/__init__.py does it),
# in definition order: gmp, gap, lse, kmax, weldon, softpool, autopool.
POOLS: Registry[type[PoolHead]] = Registry("pool")

_H = TypeVar("_H", bound="type[PoolHead]")


def register_pool(name: str) -> Callable[[_H], _H]:
    """Class decorator that registers a pooling head in ``POOLS`` under ``name``.

    Args:
        name: the head's name for ``build_pool`` (and ``--model.pool``).

    Returns:
        A decorator that adds the class to ``POOLS`` and returns it unchanged.

    Raises:
        TypeError: ``name`` is not a non-empty string, or the decorated object is not a
            ``PoolHead`` subclass (an ``nn.Module`` class with ``regularization_loss()``).
        ValueError: ``name`` is already registered.

    Example:
        >>> @register_pool("my_gap")  # doctest: +SKIP
        ... class MyGap(PoolHead):
        ...     def forward(self, x):
        ...         return functional.gap(x)
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_pool: name must be a non-empty str; got {name!r}")

    def decorator(cls: _H) -> _H:
        # Duck-typed PoolHead check: any nn.Module class with regularization_loss() is accepted.
        if (
            not isinstance(cls, type)
            or not issubclass(cls, nn.Module)
            or not callable(getattr(cls, "regularization_loss", None))
        ):
            raise TypeError(
                f"register_pool({name!r}): expected a PoolHead subclass (an nn.Module class with "
                f"regularization_loss()); got {cls!r}"
            )
        return POOLS.add(name, cls)

    return decorator


def pool_kwargs(name: str) -> list[str]:
    """Keyword arguments accepted by the head ``name`` (``num_classes`` excluded)."""
    return POOLS.kwargs_of(name, exclude=("num_classes",))


def build_pool(name: str, num_classes: int, **kwargs: object) -> PoolHead:
    """Build the pooling head ``name`` with its keyword arguments.

    The keyword arguments of a head are those of its class's ``__init__``, ``POOLS[name]`` (whose
    docstring documents them and their defaults); ``pool_kwargs(name)`` lists them. Heads that do
    not take ``num_classes`` ignore it.

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
        >>> build_pool("weldon", 20, kmax=0.2, alpha=0.7)  # doctest: +ELLIPSIS
        WeldonPool(kmax=0.2 (proportion: ...), ...)
        >>> pool_kwargs("weldon")
        ['kmax', 'kmin', 'alpha']
    """
    cls = POOLS.lookup(name)
    accepted = pool_kwargs(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"unknown keyword argument(s) {unknown} for pool {name!r}; accepted: {accepted or 'none'}"
        )
    # Each head has its own __init__ (PoolHead's takes no arguments): call it as a factory.
    factory: Callable[..., PoolHead] = cls
    if "num_classes" in inspect.signature(cls.__init__).parameters:
        return factory(num_classes, **kwargs)
    return factory(**kwargs)
