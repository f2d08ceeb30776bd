"""Independent float64 reference implementations of the pooling heads (numpy, loops and sorting).

They deliberately share no code with ``wsl.pooling``: every value is computed per map from the
SPEC section 2 formulas in the most literal way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch


def ref_resolve_k(k: int | float, n: int) -> int:
    if isinstance(k, float) and k < 1:
        return min(max(round(k * n), 1), n)
    return min(int(k), n)


def ref_gmp(z: np.ndarray) -> float:
    return float(max(z))


def ref_gap(z: np.ndarray) -> float:
    return float(sum(z) / len(z))


def ref_lse(z: np.ndarray, beta: float) -> float:
    if beta == 0:
        return ref_gap(z)
    m = max(z)
    return float(m + math.log(sum(math.exp(beta * (v - m)) for v in z) / len(z)) / beta)


def ref_kmax(z: np.ndarray, k: int | float) -> float:
    kk = ref_resolve_k(k, len(z))
    return float(sum(sorted(z, reverse=True)[:kk]) / kk)


def ref_weldon(
    z: np.ndarray, kmax: int | float = 1, kmin: int | float | None = None, alpha: float = 1.0
) -> float:
    top = ref_kmax(z, kmax)
    if kmin is None:
        kmin = kmax
    if kmin <= 0:
        return top
    kk = ref_resolve_k(kmin, len(z))
    bottom = sum(sorted(z)[:kk]) / kk
    return float(top + alpha * bottom)


def ref_autopool(z: np.ndarray, alpha: float) -> float:
    a = [alpha * v for v in z]
    m = max(a)
    w = [math.exp(v - m) for v in a]
    return float(sum(wi * zi for wi, zi in zip(w, z, strict=True)) / sum(w))


def ref_softpool(z: np.ndarray) -> float:
    return ref_autopool(z, 1.0)


def per_map(fn: Callable[..., float], x: torch.Tensor, *args: object) -> np.ndarray:
    """Apply ``fn`` to every (image, class) map of x (N, C, H, W) → (N, C) float64."""
    a = x.detach().double().cpu().numpy()
    out = np.zeros(a.shape[:2])
    for i in range(a.shape[0]):
        for c in range(a.shape[1]):
            out[i, c] = fn(a[i, c].ravel().tolist(), *args)
    return out


def _ref_autopool_head(head: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    alpha = head.effective_alpha().detach().double().numpy()
    out = per_map(ref_gap, x)
    a = x.detach().double().numpy()
    for i in range(a.shape[0]):
        for c in range(a.shape[1]):
            out[i, c] = ref_autopool(a[i, c].ravel().tolist(), float(alpha[c]))
    return out


class Reference(NamedTuple):
    """What the tests expect of one registered head."""

    kwargs: tuple[str, ...]
    """Its ``build_pool`` keyword arguments, in signature order (``num_classes`` excluded)."""
    head: Callable[[torch.nn.Module, torch.Tensor], np.ndarray]
    """(head, x (N, C, H, W)) → (N, C) float64: the head's output with its current settings."""


# One entry per head of ``wsl.pooling.POOLS``, in registration order (SPEC section 2's table);
# tests/pooling/test_pooling_registry.py checks that the two agree exactly.
REFERENCES: dict[str, Reference] = {
    "gmp": Reference((), lambda head, x: per_map(ref_gmp, x)),
    "gap": Reference((), lambda head, x: per_map(ref_gap, x)),
    "lse": Reference(("beta", "learnable"), lambda head, x: per_map(ref_lse, x, float(head.beta))),
    "kmax": Reference(("k",), lambda head, x: per_map(ref_kmax, x, head.k)),
    "weldon": Reference(
        ("kmax", "kmin", "alpha"),
        lambda head, x: per_map(ref_weldon, x, head.kmax, head.kmin, head.alpha),
    ),
    "softpool": Reference((), lambda head, x: per_map(ref_softpool, x)),
    "autopool": Reference(("alpha_init", "constraint", "alpha_max", "rap_weight"), _ref_autopool_head),
}


def ref_head(name: str, head: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """Reference output of a registry head with its current settings."""
    if name not in REFERENCES:
        raise KeyError(f"no reference implementation for pool {name!r}; add one to pooling_reference.py")
    return REFERENCES[name].head(head, x)


def ref_softpool2d(x: torch.Tensor, k: int, s: int, p: int) -> np.ndarray:
    """Local SoftPool by explicit loops over windows, padded cells skipped."""
    a = x.detach().double().numpy()
    n, c, h, w = a.shape
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((n, c, oh, ow))
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    vals = [
                        a[b, ch, r, q]
                        for r in range(i * s - p, i * s - p + k)
                        for q in range(j * s - p, j * s - p + k)
                        if 0 <= r < h and 0 <= q < w
                    ]
                    out[b, ch, i, j] = ref_softpool(vals)
    return out
