"""Pure pooling functions: class maps (N, C, H, W) → scores (N, C).

Every function here holds the math of one pooling head (SPEC section 2); the modules in
``modules.py`` only hold parameters and call these. Notation: n = H·W positions per map, z the map
of one (image, class), z_(1) ≥ … ≥ z_(n) its sorted values.

Dtype rule: every global head returns ``promote_types(x.dtype, float32)``, and the softmax/logsumexp
family (``lse``, ``softpool``, ``autopool``) computes in that dtype, so bf16/fp16 maps under autocast
are pooled in float32 and finite for |z| up to 1e4 (float64 stays float64 for ``gradcheck``).

Argument checks come from ``_checks`` (the heads in ``modules.py`` call the same ones at
construction). ``__all__`` is every public function defined here (see the end of the file), so a new
head's function is exported by defining it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import cast

import torch
import torch.nn.functional as F

from wsl.pooling._checks import check_float, check_int, check_k, check_maps


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    # bf16/fp16 (autocast) → float32; float64 stays float64 so gradcheck sees the true precision.
    return torch.promote_types(x.dtype, torch.float32)


def _autocast_off(x: torch.Tensor) -> contextlib.AbstractContextManager:
    # Inside our fused functions every op must run in the dtype we chose (float32 or float64).
    if torch.is_autocast_enabled(x.device.type):
        return torch.autocast(x.device.type, enabled=False)
    return contextlib.nullcontext()


def resolve_k(k: int | float, n: int, name: str = "k") -> int:
    """Resolve a region count given as a count or a proportion of ``n`` positions.

    An int k ≥ 1 is a count, clamped to n. A float 0 < k < 1 is a proportion:
    ``clamp(round(k·n), 1, n)`` with Python's ``round`` (banker's rounding, as WILDCAT). A float
    with an integer value ≥ 1 (e.g. ``1.0``) is a count, so k = 1 and k = 1.0 both mean one region.

    Args:
        k: count (int ≥ 1 or integral float ≥ 1) or proportion (float in (0, 1)).
        n: number of positions (H·W), ≥ 1.
        name: argument name used in error messages.

    Returns:
        The resolved count, an int in [1, n].

    Raises:
        TypeError: if k is not an int or a float (a ``PoolArgumentTypeError``, also a ``ValueError``).
        ValueError: if k is not finite, k ≤ 0, k is a non-integral float ≥ 1, or n < 1.

    Example:
        >>> resolve_k(0.1, 196), resolve_k(1, 196), resolve_k(500, 196)
        (20, 1, 196)
    """
    check_k(k, name)
    if n < 1:
        raise ValueError(f"n (number of positions) must be >= 1; got {n}")
    if isinstance(k, float) and k < 1:
        return min(max(round(k * n), 1), n)
    return min(int(k), n)


def gmp(x: torch.Tensor) -> torch.Tensor:
    """Global max pooling: s = max_i z_i.

    Args:
        x: (N, C, H, W) class maps.

    Returns:
        (N, C) scores. On ties the gradient goes to one of the tied positions.
    """
    check_maps(x)
    # max with indices routes the gradient to one position; its backward is a cheap scatter,
    # about twice as fast as amax's (which compares every position with the max).
    return x.flatten(2).max(dim=-1).values.to(_compute_dtype(x))


def gap(x: torch.Tensor) -> torch.Tensor:
    """Global average pooling: s = (1/n) Σ_i z_i.

    Args:
        x: (N, C, H, W) class maps.

    Returns:
        (N, C) scores.
    """
    check_maps(x)
    return x.to(_compute_dtype(x)).mean(dim=(2, 3))


def lse(x: torch.Tensor, beta: float | torch.Tensor) -> torch.Tensor:
    """Log-sum-exp pooling: s = (1/β) · log((1/n) Σ_i exp(β z_i)).

    Limits: β → 0 gives gap (β = 0 returns gap exactly), β → ∞ gives gmp, gap ≤ s ≤ gmp and
    gmp − s ≤ log(n)/β. Computed as m + log1p(mean(expm1(β(z − m))))/β with m = max z (exact for
    any shift), which never overflows and, unlike (logsumexp(βz) − log n)/β, keeps full precision
    for small β. The gradient is softmax(βz) for z and (Σ_i softmax(βz)_i z_i − s)/β for β.

    Args:
        x: (N, C, H, W) class maps.
        beta: sharpness β ≥ 0, a float or a scalar tensor (a learnable β must be kept > 0).

    Returns:
        (N, C) scores.
    """
    check_maps(x)
    if not isinstance(beta, torch.Tensor):
        check_float(beta, "beta", ge=0)
        if beta == 0:
            return gap(x)
        beta = float(beta)
    elif beta.numel() != 1:
        raise ValueError(
            f"beta must be a float or a scalar tensor; got a tensor of shape {tuple(beta.shape)}"
        )
    dtype = _compute_dtype(x)
    with _autocast_off(x):
        if isinstance(beta, torch.Tensor):
            dtype = torch.promote_types(dtype, beta.dtype)
            beta = beta.reshape(()).to(dtype)
        return _LSEFn.apply(x.to(dtype).flatten(2), beta)


class _LSEFn(torch.autograd.Function):
    # Fused forward/backward: ~2.5x faster than autograd through expm1/log1p on CPU.
    @staticmethod
    def forward(ctx, z, beta):  # type: ignore[override]
        m = z.amax(dim=-1, keepdim=True)
        e1 = torch.sub(z, m).mul_(beta).expm1_()
        inner = e1.mean(dim=-1, keepdim=True)
        out = (m + torch.log1p(inner) / beta).squeeze(-1)
        ctx.save_for_backward(z, e1, inner, out, beta if isinstance(beta, torch.Tensor) else None)
        ctx.beta = beta
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        z, e1, inner, out, beta_t = ctx.saved_tensors
        beta = beta_t if beta_t is not None else ctx.beta
        # softmax(βz)_i = exp(β(z_i − m)) / Σ_j exp(β(z_j − m)) = (e1_i + 1) / (n (1 + mean(e1))).
        p = (e1 + 1).div_(inner.add(1).mul_(z.shape[-1]))
        grad_beta = None
        if ctx.needs_input_grad[1]:
            grad_beta = (((p * z).sum(dim=-1) - out) / beta * grad_out).sum().reshape(beta_t.shape)
        # Out of place: under vmap (post-hoc CAMs' batched gradients) grad_out is batched and p is not.
        grad_z = p * grad_out.unsqueeze(-1) if ctx.needs_input_grad[0] else None
        return grad_z, grad_beta


def kmax(x: torch.Tensor, k: int | float) -> torch.Tensor:
    """Top-k mean pooling: s = (1/k) Σ_{j≤k} z_(j).

    Limits: k = 1 gives gmp, k ≥ n gives gap. The gradient is 1/k on each of the k selected positions.

    Args:
        x: (N, C, H, W) class maps.
        k: count or proportion of n, see :func:`resolve_k`.

    Returns:
        (N, C) scores.
    """
    check_maps(x)
    n = x.shape[2] * x.shape[3]
    k_count = resolve_k(k, n, "k")
    return _top_mean(x.flatten(2), k_count, largest=True).to(_compute_dtype(x))


def _top_mean(z: torch.Tensor, k: int, largest: bool) -> torch.Tensor:
    # z: (N, C, n). k = n is a plain mean (exact and cheaper than a full topk).
    n = z.shape[-1]
    if k >= n:
        return z.to(torch.promote_types(z.dtype, torch.float32)).mean(dim=-1)
    if k == 1:
        return z.max(dim=-1).values if largest else z.min(dim=-1).values
    vals = torch.topk(z, k, dim=-1, largest=largest, sorted=False).values
    return vals.to(torch.promote_types(z.dtype, torch.float32)).mean(dim=-1)


def weldon(
    x: torch.Tensor, kmax: int | float = 1, kmin: int | float | None = None, alpha: float = 1.0
) -> torch.Tensor:
    """WELDON pooling: s = (1/k⁺) Σ_{j≤k⁺} z_(j) + α · (1/k⁻) Σ_{j>n−k⁻} z_(j).

    Top and bottom sets are chosen independently (a position in both gets both gradient shares).
    No ½ factor (the papers' formula, continuous in α and k⁻). k⁻ = 0 or α = 0 gives kmax(k⁺).

    Args:
        x: (N, C, H, W) class maps.
        kmax: k⁺, count or proportion (see :func:`resolve_k`), must be > 0.
        kmin: k⁻, count or proportion; ``None`` means k⁻ = k⁺; ≤ 0 means no bottom term.
        alpha: weight α of the bottom term (any finite float).

    Returns:
        (N, C) scores.
    """
    check_maps(x)
    n = x.shape[2] * x.shape[3]
    k_top, k_bottom = resolve_weldon_k(kmax, kmin, n)
    check_float(alpha, "alpha")
    z = x.flatten(2)
    out = _top_mean(z, k_top, largest=True).to(_compute_dtype(x))
    if k_bottom > 0 and alpha != 0:
        out = out + alpha * _top_mean(z, k_bottom, largest=False).to(out.dtype)
    return out


def resolve_weldon_k(kmax: int | float, kmin: int | float | None, n: int) -> tuple[int, int]:
    """Resolve WELDON's (k⁺, k⁻) for n positions; k⁻ = 0 means no bottom term."""
    k_top = resolve_k(kmax, n, "kmax")
    check_k(kmin, "kmin", allow_none=True, allow_nonpositive=True)
    if kmin is None:
        return k_top, k_top
    if kmin <= 0:
        return k_top, 0
    return k_top, resolve_k(kmin, n, "kmin")


def softpool(x: torch.Tensor) -> torch.Tensor:
    """SoftPool (global): s = Σ_i softmax(z)_i · z_i, one softmax per channel over H·W.

    Limits: gap ≤ s ≤ gmp; equals autopool with α = 1. The gradient is the true one,
    ∂s/∂z_i = w_i (1 + z_i − s), from autograd.

    Args:
        x: (N, C, H, W) class maps.

    Returns:
        (N, C) scores.
    """
    check_maps(x)
    with _autocast_off(x):
        return _SoftWeightedFn.apply(x.to(_compute_dtype(x)).flatten(2), None)


class _SoftWeightedFn(torch.autograd.Function):
    """s = Σ_i w_i z_i with w = softmax(α z) over the last axis; α (C, 1) or None (α = 1).

    Fused backward, ∂s/∂z_i = w_i (1 + α (z_i − s)) and ∂s/∂α = Σ_i w_i (z_i − s)², about 1.5x
    faster on CPU than autograd through softmax, mul and sum.
    """

    @staticmethod
    def forward(ctx, z, alpha):  # type: ignore[override]
        w = torch.softmax(z if alpha is None else z * alpha, dim=-1)
        s = (w * z).sum(dim=-1)
        ctx.save_for_backward(z, w, s, alpha)
        return s

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        z, w, s, alpha = ctx.saved_tensors
        wd = (z - s.unsqueeze(-1)).mul_(w)
        grad_alpha = None
        if alpha is not None and ctx.needs_input_grad[1]:
            grad_alpha = ((wd * z).sum(dim=-1) * grad_out).sum(dim=0).unsqueeze(-1)
        if alpha is not None:
            wd.mul_(alpha)
        # Out of place for the batched grad_out of vmap (see _LSEFn.backward).
        grad_z = wd.add_(w) * grad_out.unsqueeze(-1) if ctx.needs_input_grad[0] else None
        return grad_z, grad_alpha


def autopool(x: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """AutoPool2D: s_c = Σ_i softmax(α_c z)_i · z_i, one softmax over all H·W positions jointly.

    Limits: α = 0 gives gap, α = 1 softpool, α → +∞ gmp, α → −∞ the minimum.

    Args:
        x: (N, C, H, W) class maps.
        alpha: (C,) per-class α (learnable in :class:`~wsl.pooling.AutoPool2d`).

    Returns:
        (N, C) scores.
    """
    check_maps(x)
    if not isinstance(alpha, torch.Tensor) or alpha.dim() != 1 or alpha.shape[0] != x.shape[1]:
        shape = tuple(alpha.shape) if isinstance(alpha, torch.Tensor) else type(alpha).__name__
        raise ValueError(f"alpha must be a (C,) tensor with C = {x.shape[1]} (channels of x); got {shape}")
    dtype = torch.promote_types(_compute_dtype(x), alpha.dtype)
    with _autocast_off(x):
        return _SoftWeightedFn.apply(x.to(dtype).flatten(2), alpha.to(dtype).unsqueeze(-1))


def class_wise_mean(maps: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Average the M = channels / C maps of each class (WILDCAT's multi-map transfer layer).

    Channel ordering: class c uses the contiguous channels c·M, …, c·M + M − 1, i.e. the channel
    axis is viewed as (C, M). Plain autograd, so the gradient to every map is exactly 1/M.

    Args:
        maps: (N, C·M, h, w) maps.
        num_classes: C, must divide the number of channels.

    Returns:
        (N, C, h, w) class maps (``maps`` itself when M = 1).

    Example:
        >>> class_wise_mean(torch.zeros(2, 20 * 4, 7, 7), 20).shape
        torch.Size([2, 20, 7, 7])
    """
    check_maps(maps, "maps")
    check_int(num_classes, "num_classes")
    channels = maps.shape[1]
    if channels % num_classes != 0:
        raise ValueError(
            f"maps has {channels} channels, which is not a multiple of num_classes={num_classes}; "
            "expected C·M channels"
        )
    m = channels // num_classes
    if m == 1:
        return maps
    return maps.unflatten(1, (num_classes, m)).mean(dim=2)


def _pair(v: int | tuple[int, int], name: str) -> tuple[int, int]:
    # v is a pair here, or a bool, whose tuple() raises TypeError.
    pair = (v, v) if isinstance(v, int) and not isinstance(v, bool) else tuple(cast("Iterable[int]", v))
    if len(pair) != 2 or not all(isinstance(p, int) and not isinstance(p, bool) for p in pair):
        raise ValueError(f"{name} must be an int or a pair of ints; got {v!r}")
    return pair  # type: ignore[return-value]


def _softpool2d_geometry(
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None,
    padding: int | tuple[int, int],
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    if min(k) < 1:
        raise ValueError(f"kernel_size must be >= 1; got {kernel_size!r}")
    if min(s) < 1:
        raise ValueError(f"stride must be >= 1; got {stride!r}")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        # As MaxPool2d: every window then holds at least one real cell.
        raise ValueError(
            f"padding must be in [0, kernel_size // 2]; got padding={padding!r}, kernel_size={k}"
        )
    return k, s, p


class _SoftPool2dFn(torch.autograd.Function):
    """Exact local SoftPool with per-window max subtraction, one strided slice per kernel offset.

    Looping over the k_h·k_w kernel offsets keeps every intermediate at the output size (no unfold
    copy, whose masked softmax measured ~2x slower); the window max comes from max_pool2d, so exp
    never overflows and every window has a term equal to 1 (no 0/0 however far the window is below
    the map maximum). Padded cells hold the most negative finite value, so their weight is exactly 0
    and 0·value stays 0 (−inf would give NaN). The k_h·k_w exp planes are kept for the backward
    (memory k_h·k_w·H_out·W_out per channel, 2.25x the input for the 3/2/1 stem), ~15% faster than
    recomputing them.
    """

    @staticmethod
    def forward(ctx, x, k, s, p):  # type: ignore[override]
        out_h = (x.shape[2] + 2 * p[0] - k[0]) // s[0] + 1
        out_w = (x.shape[3] + 2 * p[1] - k[1]) // s[1] + 1
        m = F.max_pool2d(x, k, s, p)
        xp = F.pad(x, (p[1], p[1], p[0], p[0]), value=torch.finfo(x.dtype).min) if any(p) else x
        exps = torch.empty((k[0] * k[1], *m.shape), dtype=x.dtype, device=x.device)
        numer = torch.zeros_like(m)
        for i, sl in enumerate(_window_slices(k, s, out_h, out_w)):
            xs = xp[sl]
            numer.addcmul_(torch.sub(xs, m, out=exps[i]).exp_(), xs)
        denom = exps.sum(dim=0)
        out = numer.div_(denom)
        ctx.save_for_backward(xp, exps, denom, out)
        ctx.geom = (k, s, p, x.shape)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        xp, exps, denom, out = ctx.saved_tensors
        k, s, p, shape = ctx.geom
        # ∂out/∂x_i = w_i (1 + x_i − out) with w_i = e_i / denom, summed over the windows holding x_i:
        # g_i = e_i · (A + B·x_i) with B = grad/denom and A = B·(1 − out).
        scale = grad_out / denom
        offset = scale * (1 - out)
        grad_xp = torch.zeros_like(xp)
        for i, sl in enumerate(_window_slices(k, s, out.shape[2], out.shape[3])):
            grad_xp[sl] += torch.addcmul(offset, scale, xp[sl]).mul_(exps[i])
        if any(p):
            grad_xp = grad_xp[:, :, p[0] : p[0] + shape[2], p[1] : p[1] + shape[3]]
        return grad_xp, None, None, None


def _window_slices(k: tuple[int, int], s: tuple[int, int], out_h: int, out_w: int) -> list[tuple[slice, ...]]:
    # Offset (di, dj) of every window, for all windows at once: a strided (N, C, H_out, W_out) view.
    return [
        (
            slice(None),
            slice(None),
            slice(di, di + s[0] * (out_h - 1) + 1, s[0]),
            slice(dj, dj + s[1] * (out_w - 1) + 1, s[1]),
        )
        for di in range(k[0])
        for dj in range(k[1])
    ]


def softpool2d(
    x: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """Local SoftPool: per channel and window R, out = Σ_{i∈R} softmax_R(x)_i · x_i.

    A drop-in for ``F.max_pool2d`` (same output size floor((H + 2p − k)/s) + 1); padded cells are
    excluded, not zero-filled; avg ≤ out ≤ max per window. Computed in float32 for bf16/fp16 inputs
    (returned in the input dtype), stable for any input range.

    Args:
        x: (N, C, H, W) feature maps.
        kernel_size: window size k (int or (kh, kw)).
        stride: step s, default ``kernel_size``.
        padding: p in [0, k // 2] cells on each side.

    Returns:
        (N, C, H_out, W_out) tensor.

    Example:
        >>> softpool2d(torch.randn(1, 64, 112, 112), 3, 2, 1).shape
        torch.Size([1, 64, 56, 56])
    """
    check_maps(x)
    k, s, p = _softpool2d_geometry(kernel_size, stride, padding)
    if x.shape[2] + 2 * p[0] < k[0] or x.shape[3] + 2 * p[1] < k[1]:
        raise ValueError(f"input of spatial size {tuple(x.shape[2:])} is smaller than kernel_size {k}")
    with _autocast_off(x):
        return _SoftPool2dFn.apply(x.to(_compute_dtype(x)).contiguous(), k, s, p).to(x.dtype)


# Derived, not hand-kept: every public function of this module, in definition order (helpers and
# autograd Functions are private by their leading underscore).
__all__ = [
    _name
    for _name, _obj in list(globals().items())
    if not _name.startswith("_") and callable(_obj) and getattr(_obj, "__module__", None) == __name__
]
