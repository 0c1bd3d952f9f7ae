"""``mfbench gate``: fail CI when a run is slower or less accurate than the stored baseline.

Each cell's time is its median fit time over repeats divided by the calibration (a fixed numpy
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
from pathlib import Path
from statistics import median
from typing import Any

import click

from .errors import MfbenchError
from .results import SCHEMAS, RunStore, read_environment, upgrade, write_json_atomic
from .runner import group_by_cell

__all__ = ["make_baseline", "check", "gate_command"]


def record_calibration(record: dict[str, Any], run_calibration: float | None) -> float | None:
    """The calibration of the machine that ran ``record``: its dask worker's, else the run's."""
    return (record.get("worker") or {}).get("calibration_seconds") or run_calibration


def _calibration(store: RunStore, records: list[dict[str, Any]]) -> float | None:
    """The run's calibration; ``None`` when every ok record carries its worker's."""
    cal = read_environment(store.path).get("calibration_seconds")
    if not cal and any(r.get("status") == "ok" and record_calibration(r, None) is None for r in records):
        raise MfbenchError(f"{store.path / 'environment.json'} has no calibration_seconds: run mfbench run without "
                           "--no-calibrate")
    return float(cal) if cal else None


def _cells(records: list[dict[str, Any]], run_calibration: float | None) -> dict[str, dict[str, Any]]:
    out = {}
    for key, recs in group_by_cell(records).items():
        ok = [r for r in recs if r.get("status") == "ok"]
        out[key] = {
            "algorithm": recs[0]["algorithm"],
            "status": "ok" if ok else recs[-1].get("status"),
            "error": None if ok else recs[-1].get("error"),
            "fit_seconds": median(r["fit_seconds"] for r in ok) if ok else None,
            "calibrated_fit": median(r["fit_seconds"] / record_calibration(r, run_calibration) for r in ok)
            if ok else None,
            "calibration_seconds": median(record_calibration(r, run_calibration) for r in ok) if ok else None,
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


def make_baseline(store: RunStore) -> dict[str, Any]:
    records = store.latest()
    cal = _calibration(store, records)
    cells = _cells(records, cal)
    bad = [k for k, c in cells.items() if c["status"] != "ok"]
    if bad:
        raise MfbenchError(f"cannot make a baseline of a run with cells not ok: {', '.join(bad)}")
    for c in cells.values():
        del c["status"], c["error"]
    return {"schema": SCHEMAS["baseline"], "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "run": str(store.path), "calibration_seconds": cal, "cells": cells}


def check(store: RunStore, baseline: dict[str, Any], max_slowdown: float, max_rmse_increase: float,
          min_seconds: float) -> tuple[list[str], list[str]]:
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
        threads = _thread_counts(base.get("threads_in_force")), _thread_counts(cell["threads_in_force"])
        if None not in threads and threads[0] != threads[1]:
            regressions.append(f"{key}: ran on {_describe(threads[1])}, the baseline on {_describe(threads[0])}: "
                               f"not comparable; run with --threads {threads[0][0] or threads[0][1]} (or write a new "
                               "baseline with --update)")
            continue
        if base.get("rmse") is not None and cell["rmse"] is not None and cell["rmse"] - base["rmse"] > max_rmse_increase:
            regressions.append(f"{key}: RMSE {cell['rmse']:.4f} vs baseline {base['rmse']:.4f} "
                               f"(+{cell['rmse'] - base['rmse']:.4f} > {max_rmse_increase})")
        ratio = cell["calibrated_fit"] / base["calibrated_fit"]
        if base["fit_seconds"] < min_seconds:
            notes.append(f"{key}: {base['fit_seconds'] * 1000:.1f} ms fit, below --min-seconds: accuracy only")
        elif ratio > max_slowdown:
            regressions.append(f"{key}: {ratio:.2f}x slower than the baseline, calibrated "
                               f"({cell['fit_seconds']:.3f} s here, {base['fit_seconds']:.3f} s there; "
                               f"calibration {cell['calibration_seconds']:.3f} s here, "
                               f"{base.get('calibration_seconds') or baseline['calibration_seconds']:.3f} s there)")
        else:
            notes.append(f"{key}: {ratio:.2f}x the baseline's calibrated time, RMSE {cell['rmse']:.4f}")
    return regressions, notes


def read_baseline(path: Path) -> dict[str, Any]:
    """A baseline file, upgraded to the current schema (a newer one is refused)."""
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise MfbenchError(f"{path}: not a baseline (invalid JSON: {exc})") from None
    if not isinstance(raw, dict) or "cells" not in raw:
        raise MfbenchError(f"{path}: not a baseline (no cells); write one with mfbench gate RUN --update")
    return upgrade("baseline", raw, path)


def gate_command(run_ref: str, baseline_path: Path, out: Path, max_slowdown: float, max_rmse_increase: float,
                 min_seconds: float, update: bool) -> int:
    store = RunStore.open(run_ref, out)
    if update:
        write_json_atomic(baseline_path, make_baseline(store))
        click.echo(f"baseline written: {baseline_path}")
        return 0
    if not baseline_path.exists():
        raise MfbenchError(f"no baseline at {baseline_path}; write one with: mfbench gate {run_ref} --baseline {baseline_path} --update")
    baseline = read_baseline(baseline_path)
    regressions, notes = check(store, baseline, max_slowdown, max_rmse_increase, min_seconds)
    for line in notes:
        click.echo(f"ok    {line}")
    for line in regressions:
        click.echo(f"FAIL  {line}")
    click.echo(f"\n{len(regressions)} regression(s) in {len(baseline['cells'])} baseline cell(s)"
               f" (max slowdown {max_slowdown}, max RMSE increase {max_rmse_increase})")
    return 1 if regressions else 0
