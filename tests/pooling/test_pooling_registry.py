"""Registry: names, keyword validation, error messages."""

from __future__ import annotations

import pytest
import torch

from wsl.pooling import POOLS, build_pool, pool_kwargs

EXPECTED_KWARGS = {
    "gmp": [],
    "gap": [],
    "lse": ["beta", "learnable"],
    "kmax": ["k"],
    "weldon": ["kmax", "kmin", "alpha"],
    "softpool": [],
    "autopool": ["alpha_init", "constraint", "alpha_max", "rap_weight"],
}


def test_names() -> None:
    assert list(POOLS) == ["gmp", "gap", "lse", "kmax", "weldon", "softpool", "autopool"]


@pytest.mark.parametrize("name", sorted(POOLS))
def test_kwargs_and_build(name: str) -> None:
    assert pool_kwargs(name) == EXPECTED_KWARGS[name]
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
        ValueError, match=rf"unknown pool name '{name}'; choose one of: gmp, gap, .*did you mean '{close}'"
    ):
        build_pool(name, 3)


def test_unknown_name_without_close_match() -> None:
    with pytest.raises(
        ValueError,
        match=r"unknown pool name 'zzzzzzzz'; choose one of: gmp, gap, lse, kmax, weldon, softpool, "
        r"autopool$",
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
