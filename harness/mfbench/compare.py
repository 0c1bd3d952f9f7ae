"""``mfbench compare RUN_A RUN_B``: how B differs from A, row by row, as ratios measured cell by cell.

Cells are matched by their key (algorithm and parameters, dataset, split, device, seed); the
repeats of a cell are reduced to their median first. For each row of the table:

- time: the median over matched cells of ``B / A`` of the fit time and of the median epoch time,
  with the [min, max] of the per-cell ratios; with a 95% interval instead where the data allow
  one: from the repeats of a row's one cell (``--repeats``: the Mann-Whitney interval of the
  ratio, ``paired.estimate_unpaired``), or from six or more matched cells (seeds, folds: the
  signed-rank interval over the cells' ratios);
- accuracy: ``B - A`` of the mean RMSE and MAE;
- a mark, in asv's manner: ``+`` slower (every cell's ratio above 1 and the median above
  ``1 + threshold``), ``-`` faster (the mirror image), ``!`` newly failing or RMSE up by more than
  the tolerance, ``*`` failing in A and passing in B, ``x`` not comparable (the algorithm's code
  changed), ``~`` within the noise.

Raw time ratios compare machines as much as code: ``compare`` warns when the two runs come from
different hosts, or when their calibrations (the fixed workload timed in each run) differ by more
than the threshold. When either run's cells ran on dask workers (each record carries its worker's
calibration), every time is first divided by the calibration of the machine that ran it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median
from typing import Any

import numpy as np
from tabulate import tabulate

from .paired import Estimate, estimate, estimate_unpaired
from .records import calibration_of, cell_key, group_by_cell, median_epoch_seconds
from .report import group_key
from .results import RunStore, read_environment

__all__ = ["compare_runs", "Comparison", "compare_stored", "render_comparison"]


def _median_of(recs: list[dict[str, Any]], read) -> float | None:
    values = [v for r in recs if r.get("status") == "ok" and (v := read(r)) is not None]
    return median(values) if values else None


def per_machine(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Whether A's or B's cells ran on several machines (records carrying their worker's
    calibration): then times compare only once each is divided by its machine's calibration."""
    return any((r.get("worker") or {}).get("calibration_seconds") for r in (*a, *b))


