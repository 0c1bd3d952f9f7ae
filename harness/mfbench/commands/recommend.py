"""``mfbench recommend RUN CELL`` and ``mfbench export RUN CELL``: use a benchmark's winner."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["recommend", "export"]


def _model(run_ref: str, out: Path, cell: str):
    from ..api import load

    return load(run_ref, out).model(cell)


@click.command(name="recommend")
@click.argument("run_ref", metavar="RUN")
@click.argument("cell", metavar="CELL")
@click.option("--users", required=True, metavar="ID[,ID...]", help="The dataset's user ids, comma-separated.")
@click.option("-n", "n", type=click.IntRange(min=1), default=10, show_default=True, help="Items per user.")
@click.option("--include-seen", is_flag=True, help="Also rank the items each user rated in the cell's training split.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def recommend(run_ref: str, cell: str, users: str, n: int, include_seen: bool, out: Path, fmt: str) -> None:
    """Top-N items for USERS from CELL's fitted model (saved by mfbench run --checkpoint), with
    item titles where the dataset has them.

    \b
    CELL is a cell id (mfbench report RUN --format json shows them) or an algorithm's name when
    one cell of it has a checkpoint:
    mfbench recommend grid-k als --users 1,2,3 -n 10
    """
    from tabulate import tabulate

    from ..request import split_list

    model = _model(run_ref, out, cell)
    ids: list[object] = [int(u) if u.lstrip("-").isdigit() else u for u in split_list(users)]
    table = model.recommend(ids, n=n, exclude_seen=not include_seen)
    if fmt == "csv":
        click.echo(table.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(table.to_json(orient="records", indent=2))
    else:
        if len(table):
            table["score"] = table["score"].map("{:.3f}".format)
        click.echo(f"{model.cell_id}: top {n} by predicted rating\n")
        click.echo(tabulate(table, headers="keys", showindex=False, floatfmt=".3f", disable_numparse=True))


@click.command(name="export")
@click.argument("run_ref", metavar="RUN")
@click.argument("cell", metavar="CELL")
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="NAME.parquet (needs pyarrow) or NAME.csv: writes NAME.users.EXT and NAME.items.EXT.",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
def export(run_ref: str, cell: str, to: Path, out: Path) -> None:
    """Write CELL's user and item factors and biases, with the dataset's own ids, from its
    checkpoint (mfbench run --checkpoint): one row per user or item, columns id, bias, f0..fK."""
    model = _model(run_ref, out, cell)
    for path in model.export(to):
        click.echo(str(path))
