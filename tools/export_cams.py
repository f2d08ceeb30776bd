"""``wsol export``, runnable from a clone as ``python tools/export_cams.py``.

Export CAM overlays, CAM files, an HTML gallery and a contact sheet for a trained checkpoint.

The code is in :mod:`wsl.commands.export_cams`.
"""

import sys

from wsl.commands.export_cams import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.export_cams import main

if __name__ == "__main__":
    sys.exit(main())
