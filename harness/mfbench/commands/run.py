"""``mfbench run``: its options are made from the run options' table (``mfbench.request``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..request import OPTIONS, Option, RunRequest, coerce

__all__ = ["command", "build_request", "run_command"]

#: ``NAME.KEY=VALUE`` options: option name -> (flag, request field, its sources field, metavar, help), and the
#: table option each follows in ``--help``
_ASSIGNMENTS = {
    "params": (
        "--param",
        "params",
        "sources",
        "ALGO.KEY=VALUE",
        "folds",
        "Set a hyper-parameter (repeatable); `mfbench list ALGO` shows each one's default and what it "
        "accepts, checked before any work.",
    ),
    "data_params": (
        "--data-param",
        "data_params",
        "data_sources",
        "DATASET.KEY=VALUE",
        "folds",
        "Set a dataset option, e.g. synthetic.n_ratings=1000000 or file.rating=stars (repeatable).",
    ),
    "executor_params": (
        "--executor-param",
        "executor_params",
        "executor_sources",
        "EXECUTOR.KEY=VALUE",
        "executor",
        "Set an executor option, e.g. dask.scheduler=tcp://HOST:8786 (repeatable).",
    ),
}
_CLICK_TYPES: dict[str, Any] = {
    "int": int,
    "number": float,
    "str": str,
    "names": str,
    "seeds": str,
    "path": click.Path(file_okay=False, path_type=Path),
}


def _click_option(opt: Option) -> click.Option:
    """The click option of a run option: its flag, type, default and help from the table."""
    assert opt.flag is not None
    if opt.kind == "bool":
        decl = f"{opt.flag}/{opt.secondary_flag}" if opt.secondary_flag else opt.flag
        return click.Option(
            [decl, opt.name],
            is_flag=True,
            default=opt.default,
            show_default=opt.secondary_flag is not None,
            help=opt.help,
        )
    default = opt.cli_default if opt.cli_default is not None else opt.default
    if isinstance(default, (list, tuple)):
        default = ",".join(map(str, default))
    return click.Option(
        [opt.flag, opt.name],
        type=_CLICK_TYPES[opt.kind],
        default=default,
        show_default=default is not None,
        metavar=opt.metavar,
        envvar=opt.envvar,
        help=opt.help,
    )


def _options() -> list[click.Parameter]:
    params: list[click.Parameter] = [
        click.Argument(["experiment"], required=False, type=click.Path(dir_okay=False, path_type=Path))
    ]
    for opt in OPTIONS:
        if opt.flag is None:
            continue
        params.append(_click_option(opt))
        for name, (flag, _, _, metavar, after, help_) in _ASSIGNMENTS.items():
            if after == opt.name:
                params.append(click.Option([flag, name], multiple=True, metavar=metavar, help=help_))
    params += [
        click.Option(
            ["--format", "fmt"], type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True
        ),
        click.Option(["-q", "--quiet"], is_flag=True, help="No progress output, only the table."),
        click.Option(
            ["-y", "--yes"],
            is_flag=True,
            help="Start a plan of more than 1,000 cells without asking (from a terminal, mfbench asks).",
        ),
    ]
    return params


def build_request(opts: dict[str, Any], given: set[str], experiment: Path | None = None) -> RunRequest:
    """The ``RunRequest`` of ``mfbench run``'s options; with an experiment file, the file's, with
    the options the user gave (``given``) on top of it (``--param`` adds to the file's grids)."""
    from ..experiment import load_experiment
    from ..plan import parse_assignments

    if experiment is not None:
        request = load_experiment(experiment)
    else:
        request = RunRequest()
        given = set(opts)  # without a file, every option (its default included) sets the request
    values, origins = {}, {}
    for opt in OPTIONS:
        if opt.flag is not None and opt.name in given:
            raw = opts[opt.name]
            values[opt.name] = coerce(opt, raw, opt.flag)
            origins[opt.name] = f"{opt.flag} {raw}"
    request = request.set(values, origins)
    changes: dict[str, Any] = {}
    for name, (flag, field, sources_field, *_) in _ASSIGNMENTS.items():
        if opts.get(name):
            parsed, sources = parse_assignments(opts[name], flag)
            merged = {key: dict(kv) for key, kv in getattr(request, field).items()}
            for key, kv in parsed.items():
                merged.setdefault(key, {}).update(kv)
            changes.update({field: merged, sources_field: {**getattr(request, sources_field), **sources}})
    from dataclasses import replace

    return replace(request, **changes)


def _ask(cells: int) -> bool:
    """From a terminal, ask before a plan of many cells; elsewhere (CI, a pipe) go on."""
    from ..api import CONFIRM_ABOVE

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        return True
    return click.confirm(
        f"{cells:,} cells planned (more than {CONFIRM_ABOVE:,}; --yes skips this question). Run them?",
        default=False,
        err=True,
    )


def run_command(request: RunRequest, fmt: str, quiet: bool, yes: bool = False) -> int:
    """Run ``request`` and print its table; returns the exit code (0 all ok, 1 some cell not
    ok, 130 interrupted by Ctrl-C, 143 by SIGTERM)."""
    from ..api import execute
    from ..report import render, summarize

    done = execute(request, quiet=quiet, echo=lambda line: click.echo(line, err=True), confirm=None if yes else _ask)
    store = done.store
    if done.interrupted:
        click.echo(
            f"\ninterrupted: the finished cells are in {store.records_path}; "
            f"continue with: mfbench run ... --resume {store.path.name}",
            err=True,
        )
        return done.exit_code
    wanted = {c.id for c in done.plan.cells}
    records = [r for r in store.latest() if r["cell_id"] in wanted]
    click.echo(render(summarize(records, done.plan.metric_names), fmt, done.plan.metric_names))
    if not quiet:
        click.echo(f"\nrecords: {store.records_path}", err=True)
        out = "" if Path(request.out) == Path("results") else f" --out {request.out}"
        click.echo(f"report with curves and charts: mfbench report {store.path.name}{out} --html report.html", err=True)
    return 0 if all(r["status"] == "ok" for r in records) else 1


def _run(ctx: click.Context, experiment: Path | None, fmt: str, quiet: bool, yes: bool, **opts: Any) -> None:
    """Run algorithms x datasets x devices x seeds (x folds) and print the comparison table.

    With EXPERIMENT, a TOML experiment file (examples/), the run is the file's; options given on
    the command line override it, and --param adds to its parameters and grids. A list of values
    is a grid, in a file or on the command line: --param sgd.k=[16,32,64].

    Each cell runs in its own process; its record is appended to OUT/RUN_ID/runs.jsonl the moment
    it ends, so an interrupted run loses nothing (continue it with --resume RUN_ID). Exits 1 when
    any cell failed, timed out or diverged.
    """
    from click.core import ParameterSource

    given = {
        name
        for name in opts
        if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    sys.exit(run_command(build_request(opts, given, experiment), fmt, quiet, yes))


command = click.Command("run", callback=click.pass_context(_run), params=_options(), help=_run.__doc__)
