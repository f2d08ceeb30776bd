"""``wsol train``, runnable from a clone as ``python tools/train.py``.

Train a weakly supervised localization model: ``python tools/train.py --pool weldon``.

The code is in :mod:`wsl.commands.train`.
"""

import sys

from wsl.commands.train import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.train import main

if __name__ == "__main__":
    sys.exit(main())
