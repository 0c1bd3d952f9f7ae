"""``mfbench gate``: did this change make it slower or less accurate?

Two ways to ask. **Same machine, side by side** (the verdict CI uses, ``ab_gate``): the gate
file (``results/baselines/ci.toml``) names a reference revision and the cells; the gate runs
them at the reference and at the working tree in alternating pairs on this machine and decides
per cell from the pairs' ratios with an interval (``mfbench/ab.py``, ``docs/gate.md``). Moving
the reference, in a reviewed commit, is how a deliberate slowdown is accepted.

**Against a stored baseline** (history, ``check``): a run's times divided by a calibration and
compared with a baseline file written earlier. A baseline is keyed by the fingerprint of the
machine that wrote it (CPU model and flags, cores, BLAS, numpy and numba versions); against a
run from another fingerprint the comparison is printed as history and is never a verdict.

In the stored-baseline comparison each cell's time is its median fit time over repeats divided by the calibration (a fixed numpy
and numba workload, see ``calibrate.py``) of the machine that ran it: the run's own, or, for a
cell run on a dask worker, that worker's. The ratio of a cell to the calibration survives a
change of machine, the raw seconds do not. A cell regresses when its
calibrated time exceeds the baseline's by more than ``max_slowdown`` (cells whose baseline fit
time is under ``min_seconds`` are too short for the timer and are checked for accuracy only),
when its RMSE rises by more than ``max_rmse_increase``, when it fails, or when it is missing.
A cell that ran on other numba or BLAS thread counts than the baseline's is not compared: its
time would measure the thread count, not the code.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

from .ab import CellResult, Outcome, Plan, compare_pairs
from .errors import MfbenchError
from .records import SCHEMAS, calibration_of, group_by_cell, upgrade
from .results import RunStore, read_environment
from .revisions import repo_root, revision, run_side, working_tree

__all__ = [
    "make_baseline",
    "check",
    "baseline_report",
    "GateFile",
    "read_gate_file",
    "ab_gate",
    "ab_gate_report",
    "ab_report",
    "fingerprint",
]


def _calibration(store: RunStore, records: list[dict[str, Any]]) -> float | None:
    """The run's calibration; ``None`` when every ok record carries its worker's."""
    cal = read_environment(store.path).get("calibration_seconds")
    if not cal and any(r.get("status") == "ok" and calibration_of(r, None) is None for r in records):
        raise MfbenchError(
            f"{store.path / 'environment.json'} has no calibration_seconds: run mfbench run without --no-calibrate"
        )
    return float(cal) if cal else None


def _cells(records: list[dict[str, Any]], run_calibration: float | None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, recs in group_by_cell(records).items():
        ok = [r for r in recs if r.get("status") == "ok"]
        cals = [c for r in ok if (c := calibration_of(r, run_calibration))]
        timed = bool(ok) and len(cals) == len(ok)
        out[key] = {
            "algorithm": recs[0]["algorithm"],
            "status": "ok" if ok else recs[-1].get("status"),
            "error": None if ok else recs[-1].get("error"),
            "fit_seconds": median(r["fit_seconds"] for r in ok) if ok else None,
            "calibrated_fit": median(r["fit_seconds"] / c for r, c in zip(ok, cals)) if timed else None,
            "calibration_seconds": median(cals) if timed else None,
            "rmse": median(r["metrics"]["rmse"] for r in ok) if ok and "rmse" in ok[0].get("metrics", {}) else None,
            "code_version": recs[0].get("code_version"),
            "threads_in_force": (ok or recs)[0].get("threads_in_force"),
        }
    return out


def _thread_counts(info: dict[str, Any] | None) -> tuple[int | None, int | None] | None:
    """``(numba threads, BLAS threads)`` of a cell, or ``None`` when unknown."""
    if not info:
        return None
    return info.get("numba"), info.get("blas")


def _describe(counts: tuple[int | None, int | None]) -> str:
    numba, blas = counts
    return f"{numba if numba is not None else 'no'} numba and {blas if blas is not None else 'no'} BLAS thread(s)"


def fingerprint(env: dict[str, Any]) -> dict[str, Any]:
    """What must match for two runs' calibrated times to be compared: the CPU (model, flags), the
    cores, the BLAS and the numpy and numba versions, from a run's ``environment.json``."""
    versions = env.get("versions") or {}
    return {
        "cpu": env.get("cpu"),
        "cpu_flags_digest": env.get("cpu_flags_digest"),
        "cpu_count": env.get("cpu_count"),
        "blas": [{k: b.get(k) for k in ("internal_api", "version", "architecture")} for b in env.get("blas") or []],
        "numpy": versions.get("numpy"),
        "numba": versions.get("numba"),
    }