def compare_runs(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    threshold: float = 0.10,
    rmse_tolerance: float = 0.002,
    calibrations: tuple[float | None, float | None] = (None, None),
) -> list[dict[str, Any]]:
    """One dict per row of B's table: ratios, differences and the mark. ``calibrations``: the
    runs' own (``environment.json``), used with the workers' when ``per_machine``."""
    a_cells, b_cells = group_by_cell(a), group_by_cell(b)
    if per_machine(a, b):

        def scaled(recs: list[dict[str, Any]], run_cal: float | None) -> list[dict[str, Any]]:
            out = []
            for r in recs:
                cal = calibration_of(r, run_cal)
                if cal and r.get("status") == "ok":
                    r = {
                        **r,
                        "fit_seconds": r["fit_seconds"] / cal,
                        "epoch_seconds": [s / cal for s in r.get("epoch_seconds") or []],
                    }
                out.append(r)
            return out

        a_cells = {k: scaled(v, calibrations[0]) for k, v in a_cells.items()}
        b_cells = {k: scaled(v, calibrations[1]) for k, v in b_cells.items()}
    keys = group_key(b)
    rows: dict[tuple, dict[str, Any]] = {}
    for n, rec in enumerate(b):
        row = rows.setdefault(
            keys[n],
            {
                "algorithm": keys[n][0],
                "dataset": keys[n][2],
                "device": keys[n][3],
                "fit": [],
                "epoch": [],
                "rmse_a": [],
                "rmse_b": [],
                "mae_a": [],
                "mae_b": [],
                "new_failures": 0,
                "fixed": 0,
                "unmatched": 0,
                "code_changed": False,
                "_seen": set(),
            },
        )
        key = cell_key(rec)
        if key in row["_seen"]:
            continue
        row["_seen"].add(key)
        old, new = a_cells.get(key), b_cells[key]
        if not old:
            row["unmatched"] += 1
            continue
        if any(r.get("code_version") != o.get("code_version") for r in new for o in old):
            row["code_changed"] = True
        a_ok, b_ok = any(r["status"] == "ok" for r in old), any(r["status"] == "ok" for r in new)
        if a_ok and not b_ok:
            row["new_failures"] += 1
            continue
        if b_ok and not a_ok:
            row["fixed"] += 1
            continue
        for name, read in (("fit", lambda r: r.get("fit_seconds")), ("epoch", median_epoch_seconds)):
            ta, tb = _median_of(old, read), _median_of(new, read)
            if ta and tb:
                row[name].append(tb / ta)
                row.setdefault(f"{name}_repeats", []).append(
                    (
                        [v for r in old if r.get("status") == "ok" and (v := read(r))],
                        [v for r in new if r.get("status") == "ok" and (v := read(r))],
                    )
                )
        for m in ("rmse", "mae"):
            va = _median_of(old, lambda r, m=m: r.get("metrics", {}).get(m))
            vb = _median_of(new, lambda r, m=m: r.get("metrics", {}).get(m))
            if va is not None and vb is not None:
                row[f"{m}_a"].append(va)
                row[f"{m}_b"].append(vb)
    out = []
    for row in rows.values():
        row.pop("_seen")
        ratios = row["epoch"] or row["fit"]
        mark = "~"
        if row["code_changed"]:
            mark = "x"
        elif row["new_failures"]:
            mark = "!"
        elif row["rmse_a"] and mean(row["rmse_b"]) - mean(row["rmse_a"]) > rmse_tolerance:
            mark = "!"
        elif row["fixed"]:
            mark = "*"
        else:
            lo, mid, hi = _spread(row, "epoch" if row["epoch"] else "fit")
            if ratios and mid > 1 + threshold and lo > 1:
                mark = "+"
            elif ratios and mid < 1 / (1 + threshold) and hi < 1:
                mark = "-"
        row["mark"] = mark
        out.append(row)
    return out


def interval(row: dict[str, Any], name: str) -> Estimate | None:
    """A 95% interval of a row's ratio B/A of ``name`` (``fit`` or ``epoch``), where the data allow."""
    ratios, repeats = row[name], row.get(f"{name}_repeats") or []
    if len(ratios) >= 6:
        est = estimate(np.log(ratios), 0.95)
    elif len(repeats) == 1 and min(len(repeats[0][0]), len(repeats[0][1])) >= 2:
        est = estimate_unpaired(np.log(repeats[0][0]), np.log(repeats[0][1]), 0.95)
    else:
        return None
    return est if math.isfinite(est.lo) and math.isfinite(est.hi) else None


def _spread(row: dict[str, Any], name: str) -> tuple[float, float, float]:
    """``(low, middle, high)`` of a row's ratio: its interval where there is one, else [min, median, max]."""
    est = interval(row, name)
    if est is not None:
        return est.lo, est.ratio, est.hi
    values = row[name]
    return (min(values), median(values), max(values)) if values else (math.nan, math.nan, math.nan)


def _ratio(row: dict[str, Any], name: str) -> str:
    values = row[name]
    if not values:
        return "-"
    est = interval(row, name)
    if est is not None:
        return f"{est.ratio:.2f} ({est.lo:.2f} to {est.hi:.2f})"
    text = f"{median(values):.2f}"
    return text + (f" [{min(values):.2f}, {max(values):.2f}]" if len(values) > 1 else "")


def _diff(a: list[float], b: list[float]) -> str:
    return f"{mean(b) - mean(a):+.4f}" if a else "-"


