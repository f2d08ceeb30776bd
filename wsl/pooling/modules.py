"""Pooling heads as ``nn.Module``s: class maps (N, C, H, W) → scores (N, C).

Each head only holds its parameters and calls its functional twin in ``functional.py``; the
formulas, limits and numerics are those of SPEC section 2. Every head has
``regularization_loss()``, a scalar the training loss adds (0 except for AutoPool's RAP term).

A head's constructor validates its arguments with the same checks (``_checks``) its functional twin
runs on every call, so a bad config value fails at ``build_pool`` with the twin's message.
``@register_pool(name)`` puts a head in ``POOLS``; ``__all__`` (end of file) is derived from it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wsl.pooling import functional as PF
from wsl.pooling._checks import check_float, check_int, check_k
from wsl.pooling.base import PoolHead
from wsl.pooling.registry import POOLS, register_pool


def _k_rule(k: int | float) -> str:
    if isinstance(k, float) and k < 1:
        return f"{k} (proportion: clamp(round({k}·H·W), 1, H·W))"
    return f"{k} (count, clamped to H·W)"


@register_pool("gmp")
class GlobalMaxPool(PoolHead):
    """Global max pooling: s = max_i z_i (= kmax with k = 1).

    Shapes: (N, C, H, W) → (N, C). On ties the gradient goes to one tied position.

    Example:
        >>> GlobalMaxPool()(torch.randn(2, 20, 14, 14)).shape
        torch.Size([2, 20])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return PF.gmp(x)


