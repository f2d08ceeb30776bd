"""Generic tests of every registry head (parametrized over POOLS) and head-specific behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pooling_reference import ref_head
from torch.func import functional_call

from wsl.pooling import POOLS, AutoPool2d, KMaxPool, LSEPool, PoolHead, WeldonPool, build_pool

NAMES = sorted(POOLS)
C = 3


def maps(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def head(name: str, **kwargs: object) -> PoolHead:
    h = build_pool(name, C, **kwargs)
    if name == "autopool":
        # A non-trivial α (the init, 0, would only test gap).
        with torch.no_grad():
            h.alpha.copy_(torch.tensor([-1.5, 0.5, 2.0]))
    return h


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(2, C, 4, 5), (1, C, 1, 1), (3, C, 14, 14)])
def test_matches_reference(name: str, shape: tuple[int, ...]) -> None:
    h = head(name).double()
    x = maps(shape, seed=1, scale=2.0)
    out = h(x)
    assert out.shape == shape[:2] and out.dtype == torch.float64
    np.testing.assert_allclose(out.detach().numpy(), ref_head(name, h, x), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_is_poolhead_with_zero_regularizer(name: str) -> None:
    h = head(name)
    assert isinstance(h, PoolHead)
    reg = h.regularization_loss()
    assert reg.shape == () and reg.item() == 0.0 and reg.device == torch.device("cpu")


@pytest.mark.parametrize("name", NAMES)
def test_spatial_permutation_invariance(name: str) -> None:
    h = head(name).double()
    x = maps((2, C, 4, 6), seed=2)
    perm = torch.randperm(24, generator=torch.Generator().manual_seed(3))
    xp = x.flatten(2)[..., perm].view_as(x)
    torch.testing.assert_close(h(xp), h(x), rtol=1e-12, atol=1e-12)
    # A transposed map has the same positions too.
    torch.testing.assert_close(h(x.transpose(2, 3)), h(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_batch_and_class_independence(name: str) -> None:
    h = head(name).double()
    x = maps((3, C, 5, 5), seed=4)
    out = h(x)
    torch.testing.assert_close(h(x[1:2]), out[1:2], rtol=1e-12, atol=1e-12)
    y = x.clone()
    y[0, 1] = maps((5, 5), seed=5) * 10  # change one map: only that score may change
    changed = (h(y) - out).abs() > 0
    assert changed[0, 1] and changed.sum() == 1


def _gradcheck_head(h: torch.nn.Module, x: torch.Tensor) -> None:
    names = [n for n, _ in h.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in h.named_parameters())

    def fn(inp: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return functional_call(h, dict(zip(names, ps, strict=True)), (inp,))

    assert torch.autograd.gradcheck(fn, (x.requires_grad_(), *params))


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck(name: str) -> None:
    _gradcheck_head(head(name).double(), maps((2, C, 3, 4), seed=6))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("lse", {"beta": 2.0, "learnable": True}),
        ("lse", {"beta": 0.0}),
        ("kmax", {"k": 2}),
        ("weldon", {"kmax": 3, "kmin": 2, "alpha": 0.6}),
        ("weldon", {"kmax": 10, "kmin": 10, "alpha": 0.6}),  # overlapping top and bottom sets
        ("autopool", {"constraint": "maxnorm", "alpha_max": 3.0}),
        ("autopool", {"constraint": "nonneg", "alpha_init": 1.0}),
    ],
)
def test_gradcheck_variants(name: str, kwargs: dict) -> None:
    h = build_pool(name, C, **kwargs).double()
    if name == "lse" and kwargs.get("learnable"):
        assert [n for n, _ in h.named_parameters()] == ["beta_raw"]
    _gradcheck_head(h, maps((2, C, 3, 4), seed=7))


@pytest.mark.parametrize("name", NAMES)
def test_large_inputs_float32_finite(name: str) -> None:
    h = head(name)
    x = (maps((2, C, 7, 7), seed=8) * 1e4).float().clamp(-1e4, 1e4)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 1e4, -1e4
    x.requires_grad_()
    out = h(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    assert (out <= x.detach().amax((2, 3)) + 1e-3).all()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_autocast_finite(name: str, dtype: torch.dtype) -> None:
    h = head(name)
    x = (maps((2, C, 6, 6), seed=9) * 1e3).to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = h(x)
    out.float().sum().backward()
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
    ref = h(x.detach().float())
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(C, 4, 4), (1, 1, C, 4, 4), (C,)])
def test_wrong_rank_raises(name: str, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"x must be a 4-D tensor \(N, C, H, W\); got shape"):
        head(name)(torch.zeros(shape))


# ---- extra_repr shows the rule and the last resolved counts ----
def test_extra_repr_resolved_counts() -> None:
    h = KMaxPool(k=0.1)
    assert "last_k=None" in repr(h) and "proportion" in repr(h)
    h(torch.randn(1, 2, 14, 14))
    assert h.last_k == 20 and "last_k=20" in repr(h)
    h(torch.randn(1, 2, 28, 28))
    assert h.last_k == 78
    w = WeldonPool(kmax=3, kmin=0.5, alpha=0.7)
    w(torch.randn(1, 2, 2, 2))
    assert (w.last_kmax, w.last_kmin) == (3, 2)
    assert "last_kmax=3, last_kmin=2" in repr(w) and "count" in repr(w)
    w0 = WeldonPool(kmax=2, kmin=0)
    w0(torch.randn(1, 2, 3, 3))
    assert w0.last_kmin == 0 and "no bottom term" in repr(w0)
    assert "beta=5" in repr(LSEPool())


# ---- LSE learnable β ----
def test_lse_learnable_beta_init_and_positive() -> None:
    for beta in (0.01, 1.0, 5.0, 50.0, 800.0):
        h = LSEPool(beta=beta, learnable=True)
        assert float(h.beta.detach()) == pytest.approx(beta, rel=1e-5)
    h = LSEPool(beta=1.0, learnable=True)
    with torch.no_grad():
        h.beta_raw.fill_(-30.0)
    assert float(h.beta.detach()) > 0
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(h(x), x.mean((2, 3)), atol=1e-5, rtol=1e-5)
    h(x).sum().backward()
    assert h.beta_raw.grad is not None and torch.isfinite(h.beta_raw.grad)


# ---- AutoPool CAP and RAP ----
def test_autopool_rap() -> None:
    h = AutoPool2d(4, alpha_init=2.0, rap_weight=0.5)
    reg = h.regularization_loss()
    assert reg.item() == pytest.approx(0.5 * 4 * 4.0)
    reg.backward()
    torch.testing.assert_close(h.alpha.grad, torch.full((4,), 0.5 * 2 * 2.0))
    assert AutoPool2d(4).regularization_loss().item() == 0.0


def test_autopool_cap_forward_and_projected_gradient() -> None:
    x = maps((2, 2, 4, 4), seed=10).float()
    h = AutoPool2d(2, constraint="nonneg")
    with torch.no_grad():
        h.alpha.copy_(torch.tensor([-1.0, 0.5]))
    torch.testing.assert_close(h.effective_alpha(), torch.tensor([0.0, 0.5]))
    ref = AutoPool2d(2)
    with torch.no_grad():
        ref.alpha.copy_(torch.tensor([0.0, 0.5]))
    torch.testing.assert_close(h(x), ref(x))
    # Below the box, a gradient that would push α further down is blocked; one pulling it back passes.
    h.effective_alpha().mul(torch.tensor([1.0, 1.0])).sum().backward()
    assert h.alpha.grad.tolist() == [0.0, 1.0]
    h.alpha.grad = None
    h.effective_alpha().mul(torch.tensor([-1.0, -1.0])).sum().backward()
    assert h.alpha.grad.tolist() == [-1.0, -1.0]
    m = AutoPool2d(2, constraint="maxnorm", alpha_max=2.0)
    with torch.no_grad():
        m.alpha.copy_(torch.tensor([5.0, -5.0]))
    torch.testing.assert_close(m.effective_alpha(), torch.tensor([2.0, -2.0]))
    m.effective_alpha().sum().backward()  # descent lowers both: back into the box for α=5 only
    assert m.alpha.grad.tolist() == [1.0, 0.0]


def test_autopool_alpha_learns_towards_max() -> None:
    # Maximising the score of a map must increase α (towards gmp).
    h = AutoPool2d(1)
    x = maps((4, 1, 5, 5), seed=11).float()
    (-h(x).sum()).backward()
    assert h.alpha.grad.item() < 0


def test_regularization_loss_follows_device_dtype() -> None:
    h = build_pool("gap", 3).to(torch.float64)
    assert h.regularization_loss().dtype == torch.float64
    assert "_zero" not in h.state_dict()


def test_weldon_defaults_documented() -> None:
    w = build_pool("weldon", 5)
    assert (w.kmax, w.kmin, w.alpha) == (0.1, None, 1.0)
    assert build_pool("kmax", 5).k == 0.1
    assert float(build_pool("lse", 5).beta) == 5.0
    assert math.isclose(float(build_pool("autopool", 5).alpha.detach().abs().sum()), 0.0)