def environment_warnings(env_a: dict[str, Any], env_b: dict[str, Any], threshold: float) -> list[str]:
    """Why the runs' raw times may not be comparable: other hosts, or calibrations apart."""
    out = []
    host_a, host_b = env_a.get("hostname"), env_b.get("hostname")
    if host_a and host_b and host_a != host_b:
        out.append(
            f"A ran on {host_a} ({env_a.get('cpu', '?')}), B on {host_b} ({env_b.get('cpu', '?')}): time ratios "
            "compare the machines as well as the code"
        )
    cal_a, cal_b = env_a.get("calibration_seconds"), env_b.get("calibration_seconds")
    if cal_a and cal_b and max(cal_a, cal_b) / min(cal_a, cal_b) > 1 + threshold:
        out.append(
            f"the calibrations differ: A {cal_a:.3f} s, B {cal_b:.3f} s ({cal_b / cal_a:.2f}x): the machine ran "
            "at another speed; mfbench ab times two revisions side by side on one machine"
        )
    return out


@dataclass
class Comparison:
    """Two stored runs side by side: their records, environments, the rows of ``compare_runs``,
    warnings about the machines, and notes about damaged record files."""

    a: RunStore
    b: RunStore
    records_a: list[dict[str, Any]]
    records_b: list[dict[str, Any]]
    env_a: dict[str, Any]
    env_b: dict[str, Any]
    rows: list[dict[str, Any]]
    warnings: list[str]
    notes: list[str]


def compare_stored(
    run_a: str, run_b: str, out: Path, threshold: float = 0.10, rmse_tolerance: float = 0.002
) -> Comparison:
    """Compare two runs by id under ``out`` (or by folder), as ``mfbench compare`` does."""
    a, b = RunStore.open(run_a, out), RunStore.open(run_b, out)
    recs_a, recs_b = a.latest(), b.latest()
    notes = [note for store in (a, b) if (note := store.damage_note())]
    env_a, env_b = read_environment(a.path), read_environment(b.path)
    rows = compare_runs(
        recs_a, recs_b, threshold, rmse_tolerance, (env_a.get("calibration_seconds"), env_b.get("calibration_seconds"))
    )
    warnings = environment_warnings(env_a, env_b, threshold)
    if per_machine(recs_a, recs_b):
        warnings = ["cells ran on dask workers: each time is divided by the calibration of the machine that ran it"]
    return Comparison(a, b, recs_a, recs_b, env_a, env_b, rows, warnings, notes)


def render_comparison(c: Comparison) -> str:
    """The table ``mfbench compare`` prints, with its legend."""
    rows = c.rows
    table = [
        [
            r["mark"],
            r["algorithm"],
            r["dataset"],
            r["device"],
            _ratio(r, "epoch"),
            _ratio(r, "fit"),
            _diff(r["rmse_a"], r["rmse_b"]),
            _diff(r["mae_a"], r["mae_b"]),
            (f"{r['new_failures']} newly failing " if r["new_failures"] else "")
            + (f"{r['fixed']} passing again " if r["fixed"] else "")
            + (f"{r['unmatched']} not in A" if r["unmatched"] else ""),
        ]
        for r in rows
    ]
    headers = ["", "algorithm", "dataset", "device", "epoch B/A", "fit B/A", "Δ rmse", "Δ mae", "notes"]
    lines = [
        f"B = {c.b.path} against A = {c.a.path}\n",
        tabulate(table, headers=headers, tablefmt="simple", disable_numparse=True),
        "\n+ slower  - faster  ! failing or less accurate  * passing again  ~ within noise  x code changed",
    ]
    if any(interval(r, n) for r in rows for n in ("epoch", "fit")):
        lines.append(
            "(lo to hi): the ratio's 95% interval, from a cell's repeats or from six or more cells; [min, "
            "max]: the cells' range. Runs made at different times share no moment of the machine: mfbench "
            "ab times two revisions side by side"
        )
    return "\n".join(lines)
