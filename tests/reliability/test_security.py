"""No pickle from untrusted files: every loader call in wsl/ and tools/ refuses pickled objects."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(REPO / "wsl").rglob("*.py"), *(REPO / "tools").glob("*.py")])
SAFE = {r"torch\.load\(": "weights_only=True", r"np\.load\(": "allow_pickle=False"}


def _calls(pattern: str):
    for path in SOURCES:
        text = path.read_text()
        for match in re.finditer(pattern, text):
            line = text[: match.start()].count("\n") + 1
            if text[text.rfind("\n", 0, match.start()) + 1 : match.start()].lstrip().startswith("#"):
                continue
            depth, end = 1, match.end()
            while depth:  # the call up to its balanced closing parenthesis
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                end += 1
            call = text[match.start() : end]
            if "``" in text[text.rfind("\n", 0, match.start()) : match.start()]:
                continue  # a docstring mentioning the call
            yield f"{path.relative_to(REPO)}:{line}", call


@pytest.mark.parametrize("pattern", list(SAFE))
def test_every_load_call_refuses_pickles(pattern):
    calls = list(_calls(pattern))
    assert calls, f"no {pattern} call found; update this test"
    unsafe = [where for where, call in calls if SAFE[pattern] not in call]
    assert not unsafe, f"{SAFE[pattern]} missing at {unsafe}"


def test_no_pickle_module_in_the_package():
    pickle_import = re.compile(r"^\s*(import|from) (c?pickle|dill)\b", re.M)
    assert not [str(p.relative_to(REPO)) for p in SOURCES if pickle_import.search(p.read_text())]
