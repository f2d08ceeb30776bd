"""Every ```python block of docs/tutorials/ runs, so the tutorials cannot rot.

A block is marked ``<!-- runnable -->`` (run, in page order, in one namespace per page, in a temporary
folder holding a link to the checkout's ``configs/``) or ``<!-- not run: REASON -->`` (shown only); an
unmarked python block fails the test. Registries the tutorials add to are restored afterwards.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
PAGES = sorted(TUTORIALS.glob("*.md"))
MARK = re.compile(r"<!--\s*(runnable|not run:[^>]*)\s*-->")
FENCE = re.compile(r"^```python\s*$")


def python_blocks(text: str) -> list[tuple[int, str | None, str]]:
    """``(line, mark, code)`` of every ```python block; ``mark`` is the comment right above it (or None)."""
    lines, blocks, i = text.splitlines(), [], 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            found = MARK.search(above)
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append((i + 1, found.group(1) if found else None, "\n".join(lines[i + 1 : end])))
            i = end
        i += 1
    return blocks


def _registries() -> list[dict]:
    from wsl.cam.posthoc import POSTHOC_METHODS
    from wsl.methods import METHODS
    from wsl.metrics.registry import METRICS
    from wsl.pooling import POOLS

    return [POOLS, METHODS, POSTHOC_METHODS, METRICS]


def test_the_tutorials_exist():
    names = {page.stem for page in PAGES}
    assert {"bring-your-own-dataset", "extend", "reproduce-a-published-cell", "explain-a-classifier"} <= names


def test_python_blocks_finds_marks():
    text = "<!-- runnable -->\n```python\nx = 1\n```\n\n```python\ny\n```\n"
    assert python_blocks(text) == [(2, "runnable", "x = 1"), (6, None, "y")]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_every_python_block_of_a_tutorial_runs(page, tmp_path, monkeypatch):
    blocks = python_blocks(page.read_text(encoding="utf-8"))
    unmarked = [line for line, mark, _ in blocks if mark is None]
    assert not unmarked, f"{page.name}: mark the python blocks at lines {unmarked} runnable or not run"
    runnable = [(line, code) for line, mark, code in blocks if mark == "runnable"]
    assert runnable, f"{page.name} has no runnable block"
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    saved = [dict(registry) for registry in _registries()]
    namespace: dict = {"__name__": f"tutorial_{page.stem.replace('-', '_')}"}
    try:
        for line, code in runnable:
            exec(compile(code, f"{page}:{line}", "exec"), namespace)  # noqa: S102 - the docs' own code
    finally:
        for registry, before in zip(_registries(), saved, strict=True):
            for name in set(registry) - set(before):
                del registry[name]
