"""Train a weakly supervised localization model: ``python tools/train.py --pool weldon``.

Run with ``--help`` for every option and ``--print_config`` for the full configuration.
"""

from wsl.cli import main

if __name__ == "__main__":
    main()
