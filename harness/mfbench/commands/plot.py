"""``mfbench plot RUN``: PNG charts of a run (``mfbench.plot`` draws them)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command(name="plot")
@click.argument("run_ref", metavar="RUN")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option(
    "--to",
    "to",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the PNG files [default: RUN/plots].",
)
def command(run_ref: str, out: Path, to: Path | None) -> None:
    """Write PNG plots of RUN: validation RMSE (or training MSE) by epoch and by time; epoch time and memory."""
    from ..plot import plot_run
    from ..results import RunStore

    store = RunStore.open(run_ref, out)
    for path in plot_run(store.latest(), to or store.path / "plots"):
        click.echo(str(path))
