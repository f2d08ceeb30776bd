"""Functional pooling: hand-checked values, float64 references and every identity of SPEC section 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pooling_reference import (
    per_map,
    ref_autopool,
    ref_gap,
    ref_gmp,
    ref_kmax,
    ref_lse,
    ref_resolve_k,
    ref_softpool,
    ref_weldon,
)

from wsl.pooling import functional as PF

SHAPES = [(2, 3, 4, 5), (1, 2, 1, 1), (3, 1, 7, 3)]


def maps(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64) * scale


def close(a: torch.Tensor, b: np.ndarray | torch.Tensor, atol: float = 1e-10) -> None:
    np.testing.assert_allclose(
        a.detach().double().numpy(),
        np.asarray(b.detach() if isinstance(b, torch.Tensor) else b, dtype=np.float64),
        rtol=1e-9,
        atol=atol,
    )


# ---- hand-checkable: z = [[1, 2], [3, 4]], n = 4 ----
HAND = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)


def test_hand_values() -> None:
    e = [math.exp(v) for v in (1, 2, 3, 4)]
    assert PF.gmp(HAND).item() == 4.0
    assert PF.gap(HAND).item() == 2.5
    assert PF.kmax(HAND, 2).item() == 3.5
    assert PF.kmax(HAND, 0.5).item() == 3.5  # round(0.5·4) = 2
    assert PF.weldon(HAND, 1, 1, 1.0).item() == 5.0  # 4 + 1, no ½
    assert PF.weldon(HAND, 2, 2, 0.5).item() == 3.5 + 0.5 * 1.5
    assert PF.weldon(HAND, 1, 3, -1.0).item() == pytest.approx(4 - 2)
    assert PF.lse(HAND, 1.0).item() == pytest.approx(math.log(sum(e) / 4))
    assert PF.softpool(HAND).item() == pytest.approx(
        sum(v * w for v, w in zip((1, 2, 3, 4), e, strict=True)) / sum(e)
    )
    alpha = torch.tensor([2.0], dtype=torch.float64)
    e2 = [math.exp(2 * v) for v in (1, 2, 3, 4)]
    assert PF.autopool(HAND, alpha).item() == pytest.approx(
        sum(v * w for v, w in zip((1, 2, 3, 4), e2, strict=True)) / sum(e2)
    )


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (1, 10, 1),
        (1.0, 10, 1),
        (3, 10, 3),
        (50, 10, 10),
        (0.1, 196, 20),
        (0.1, 4, 1),
        (0.01, 10, 1),
        (0.625, 4, 2),
        (0.875, 4, 4),
        (0.5, 5, 2),
        (0.999, 7, 7),
        (4.0, 10, 4),
    ],
)
def test_resolve_k(k: int | float, n: int, expected: int) -> None:
    assert PF.resolve_k(k, n) == expected == ref_resolve_k(k, n)


@pytest.mark.parametrize("k", [0, -1, 0.0, -0.5, 1.5, float("nan")])
def test_resolve_k_errors(k: float) -> None:
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        PF.resolve_k(k, 10)


def test_resolve_k_type_errors() -> None:
    with pytest.raises(TypeError, match="k must be an int count or a float proportion"):
        PF.resolve_k(True, 10)
    with pytest.raises(ValueError, match="n .* must be >= 1"):
        PF.resolve_k(1, 0)


# ---- float64 references ----
@pytest.mark.parametrize("shape", SHAPES)
def test_references(shape: tuple[int, ...]) -> None:
    x = maps(shape, seed=1, scale=2.0)
    close(PF.gmp(x), per_map(ref_gmp, x))
    close(PF.gap(x), per_map(ref_gap, x))
    for beta in (0.0, 0.3, 1.0, 5.0, 40.0):
        close(PF.lse(x, beta), per_map(ref_lse, x, beta))
    for k in (1, 2, 0.3, 0.5, 100):
        close(PF.kmax(x, k), per_map(ref_kmax, x, k))
    for kmax, kmin, alpha in [(1, None, 1.0), (2, 3, 0.7), (0.3, 0.2, -0.5), (3, 0, 1.0), (0.5, -1, 2.0)]:
        close(PF.weldon(x, kmax, kmin, alpha), per_map(ref_weldon, x, kmax, kmin, alpha))
    close(PF.softpool(x), per_map(ref_softpool, x))
    alpha = torch.linspace(-3, 3, shape[1], dtype=torch.float64)
    expected = np.array(
        [
            [ref_autopool(x[i, c].flatten().tolist(), float(alpha[c])) for c in range(shape[1])]
            for i in range(shape[0])
        ]
    )
    close(PF.autopool(x, alpha), expected)


# ---- identities of SPEC's table ----
@pytest.mark.parametrize("shape", SHAPES)
def test_kmax_identities(shape: tuple[int, ...]) -> None:
    x = maps(shape, seed=2)
    n = shape[2] * shape[3]
    assert torch.equal(PF.kmax(x, 1), PF.gmp(x))
    assert torch.equal(PF.kmax(x, 1.0), PF.gmp(x))
    close(PF.kmax(x, n), PF.gap(x))
    close(PF.kmax(x, n + 7), PF.gap(x))
    close(PF.kmax(x, 0.9999), PF.gap(x))


@pytest.mark.parametrize("shape", SHAPES)
def test_lse_identities(shape: tuple[int, ...]) -> None:
    x = maps(shape, seed=3)
    n = shape[2] * shape[3]
    assert torch.equal(PF.lse(x, 0.0), PF.gap(x))
    close(PF.lse(x, 1e-9), PF.gap(x), atol=1e-8)
    # float32 keeps precision for small β (expm1/log1p formulation).
    x32 = x.float()
    close(PF.lse(x32, 1e-5), PF.gap(x32).double(), atol=1e-4)
    gmp, gap = PF.gmp(x), PF.gap(x)
    for beta in (0.1, 1.0, 10.0, 1e3):
        s = PF.lse(x, beta)
        assert torch.all(gap <= s + 1e-12) and torch.all(s <= gmp + 1e-12)
        assert torch.all(gmp - s <= math.log(n) / beta + 1e-12)
    close(PF.lse(x, 1e7), gmp, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_weldon_identities(shape: tuple[int, ...]) -> None:
    x = maps(shape, seed=4)
    for k in (1, 2, 0.4):
        expected = PF.kmax(x, k)
        assert torch.equal(PF.weldon(x, k, 0, 1.0), expected)
        assert torch.equal(PF.weldon(x, k, -3, 1.0), expected)
        assert torch.equal(PF.weldon(x, k, None, 0.0), expected)
        close(PF.weldon(x, k, None, 1.0), PF.kmax(x, k) - PF.kmax(-x, k))


def test_weldon_continuous_in_alpha() -> None:
    x = maps((2, 3, 4, 4), seed=5)
    close(PF.weldon(x, 2, 2, 1e-12), PF.weldon(x, 2, 2, 0.0), atol=1e-10)


def test_softpool_autopool_identities() -> None:
    x = maps((2, 3, 5, 4), seed=6)
    c = x.shape[1]
    gmp, gap = PF.gmp(x), PF.gap(x)
    close(PF.autopool(x, torch.zeros(c, dtype=torch.float64)), gap)
    close(PF.autopool(x, torch.ones(c, dtype=torch.float64)), PF.softpool(x))
    s = PF.softpool(x)
    assert torch.all(gap <= s) and torch.all(s <= gmp)
    # Well separated values: α·(gap between neighbours) ≫ 1, so the softmax is one-hot.
    sep = (
        torch.randperm(20, generator=torch.Generator().manual_seed(0))
        .double()
        .view(1, 1, 4, 5)
        .repeat(2, c, 1, 1)
    )
    close(PF.autopool(sep, torch.full((c,), 1e3, dtype=torch.float64)), PF.gmp(sep))
    close(PF.autopool(sep, torch.full((c,), -1e3, dtype=torch.float64)), -PF.gmp(-sep))
    # Monotone in α between min and max.
    prev = -PF.gmp(-x)
    for a in (-5.0, -1.0, 0.0, 1.0, 5.0):
        cur = PF.autopool(x, torch.full((c,), a, dtype=torch.float64))
        assert torch.all(cur >= prev - 1e-12)
        prev = cur
    assert torch.all(prev <= gmp)


# ---- class-wise mean ----
def test_class_wise_mean_ordering_and_gradient() -> None:
    num_classes, m = 3, 4
    x = maps((2, num_classes * m, 3, 3), seed=7).requires_grad_()
    out = PF.class_wise_mean(x, num_classes)
    assert out.shape == (2, num_classes, 3, 3)
    for c in range(num_classes):
        close(out[:, c], x[:, c * m : (c + 1) * m].mean(1))
    out.sum().backward()
    assert torch.equal(x.grad, torch.full_like(x, 1 / m))
    x3 = maps((1, 6, 2, 2), seed=8).requires_grad_()
    PF.class_wise_mean(x3, 2).sum().backward()
    assert torch.equal(x3.grad, torch.full_like(x3, 1 / 3))
    single = maps((1, 5, 2, 2))
    assert PF.class_wise_mean(single, 5) is single


def test_class_wise_mean_errors() -> None:
    with pytest.raises(ValueError, match="not a multiple of num_classes=3"):
        PF.class_wise_mean(torch.zeros(1, 7, 2, 2), 3)
    with pytest.raises(ValueError, match="num_classes must be an int >= 1; got 0"):
        PF.class_wise_mean(torch.zeros(1, 6, 2, 2), 0)
    with pytest.raises(ValueError, match="maps must be a 4-D tensor"):
        PF.class_wise_mean(torch.zeros(6, 2, 2), 3)


def test_functional_errors() -> None:
    x = torch.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError, match="beta must be a finite float >= 0; got -1.0"):
        PF.lse(x, -1.0)
    with pytest.raises(ValueError, match="beta must be a float or a scalar tensor"):
        PF.lse(x, torch.ones(2))
    with pytest.raises(ValueError, match="kmax must be an int >= 1"):
        PF.weldon(x, 0)
    with pytest.raises(ValueError, match="alpha must be a finite float"):
        PF.weldon(x, 1, 1, float("inf"))
    with pytest.raises(ValueError, match=r"alpha must be a \(C,\) tensor with C = 2"):
        PF.autopool(x, torch.zeros(3))
    with pytest.raises(ValueError, match="at least one spatial position"):
        PF.gap(torch.zeros(1, 2, 0, 3))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        PF.gmp(np.zeros((1, 2, 3, 3)))
