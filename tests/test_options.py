"""wsl.options: keywords → frozen option objects (apply_fields), and the routing of a job's keywords over
several option classes (split_fields), with the error naming the job, the keyword and the closest field."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wsl.options import apply_fields, check_names, field_names, split_fields


@dataclass(frozen=True)
class Run:
    top_k: int | None = None
    progress: bool = False
    keep: bool = False


@dataclass(frozen=True)
class Load:
    device: str = "auto"
    progress: bool = True  # also a field of Run: Run, first in the routing order, gets it


def test_split_fields_routes_each_keyword_to_the_first_class_that_has_it():
    fields = {"device": "cpu", "top_k": 2, "progress": True}
    assert split_fields("job", fields, (Run, Load)) == [{"top_k": 2, "progress": True}, {"device": "cpu"}]
    assert split_fields("job", fields, (Load, Run)) == [{"device": "cpu", "progress": True}, {"top_k": 2}]
    assert split_fields("job", {}, (Run, Load)) == [{}, {}]


def test_an_unknown_keyword_names_the_job_the_keyword_and_the_closest_field():
    expected = r"\['device', 'keep', 'progress', 'top_k'\]"
    with pytest.raises(TypeError, match=r"job\(\) got an unexpected keyword argument 'topk' \(did you mean "
                       r"'top_k'\?\); expected one of " + expected):  # fmt: skip
        split_fields("job", {"device": "cpu", "topk": 2}, (Run, Load))
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'zzz'; expected one of"):
        split_fields("job", {"zzz": 1}, (Run, Load))  # nothing close: no hint


def test_an_excluded_field_is_refused_as_a_keyword():
    assert split_fields("job", {"top_k": 1}, (Run,), exclude=("keep",)) == [{"top_k": 1}]
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'keep'; expected one of \['progress', "
                       r"'top_k'\]"):  # fmt: skip
        split_fields("job", {"keep": True}, (Run,), exclude=("keep",))


def test_apply_fields_then_split_rebuild_the_objects_the_keywords_describe():
    run, load = split_fields("job", {"top_k": 3, "device": "cpu"}, (Run, Load))
    assert apply_fields(Run, None, run) == Run(top_k=3)
    assert apply_fields(Load, Load(progress=False), load) == Load(device="cpu", progress=False)
    base = Run(top_k=1)
    assert apply_fields(Run, base, {}) is base
    with pytest.raises(TypeError, match="options must be a Run or None; got Load"):
        apply_fields(Run, Load(), {})


def test_check_names_and_field_names():
    assert field_names(Run) == ["top_k", "progress", "keep"]
    check_names("job", {"top_k": 1}, field_names(Run))
    with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'kep' \(did you mean 'keep'"):
        check_names("job", {"kep": 1}, field_names(Run))
