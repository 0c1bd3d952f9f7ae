"""``python -m mfbench``: the ``mfbench`` command."""

from .cli import main

main()
