"""wsl.checks: the shared argument checks, their one message form and their bounds."""

from __future__ import annotations

import math

import pytest

from wsl.checks import check_int, check_number


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (0, {}, r"^n must be an int >= 1; got 0$"),
        (True, {}, r"^n must be an int >= 1; got True$"),
        (2.0, {}, r"^n must be an int >= 1; got 2\.0$"),
        ("3", {"ge": None}, r"^n must be an int; got '3'$"),
        (1, {"ge": 2}, r"^n must be an int >= 2; got 1$"),
        (-1, {"ge": 0, "what": "a count"}, r"^n must be a count; got -1$"),
    ],
)
def test_check_int_rejects(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_int(value, "n", **kwargs)


def test_check_int_accepts_and_returns():
    assert check_int(1, "n") == 1
    assert check_int(-5, "n", ge=None) == -5
    assert check_int(2, "n", ge=2) == 2


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (math.nan, {}, r"^x must be a finite float; got nan$"),
        (math.inf, {"gt": 0}, r"^x must be a finite float > 0; got inf$"),
        (0, {"gt": 0}, r"^x must be a finite float > 0; got 0$"),
        (-0.5, {"ge": 0}, r"^x must be a finite float >= 0; got -0\.5$"),
        (False, {}, r"^x must be a finite float; got False$"),
        ("1", {}, r"^x must be a finite float; got '1'$"),
        (math.nan, {"gt": 0, "finite": False}, r"^x must be a float > 0; got nan$"),
        (0.0, {"gt": 0, "finite": False, "what": "a radius"}, r"^x must be a radius; got 0\.0$"),
    ],
)
def test_check_number_rejects(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_number(value, "x", **kwargs)


def test_check_number_accepts_and_returns():
    assert check_number(3, "x") == 3
    assert check_number(0.0, "x", ge=0) == 0.0
    assert check_number(math.inf, "x", gt=0, finite=False) == math.inf
