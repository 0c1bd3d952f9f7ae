"""What the CLI subcommands do, one function each (the click layer only parses)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ._progress import Progress
from .errors import MfbenchError
from .plan import RunRequest, parse_seeds, plan_run
from .plugins import get_registry
from .report import render, summarize
from .results import RunStore, capture_environment, new_run_id
from .runner import Control


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run_command(algos: str, datasets: str, devices_: str, seeds: str, folds: str | None, params: tuple[str, ...],
                data_params: tuple[str, ...], data_dir: Path | None, metrics: str, out: Path, run_id: str | None,
                resume: str | None, executor: str, timeout: float | None, threads: int | None, valid_fraction: float,
                patience: int | None, min_delta: float, max_epochs: int | None, time_budget: float | None,
                repeats: int, relevance: float, checkpoint: bool, calibrate: bool, split_seed: int, fmt: str, quiet: bool) -> int:
    """Plan, run and tabulate; returns the exit code (0 all ok, 1 some cell not ok)."""
    registry = get_registry()
    if resume and run_id and resume != run_id:
        raise MfbenchError("give --resume RUN_ID or --run-id RUN_ID, not two different ids")
    run_id = resume or run_id or new_run_id()
    store = RunStore(out, run_id)
    if resume and not store.records_path.exists():
        raise MfbenchError(f"--resume {resume}: no run at {store.records_path}")
    if threads is not None and threads < 1:
        raise MfbenchError(f"--threads {threads}: at least 1")
    exec_spec = registry.executor(executor)
    control = Control(patience=patience, min_delta=min_delta, max_epochs=max_epochs, time_budget=time_budget,
                      timeout=timeout, threads=threads)
    if patience is not None and valid_fraction <= 0:
        raise MfbenchError("--patience needs a validation split: add --valid 0.1 (say)")
    request = RunRequest(
        algorithms=_csv(algos), datasets=_csv(datasets), devices=_csv(devices_), seeds=parse_seeds(seeds),
        folds=folds, params=params, data_params=data_params, data_dir=data_dir, metrics=_csv(metrics),
        split_seed=split_seed, valid_fraction=valid_fraction, control=control, repeats=repeats, relevance=relevance,
        checkpoint_dir=str(store.path / "checkpoints") if checkpoint else None,
    )
    plan = plan_run(request, registry, run_id)
    for name, ds in plan.datasets.items():
        for note in ds.notes:
            click.echo(f"{name}: {note}", err=True)

    done = store.finished_ok() if resume else set()
    jobs = [j for j in plan.jobs if j.cell.id not in done]
    store.create()
    env = capture_environment(request.devices)
    if calibrate:
        from .calibrate import calibration_seconds

        env["calibration_seconds"] = calibration_seconds()
    if resume and (store.path / "environment.json").exists():
        from .results import read_environment

        previous = read_environment(store.path)
        env.setdefault("calibration_seconds", previous.get("calibration_seconds"))
        env["resumed_from"] = previous.get("created_at")
    store.write_environment(env)
    store.write_json("request.json", {"argv": sys.argv, "cwd": os.getcwd(), "cells": [c.id for c in plan.cells]})
    if not quiet:
        skipped = f", {len(plan.jobs) - len(jobs)} already done" if resume else ""
        click.echo(f"run {run_id}: {len(jobs)} cells{skipped} -> {store.records_path}", err=True)

    progress = Progress(len(jobs), quiet=quiet)
    labels = {j.cell.id: j.cell.label() for j in jobs}
    try:
        for record in exec_spec.factory().run(jobs, progress.event):
            store.append(record)
            progress.cell_done(record, labels.get(record["cell_id"], record["cell_id"]))
    except KeyboardInterrupt:
        progress.close()
        click.echo(f"\ninterrupted: the finished cells are in {store.records_path}; "
                   f"continue with: mfbench run ... --resume {run_id}", err=True)
        return 130
    progress.close()

    wanted = {c.id for c in plan.cells}
    records = [r for r in store.latest() if r["cell_id"] in wanted]
    click.echo(render(summarize(records, plan.metric_names), fmt, plan.metric_names))
    if not quiet:
        click.echo(f"\nrecords: {store.records_path}", err=True)
    return 0 if all(r["status"] == "ok" for r in records) else 1


def list_command(kind: str | None) -> None:
    from tabulate import tabulate

    reg = get_registry()
    if kind and kind not in ("algorithms", "datasets", "metrics", "executors"):
        click.echo(_parameter_table(reg.algorithm(kind)))
        return
    sections = [kind] if kind else ["algorithms", "datasets", "metrics", "executors"]
    blocks = []
    for section in sections:
        entries = reg.listing(section[:-1])
        if section == "algorithms":
            rows = [(e.spec.name, ",".join(e.spec.devices), e.spec.description,
                     " ".join(f"{k}={v}" for k, v in e.spec.defaults.items()), e.distribution) for e in entries]
            headers = ["algorithm", "devices", "description", "defaults", "from"]
        elif section == "datasets":
            rows = [(e.spec.name + (":ARG" if e.spec.parametric else ""), e.spec.default_split, e.spec.description,
                     e.distribution) for e in entries]
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

    from .params import constraints_of, describe_constraints

    declared = constraints_of(spec.factory)
    rows = []
    for key, default in spec.defaults.items():
        if key in declared:
            accepts = describe_constraints(declared[key])
        else:
            accepts = "true or false" if isinstance(default, bool) else \
                "a number" if isinstance(default, (int, float)) else "any value"
        rows.append((key, "none" if default is None else str(default), accepts))
    head = f"{spec.name}: {spec.description} (devices: {', '.join(spec.devices)}); set with --param {spec.name}.KEY=VALUE"
    return head + "\n" + tabulate(rows, headers=["parameter", "default", "accepts"], tablefmt="simple",
                                   disable_numparse=True)


def report_command(run_ref: str, out: Path, fmt: str) -> None:
    store = RunStore.open(run_ref, out)
    records = store.latest()
    if not records:
        raise MfbenchError(f"run {run_ref!r} has no records yet ({store.records_path})")
    click.echo(render(summarize(records), fmt))


def describe_command(name: str, data_dir: Path | None, data_params: tuple[str, ...], fmt: str) -> None:
    """Load one dataset and print what it holds."""
    import json

    from .plan import load_dataset, parse_assignments, require_argument

    spec = get_registry().dataset(name)
    base = name.split(":", 1)[0]
    require_argument(name, spec, how="")
    options = parse_assignments(data_params, {base: spec.options}, "--data-param").get(base, {})
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
        return (f"min {d['min']:,.0f} · p10 {d['p10']:,.0f} · median {d['median']:,.0f} · p90 {d['p90']:,.0f} · "
                f"p99 {d['p99']:,.0f} · max {d['max']:,.0f} · mean {d['mean']:,.1f} · Gini {d['gini']:.2f}")

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
        ("official folds", f"{len(info['official_folds'])} (test sizes {', '.join(f'{n:,}' for n in info['official_folds'])})"
         if info["official_folds"] else "none"),
        ("default split", info["default_split"]),
        ("item metadata", ", ".join(info["item_metadata"]) or "none"),
        ("licence", info["licence"]),
        *(("note", note) for note in info["notes"]),
    ]
    return tabulate(rows, tablefmt="plain", disable_numparse=True)
