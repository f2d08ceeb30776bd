"""Registry: names, keyword validation, error messages, the decorator and the derived ``__all__``."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator

import pytest
import torch
from pooling_reference import REFERENCES

import wsl.pooling
from wsl.pooling import POOLS, PoolHead, build_pool, pool_kwargs, register_pool
from wsl.pooling import functional as PF
from wsl.pooling.modules import AutoPool2d, ClassWiseMean, KMaxPool, LSEPool, WeldonPool


def test_names() -> None:
    # Every registered head has a reference and vice versa, in the same (registration) order.
    assert list(POOLS) == list(REFERENCES)


@pytest.mark.parametrize("name", sorted(POOLS))
def test_kwargs_and_build(name: str) -> None:
    assert pool_kwargs(name) == list(REFERENCES[name].kwargs)
    h = build_pool(name, 7)
    assert isinstance(h, POOLS[name])
    assert h(torch.randn(2, 7, 3, 3)).shape == (2, 7)


def test_autopool_uses_num_classes() -> None:
    assert build_pool("autopool", 11, alpha_init=0.5).alpha.shape == (11,)


@pytest.mark.parametrize(
    ("name", "close"), [("wledon", "weldon"), ("LSE", "lse"), ("kmax_pool", "kmax"), ("soft", "softpool")]
)
def test_unknown_name_lists_choices_and_closest(name: str, close: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"^pool: got '{name}' \(did you mean '{close}'\?\); expected one of "
        + re.escape(str(sorted(POOLS)))
        + "$",
    ):
        build_pool(name, 3)


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(
        ValueError,
        match=r"^pool: got 'zzzzzzzz'; expected one of " + re.escape(str(sorted(POOLS))) + "$",
    ):
        build_pool("zzzzzzzz", 3)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        (
            "kmax",
            {"beta": 1.0},
            r"unknown keyword argument\(s\) \['beta'\] for pool 'kmax'; accepted: \['k'\]",
        ),
        ("gap", {"k": 1}, r"for pool 'gap'; accepted: none"),
        ("weldon", {"kmax": 1, "k": 2}, r"\['k'\] for pool 'weldon'; accepted: \['kmax', 'kmin', 'alpha'\]"),
        ("kmax", {"k": 0}, r"k must be an int >= 1 \(count\) or a float in \(0, 1\) \(proportion\); got 0"),
        ("kmax", {"k": -0.2}, "k must be an int >= 1.*got -0.2"),
        ("kmax", {"k": 2.5}, "a float >= 1 must be integral"),
        ("kmax", {"k": "3"}, "k must be an int count or a float proportion; got '3'"),
        ("weldon", {"kmax": 0}, "kmax must be an int >= 1.*got 0"),
        ("weldon", {"kmin": 1.5}, "kmin must be .*got 1.5"),
        ("weldon", {"alpha": float("nan")}, "alpha must be a finite float; got nan"),
        ("lse", {"beta": -1.0}, "beta must be a finite float >= 0; got -1.0"),
        ("lse", {"beta": 0.0, "learnable": True}, r"beta must be > 0 when learnable=True"),
        (
            "autopool",
            {"constraint": "positive"},
            r"constraint must be one of \(None, 'nonneg', 'maxnorm'\); got 'positive'",
        ),
        (
            "autopool",
            {"constraint": "maxnorm"},
            "alpha_max must be a finite float > 0 with constraint='maxnorm'; got None",
        ),
        (
            "autopool",
            {"alpha_max": 2.0},
            "alpha_max is only used with constraint='maxnorm'; got alpha_max=2.0",
        ),
        (
            "autopool",
            {"constraint": "maxnorm", "alpha_max": 1.0, "alpha_init": 3.0},
            r"\|alpha_init\| <= alpha_max",
        ),
        (
            "autopool",
            {"constraint": "nonneg", "alpha_init": -1.0},
            "alpha_init must be >= 0 with constraint='nonneg'",
        ),
        ("autopool", {"rap_weight": -1.0}, "rap_weight must be a finite float >= 0; got -1.0"),
        ("autopool", {"alpha_init": float("inf")}, "alpha_init must be a finite float; got inf"),
    ],
)
def test_bad_values(name: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_pool(name, 3, **kwargs)


def test_bad_num_classes_for_autopool() -> None:
    with pytest.raises(ValueError, match="num_classes must be an int >= 1; got 0"):
        build_pool("autopool", 0)


# ---- @register_pool: a head defined here is registered, buildable and listed; duplicates fail ----
SCRATCH = "test_shifted_gap"


@pytest.fixture
def scratch_name() -> Iterator[str]:
    """A pool name free before the test and removed from POOLS after it, whatever happens."""
    assert SCRATCH not in POOLS
    try:
        yield SCRATCH
    finally:
        POOLS.pop(SCRATCH, None)


def test_decorator_registers_a_buildable_head(scratch_name: str) -> None:
    @register_pool(scratch_name)
    class ShiftedGap(PoolHead):
        """s = (1/n) Σ_i z_i + shift (a head for this test only)."""

        def __init__(self, num_classes: int, shift: float = 0.0) -> None:
            super().__init__()
            self.num_classes = num_classes
            self.shift = shift

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return PF.gap(x) + self.shift

    assert inspect.isclass(ShiftedGap) and POOLS[scratch_name] is ShiftedGap  # returned unchanged
    assert list(POOLS)[-1] == scratch_name
    assert pool_kwargs(scratch_name) == ["shift"]
    h = build_pool(scratch_name, 4, shift=1.5)
    assert isinstance(h, ShiftedGap) and h.num_classes == 4
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(h(x), x.mean((2, 3)) + 1.5, rtol=1e-12, atol=1e-12)
    assert build_pool(scratch_name, 4).regularization_loss().item() == 0.0
    with pytest.raises(
        ValueError,
        match=rf"unknown keyword argument\(s\) \['k'\] for pool '{scratch_name}'; accepted: \['shift'\]",
    ):
        build_pool(scratch_name, 4, k=1)
    with pytest.raises(
        ValueError,
        match=rf"did you mean '{scratch_name}'\?\); expected one of \[.*'{scratch_name}'.*\]$",
    ):
        build_pool(scratch_name + "x", 4)


def test_duplicate_registration_raises(scratch_name: str) -> None:
    @register_pool(scratch_name)
    class First(PoolHead):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return PF.gmp(x)

    class Second(PoolHead):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return PF.gap(x)

    with pytest.raises(
        ValueError,
        match=rf"pool name '{scratch_name}' is already registered to .*\.First; choose another name",
    ):
        register_pool(scratch_name)(Second)
    assert POOLS[scratch_name] is First
    with pytest.raises(
        ValueError, match=r"pool name 'gap' is already registered to wsl\.pooling\.modules\.GlobalAvgPool"
    ):
        register_pool("gap")(Second)
    assert POOLS["gap"] is wsl.pooling.GlobalAvgPool
    assert list(POOLS) == [*REFERENCES, scratch_name]


@pytest.mark.parametrize(
    ("name", "obj", "match"),
    [
        ("", wsl.pooling.GlobalAvgPool, r"register_pool: name must be a non-empty str; got ''"),
        (3, wsl.pooling.GlobalAvgPool, r"register_pool: name must be a non-empty str; got 3"),
        (SCRATCH, torch.nn.Identity, rf"register_pool\('{SCRATCH}'\): expected a PoolHead subclass"),
        (SCRATCH, PF.gap, r"expected a PoolHead subclass .*; got <function gap"),
        (SCRATCH, build_pool("gap", 2), r"expected a PoolHead subclass .*; got GlobalAvgPool\(\)"),
    ],
)
def test_bad_registration_raises(scratch_name: str, name: object, obj: object, match: str) -> None:
    before = dict(POOLS)
    with pytest.raises(TypeError, match=match):
        register_pool(name)(obj)  # type: ignore[arg-type]
    assert dict(POOLS) == before


# ---- the package __all__ is derived, and keeps every name it exported when it was hand-written ----
EXPORTED_BY_THE_HAND_WRITTEN_ALL = (
    "functional",
    "gmp",
    "gap",
    "lse",
    "kmax",
    "weldon",
    "softpool",
    "autopool",
    "resolve_k",
    "class_wise_mean",
    "PoolHead",
    "GlobalMaxPool",
    "GlobalAvgPool",
    "LSEPool",
    "KMaxPool",
    "WeldonPool",
    "SoftPool",
    "AutoPool2d",
    "ClassWiseMean",
    "SoftPool2d",
    "replace_stem_maxpool",
    "POOLS",
    "build_pool",
    "pool_kwargs",
)


def test_all_is_derived_and_keeps_every_export() -> None:
    names = wsl.pooling.__all__
    assert len(names) == len(set(names))
    assert set(EXPORTED_BY_THE_HAND_WRITTEN_ALL) <= set(names)
    assert all(hasattr(wsl.pooling, n) and not n.startswith("_") for n in names)
    for cls in POOLS.values():
        assert cls.__name__ in names and getattr(wsl.pooling, cls.__name__) is cls
        assert cls.__name__ in wsl.pooling.modules.__all__
    for fn in PF.__all__:
        assert inspect.isfunction(getattr(PF, fn)) and getattr(PF, fn).__module__ == PF.__name__
        if fn != "softpool2d":
            assert fn in names and getattr(wsl.pooling, fn) is getattr(PF, fn)
    namespace: dict[str, object] = {}
    exec("from wsl.pooling import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(names)


def test_softpool2d_attribute_is_the_submodule() -> None:
    assert inspect.ismodule(wsl.pooling.softpool2d)
    assert wsl.pooling.softpool2d.SoftPool2d is wsl.pooling.SoftPool2d
    assert "softpool2d" not in wsl.pooling.__all__
    assert "softpool2d" in PF.__all__ and inspect.isfunction(PF.softpool2d)


# ---- argument checks are written once: a functional twin and its head raise the same error ----
X = torch.zeros(1, 3, 2, 2)


@pytest.mark.parametrize(
    ("functional_call", "head_call", "types", "match"),
    [
        (
            lambda: PF.kmax(X, "3"),
            lambda: KMaxPool(k="3"),
            (TypeError, ValueError),
            r"^k must be an int count or a float proportion; got '3' \(str\)$",
        ),
        (
            lambda: PF.kmax(X, 0),
            lambda: KMaxPool(k=0),
            (ValueError,),
            r"^k must be an int >= 1 \(count\) or a float in \(0, 1\) \(proportion\); got 0$",
        ),
        (lambda: PF.kmax(X, float("nan")), lambda: KMaxPool(k=float("nan")), (ValueError,), "got nan$"),
        (lambda: PF.kmax(X, 2.5), lambda: KMaxPool(k=2.5), (ValueError,), "a float >= 1 must be integral"),
        (
            lambda: PF.weldon(X, 1, True),
            lambda: WeldonPool(kmax=1, kmin=True),
            (TypeError, ValueError),
            r"^kmin must be None, an int count or a float proportion; got True \(bool\)$",
        ),
        (
            lambda: PF.weldon(X, 1, float("-inf")),
            lambda: WeldonPool(kmax=1, kmin=float("-inf")),
            (ValueError,),
            r"^kmin must be an int >= 1 \(count\) or a float in \(0, 1\) \(proportion\), or <= 0 \(none\); "
            r"got -inf$",
        ),
        (lambda: PF.weldon(X, 0), lambda: WeldonPool(kmax=0), (ValueError,), "^kmax must be an int >= 1"),
        (
            lambda: PF.weldon(X, 1, 1, float("nan")),
            lambda: WeldonPool(kmax=1, alpha=float("nan")),
            (ValueError,),
            "^alpha must be a finite float; got nan$",
        ),
        (
            lambda: PF.lse(X, -1.0),
            lambda: LSEPool(beta=-1.0),
            (ValueError,),
            "^beta must be a finite float >= 0; got -1.0$",
        ),
        (lambda: PF.lse(X, True), lambda: LSEPool(beta=True), (ValueError,), "^beta must be a finite float"),
        (
            lambda: PF.class_wise_mean(torch.zeros(1, 6, 2, 2), 0),
            lambda: ClassWiseMean(0),
            (ValueError,),
            "^num_classes must be an int >= 1; got 0$",
        ),
        (
            lambda: PF.class_wise_mean(torch.zeros(1, 6, 2, 2), 2.0),
            lambda: AutoPool2d(2.0),
            (ValueError,),
            "^num_classes must be an int >= 1; got 2.0$",
        ),
    ],
)
def test_functional_and_head_raise_the_same_error(
    functional_call: object, head_call: object, types: tuple[type[Exception], ...], match: str
) -> None:
    errors = []
    for call in (functional_call, head_call):
        with pytest.raises(types[0], match=match) as info:
            call()  # type: ignore[operator]
        errors.append(info.value)
    assert all(isinstance(e, t) for e in errors for t in types)
    assert type(errors[0]) is type(errors[1]) and str(errors[0]) == str(errors[1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha_init": True}, "^alpha_init must be a finite float; got True$"),
        ({"rap_weight": True}, "^rap_weight must be a finite float >= 0; got True$"),
        (
            {"constraint": "maxnorm", "alpha_max": True},
            "^alpha_max must be a finite float > 0 with constraint='maxnorm'; got True$",
        ),
        ({"constraint": "maxnorm", "alpha_max": 0.0}, "^alpha_max must be a finite float > 0 .*; got 0.0$"),
    ],
)
def test_autopool_rejects_bools_and_bounds(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_pool("autopool", 3, **kwargs)
