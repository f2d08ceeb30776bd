"""``wsol convert``, runnable from a clone as ``python tools/convert_wsolevaluation.py``.

Convert a checkpoint written by clovaai/wsolevaluation's main.py into a wsl checkpoint.

The code is in :mod:`wsl.commands.convert_wsolevaluation`.
"""

import sys

from wsl.commands.convert_wsolevaluation import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.convert_wsolevaluation import main

if __name__ == "__main__":
    sys.exit(main())
