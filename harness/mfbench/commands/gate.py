"""``mfbench gate``: the CI verdict (``mfbench.gate`` decides; this module prints)."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..errors import MfbenchError

__all__ = ["command"]


@click.command(name="gate")
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option(
    "--gate-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("results/baselines/ci.toml"),
    show_default=True,
    help="Without RUN: the reference revision, the cells (mfbench run arguments) and the tolerances.",
)
@click.option(
    "--against", metavar="REV", default=None, help="Without RUN: the reference revision instead of the gate file's."
)
@click.option("--head", metavar="REV", default=None, help="Without RUN: time REV as B instead of the working tree.")
@click.option(
    "--budget", type=float, default=None, help="Without RUN: seconds of pairs at most (the gate file's budget_seconds)."
)
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With RUN: the stored baseline JSON file (written by --update).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option(
    "--max-slowdown",
    type=float,
    default=None,
    help="Largest allowed ratio of fit time, new / old [default: the gate file's (1.05); with RUN, calibrated, 1.30].",
)
@click.option(
    "--max-rmse-increase",
    type=float,
    default=None,
    help="Largest allowed RMSE increase [default: the gate file's; with RUN, 0.005].",
)
@click.option(
    "--min-seconds",
    type=float,
    default=None,
    help="Cells whose fit is shorter are checked for accuracy only [default: the gate file's; with RUN, 0.05].",
)
@click.option("--update", is_flag=True, help="With RUN: write RUN as the new baseline instead of checking it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines, only the verdicts.")
def command(
    run_ref: str | None,
    gate_file: Path,
    against: str | None,
    head: str | None,
    budget: float | None,
    baseline: Path | None,
    out: Path,
    max_slowdown: float | None,
    max_rmse_increase: float | None,
    min_seconds: float | None,
    update: bool,
    quiet: bool,
) -> None:
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
    from .. import gate

    if run_ref is None:
        if baseline is not None or update:
            raise MfbenchError("--baseline and --update go with a RUN: mfbench gate RUN --baseline FILE")
        spec = gate.read_gate_file(gate_file)
        changes: dict[str, Any] = {
            k: v
            for k, v in (
                ("max_slowdown", max_slowdown),
                ("max_rmse_increase", max_rmse_increase),
                ("min_seconds", min_seconds),
                ("budget_seconds", budget),
            )
            if v is not None
        }
        spec = replace(spec, plan=gate.check_plan(replace(spec.plan, **changes), "the command line"))
        say = (lambda line: None) if quiet else (lambda line: click.echo(line, err=True))
        outcome, ref_label, head_label = gate.ab_gate(spec, against, head, say)
        text, code = gate.ab_gate_report(outcome, spec.plan, ref_label, head_label)
        click.echo(text)
        sys.exit(code)
    if baseline is None:
        raise MfbenchError(
            f"mfbench gate {run_ref}: give --baseline FILE (or no RUN, to time the working tree against "
            "the gate file's reference)"
        )
    from ..results import RunStore, write_json_atomic

    store = RunStore.open(run_ref, out)
    if update:
        write_json_atomic(baseline, gate.make_baseline(store))
        click.echo(f"baseline written: {baseline}")
        sys.exit(0)
    text, code = gate.baseline_report(
        store,
        baseline,
        1.30 if max_slowdown is None else max_slowdown,
        0.005 if max_rmse_increase is None else max_rmse_increase,
        0.05 if min_seconds is None else min_seconds,
    )
    click.echo(text)
    sys.exit(code)
