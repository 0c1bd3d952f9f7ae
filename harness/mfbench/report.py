"""Comparison tables over run records: one row per algorithm x dataset x device (x params).

Metrics are the mean ± standard deviation over seeds and folds. Times are the median over the
row's cells (seeds, folds and ``--repeats``) with their [min, max]: a cell's epoch time is the
median of its epochs.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from statistics import mean, median, stdev
from typing import Any

from tabulate import tabulate

from .records import TIME_FIELDS

__all__ = ["summarize", "render", "table_cells", "group_key"]


def _params_label(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(params.items()))


def _default(algorithm: str, key: str) -> Any:
    """What a record that lacks ``key`` ran with: the algorithm's default (a parameter added
    since, ``Algorithm.added_params``, stays out of a cell's parameters at its default)."""
    from .registry import get_registry

    entries = get_registry().entries["algorithm"]
    defaults = entries[algorithm].spec.defaults if algorithm in entries else {}
    return defaults.get(key, "default")  # "default": not installed here, or a parameter since removed


def group_key(records: list[dict[str, Any]]) -> dict[int, tuple[str, str, str, str]]:
    """``(algorithm label, params json, dataset, device)`` for each record (by index).

    When one algorithm ran with several settings (a grid), its label names the parameters that
    differ between them: ``sgd (k=32)``, ``sgd (k=64)``.
    """
    settings: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in records:
        params = r.get("params", {})
        settings[r["algorithm"]][json.dumps(params, sort_keys=True, default=str)] = params
    varying: dict[str, list[str]] = {}
    for algo, by_json in settings.items():
        if len(by_json) > 1:
            keys = sorted({k for p in by_json.values() for k in p})
            varying[algo] = [k for k in keys if len({json.dumps(p.get(k), default=str) for p in by_json.values()}) > 1]
    out = {}
    for n, r in enumerate(records):
        label = r["algorithm"]
        params = r.get("params", {})
        if r["algorithm"] in varying:
            shown = {k: params[k] if k in params else _default(r["algorithm"], k) for k in varying[r["algorithm"]]}
            label += f" ({_params_label(shown)})"
        out[n] = (label, json.dumps(params, sort_keys=True, default=str), r["dataset"], r["device"])
    return out


def _mean_std(values: list[float]) -> tuple[float, float]:
    return (mean(values), stdev(values) if len(values) > 1 else 0.0) if values else (math.nan, math.nan)


def _med_range(values: list[float]) -> tuple[float, float, float]:
    return (median(values), min(values), max(values)) if values else (math.nan, math.nan, math.nan)


def summarize(records: Iterable[dict[str, Any]], metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Aggregate records into table rows (failed, timed-out and diverged cells count in ``cells`` only)."""
    records = list(records)
    if metrics is None:
        metrics = sorted(
            {m for r in records for m in (r.get("metrics") or {})}, key=lambda m: (m != "rmse", m != "mae", m)
        )
    keys = group_key(records)
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for n, r in enumerate(records):
        groups[keys[n]].append(r)
    rows = []
    for (label, _, dataset, device), recs in groups.items():
        ok = [r for r in recs if r.get("status") == "ok"]
        row: dict[str, Any] = {
            "algorithm": label,
            "dataset": dataset,
            "device": device,
            "cells": f"{len(ok)}/{len(recs)}",
        }
        for m in metrics:
            row[m], row[f"{m}_std"] = _mean_std([r["metrics"][m] for r in ok if m in r.get("metrics", {})])
        for name, read, _ in TIME_FIELDS:
            row[name], row[f"{name}_min"], row[f"{name}_max"] = _med_range(
                [v for r in ok if (v := read(r)) is not None]
            )
        row["peak_rss_mb"] = max((r["peak_rss_bytes"] / 2**20 for r in ok if r.get("peak_rss_bytes")), default=math.nan)
        gpu = [r["peak_gpu_bytes"] / 2**20 for r in ok if r.get("peak_gpu_bytes") is not None]
        if gpu:
            row["peak_gpu_mb"] = max(gpu)
        bad = [r for r in recs if r.get("status") != "ok"]
        row["problems"] = "; ".join(sorted({f"{r['status']}: {(r.get('error') or '')[:100]}" for r in bad}))
        rows.append(row)
    return rows


def _num(value: float, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"


def _digits(values: Iterable[float]) -> int:
    small = min((v for v in values if isinstance(v, float) and not math.isnan(v) and v > 0), default=1.0)
    return 4 if small < 0.01 else 3 if small < 1 else 2


def table_cells(
    rows: list[dict[str, Any]], metrics: Sequence[str] | None = None
) -> tuple[list[str], list[list[tuple[str, float | None]]]]:
    """The comparison table's headers and, per row, each cell as ``(text, number)``: the text
    as the table shows it (metrics ``mean ± std``, times ``median [min, max]`` when the row's
    cells differ), the number it sorts by (``None`` for text columns). The text table and the
    HTML page both show these."""
    if metrics is None:
        metrics = [k[:-4] for k in (rows[0] if rows else {}) if k.endswith("_std")]
    has_gpu = any("peak_gpu_mb" in r for r in rows)
    spread = any(
        r[f"{name}_min"] != r[f"{name}_max"]
        for r in rows
        for name, *_ in TIME_FIELDS
        if not math.isnan(r[f"{name}_min"])
    )
    headers = ["algorithm", "dataset", "device", "cells", *metrics, *(h for *_, h in TIME_FIELDS), "peak RSS MB"]
    if has_gpu:
        headers.append("peak GPU MB")
    table = []
    for r in rows:
        line: list[tuple[str, float | None]] = [
            (r["algorithm"], None),
            (r["dataset"], None),
            (r["device"], None),
            (r["cells"], None),
        ]
        for m in metrics:
            text = _num(r[m], 4)
            if r.get(f"{m}_std") and not math.isnan(r[f"{m}_std"]) and r[f"{m}_std"] > 0:
                text += f" ± {r[f'{m}_std']:.4f}"
            line.append((text, r[m]))
        for name, *_ in TIME_FIELDS:
            d = _digits([r[name], r[f"{name}_min"]])
            text = _num(r[name], d)
            if spread and not math.isnan(r[name]) and r[f"{name}_max"] > r[f"{name}_min"]:
                text += f" [{_num(r[f'{name}_min'], d)}, {_num(r[f'{name}_max'], d)}]"
            line.append((text, r[name]))
        line.append((_num(r["peak_rss_mb"], 0), r["peak_rss_mb"]))
        if has_gpu:
            gpu = r.get("peak_gpu_mb", math.nan)
            line.append((_num(gpu, 0), gpu))
        table.append(line)
    return headers, table


def render(rows: list[dict[str, Any]], fmt: str = "table", metrics: Sequence[str] | None = None) -> str:
    """The rows as a text table (``table``), Markdown (``md``), CSV or JSON."""
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str).replace("NaN", "null")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    headers, cells = table_cells(rows, metrics)
    table = [[text for text, _ in line] for line in cells]
    text = tabulate(table, headers=headers, tablefmt="github" if fmt == "md" else "simple", disable_numparse=True)
    problems = [f"{r['algorithm']} on {r['dataset']} ({r['device']}): {r['problems']}" for r in rows if r["problems"]]
    if problems:
        text += "\n\nnot ok:\n" + "\n".join(f"  {p}" for p in problems)
    return text
