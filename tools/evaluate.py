"""``wsol evaluate``, runnable from a clone as ``python tools/evaluate.py``.

Score a trained model, or CAMs saved by any method, on a VOC / COCO / synthetic split.

The code is in :mod:`wsl.commands.evaluate`.
"""

import sys

from wsl.commands.evaluate import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
