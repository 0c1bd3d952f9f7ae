"""Helpers of the CLI tests: run ``mfbench`` in-process and read run records."""

import json

from mfbench.cli import main


def run_cli(args, capsys):
    """``(exit code, stdout, stderr)`` of ``mfbench ARGS``."""
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]
