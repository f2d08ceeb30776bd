"""``wsol predict``, runnable from a clone as ``python tools/predict.py``.

Run a trained model on your own images: overlays, CAM files, a gallery, a contact sheet, COCO detections.

The code is in :mod:`wsl.commands.predict`.
"""

import sys

from wsl.commands.predict import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.predict import main

if __name__ == "__main__":
    sys.exit(main())