def _differences(a: dict[str, Any] | None, b: dict[str, Any]) -> list[str]:
    if a is None:
        return ["the baseline names no machine (written before baselines had fingerprints)"]
    return [f"{k}: {a.get(k)!r} there, {b.get(k)!r} here" for k in b if a.get(k) != b.get(k)]


def make_baseline(store: RunStore) -> dict[str, Any]:
    records = store.latest()
    cal = _calibration(store, records)
    cells = _cells(records, cal)
    bad = [k for k, c in cells.items() if c["status"] != "ok"]
    if bad:
        raise MfbenchError(f"cannot make a baseline of a run with cells not ok: {', '.join(bad)}")
    for c in cells.values():
        del c["status"], c["error"]
    return {
        "schema": SCHEMAS["baseline"],
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "run": str(store.path),
        "calibration_seconds": cal,
        "fingerprint": fingerprint(read_environment(store.path)),
        "cells": cells,
    }


def check(
    store: RunStore, baseline: dict[str, Any], max_slowdown: float, max_rmse_increase: float, min_seconds: float
) -> tuple[list[str], list[str]]:
    """``(regressions, notes)``: one line per regressed cell, and per cell passed with a remark."""
    records = store.latest()
    cells = _cells(records, _calibration(store, records))
    regressions, notes = [], []
    for key, base in baseline["cells"].items():
        cell = cells.get(key)
        if cell is None:
            regressions.append(f"{key}: missing from the run")
            continue
        if cell["status"] != "ok":
            regressions.append(f"{key}: {cell['status']}: {cell['error']}")
            continue
        old, new = _thread_counts(base.get("threads_in_force")), _thread_counts(cell["threads_in_force"])
        if old is not None and new is not None and old != new:
            regressions.append(
                f"{key}: ran on {_describe(new)}, the baseline on {_describe(old)}: "
                f"not comparable; run with --threads {old[0] or old[1]} (or write a new "
                "baseline with --update)"
            )
            continue
        if (
            base.get("rmse") is not None
            and cell["rmse"] is not None
            and cell["rmse"] - base["rmse"] > max_rmse_increase
        ):
            regressions.append(
                f"{key}: RMSE {cell['rmse']:.4f} vs baseline {base['rmse']:.4f} "
                f"(+{cell['rmse'] - base['rmse']:.4f} > {max_rmse_increase})"
            )
        ratio = cell["calibrated_fit"] / base["calibrated_fit"]
        if base["fit_seconds"] < min_seconds:
            notes.append(f"{key}: {base['fit_seconds'] * 1000:.1f} ms fit, below --min-seconds: accuracy only")
        elif ratio > max_slowdown:
            regressions.append(
                f"{key}: {ratio:.2f}x slower than the baseline, calibrated "
                f"({cell['fit_seconds']:.3f} s here, {base['fit_seconds']:.3f} s there; "
                f"calibration {cell['calibration_seconds']:.3f} s here, "
                f"{base.get('calibration_seconds') or baseline['calibration_seconds']:.3f} s there)"
            )
        else:
            notes.append(f"{key}: {ratio:.2f}x the baseline's calibrated time, RMSE {cell['rmse']:.4f}")
    return regressions, notes


#: what each cell of a baseline must hold, and of which type
_BASELINE_CELL: dict[str, type | tuple[type, ...]] = {
    "algorithm": str,
    "fit_seconds": (int, float),
    "calibrated_fit": (int, float),
}


