"""``mfbench describe DATASET``: what a dataset holds."""

from __future__ import annotations

from pathlib import Path

import click

from ..plan import parse_assignments
from ..registry import get_registry

__all__ = ["command", "describe_command", "render_description"]


@click.command(name="describe")
@click.argument("dataset")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="MFBENCH_DATA_DIR",
    help="Folder with local dataset copies [env: MFBENCH_DATA_DIR].",
)
@click.option(
    "--data-param", "data_params", multiple=True, metavar="DATASET.KEY=VALUE", help="A dataset option (repeatable)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(dataset: str, data_dir: Path | None, data_params: tuple[str, ...], fmt: str) -> None:
    """Load DATASET and describe it: counts, density, rating scale and distribution, ratings per
    user and per item (quantiles, Gini), time span, official folds, item metadata, licence."""
    describe_command(dataset, data_dir, data_params, fmt)


def describe_command(name: str, data_dir: Path | None, data_params: tuple[str, ...], fmt: str) -> None:
    """Load one dataset and print what it holds."""
    import json

    from ..plan import check_assignments, load_dataset, require_argument

    spec = get_registry().dataset(name)
    base = name.split(":", 1)[0]
    require_argument(name, spec, how="")
    values, sources = parse_assignments(data_params, "--data-param")
    options = check_assignments(values, {base: spec.options}, sources, "--data-param").get(base, {})
    dataset = load_dataset(name, spec, data_dir, options)
    info = dataset.describe()
    info["description"] = spec.description
    info["default_split"] = spec.default_split
    info["licence"] = info["licence"] or spec.licence
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(render_description(info))


def render_description(info: dict) -> str:
    from tabulate import tabulate

    def degrees(d: dict) -> str:
        return (
            f"min {d['min']:,.0f} · p10 {d['p10']:,.0f} · median {d['median']:,.0f} · p90 {d['p90']:,.0f} · "
            f"p99 {d['p99']:,.0f} · max {d['max']:,.0f} · mean {d['mean']:,.1f} · Gini {d['gini']:.2f}"
        )

    scale = info["rating_scale"]
    hist = "  ".join(f"{v}: {c:,}" for v, c in info["rating_counts"].items())
    rows = [
        ("dataset", f"{info['name']}: {info['description']}"),
        ("ratings", f"{info['ratings']:,}"),
        ("users", f"{info['users']:,}"),
        ("items", f"{info['items']:,}"),
        ("density", f"{info['density']:.4%}"),
        ("rating scale", f"{scale[0]:g} .. {scale[1]:g}" if scale else "unknown"),
        ("rating mean", f"{info['rating_mean']:.3f} (std {info['rating_std']:.3f})"),
        ("ratings by value", hist),
        ("ratings per user", degrees(info["ratings_per_user"])),
        ("ratings per item", degrees(info["ratings_per_item"])),
        ("time span", " .. ".join(info["time_span"]) if info["time_span"] else "no timestamps"),
        (
            "official folds",
            f"{len(info['official_folds'])} (test sizes {', '.join(f'{n:,}' for n in info['official_folds'])})"
            if info["official_folds"]
            else "none",
        ),
        ("default split", info["default_split"]),
        ("item metadata", ", ".join(info["item_metadata"]) or "none"),
        ("licence", info["licence"]),
        *(("note", note) for note in info["notes"]),
    ]
    return tabulate(rows, tablefmt="plain", disable_numparse=True)
