"""The command line: ``mfbench run | list | report``."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from .errors import MfbenchError
from .plan import DEFAULT_ALGORITHMS
from .ranking import DEFAULT_THRESHOLD

__all__ = ["main", "cli"]



@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mfbench")
@click.option("--debug", is_flag=True, envvar="MFBENCH_DEBUG", help="Show the traceback of an error, not only its "
              "one line [env: MFBENCH_DEBUG=1].")
def cli(debug: bool) -> None:
    """Benchmark matrix-factorization algorithms: speed, memory and accuracy, per backend.

    \b
    mfbench run                                   # the main families on synthetic data
    mfbench run examples/grid.toml                # an experiment file: a grid over k
    mfbench run --algos biases --dataset ml-100k  # MovieLens 100K, official folds u1..u5
    mfbench list                                  # what is installed
    mfbench describe ml-latest-small              # what a dataset holds
    """
    _DEBUG[0] = debug


@cli.command()
@click.argument("experiment", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--algos", default=",".join(DEFAULT_ALGORITHMS), show_default=True,
              help="Algorithms, comma-separated (mfbench list).")
@click.option("--dataset", "datasets", default="synthetic", show_default=True,
              help="Datasets, comma-separated: synthetic, ml-100k, ml-latest-small, file:PATH, ...")
@click.option("--device", "devices_", default="cpu", show_default=True, help="cpu, gpu, or both: cpu,gpu.")
@click.option("--seeds", default="1", show_default=True, help="A count (3 = seeds 0,1,2) or a list (1,5,7).")
@click.option("--folds", default=None, metavar="PROTOCOL",
              help="official | holdout[:FRACTION] | kfold[:K] | last, optionally @1,3 to keep some folds "
                   "[default: the dataset's own, e.g. official for ml-100k, holdout:0.2 for synthetic].")
@click.option("--param", "params", multiple=True, metavar="ALGO.KEY=VALUE", help="Set a hyper-parameter (repeatable); `mfbench list ALGO` shows each one's default and "
              "what it accepts, checked before any work.")
@click.option("--data-param", "data_params", multiple=True, metavar="DATASET.KEY=VALUE",
              help="Set a dataset option, e.g. synthetic.n_ratings=1000000 or file.rating=stars (repeatable).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MFBENCH_DATA_DIR",
              help="Folder with local dataset copies (ml-100k/, ml-latest-small/) [env: MFBENCH_DATA_DIR].")
@click.option("--metrics", default="rmse,mae", show_default=True,
              help="Metrics, comma-separated: rating metrics (rmse, mae, accuracy) and ranking metrics at a "
                   "cut-off (ndcg@10, precision@5, recall@20, map@10, hit_rate@10, coverage@10).")
@click.option("--relevance", type=float, default=DEFAULT_THRESHOLD, show_default=True,
              help="Ranking metrics: a test rating at or above this is a relevant item.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True,
              help="Folder for run folders.")
@click.option("--run-id", default=None, help="Name of the run folder [default: the start time].")
@click.option("--resume", default=None, metavar="RUN_ID", help="Continue a run: skip its cells already recorded ok.")
@click.option("--executor", default="local", show_default=True,
              help="local (a process per cell, one at a time), dask (cells over a dask.distributed cluster: "
                   "the dask extra) or inline; `mfbench list executors`.")
@click.option("--executor-param", "executor_params", multiple=True, metavar="EXECUTOR.KEY=VALUE",
              help="Set an executor option, e.g. dask.scheduler=tcp://HOST:8786 (repeatable).")
@click.option("--timeout", type=float, default=None, help="Kill a cell after this many seconds (local and dask executors).")
@click.option("--threads", type=int, default=None, help="numba and BLAS threads per cell [default: all cores].")
@click.option("--valid", "valid_fraction", type=float, default=0.0, show_default=True,
              help="Fraction of train held out for validation RMSE curves and early stopping.")
@click.option("--patience", type=int, default=None, help="Early stopping after N epochs without validation gain.")
@click.option("--min-delta", type=float, default=0.0, show_default=True, help="Smallest validation-RMSE gain that counts.")
@click.option("--max-epochs", type=int, default=None, help="Stop every cell after this many epochs.")
@click.option("--time-budget", type=float, default=None, help="Stop training a cell after this many seconds of epochs.")
@click.option("--repeats", type=int, default=1, show_default=True,
              help="Run each cell N times; the table shows median [min, max] times.")
@click.option("--checkpoint", is_flag=True, help="Save each cell's best (or last) state to RUN/checkpoints/.")
@click.option("--calibrate/--no-calibrate", default=True, show_default=True,
              help="Time a fixed workload, an index of the machine's speed (environment.json); `mfbench gate RUN "
                   "--baseline` divides by it.")
@click.option("--split-seed", type=int, default=42, show_default=True, help="Seed of random splits (not of algorithms).")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress output, only the table.")
@click.option("-y", "--yes", is_flag=True, help="Start a plan of more than 1,000 cells without asking (from a terminal, "
              "mfbench asks).")
@click.pass_context
def run(ctx: click.Context, experiment: Path | None, fmt: str, quiet: bool, yes: bool, **opts: Any) -> None:
    """Run algorithms x datasets x devices x seeds (x folds) and print the comparison table.

    With EXPERIMENT, a TOML experiment file (examples/), the run is the file's; options given on
    the command line override it, and --param adds to its parameters and grids. A list of values
    is a grid, in a file or on the command line: --param sgd.k=[16,32,64].

    Each cell runs in its own process; its record is appended to OUT/RUN_ID/runs.jsonl the moment
    it ends, so an interrupted run loses nothing (continue it with --resume RUN_ID). Exits 1 when
    any cell failed, timed out or diverged.
    """
    from click.core import ParameterSource

    from .commands import build_request, run_command

    given = {name for name in opts
             if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}
    sys.exit(run_command(build_request(opts, given, experiment), fmt, quiet, yes))


@cli.command(name="list")
@click.argument("kind", required=False, metavar="[algorithms|datasets|metrics|executors|ALGORITHM]")
def list_(kind: str | None) -> None:
    """List installed algorithms, datasets, metrics and executors, with where each comes from;
    with an algorithm's name, its parameters: default and what each accepts."""
    from .commands import list_command

    list_command(kind)


