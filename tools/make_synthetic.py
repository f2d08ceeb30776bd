"""``wsol make-synthetic``, runnable from a clone as ``python tools/make_synthetic.py``.

Write the synthetic shapes dataset as VOC or COCO files (any registered format with a writer).

The code is in :mod:`wsl.commands.make_synthetic`.
"""

import sys

from wsl.commands.make_synthetic import *  # noqa: F403 - the tool's names, for scripts and tests
from wsl.commands.make_synthetic import main

if __name__ == "__main__":
    sys.exit(main())
