"""``mfbench report RUN``: a run's comparison table, and its HTML page."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import MfbenchError
from ..report import render, summarize
from ..results import RunStore

__all__ = ["command", "report_command"]


@click.command(name="report")
@click.argument("run_ref", metavar="RUN")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write one self-contained HTML page: the table, accuracy against time, learning curves, "
    "costs, CPU and GPU side by side, the environment (needs matplotlib: mfbench[plot]).",
)
def command(run_ref: str, out: Path, fmt: str, html_path: Path | None) -> None:
    """Print the comparison table of RUN (a run id under --out, or a run folder)."""
    report_command(run_ref, out, fmt, html_path)


def report_command(run_ref: str, out: Path, fmt: str, html_path: Path | None = None) -> None:
    store = RunStore.open(run_ref, out)
    records = store.latest()
    if note := store.damage_note():
        click.echo(f"note: {note}", err=True)
    if not records:
        raise MfbenchError(f"run {run_ref!r} has no records yet ({store.records_path})")
    click.echo(render(summarize(records), fmt))
    if html_path is not None:
        from ..page import run_page, write_page
        from ..results import read_environment

        command = None
        if (store.path / "request.json").exists():
            import json

            argv = json.loads((store.path / "request.json").read_text()).get("argv") or []
            command = " ".join(["mfbench", *argv[1:]]) if argv and argv[0] != "mfbench.run" else "mfbench.run(...)"
        page = run_page(records, read_environment(store.path), store.path.name, command)
        click.echo(f"\nHTML report: {write_page(html_path, page)}", err=True)