@cli.command()
@click.argument("dataset")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="MFBENCH_DATA_DIR",
              help="Folder with local dataset copies [env: MFBENCH_DATA_DIR].")
@click.option("--data-param", "data_params", multiple=True, metavar="DATASET.KEY=VALUE", help="A dataset option (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def describe(dataset: str, data_dir: Path | None, data_params: tuple[str, ...], fmt: str) -> None:
    """Load DATASET and describe it: counts, density, rating scale and distribution, ratings per
    user and per item (quantiles, Gini), time span, official folds, item metadata, licence."""
    from .commands import describe_command

    describe_command(dataset, data_dir, data_params, fmt)


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "md", "csv", "json"]), default="table", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write one self-contained HTML page: the table, accuracy against time, learning curves, "
                   "costs, CPU and GPU side by side, the environment (needs matplotlib: mfbench[plot]).")
def report(run_ref: str, out: Path, fmt: str, html_path: Path | None) -> None:
    """Print the comparison table of RUN (a run id under --out, or a run folder)."""
    from .commands import report_command

    report_command(run_ref, out, fmt, html_path)


@cli.command()
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--threshold", type=float, default=0.10, show_default=True,
              help="A time ratio beyond 1 ± threshold (and beyond every cell's own spread) counts as a change.")
@click.option("--rmse-tolerance", type=float, default=0.002, show_default=True,
              help="An RMSE increase beyond this counts as less accurate.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the comparison as one self-contained HTML page (needs matplotlib: mfbench[plot]).")
def compare(run_a: str, run_b: str, out: Path, threshold: float, rmse_tolerance: float,
            html_path: Path | None) -> None:
    """Compare RUN_B against RUN_A: time ratios B/A and metric differences, cell by cell.

    Marks: + slower, - faster, ! newly failing or less accurate, ~ within the noise,
    x not comparable (the algorithm's code changed between the runs).
    """
    from .compare import compare_command

    compare_command(run_a, run_b, out, threshold, rmse_tolerance, html_path)


@cli.command()
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option("--gate-file", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/baselines/ci.toml"),
              show_default=True, help="Without RUN: the reference revision, the cells (mfbench run arguments) and "
              "the tolerances.")
@click.option("--against", metavar="REV", default=None, help="Without RUN: the reference revision instead of the "
              "gate file's.")
@click.option("--head", metavar="REV", default=None, help="Without RUN: time REV as B instead of the working tree.")
@click.option("--budget", type=float, default=None, help="Without RUN: seconds of pairs at most (the gate file's "
              "budget_seconds).")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With RUN: the stored baseline JSON file (written by --update).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--max-slowdown", type=float, default=None,
              help="Largest allowed ratio of fit time, new / old [default: the gate file's (1.05); with RUN, "
                   "calibrated, 1.30].")
@click.option("--max-rmse-increase", type=float, default=None,
              help="Largest allowed RMSE increase [default: the gate file's; with RUN, 0.005].")
@click.option("--min-seconds", type=float, default=None,
              help="Cells whose fit is shorter are checked for accuracy only [default: the gate file's; with RUN, 0.05].")