def read_baseline(path: Path) -> dict[str, Any]:
    """A baseline file, upgraded to the current schema (a newer one is refused), its cells checked."""
    hint = "write one with mfbench gate RUN --baseline FILE --update"
    try:
        raw = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MfbenchError(f"{path}: not a baseline (invalid JSON: {exc}); {hint}") from None
    except OSError as exc:
        raise MfbenchError(f"{path}: cannot read the baseline ({exc.strerror})") from None
    if not isinstance(raw, dict) or "cells" not in raw:
        raise MfbenchError(f"{path}: not a baseline (no cells); {hint}")
    if not isinstance(raw.get("schema", 1), int):
        raise MfbenchError(f"{path}: schema = {raw['schema']!r}: not a baseline schema version; {hint}")
    cells = raw["cells"]
    if not isinstance(cells, dict):
        raise MfbenchError(
            f"{path}: cells = {json.dumps(cells)[:60]}: not a baseline (cells is an object of cells by key); {hint}"
        )
    for key, cell in cells.items():
        if not isinstance(cell, dict):
            raise MfbenchError(f"{path}: cells[{key!r}] = {json.dumps(cell)[:60]}: not a cell; {hint}")
        for name, kind in _BASELINE_CELL.items():
            if not isinstance(cell.get(name), kind) or isinstance(cell.get(name), bool):
                raise MfbenchError(
                    f"{path}: cells[{key!r}].{name} = {json.dumps(cell.get(name))}: not a "
                    f"{'name' if kind is str else 'number'}; {hint}"
                )
        for name, kind, what in (
            ("rmse", (int, float), "number"),
            ("calibration_seconds", (int, float), "number"),
            ("threads_in_force", dict, "table of thread counts"),
        ):
            value = cell.get(name)
            if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
                raise MfbenchError(f"{path}: cells[{key!r}].{name} = {json.dumps(value)}: not a {what}; {hint}")
        if cell["calibrated_fit"] <= 0:
            raise MfbenchError(
                f"{path}: cells[{key!r}].calibrated_fit = {cell['calibrated_fit']}: not positive; {hint}"
            )
    if raw.get("fingerprint") is not None and not isinstance(raw["fingerprint"], dict):
        raise MfbenchError(
            f"{path}: fingerprint = {json.dumps(raw['fingerprint'])[:60]}: not a machine's fingerprint; {hint}"
        )
    cal = raw.get("calibration_seconds")
    if cal is not None and (not isinstance(cal, (int, float)) or isinstance(cal, bool) or cal <= 0):
        raise MfbenchError(f"{path}: calibration_seconds = {json.dumps(cal)}: not a positive number; {hint}")
    return upgrade("baseline", raw, path)


def baseline_report(
    store: RunStore, baseline_path: Path, max_slowdown: float, max_rmse_increase: float, min_seconds: float
) -> tuple[str, int]:
    """``mfbench gate RUN --baseline FILE``: the report and the exit code (1 on a regression
    against a baseline from a machine of the same fingerprint)."""
    if not baseline_path.exists():
        raise MfbenchError(
            f"no baseline at {baseline_path}; write one with: mfbench gate {store.path.name} "
            f"--baseline {baseline_path} --update"
        )
    baseline = read_baseline(baseline_path)
    regressions, notes = check(store, baseline, max_slowdown, max_rmse_increase, min_seconds)
    differ = _differences(baseline.get("fingerprint"), fingerprint(read_environment(store.path)))
    lines = []
    if differ:
        lines.append(
            f"note: {baseline_path} comes from another machine ({'; '.join(differ)}): the calibrated "
            "times below are history, not a verdict; mfbench gate (no RUN) times both revisions here"
        )
    lines += [f"ok    {line}" for line in notes]
    lines += [f"{'FAIL' if not differ else 'note'}  {line}" for line in regressions]
    lines.append(
        f"\n{len(regressions)} regression(s) in {len(baseline['cells'])} baseline cell(s)"
        f" (max slowdown {max_slowdown}, max RMSE increase {max_rmse_increase})"
        + (": history only, exit 0" if differ else "")
    )
    return "\n".join(lines), 1 if regressions and not differ else 0


# --- same machine, side by side ---------------------------------------------------------------

#: the gate file's keys: name -> (type, what it is)
_GATE_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "reference": (str, "the accepted revision (a commit id, tag or branch)"),
    "run": (str, "the arguments of mfbench run that make the gate's cells"),
    "max_slowdown": ((int, float), "the largest ratio of fit time, working tree / reference, allowed"),
    "max_rmse_increase": ((int, float), "the largest RMSE increase allowed"),
    "min_seconds": ((int, float), "cells whose fit at the reference is shorter are checked for accuracy only"),
    "confidence": ((int, float), "family-wise confidence of the cells' intervals, in (0, 1)"),
    "steps": (list, "cumulative pair counts at which to decide, increasing"),
    "budget_seconds": ((int, float), "no step is begun that would end past this many seconds of pairs"),
}


@dataclass(frozen=True)
class GateFile:
    """A gate file: the reference revision, the cells (``mfbench run`` arguments) and the plan."""

    path: Path | None
    reference: str | None
    run: tuple[str, ...]
    plan: Plan


