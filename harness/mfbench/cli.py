"""``mfbench``'s entry point (``python -m mfbench.cli``); the commands are in ``mfbench.commands``."""

from .commands import cli, main

__all__ = ["main", "cli"]

if __name__ == "__main__":
    main()
