"""``python -m wsl SUBCOMMAND [args]``: the ``wsol`` command line (:mod:`wsl.commands`)."""

import sys

from wsl.commands import main

if __name__ == "__main__":
    sys.exit(main())
