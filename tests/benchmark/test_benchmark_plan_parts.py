"""The parts of wsl.benchmark.plan and wsl.benchmark.columns that ``test_benchmark_plan.py`` and
``test_benchmark_columns.py`` reach only through ``make_plan`` and the tables: ``check_extra_args`` called
directly on every reserved flag, and ``titles``."""

from __future__ import annotations

import pytest

from wsl.benchmark.columns import columns, metric_columns, titles
from wsl.benchmark.plan import RESERVED, check_extra_args


@pytest.mark.parametrize("flag", RESERVED)
@pytest.mark.parametrize("spelling", ["separate", "joined"])
def test_every_reserved_flag_is_refused_in_both_spellings_naming_it_and_the_fix(flag, spelling):
    args = ["--trainer.max_epochs", "3", *([flag, "x"] if spelling == "separate" else [f"{flag}=x"])]
    with pytest.raises(ValueError) as caught:
        check_extra_args(args)
    assert str(caught.value) == (
        f"{flag!r} in extra_args is set by the benchmark for every run; set it through entries, seeds, out "
        "or pool_kwargs instead"
    )


def test_other_arguments_come_back_as_a_new_list_in_order():
    args = ("--trainer.max_epochs", "3", "--pools", "--model.pool_kwargs_x=1", "--data.batch_size=8")
    checked = check_extra_args(args)
    assert checked == list(args) and isinstance(checked, list)
    assert check_extra_args([]) == []


def test_titles_are_the_columns_keys_and_titles_in_column_order():
    named = titles()
    assert list(named) == [c.key for c in columns()]
    assert named == {key: title for key, title, _ in metric_columns()}
    assert "maxboxacc" in named and all(isinstance(t, str) and t for t in named.values())
