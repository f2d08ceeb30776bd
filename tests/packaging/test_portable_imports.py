"""Every wsl module imports on a platform without POSIX-only modules (Windows): no unguarded import.

The modules are blocked the way a missing module looks to ``import`` (``None`` in ``sys.modules``), and
the POSIX-only ``os`` functions are removed, in a fresh interpreter that then imports every module of
the package. A second run on a stand-in package with an unguarded ``import fcntl`` shows that the check
fails where it should.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Standard-library modules that exist on POSIX only.
POSIX_MODULES = ("fcntl", "termios", "tty", "pty", "pwd", "grp", "resource", "syslog")
#: ``os`` functions that exist on POSIX only.
POSIX_OS_FUNCTIONS = ("pwrite", "pread", "fork", "getuid", "geteuid", "killpg", "getpgid", "setsid")

_PROBE = textwrap.dedent(
    """
    import importlib, json, os, pkgutil, sys, traceback
    for name in {modules!r}:
        sys.modules[name] = None
    for name in {functions!r}:
        if hasattr(os, name):
            delattr(os, name)
    package = importlib.import_module({package!r})
    failed = {{}}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        try:
            importlib.import_module(info.name)
        except Exception as err:
            failed[info.name] = "".join(traceback.format_exception_only(err)).strip()
    from wsl.portable import lock_backend
    print(json.dumps({{"failed": failed, "lock": lock_backend().name, "file": package.__file__}}))
    """
)


def _import_all(package: str, root: Path) -> dict:
    code = _PROBE.format(modules=POSIX_MODULES, functions=POSIX_OS_FUNCTIONS, package=package)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_wsl_module_imports_without_posix_only_modules():
    result = _import_all("wsl", REPO)
    assert Path(result["file"]).resolve() == REPO / "wsl" / "__init__.py"
    assert result["failed"] == {}
    assert result["lock"] == "none"  # the fallback is chosen, not an import error at lock time


def test_the_check_catches_an_unguarded_posix_import(tmp_path):
    package = tmp_path / "posixonly"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "fine.py").write_text("import os\n")
    (package / "locks.py").write_text("import fcntl\n")
    (package / "writes.py").write_text("import os\nWRITE = os.pwrite\n")
    result = _import_all("posixonly", tmp_path)
    assert sorted(result["failed"]) == ["posixonly.locks", "posixonly.writes"]
    assert "fcntl" in result["failed"]["posixonly.locks"]
    assert "pwrite" in result["failed"]["posixonly.writes"]
