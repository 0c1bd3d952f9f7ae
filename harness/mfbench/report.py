"""Comparison tables over run records: one row per algorithm x dataset x device (x params)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from statistics import mean, median, stdev
from typing import Any, Iterable, Sequence

from tabulate import tabulate

__all__ = ["summarize", "render"]

FORMATS = ("table", "md", "csv", "json")


def _params_label(params: dict[str, Any], defaults_differ: bool) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(params.items())) if defaults_differ else ""


def _spread(values: list[float]) -> tuple[float, float]:
    return (mean(values), stdev(values) if len(values) > 1 else 0.0) if values else (math.nan, math.nan)


def summarize(records: Iterable[dict[str, Any]], metrics: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Aggregate records into rows: mean and standard deviation over seeds and folds.

    ``epoch_s`` is the median epoch time of each cell, averaged over cells; ``peak_rss_mb`` the
    largest peak over the row's cells. Failed, timed-out and diverged cells count in ``cells``
    but not in the means.
    """
    records = list(records)
    if metrics is None:
        metrics = sorted({m for r in records for m in (r.get("metrics") or {})}, key=lambda m: (m != "rmse", m != "mae", m))
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    params_by_algo: dict[str, set[str]] = defaultdict(set)
    for r in records:
        params_by_algo[r["algorithm"]].add(json.dumps(r.get("params", {}), sort_keys=True))
    for r in records:
        label = _params_label(r.get("params", {}), len(params_by_algo[r["algorithm"]]) > 1)
        groups[(r["algorithm"], label, r["dataset"], r["device"])].append(r)
    rows = []
    for (algo, label, dataset, device), recs in groups.items():
        ok = [r for r in recs if r.get("status") == "ok"]
        row: dict[str, Any] = {"algorithm": algo + (f" ({label})" if label else ""), "dataset": dataset, "device": device,
                               "cells": f"{len(ok)}/{len(recs)}"}
        for m in metrics:
            row[m], row[f"{m}_std"] = _spread([r["metrics"][m] for r in ok if m in r.get("metrics", {})])
        row["fit_s"], row["fit_s_std"] = _spread([r["fit_seconds"] for r in ok])
        row["epoch_s"], row["epoch_s_std"] = _spread([median(r["epoch_seconds"]) for r in ok if r.get("epoch_seconds")])
        row["prepare_s"], _ = _spread([r["prepare_seconds"] for r in ok])
        row["predict_s"], _ = _spread([r["predict_seconds"] for r in ok])
        row["peak_rss_mb"] = max((r["peak_rss_bytes"] / 2**20 for r in ok if r.get("peak_rss_bytes")), default=math.nan)
        gpu = [r["peak_gpu_bytes"] / 2**20 for r in ok if r.get("peak_gpu_bytes") is not None]
        if gpu:
            row["peak_gpu_mb"] = max(gpu)
        bad = [r for r in recs if r.get("status") != "ok"]
        row["problems"] = "; ".join(sorted({f"{r['status']}: {(r.get('error') or '')[:80]}" for r in bad}))
        rows.append(row)
    return rows


def _fmt(value: Any, spread: Any = None, digits: int = 4) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        text = f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
        if spread is not None and not math.isnan(spread) and spread > 0:
            text += f" ± {spread:.{digits}f}"
        return text
    return str(value)


def _seconds_digits(values: list[float]) -> int:
    small = min((v for v in values if isinstance(v, float) and not math.isnan(v) and v > 0), default=1.0)
    return 4 if small < 0.01 else 3 if small < 1 else 2


def render(rows: list[dict[str, Any]], fmt: str = "table", metrics: Sequence[str] | None = None) -> str:
    """The rows as a text table (``table``), Markdown (``md``), CSV or JSON."""
    if fmt == "json":
        return json.dumps(rows, indent=2, default=lambda o: None if isinstance(o, float) and math.isnan(o) else o)
    if metrics is None:
        metrics = [k for k in (rows[0] if rows else {}) if k.endswith("_std") and k[:-4] not in ("fit_s", "epoch_s")]
        metrics = [k[:-4] for k in metrics]
    if fmt == "csv":
        buf = io.StringIO()
        keys = list(rows[0]) if rows else []
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    sd = _seconds_digits([r["epoch_s"] for r in rows] + [r["fit_s"] for r in rows])
    headers = ["algorithm", "dataset", "device", "cells", *metrics, "fit s", "epoch s", "prepare s", "predict s", "peak RSS MB"]
    has_gpu = any("peak_gpu_mb" in r for r in rows)
    if has_gpu:
        headers.append("peak GPU MB")
    table = []
    for r in rows:
        line = [r["algorithm"], r["dataset"], r["device"], r["cells"]]
        line += [_fmt(r[m], r.get(f"{m}_std")) for m in metrics]
        line += [_fmt(r["fit_s"], r["fit_s_std"], sd), _fmt(r["epoch_s"], r["epoch_s_std"], sd),
                 _fmt(r["prepare_s"], None, sd), _fmt(r["predict_s"], None, sd), _fmt(r["peak_rss_mb"], None, 0)]
        if has_gpu:
            line.append(_fmt(r.get("peak_gpu_mb", math.nan), None, 0))
        table.append(line)
    text = tabulate(table, headers=headers, tablefmt="github" if fmt == "md" else "simple", disable_numparse=True)
    problems = [f"{r['algorithm']} on {r['dataset']} ({r['device']}): {r['problems']}" for r in rows if r["problems"]]
    if problems:
        text += "\n\nnot ok:\n" + "\n".join(f"  {p}" for p in problems)
    return text
