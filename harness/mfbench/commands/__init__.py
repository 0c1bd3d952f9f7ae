"""The command line: one module per command, and the only code that imports click.

Each module holds one click command and what it prints; the work is in the domain modules
(``api``, ``report``, ``compare``, ``gate``, ``plot``), which return data and text. ``main`` turns
every error into one line and an exit code: 2 for a bad request or a machine's fault, 70 for an
internal error, 130 for Ctrl-C.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback

import click

from ..errors import MfbenchError

__all__ = ["main", "cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mfbench")
@click.option(
    "--debug",
    is_flag=True,
    envvar="MFBENCH_DEBUG",
    help="Show the traceback of an error, not only its one line [env: MFBENCH_DEBUG=1].",
)
def cli(debug: bool) -> None:
    """Benchmark matrix-factorization algorithms: speed, memory and accuracy, per backend.

    \b
    mfbench run                                   # the main families on synthetic data
    mfbench run examples/grid.toml                # an experiment file: a grid over k
    mfbench run --algos biases --dataset ml-100k  # MovieLens 100K, official folds u1..u5
    mfbench list                                  # what is installed
    mfbench describe ml-latest-small              # what a dataset holds
    """
    _DEBUG[0] = debug


# the commands, in the order `mfbench --help` lists them
from . import ab, compare, describe, gate, listing, plot, recommend, report, run  # noqa: E402

for _module in (run, listing, describe, report, compare, gate, ab, plot):
    cli.add_command(_module.command)
cli.add_command(recommend.recommend)
cli.add_command(recommend.export)

#: whether --debug (or MFBENCH_DEBUG) asked for tracebacks; set by the group's callback
_DEBUG = [False]

#: what to do about a system error of these kinds, said after its one line
_OS_HINTS = {
    errno.ENOSPC: "free some space, or give --out a folder on another disk",
    errno.EDQUOT: "free some space, or give --out a folder on another disk",
    errno.EROFS: "give --out a folder you can write",
    errno.EACCES: "give --out a folder you can write",
    errno.EPERM: "give --out a folder you can write",
}


def _traceback() -> None:
    if _DEBUG[0] or os.environ.get("MFBENCH_DEBUG", "") not in ("", "0"):
        traceback.print_exc()


def main(argv: list[str] | None = None) -> None:
    """``mfbench ARGS``: run the command, then exit with its code."""
    try:
        cli.main(args=argv, prog_name="mfbench", standalone_mode=False)
    except MfbenchError as exc:
        _traceback()
        click.echo(f"mfbench: error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        # the machine's fault, not mfbench's: a full or read-only disk, a missing permission. What
        # was written before it (records are whole lines) stays valid.
        _traceback()
        where = f"{exc.filename}: " if exc.filename else ""
        hint = _OS_HINTS.get(exc.errno or 0)
        click.echo(f"mfbench: error: {where}{exc.strerror or exc}" + (f"; {hint}" if hint else ""), err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback on demand
        _traceback()
        click.echo(
            f"mfbench: internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback, "
            "and report it)",
            err=True,
        )
        sys.exit(70)
