"""``mfbench ab REV -- RUN_ARGS``: any run at two revisions, in alternating pairs on this machine."""

from __future__ import annotations

import sys

import click

__all__ = ["command"]


@click.command(name="ab", context_settings={"ignore_unknown_options": True})
@click.argument("reference", metavar="REV")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED, metavar="-- RUN_ARGS...")
@click.option("--head", metavar="REV", default=None, help="Time REV as B instead of the working tree.")
@click.option("--pairs", type=int, default=8, show_default=True, help="Pairs of runs (A B, B A, B A, A B, ...).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines, only the table.")
def command(reference: str, run_args: tuple[str, ...], head: str | None, pairs: int, quiet: bool) -> None:
    """Run `mfbench run RUN_ARGS` at revision REV and at the working tree, in alternating pairs on
    this machine, and print each cell's fit time ratio B/A with its 95% interval.

    \b
    mfbench ab HEAD~1 -- --algos als,sgd --dataset ml-100k --folds official@1 --threads 1
    mfbench ab v0.1.0 --head main --pairs 12 -- --algos adam_sgd --dataset synthetic
    """
    from ..gate import ab_file, ab_gate, ab_report

    say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
    outcome, ref_label, head_label = ab_gate(ab_file(reference, run_args, pairs), None, head, say)
    text, code = ab_report(outcome, ref_label, head_label)
    click.echo(text)
    sys.exit(code)