@click.option("--update", is_flag=True, help="With RUN: write RUN as the new baseline instead of checking it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines, only the verdicts.")
def gate(run_ref: str | None, gate_file: Path, against: str | None, head: str | None, budget: float | None,
         baseline: Path | None, out: Path, max_slowdown: float | None, max_rmse_increase: float | None,
         min_seconds: float | None, update: bool, quiet: bool) -> None:
    """Did this change make it slower or less accurate? Exit 0 pass, 1 fail (naming each cell),
    3 inconclusive.

    \b
    Without RUN (the CI verdict): run the gate file's cells at its reference revision and at the
    working tree, side by side on this machine in alternating pairs, and decide per cell from the
    ratio of the pairs with its interval: FAIL when the interval lies above --max-slowdown, PASS
    below it, INCONCLUSIVE when the budget ends first.

    \b
    With RUN and --baseline: compare RUN's calibrated times with a stored baseline (history; a
    verdict only when the baseline comes from a machine of the same fingerprint).
    """
    from dataclasses import replace

    if run_ref is None:
        from .gate import ab_gate_command, check_plan, read_gate_file

        if baseline is not None or update:
            raise MfbenchError("--baseline and --update go with a RUN: mfbench gate RUN --baseline FILE")
        spec = read_gate_file(gate_file)
        changes = {k: v for k, v in (("max_slowdown", max_slowdown), ("max_rmse_increase", max_rmse_increase),
                                     ("min_seconds", min_seconds), ("budget_seconds", budget)) if v is not None}
        spec = replace(spec, plan=check_plan(replace(spec.plan, **changes), "the command line"))
        sys.exit(ab_gate_command(spec, against, head, quiet))
    from .gate import gate_command

    if baseline is None:
        raise MfbenchError(f"mfbench gate {run_ref}: give --baseline FILE (or no RUN, to time the working tree against "
                           "the gate file's reference)")
    sys.exit(gate_command(run_ref, baseline, out, 1.30 if max_slowdown is None else max_slowdown,
                          0.005 if max_rmse_increase is None else max_rmse_increase,
                          0.05 if min_seconds is None else min_seconds, update))


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("reference", metavar="REV")
@click.argument("run_args", nargs=-1, type=click.UNPROCESSED, metavar="-- RUN_ARGS...")
@click.option("--head", metavar="REV", default=None, help="Time REV as B instead of the working tree.")
@click.option("--pairs", type=int, default=8, show_default=True, help="Pairs of runs (A B, B A, B A, A B, ...).")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines, only the table.")
def ab(reference: str, run_args: tuple[str, ...], head: str | None, pairs: int, quiet: bool) -> None:
    """Run `mfbench run RUN_ARGS` at revision REV and at the working tree, in alternating pairs on
    this machine, and print each cell's fit time ratio B/A with its 95% interval.

    \b
    mfbench ab HEAD~1 -- --algos als,sgd --dataset ml-100k --folds official@1 --threads 1
    mfbench ab v0.1.0 --head main --pairs 12 -- --algos adam_sgd --dataset synthetic
    """
    from .gate import ab_command

    sys.exit(ab_command(reference, head, run_args, pairs, quiet))


@cli.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--to", "to", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the PNG files [default: RUN/plots].")
def plot(run_ref: str, out: Path, to: Path | None) -> None:
    """Write PNG plots of RUN: validation RMSE (or training MSE) by epoch and by time; epoch time and memory."""
    from .plot import plot_command

    plot_command(run_ref, out, to)


#: whether --debug (or MFBENCH_DEBUG) asked for tracebacks; set by the group's callback
_DEBUG = [False]

#: what to do about a system error of these kinds, said after its one line
_OS_HINTS = {errno.ENOSPC: "free some space, or give --out a folder on another disk",
             errno.EDQUOT: "free some space, or give --out a folder on another disk",
             errno.EROFS: "give --out a folder you can write", errno.EACCES: "give --out a folder you can write",
             errno.EPERM: "give --out a folder you can write"}


def _traceback() -> None:
    if _DEBUG[0] or os.environ.get("MFBENCH_DEBUG", "") not in ("", "0"):
        traceback.print_exc()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="mfbench", standalone_mode=False)
    except MfbenchError as exc:
        _traceback()
        click.echo(f"mfbench: error: {exc}", err=True)
        sys.exit(2)
    except OSError as exc:
        # the machine's fault, not mfbench's: a full or read-only disk, a missing permission. What
        # was written before it (records are whole lines) stays valid.
        _traceback()
        where = f"{exc.filename}: " if exc.filename else ""
        hint = _OS_HINTS.get(exc.errno or 0)
        click.echo(f"mfbench: error: {where}{exc.strerror or exc}" + (f"; {hint}" if hint else ""), err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback on demand
        _traceback()
        click.echo(f"mfbench: internal error: {type(exc).__name__}: {exc} (run again with --debug for the traceback, "
                   "and report it)", err=True)
        sys.exit(70)


if __name__ == "__main__":
    main()
