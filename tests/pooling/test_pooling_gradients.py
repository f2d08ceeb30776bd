"""Exact gradients: top-k shares, WELDON overlapping sets, SoftPool's true gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsl.pooling import functional as PF


def tie_free(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    return (torch.randperm(n, generator=g).double() / n).view(shape).requires_grad_()


@pytest.mark.parametrize(("k", "n_sel"), [(1, 1), (3, 3), (5, 5), (0.25, 5), (20, 20), (50, 20)])
def test_topk_gradient_is_exactly_one_over_k(k: int | float, n_sel: int) -> None:
    x = tie_free((2, 3, 4, 5))
    PF.kmax(x, k).sum().backward()
    g = x.grad.flatten(2)
    assert torch.all((g != 0).sum(-1) == n_sel)
    assert torch.all((g == 0) | (g == 1 / n_sel))
    # The non-zeros sit on the n_sel largest values.
    top = x.detach().flatten(2).topk(n_sel, dim=-1).indices
    assert torch.all(g.gather(-1, top) == 1 / n_sel)


def test_gmp_gradient_one_hot_at_argmax() -> None:
    x = tie_free((2, 2, 3, 3), seed=1)
    PF.gmp(x).sum().backward()
    g = x.grad.flatten(2)
    assert torch.equal(g.sum(-1), torch.ones(2, 2, dtype=torch.float64))
    assert torch.equal(g.argmax(-1), x.detach().flatten(2).argmax(-1))


@pytest.mark.parametrize(("kmax", "kmin", "alpha"), [(3, 3, 0.5), (4, 3, 1.0), (2, 4, -0.7), (0.8, 0.6, 2.0)])
def test_weldon_overlapping_sets_get_both_shares(kmax: int | float, kmin: int | float, alpha: float) -> None:
    x = tie_free((2, 2, 2, 3), seed=2)  # n = 6
    n = 6
    kt, kb = PF.resolve_k(kmax, n), PF.resolve_k(kmin, n)
    PF.weldon(x, kmax, kmin, alpha).sum().backward()
    z = x.detach().flatten(2).numpy()
    expected = np.zeros_like(z)
    for i in range(z.shape[0]):
        for c in range(z.shape[1]):
            order = np.argsort(-z[i, c])
            expected[i, c, order[:kt]] += 1 / kt
            expected[i, c, order[n - kb :]] += alpha / kb
    if kt + kb > n:
        assert np.any((expected > 1 / kt) | (expected < 0))  # the sets really overlap
    np.testing.assert_allclose(x.grad.flatten(2).numpy(), expected, rtol=0, atol=1e-15)


def test_softpool_gradient_is_the_true_one() -> None:
    x = tie_free((1, 2, 3, 3), seed=3) * 3
    x.retain_grad()
    s = PF.softpool(x)
    s.sum().backward()
    z = x.detach().flatten(2)
    w = torch.softmax(z, -1)
    expected = w * (1 + z - s.detach().unsqueeze(-1))  # not the CUDA kernel's w_i shortcut
    torch.testing.assert_close(x.grad.flatten(2), expected, rtol=1e-12, atol=1e-14)


def test_lse_gradient_is_softmax() -> None:
    x = tie_free((1, 2, 3, 3), seed=4) * 4
    x.retain_grad()
    PF.lse(x, 2.0).sum().backward()
    torch.testing.assert_close(x.grad.flatten(2), torch.softmax(2.0 * x.detach().flatten(2), -1))


def test_lse_beta_gradient_matches_finite_difference() -> None:
    x = tie_free((1, 2, 3, 3), seed=5).detach() * 4
    beta = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    PF.lse(x, beta).sum().backward()
    eps = 1e-6
    fd = (PF.lse(x, 1.3 + eps).sum() - PF.lse(x, 1.3 - eps).sum()) / (2 * eps)
    assert beta.grad.item() == pytest.approx(fd.item(), rel=1e-6)
