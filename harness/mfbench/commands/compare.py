"""``mfbench compare RUN_A RUN_B``: how B differs from A (``mfbench.compare`` does the work)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["command"]


@click.command(name="compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option(
    "--threshold",
    type=float,
    default=0.10,
    show_default=True,
    help="A time ratio beyond 1 ± threshold (and beyond every cell's own spread) counts as a change.",
)
@click.option(
    "--rmse-tolerance",
    type=float,
    default=0.002,
    show_default=True,
    help="An RMSE increase beyond this counts as less accurate.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the comparison as one self-contained HTML page (needs matplotlib: mfbench[plot]).",
)
def command(run_a: str, run_b: str, out: Path, threshold: float, rmse_tolerance: float, html_path: Path | None) -> None:
    """Compare RUN_B against RUN_A: time ratios B/A and metric differences, cell by cell.

    Marks: + slower, - faster, ! newly failing or less accurate, ~ within the noise,
    x not comparable (the algorithm's code changed between the runs).
    """
    from ..compare import compare_stored, render_comparison

    c = compare_stored(run_a, run_b, out, threshold, rmse_tolerance)
    for note in c.notes:
        click.echo(f"note: {note}", err=True)
    for warning in c.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(render_comparison(c))
    if html_path is not None:
        from ..page import compare_page, write_page

        page = compare_page(
            c.records_a, c.records_b, c.env_a, c.env_b, c.a.path.name, c.b.path.name, c.rows, c.warnings
        )
        click.echo(f"\nHTML comparison: {write_page(html_path, page)}", err=True)
