"""``wsol explain``, runnable from a clone as ``python tools/explain.py``.

Explain any classifier: CAM overlays of a folder of images, or its CAMs scored on a WSOL split.

The code is in :mod:`wsl.commands.explain`.
"""

import sys

from wsl.commands.explain import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.explain import main

if __name__ == "__main__":
    sys.exit(main())
