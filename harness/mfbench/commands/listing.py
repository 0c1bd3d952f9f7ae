"""``mfbench list``: what is installed, and an algorithm's parameters."""

from __future__ import annotations

from typing import Any

import click

from ..registry import get_registry

__all__ = ["command", "list_command"]


@click.command(name="list")
@click.argument("kind", required=False, metavar="[algorithms|datasets|metrics|executors|ALGORITHM]")
def command(kind: str | None) -> None:
    """List installed algorithms, datasets, metrics and executors, with where each comes from;
    with an algorithm's name, its parameters: default and what each accepts."""
    list_command(kind)


def list_command(kind: str | None) -> None:
    from tabulate import tabulate

    reg = get_registry()
    if kind and kind not in ("algorithms", "datasets", "metrics", "executors"):
        click.echo(_parameter_table(reg.algorithm(kind)))
        return
    sections = [kind] if kind else ["algorithms", "datasets", "metrics", "executors"]
    blocks = []
    rows: list[tuple[Any, ...]]
    for section in sections:
        entries = reg.listing(section[:-1])
        if section == "algorithms":
            rows = [
                (
                    e.spec.name,
                    ",".join(e.spec.devices),
                    e.spec.description,
                    " ".join(f"{k}={v}" for k, v in e.spec.defaults.items()),
                    e.distribution,
                )
                for e in entries
            ]
            headers = ["algorithm", "devices", "description", "defaults", "from"]
        elif section == "datasets":
            rows = [
                (
                    e.spec.name + (":ARG" if e.spec.parametric else ""),
                    e.spec.default_split,
                    e.spec.description,
                    e.distribution,
                )
                for e in entries
            ]
            headers = ["dataset", "default split", "description", "from"]
        elif section == "metrics":
            rows = [(e.spec.name, f"{e.spec.direction} is better", e.spec.description, e.distribution) for e in entries]
            headers = ["metric", "direction", "description", "from"]
        else:
            rows = [(e.spec.name, e.spec.description, e.distribution) for e in entries]
            headers = ["executor", "description", "from"]
        blocks.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    click.echo("\n\n".join(blocks))


def _parameter_table(spec: Any) -> str:
    """An algorithm's parameters: name, default, what it accepts (declared, or the default's type)."""
    from tabulate import tabulate

    from ..params import constraints_of, describe_constraints

    declared = constraints_of(spec.factory)
    rows = []
    for key, default in spec.defaults.items():
        if key in declared:
            accepts = describe_constraints(declared[key])
        else:
            accepts = (
                "true or false"
                if isinstance(default, bool)
                else "a number"
                if isinstance(default, (int, float))
                else "any value"
            )
        rows.append((key, "none" if default is None else str(default), accepts))
    head = (
        f"{spec.name}: {spec.description} (devices: {', '.join(spec.devices)}); set with --param {spec.name}.KEY=VALUE"
    )
    return (
        head
        + "\n"
        + tabulate(rows, headers=["parameter", "default", "accepts"], tablefmt="simple", disable_numparse=True)
    )
