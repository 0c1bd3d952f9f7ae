"""What the CLI subcommands do, one function each (the click layer only parses)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .api import CONFIRM_ABOVE, execute
from .errors import MfbenchError
from .experiment import load_experiment
from .plan import RunRequest, parse_assignments, parse_seeds
from .plugins import get_registry
from .report import render, summarize
from .results import RunStore


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


#: ``mfbench run`` options that set a field of the request, and how (option name -> field, convert)
_FIELDS = {
    "algos": ("algorithms", _csv), "datasets": ("datasets", _csv), "devices_": ("devices", _csv),
    "seeds": ("seeds", parse_seeds), "folds": ("folds", None), "data_dir": ("data_dir", None),
    "metrics": ("metrics", _csv), "relevance": ("relevance", None), "out": ("out", None), "run_id": ("run_id", None),
    "resume": ("resume", None), "executor": ("executor", None), "valid_fraction": ("valid_fraction", None),
    "repeats": ("repeats", None), "checkpoint": ("checkpoint", None), "calibrate": ("calibrate", None),
    "split_seed": ("split_seed", None),
}
#: options that set a field of ``Control``
_CONTROL = ("patience", "min_delta", "max_epochs", "time_budget", "timeout", "threads")


def build_request(opts: dict[str, Any], given: set[str], experiment: Path | None = None) -> RunRequest:
    """The ``RunRequest`` of ``mfbench run``'s options; with an experiment file, the file's, with
    the options the user gave (``given``) on top of it (``--param`` adds to the file's grids)."""
    if experiment is not None:
        request = load_experiment(experiment)
    else:
        request = RunRequest()
        given = set(opts)  # without a file, every option (its default included) sets the request
    changes: dict[str, Any] = {}
    for option, (name, convert) in _FIELDS.items():
        if option in given:
            value = opts[option]
            changes[name] = convert(value) if convert and value is not None else value
    control = {k: opts[k] for k in _CONTROL if k in given}
    if control:
        changes["control"] = replace(request.control, **control)
    for option, field, sources_field, flag in (("params", "params", "sources", "--param"),
                                               ("data_params", "data_params", "data_sources", "--data-param"),
                                               ("executor_params", "executor_params", "executor_sources",
                                                "--executor-param")):
        if opts.get(option):
            values, sources = parse_assignments(opts[option], flag)
            merged = {name: dict(kv) for name, kv in getattr(request, field).items()}
            for name, kv in values.items():
                merged.setdefault(name, {}).update(kv)
            changes.update({field: merged, sources_field: {**getattr(request, sources_field), **sources}})
    return replace(request, **changes)


def _ask(cells: int) -> bool:
    """From a terminal, ask before a plan of many cells; elsewhere (CI, a pipe) go on."""
    import sys

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return True
    return click.confirm(f"{cells:,} cells planned (more than {CONFIRM_ABOVE:,}; --yes skips this question). Run them?",
                         default=False, err=True)


def run_command(request: RunRequest, fmt: str, quiet: bool, yes: bool = False) -> int:
    """Run ``request`` and print its table; returns the exit code (0 all ok, 1 some cell not
    ok, 130 interrupted by Ctrl-C, 143 by SIGTERM)."""
    done = execute(request, quiet=quiet, echo=lambda line: click.echo(line, err=True), confirm=None if yes else _ask)
    store = done.store
    if done.interrupted:
        click.echo(f"\ninterrupted: the finished cells are in {store.records_path}; "
                   f"continue with: mfbench run ... --resume {store.path.name}", err=True)
        return done.exit_code
    wanted = {c.id for c in done.plan.cells}
    records = [r for r in store.latest() if r["cell_id"] in wanted]
    click.echo(render(summarize(records, done.plan.metric_names), fmt, done.plan.metric_names))
    if not quiet:
        click.echo(f"\nrecords: {store.records_path}", err=True)
        out = "" if Path(request.out) == Path("results") else f" --out {request.out}"
        click.echo(f"report with curves and charts: mfbench report {store.path.name}{out} --html report.html",
                   err=True)
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


def report_command(run_ref: str, out: Path, fmt: str, html_path: Path | None = None) -> None:
    store = RunStore.open(run_ref, out)
    records = store.latest()
    if note := store.damage_note():
        click.echo(f"note: {note}", err=True)
    if not records:
        raise MfbenchError(f"run {run_ref!r} has no records yet ({store.records_path})")
    click.echo(render(summarize(records), fmt))
    if html_path is not None:
        from .html import run_page, write_page
        from .results import read_environment

        command = None
        if (store.path / "request.json").exists():
            import json

            argv = json.loads((store.path / "request.json").read_text()).get("argv") or []
            command = " ".join(["mfbench", *argv[1:]]) if argv and argv[0] != "mfbench.run" else "mfbench.run(...)"
        page = run_page(records, read_environment(store.path), store.path.name, command)
        click.echo(f"\nHTML report: {write_page(html_path, page)}", err=True)


def describe_command(name: str, data_dir: Path | None, data_params: tuple[str, ...], fmt: str) -> None:
    """Load one dataset and print what it holds."""
    import json

    from .plan import check_assignments, load_dataset, require_argument

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
