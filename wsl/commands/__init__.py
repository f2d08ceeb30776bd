"""One command line: ``wsol SUBCOMMAND [args]`` (or ``python -m wsl SUBCOMMAND``), one subcommand per tool.

The console script is called ``wsol``, not ``wsl``: on Windows ``wsl.exe`` is the Windows Subsystem for
Linux, which a ``wsl`` script on the ``PATH`` would shadow or be shadowed by. ``python tools/NAME.py``
runs the same code from a clone.

Example:
    >>> sorted(SUBCOMMANDS)[:3]
    ['benchmark', 'check-tested', 'convert']
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from wsl.registry import Registry

__all__ = ["SUBCOMMANDS", "main"]

#: subcommand → the module whose ``main(argv)`` runs it.
SUBCOMMANDS: Registry[str] = Registry("subcommand")
for _name, _module in (
    ("train", "wsl.commands.train"),
    ("evaluate", "wsl.commands.evaluate"),
    ("export", "wsl.commands.export_cams"),
    ("predict", "wsl.commands.predict"),
    ("explain", "wsl.commands.explain"),
    ("benchmark", "wsl.commands.benchmark"),
    ("convert", "wsl.commands.convert_wsolevaluation"),
    ("make-synthetic", "wsl.commands.make_synthetic"),
    ("check-tested", "wsl.commands.check_tested"),
):
    SUBCOMMANDS.add(_name, _module)
del _name, _module


def _usage() -> str:
    width = max(map(len, SUBCOMMANDS))
    rows = []
    for name, module in SUBCOMMANDS.items():
        rows.append(f"  {name:<{width}}  python tools/{module.rsplit('.', 1)[1]}.py")
    return "usage: wsol SUBCOMMAND [--help | args]\n\nsubcommands (each also runs as):\n" + "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``wsol SUBCOMMAND args``: the subcommand's ``main(args)``; its exit status is returned.

    An unknown subcommand is one ``error:`` line, the registry's (the closest name, the names; exit 2); no
    subcommand or ``--help`` prints the list (exit 0 with ``--help``, 2 without).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    name, rest = args[0], args[1:]
    try:
        path = SUBCOMMANDS.lookup(name)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    module = importlib.import_module(path)
    saved, sys.argv = sys.argv, [f"wsol {name}", *rest]  # argparse names the program after argv[0]
    try:
        status = module.main(rest)
    finally:
        sys.argv = saved
    return int(status or 0)
