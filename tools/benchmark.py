"""``wsol benchmark``, runnable from a clone as ``python tools/benchmark.py``.

Benchmark pooling heads, WSOL methods, post-hoc CAMs and the center baseline, fairly; tabulate, plot.

The code is in :mod:`wsl.commands.benchmark`.
"""

import sys

from wsl.commands.benchmark import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