def read_gate_file(path: Path) -> GateFile:
    """Parse and check a gate file (TOML); every problem names the file and the key."""
    try:
        raw = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise MfbenchError(f"{path}: no gate file there; write one like results/baselines/ci.toml") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MfbenchError(f"{path}: not a gate file (invalid TOML: {exc})") from None
    for key, value in raw.items():
        if key not in _GATE_KEYS:
            raise MfbenchError(f"{path}: unknown key {key!r}; the keys are " + ", ".join(_GATE_KEYS))
        kind, what = _GATE_KEYS[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise MfbenchError(f"{path}: {key} = {value!r}: give {what}")
    if "run" not in raw:
        raise MfbenchError(f'{path}: no run = "...": the arguments of mfbench run that make the gate\'s cells')
    try:
        run = tuple(shlex.split(raw["run"]))
    except ValueError as exc:
        raise MfbenchError(f"{path}: run = {raw['run']!r}: {exc}") from None
    plan_keys: dict[str, Any] = {
        k: raw[k]
        for k in ("max_slowdown", "max_rmse_increase", "min_seconds", "confidence", "budget_seconds")
        if k in raw
    }
    if "steps" in raw:
        plan_keys["steps"] = tuple(raw["steps"])
    plan = check_plan(Plan(**plan_keys), str(path))
    return GateFile(Path(path), raw.get("reference"), run, plan)


def check_plan(plan: Plan, source: str) -> Plan:
    """``plan`` if its values make sense, else an error naming ``source``."""
    steps = plan.steps
    if (
        not steps
        or any(not isinstance(n, int) or isinstance(n, bool) or n < 2 for n in steps)
        or list(steps) != sorted(set(steps))
    ):
        raise MfbenchError(
            f"{source}: steps = {list(steps)}: give increasing pair counts of at least 2, e.g. [8, 12, 16]"
        )
    if not 0 < plan.confidence < 1:
        raise MfbenchError(f"{source}: confidence = {plan.confidence}: give a number between 0 and 1, e.g. 0.8")
    if plan.max_slowdown <= 1:
        raise MfbenchError(f"{source}: max_slowdown = {plan.max_slowdown}: give a ratio above 1, e.g. 1.05")
    for name in ("max_rmse_increase", "min_seconds"):
        if getattr(plan, name) < 0:
            raise MfbenchError(f"{source}: {name} = {getattr(plan, name)}: give a number of at least 0")
    if plan.budget_seconds is not None and plan.budget_seconds <= 0:
        raise MfbenchError(f"{source}: budget_seconds = {plan.budget_seconds}: give a positive number of seconds")
    return plan


def _pct(x: float | None) -> str:
    return f"±{x * 100:.0f}%" if x is not None else "±?"


def cell_line(res: CellResult, plan: Plan) -> str:
    """``als: 1.31x [1.22, 1.40] over 12 pairs (noise floor ±3%): FAIL``, and what lies behind it."""
    name = res.key
    if res.verdict == "failed":
        return f"{name}: FAIL ({res.reason})"
    rmse_a, rmse_b = res.rmse
    rmse = (
        "no RMSE"
        if rmse_a is None and rmse_b is None
        else "RMSE identical"
        if rmse_a == rmse_b
        else "RMSE on one side only"
        if rmse_a is None or rmse_b is None
        else f"RMSE {rmse_b - rmse_a:+.4f}"
    )
    if res.estimate is None:
        tail = "FAIL" if res.verdict == "fail" else "ok"
        return f"{name}: {res.reason}, {rmse}: {tail}"
    est = res.estimate
    times = f"fit {res.fit_seconds[0]:.3f} s -> {res.fit_seconds[1]:.3f} s"
    if None not in res.cpu_seconds:
        times += f", CPU {res.cpu_seconds[0]:.3f} s -> {res.cpu_seconds[1]:.3f} s"
    word = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}[res.verdict]
    line = f"{name}: {est} over {est.n} pairs (noise floor {_pct(res.noise_floor)}): {word}"
    detail = f"{times}; {rmse}"
    if res.reason:
        detail += f"; {res.reason}"
    elif res.verdict == "inconclusive":
        settle = (
            f"about {res.settle_pairs} pairs would settle it" if res.settle_pairs else "the ratio sits on the tolerance"
        )
        detail += f"; the interval straddles {plan.max_slowdown:.2f}: {settle}"
    return f"{line}\n      {detail}"