@register_pool("gap")
class GlobalAvgPool(PoolHead):
    """Global average pooling: s = (1/n) Σ_i z_i; with it the class maps are the classic CAM.

    Shapes: (N, C, H, W) → (N, C).

    Example:
        >>> GlobalAvgPool()(torch.randn(2, 20, 14, 14)).shape
        torch.Size([2, 20])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return PF.gap(x)


@register_pool("lse")
class LSEPool(PoolHead):
    """Log-sum-exp pooling: s = (1/β) · log((1/n) Σ_i exp(β z_i)).

    Limits: gap ≤ s ≤ gmp; gmp − s ≤ log(n)/β; β → 0 gives gap, β → ∞ gmp. The default β = 5 gives
    a soft max that still spreads gradient over the strongest few positions (on a 14×14 map,
    gmp − s ≤ log(196)/5 ≈ 1.06).

    Args:
        beta: β ≥ 0 (β = 0 is exactly gap); must be > 0 when ``learnable``.
        learnable: learn β, kept > 0 as β = softplus(ρ) with ρ initialised so that β = ``beta``.

    Shapes: (N, C, H, W) → (N, C).

    Example:
        >>> LSEPool(beta=5.0, learnable=True)(torch.randn(2, 20, 14, 14)).shape
        torch.Size([2, 20])
    """

    def __init__(self, beta: float = 5.0, learnable: bool = False) -> None:
        super().__init__()
        check_float(beta, "beta", ge=0)
        if learnable and beta <= 0:
            raise ValueError(f"beta must be > 0 when learnable=True (β = softplus(ρ) > 0); got {beta!r}")
        self.learnable = bool(learnable)
        if self.learnable:
            # Inverse softplus, log(expm1(β)), written so that it does not overflow for large β.
            rho = beta + math.log(-math.expm1(-beta))
            self.beta_raw = nn.Parameter(torch.tensor(float(rho)))
        else:
            self._beta = float(beta)

    @property
    def beta(self) -> torch.Tensor | float:
        """The current β (a scalar tensor when learnable)."""
        return F.softplus(self.beta_raw) if self.learnable else self._beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return PF.lse(x, self.beta)

    def extra_repr(self) -> str:
        beta = float(self.beta) if not self.learnable else float(self.beta.detach())
        return f"beta={beta:.4g}, learnable={self.learnable}"


@register_pool("kmax")
class KMaxPool(PoolHead):
    """Top-k mean pooling: s = (1/k) Σ_{j≤k} z_(j).

    Limits: k = 1 is gmp, k ≥ n is gap; the gradient is 1/k on each selected position.

    Args:
        k: an int ≥ 1 is a count (clamped to n = H·W); a float in (0, 1) is a proportion,
            clamp(round(k·n), 1, n). Default 0.1 (a proportion is robust to the map size: 20 of
            196 positions on 14×14, 78 of 784 on 28×28). The count of the last forward is ``last_k``.

    Shapes: (N, C, H, W) → (N, C).

    Example:
        >>> KMaxPool(k=0.1)(torch.randn(2, 20, 14, 14)).shape
        torch.Size([2, 20])
    """

    def __init__(self, k: int | float = 0.1) -> None:
        super().__init__()
        check_k(k, "k")
        self.k = k
        self.last_k: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = PF.kmax(x, self.k)
        self.last_k = PF.resolve_k(self.k, x.shape[2] * x.shape[3], "k")
        return out

    def extra_repr(self) -> str:
        return f"k={_k_rule(self.k)}, last_k={self.last_k}"


@register_pool("weldon")
class WeldonPool(PoolHead):
    """WELDON pooling: s = (1/k⁺) Σ_{j≤k⁺} z_(j) + α · (1/k⁻) Σ_{j>n−k⁻} z_(j).

    Top and bottom sets are chosen independently (a position in both gets both gradient shares);
    no ½ factor. k⁻ ≤ 0 or α = 0 gives kmax(k⁺).

    Args:
        kmax: k⁺, count or proportion (see :class:`KMaxPool`); default 0.1.
        kmin: k⁻, count or proportion; ``None`` (default) means k⁻ = k⁺; ≤ 0 means no bottom term.
        alpha: weight α of the bottom term, default 1 (the papers' formula).

    The counts of the last forward are ``last_kmax`` and ``last_kmin``.

    Shapes: (N, C, H, W) → (N, C).

    Example:
        >>> WeldonPool(kmax=0.1, alpha=0.7)(torch.randn(2, 20, 14, 14)).shape
        torch.Size([2, 20])
    """

    def __init__(self, kmax: int | float = 0.1, kmin: int | float | None = None, alpha: float = 1.0) -> None:
        super().__init__()
        check_k(kmax, "kmax")
        check_k(kmin, "kmin", allow_none=True, allow_nonpositive=True)
        check_float(alpha, "alpha")
        self.kmax = kmax
        self.kmin = kmin
        self.alpha = float(alpha)
        self.last_kmax: int | None = None
        self.last_kmin: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = PF.weldon(x, self.kmax, self.kmin, self.alpha)
        self.last_kmax, self.last_kmin = PF.resolve_weldon_k(self.kmax, self.kmin, x.shape[2] * x.shape[3])
        return out

    def extra_repr(self) -> str:
        if self.kmin is None:
            kmin = "None (= kmax)"
        elif self.kmin <= 0:
            kmin = f"{self.kmin} (no bottom term)"
        else:
            kmin = _k_rule(self.kmin)
        return (
            f"kmax={_k_rule(self.kmax)}, kmin={kmin}, alpha={self.alpha}, "
            f"last_kmax={self.last_kmax}, last_kmin={self.last_kmin}"
        )


@register_pool("softpool")
class SoftPool(PoolHead):
    """Global SoftPool: s = Σ_i softmax(z)_i · z_i, one softmax per channel over H·W.

    Limits: gap ≤ s ≤ gmp; equals AutoPool with α = 1. The gradient is the true one,
    w_i (1 + z_i − s). Computed in float32 under autocast.

    Shapes: (N, C, H, W) → (N, C).

    Example:
        >>> SoftPool()(torch.randn(2, 20, 14, 14)).shape
        torch.Size([2, 20])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return PF.softpool(x)


class _ProjectedClampFn(torch.autograd.Function):
    """Clamp α to [lo, hi] in the forward; in the backward let the gradient through wherever α is
    feasible, or where a descent step moves α back towards the feasible set.

    A plain ``clamp`` zeroes the gradient outside the box, so one Adam step across the boundary
    would freeze α there forever; this behaves like projected gradient descent (the paper projects
    after each step) without an optimizer hook.
    """

    @staticmethod
    def forward(ctx, alpha, lo, hi):  # type: ignore[override]
        ctx.save_for_backward(alpha)
        ctx.bounds = (lo, hi)
        return alpha.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (alpha,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        # Descent moves α by −grad: below lo it must increase (grad < 0), above hi decrease (grad > 0).
        blocked = torch.zeros_like(alpha, dtype=torch.bool)
        if lo is not None:
            blocked |= (alpha < lo) & (grad > 0)
        if hi is not None:
            blocked |= (alpha > hi) & (grad < 0)
        return grad.masked_fill(blocked, 0), None, None


@register_pool("autopool")
class AutoPool2d(PoolHead):
    """AutoPool2D: s_c = Σ_i softmax(α_c z)_i · z_i, one softmax over all H·W positions jointly.

    Limits: α = 0 is gap (the init), α = 1 softpool, α → +∞ gmp, α → −∞ the minimum.

    Args:
        num_classes: C, one learnable α per class.
        alpha_init: initial value of every α_c (default 0, i.e. start as gap).
        constraint: ``None`` (unconstrained), ``"nonneg"`` (CAP, α ≥ 0) or ``"maxnorm"``
            (CAP, |α| ≤ ``alpha_max``). Applied inside forward as α.clamp(...), with a projected
            gradient (see below), so no optimizer hook is needed.
        alpha_max: bound for ``"maxnorm"`` (> 0, required there, rejected otherwise).
        rap_weight: λ ≥ 0 of RAP; ``regularization_loss()`` returns λ‖α‖² (raw parameter).

    Gradient of the constraint: inside the box it is the identity; outside, the gradient passes only
    if a descent step moves α back towards the box (projected gradient descent), so α can never get
    stuck outside the box as it would with a plain clamp.

    Shapes: (N, C, H, W) → (N, C).

    Example:
        >>> AutoPool2d(20, constraint="nonneg", rap_weight=1e-3)(torch.randn(2, 20, 14, 14)).shape
        torch.Size([2, 20])
    """

    CONSTRAINTS = (None, "nonneg", "maxnorm")

    def __init__(
        self,
        num_classes: int,
        alpha_init: float = 0.0,
        constraint: str | None = None,
        alpha_max: float | None = None,
        rap_weight: float = 0.0,
    ) -> None:
        super().__init__()
        check_int(num_classes, "num_classes")
        if constraint not in self.CONSTRAINTS:
            raise ValueError(f"constraint must be one of {self.CONSTRAINTS}; got {constraint!r}")
        check_float(alpha_init, "alpha_init")
        if constraint == "maxnorm":
            check_float(alpha_max, "alpha_max", gt=0, when=" with constraint='maxnorm'")
            if abs(alpha_init) > alpha_max:
                raise ValueError(
                    f"alpha_init must satisfy |alpha_init| <= alpha_max={alpha_max}; got {alpha_init!r}"
                )
        elif alpha_max is not None:
            raise ValueError(f"alpha_max is only used with constraint='maxnorm'; got alpha_max={alpha_max!r}")
        if constraint == "nonneg" and alpha_init < 0:
            raise ValueError(f"alpha_init must be >= 0 with constraint='nonneg'; got {alpha_init!r}")
        check_float(rap_weight, "rap_weight", ge=0)
        self.num_classes = num_classes
        self.constraint = constraint
        self.alpha_max = None if alpha_max is None else float(alpha_max)
        self.rap_weight = float(rap_weight)
        self.alpha = nn.Parameter(torch.full((num_classes,), float(alpha_init)))

    def effective_alpha(self) -> torch.Tensor:
        """α after the CAP constraint, (C,)."""
        if self.constraint == "nonneg":
            return _ProjectedClampFn.apply(self.alpha, 0.0, None)
        if self.constraint == "maxnorm":
            return _ProjectedClampFn.apply(self.alpha, -self.alpha_max, self.alpha_max)
        return self.alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return PF.autopool(x, self.effective_alpha())

    def regularization_loss(self) -> torch.Tensor:
        """RAP term λ‖α‖² (0 when ``rap_weight`` is 0)."""
        if self.rap_weight == 0:
            return super().regularization_loss()
        return self.rap_weight * self.alpha.pow(2).sum()

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, constraint={self.constraint}, "
            f"alpha_max={self.alpha_max}, rap_weight={self.rap_weight}"
        )


class ClassWiseMean(nn.Module):
    """Average the M maps of each class: (N, C·M, h, w) → (N, C, h, w).

    Class c uses the contiguous channels c·M … c·M + M − 1; the gradient to each map is exactly 1/M.

    Args:
        num_classes: C; the number of input channels must be a multiple of it.

    Example:
        >>> ClassWiseMean(20)(torch.randn(2, 80, 14, 14)).shape
        torch.Size([2, 20, 14, 14])
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        check_int(num_classes, "num_classes")
        self.num_classes = num_classes

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return PF.class_wise_mean(maps, self.num_classes)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}"


# Derived, not hand-kept: the base class, the class-wise mean and every head registered above.
__all__ = [
    "PoolHead",
    *(cls.__name__ for cls in POOLS.values() if cls.__module__ == __name__),
    "ClassWiseMean",
]
