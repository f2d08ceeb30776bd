"""ROAD's noisy linear imputation (Rong et al., "A Consistent and Efficient Evaluation Strategy for
Attribution Methods", ICML 2022), batched and matrix-free.

Every removed pixel ``i`` takes the weighted mean of its in-image 8-neighbours, removed ones included
(their values are unknowns too), with weight 1/6 for the 4 edge neighbours and 1/12 for the 4 corner
neighbours: with ``s_i = Σ_{j in image} w_ij`` (1 inside, less at the border) each channel solves

    s_i x_i − Σ_{j removed} w_ij x_j = Σ_{j kept} w_ij v_j        for every removed pixel i,

``v`` the image's values. This is pytorch-grad-cam's ``NoisyLinearImputer`` (from the authors' code), which
assembles the same system as a sparse matrix and solves it with SciPy's ``spsolve``. Then Gaussian noise
``noise · N(0, 1)`` is added to every imputed value (pytorch-grad-cam: ``noise = 0.01``).

The matrix is symmetric (``w_ij = w_ji``) and weakly diagonally dominant, positive definite where every
removed region (8-connected) touches a kept pixel; here the system is solved by conjugate gradients with
the matrix applied as a 3×3 convolution, in float64, all (image, channel) systems of a batch at once, so
no SciPy is needed and it runs on the images' device. A removed region with no kept neighbour (e.g. every
pixel removed) has a zero right-hand side and gets 0 (SciPy's ``spsolve`` meets a singular matrix there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["NEIGHBOUR_WEIGHTS", "impute", "linear_imputation"]

#: The weights of the 8 neighbours, as a 3×3 kernel (the centre is the pixel itself, weight 0).
NEIGHBOUR_WEIGHTS = (
    (1 / 12, 1 / 6, 1 / 12),
    (1 / 6, 0.0, 1 / 6),
    (1 / 12, 1 / 6, 1 / 12),
)


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """``Σ_j w_ij x_j`` over the in-image neighbours of every pixel of (B, C, H, W) (zero padding)."""
    kernel = torch.tensor(NEIGHBOUR_WEIGHTS, dtype=x.dtype, device=x.device)
    return F.conv2d(x, kernel.expand(x.shape[1], 1, 3, 3), padding=1, groups=x.shape[1])


def linear_imputation(
    images: torch.Tensor, removed: torch.Tensor, *, tol: float = 1e-8, max_iter: int | None = None
) -> torch.Tensor:
    """The noiseless imputation (module docstring): ``images`` with every removed pixel solved for.

    Args:
        images: (B, C, H, W) values ``v``.
        removed: (B, H, W) bool, True where a pixel is removed (all channels).
        tol: conjugate gradients stop when ``‖r‖ ≤ tol · ‖b‖`` for every (image, channel) system.
        max_iter: at most this many iterations (None: ``10 · (H + W) + 100``); not converging raises.

    Returns:
        (B, C, H, W) in float64: the kept pixels as given, the removed ones the system's solution.
    """
    if removed.shape != (images.shape[0], *images.shape[2:]):
        raise ValueError(
            f"removed: expected (B, H, W) = {(images.shape[0], *images.shape[2:])} like the images; "
            f"got {tuple(removed.shape)}"
        )
    v = images.double()
    m = removed[:, None].to(v)  # (B, 1, H, W): 1 where unknown
    s = _neighbour_sum(torch.ones_like(v[:1, :1]))  # (1, 1, H, W): Σ of in-image neighbour weights

    def apply(x: torch.Tensor) -> torch.Tensor:
        return m * (s * x - _neighbour_sum(x))

    b = m * _neighbour_sum((1 - m) * v)
    x = _conjugate_gradients(apply, b, tol, max_iter or 10 * sum(v.shape[-2:]) + 100)
    return (1 - m) * v + m * x


def _conjugate_gradients(apply, b: torch.Tensor, tol: float, max_iter: int) -> torch.Tensor:
    """Solve ``apply(x) = b`` for every (B, C) system at once (``apply`` symmetric positive semi-definite
    on the support of ``b``), starting from 0."""

    def dot(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return (p * q).sum(dim=(-2, -1), keepdim=True)

    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rr = dot(r, r)
    goal = (tol**2) * dot(b, b)
    for _ in range(max_iter):
        if bool((rr <= goal).all()):
            return x
        ap = apply(p)
        pap = dot(p, ap)
        alpha = torch.where(pap > 0, rr / torch.where(pap > 0, pap, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * ap
        new = dot(r, r)
        p = r + torch.where(rr > 0, new / torch.where(rr > 0, rr, 1.0), 0.0) * p
        rr = new
    if bool((rr <= goal).all()):
        return x
    worst = float((rr / goal.clamp_min(1e-300)).max().sqrt() * tol)
    raise RuntimeError(
        f"linear_imputation: conjugate gradients did not reach tol={tol} in max_iter={max_iter} iterations "
        f"(worst relative residual {worst:.2e}); pass a larger max_iter or tol"
    )


def impute(
    images: torch.Tensor,
    removed: torch.Tensor,
    noise: float = 0.01,
    generator: torch.Generator | None = None,
    max_iter: int | None = None,
) -> torch.Tensor:
    """ROAD's noisy linear imputation: :func:`linear_imputation` plus ``noise · N(0, 1)`` on every removed
    value (drawn on the CPU from ``generator``, one (C, H, W) draw per image in order), in the images'
    dtype."""
    filled = linear_imputation(images, removed, max_iter=max_iter)
    if noise:
        shape = images.shape[1:]
        draws = [torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(len(images))]
        filled = filled + noise * removed[:, None].to(filled) * torch.stack(draws).to(filled.device)
    return filled.to(images.dtype)