def ab_gate(
    gate: GateFile, against: str | None = None, head: str | None = None, say: Callable[[str], None] = lambda line: None
) -> tuple[Outcome, str, str]:
    """Run the gate's cells at the reference (``against``, else the file's) and at the working tree
    (or ``head``), in alternating pairs on this machine; ``(outcome, reference label, head label)``."""
    reference = against or gate.reference
    if not reference:
        raise MfbenchError(
            f'{gate.path or "the gate"}: no reference revision: add reference = "COMMIT" to the file '
            "or give --against REV"
        )
    repo = repo_root()
    a = revision(repo, reference)
    b = revision(repo, head) if head else working_tree(repo)
    with tempfile.TemporaryDirectory(prefix="mfbench-gate-") as tmp:
        work = Path(tmp)
        say(f"reference A: {a.label}; B: {b.label}")
        say("warm-up: one run of each side (numba caches, first-run effects), not counted")
        for name, side in (("A", a), ("B", b)):
            warm = run_side(side, list(gate.run), work, f"warm-{name}")
            if not warm.samples and warm.failures:
                key, why = next(iter(warm.failures.items()))
                raise MfbenchError(f"{side.label}: every cell failed in the warm-up, e.g. {key}: {why}")
        sides = {"A": a, "B": b}
        outcome = compare_pairs(
            lambda side, n: run_side(sides[side], list(gate.run), work, f"{side}{n}"), gate.plan, say
        )
    return outcome, a.label, b.label


def ab_gate_report(outcome: Outcome, plan: Plan, ref_label: str, head_label: str) -> tuple[str, int]:
    """``mfbench gate`` without RUN: one line per cell and the summary; the exit code."""
    lines = [
        f"B = {head_label} against A = {ref_label}, on this machine, {len(outcome.pairs)} pairs "
        f"(ABBA/BAAB) in {outcome.seconds:.0f} s"
        + (f", {outcome.steal_seconds:.1f} s stolen by the hypervisor" if outcome.steal_seconds else "")
    ]
    lines += [cell_line(res, plan) for res in outcome.cells]
    counts = {
        v: sum(r.verdict == v for r in outcome.cells) for v in ("pass", "fail", "failed", "inconclusive", "accuracy")
    }
    code = outcome.exit_code()
    summary = {0: "PASS", 1: "FAIL", 3: "INCONCLUSIVE"}[code]
    lines.append(
        f"\n{summary}: {counts['fail'] + counts['failed']} failing, {counts['inconclusive']} inconclusive, "
        f"{counts['pass']} passing, {counts['accuracy']} checked for accuracy only (max slowdown "
        f"{plan.max_slowdown}, max RMSE increase {plan.max_rmse_increase}, {plan.confidence:.0%} "
        f"family-wise intervals{', stopped by the budget' if outcome.stopped == 'budget' else ''})"
    )
    if code == 3:
        lines.append(
            "inconclusive: more pairs would settle it (a larger budget_seconds or more steps), or a "
            "quieter machine; exit 3"
        )
    return "\n".join(lines), code


def ab_file(reference: str, run_args: tuple[str, ...], pairs: int) -> GateFile:
    """The gate of ``mfbench ab REV --pairs N -- ARGS``: every pair counted, nothing too short."""
    if not run_args:
        raise MfbenchError(
            "give the arguments of mfbench run after --, e.g. mfbench ab HEAD~1 -- --algos als "
            "--dataset ml-100k --folds official@1"
        )
    return GateFile(
        None, reference, run_args, check_plan(Plan(steps=(pairs,), confidence=0.95, min_seconds=0), "--pairs")
    )


def ab_report(outcome: Outcome, ref_label: str, head_label: str) -> tuple[str, int]:
    """``mfbench ab``'s table with intervals, and the exit code (1 when a cell failed)."""
    from tabulate import tabulate

    rows = []
    for res in outcome.cells:
        if res.estimate is None:
            rows.append([res.key, "-", "-", res.reason, "-", "-"])
            continue
        rmse_a, rmse_b = res.rmse
        rows.append(
            [
                res.key,
                f"{res.fit_seconds[0]:.4g}",
                f"{res.fit_seconds[1]:.4g}",
                str(res.estimate),
                _pct(res.noise_floor),
                "-" if rmse_a is None or rmse_b is None else f"{rmse_b - rmse_a:+.4f}",
            ]
        )
    text = "\n".join(
        [
            f"B = {head_label} against A = {ref_label}: {len(outcome.pairs)} pairs (ABBA/BAAB) in "
            f"{outcome.seconds:.0f} s\n",
            tabulate(
                rows,
                headers=["cell", "fit s A", "fit s B", "B/A [95% interval]", "noise floor", "Δ rmse"],
                disable_numparse=True,
            ),
            "\nfit s: medians over the pairs; B/A: Hodges-Lehmann ratio of the pairs with its signed-rank interval "
            "(95% over all cells); noise floor: the typical difference between two runs of A",
        ]
    )
    return text, 1 if any(r.verdict == "failed" for r in outcome.cells) else 0
