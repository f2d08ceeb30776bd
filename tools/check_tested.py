"""``wsol check-tested``, runnable from a clone as ``python tools/check_tested.py``.

Which weights each finished run of a benchmark tested: its final ones, or an earlier ``last.ckpt``.

The code is in :mod:`wsl.commands.check_tested`.
"""

import sys

from wsl.commands.check_tested import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.check_tested import main

if __name__ == "__main__":
    sys.exit(main())
