"""A griffe extension for the API reference (mkdocs.yml): wsl's docstrings as mkdocstrings renders them.

wsl's docstrings are Google style with two Sphinx habits, which this rewrites before they are parsed:

- an ``Example:`` section (singular): made ``Examples:``, which griffe parses into doctest code blocks
  (the singular became an admonition whose ``>>>`` lines rendered as nested block quotes);
- Sphinx roles (``:class:`~wsl.lit.WSLModule```, ``:func:`x```, ``:mod:``, …): made code spans, with
  ``~`` keeping the last name only, as Sphinx shows them.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
ROLE = re.compile(r":(?:class|func|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")


def rewrite(text: str) -> str:
    """The docstring ``text`` with ``Example:`` as ``Examples:`` and Sphinx roles as code spans."""

    def code(match: re.Match) -> str:
        tilde, target = match.groups()
        return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"

    return ROLE.sub(code, EXAMPLE.sub(r"\1Examples:", text))


class WslDocstrings(griffe.Extension):
    """Rewrite every loaded object's docstring with :func:`rewrite`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
