"""``mfbench plot RUN``: learning curves and cost bars as PNG files (the ``plot`` extra, matplotlib)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import click

from .errors import MfbenchError
from .report import group_key, summarize
from .results import RunStore

__all__ = ["plot_run", "plot_command"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MfbenchError('mfbench plot needs matplotlib: pip install "mfbench[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_run(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write ``curves_by_epoch.png``, ``curves_by_time.png`` and ``costs.png``; return their paths."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.get("status") == "ok" and r.get("curve")]
    if not ok:
        raise MfbenchError("no finished cell with a learning curve in this run")
    # only quantities measured alike for every algorithm share an axis (never "objective")
    metric = "valid_rmse" if all("valid_rmse" in p for r in ok for p in r["curve"]) else "train_mse"
    label = {"valid_rmse": "validation RMSE", "train_mse": "training MSE"}[metric]
    keys = group_key(ok)
    by_row: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n, r in enumerate(ok):
        by_row[f"{keys[n][0]} · {keys[n][2]} · {keys[n][3]}"].append(r)
    paths = []
    for name, x_of, xlabel in (("curves_by_epoch.png", lambda p: p["epoch"], "epoch"),
                               ("curves_by_time.png", lambda p: p["elapsed_seconds"], "training time (s)")):
        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        for row, recs in by_row.items():
            for n, r in enumerate(recs):
                pts = [(x_of(p), p[metric]) for p in r["curve"] if metric in p]
                ax.plot(*zip(*pts), marker="o" if len(pts) < 30 else None, ms=3, alpha=0.8,
                        color=f"C{list(by_row).index(row) % 10}", label=row if n == 0 else None)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.set_title(f"{label} by {xlabel.split(' (')[0]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(folder / name)
        plt.close(fig)
        paths.append(folder / name)
    rows = summarize(records)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=110)
    names = [f"{r['algorithm']}\n{r['dataset']} {r['device']}" for r in rows]
    left.bar(names, [r["epoch_s"] for r in rows], yerr=[[r["epoch_s"] - r["epoch_s_min"] for r in rows],
                                                        [r["epoch_s_max"] - r["epoch_s"] for r in rows]], capsize=3)
    left.set_ylabel("time per epoch (s, median [min, max])")
    left.set_yscale("log")
    right.bar(names, [r["peak_rss_mb"] for r in rows], color="C1")
    right.set_ylabel("peak RSS (MB)")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(folder / "costs.png")
    plt.close(fig)
    paths.append(folder / "costs.png")
    return paths


def plot_command(run_ref: str, out: Path, to: Path | None) -> None:
    store = RunStore.open(run_ref, out)
    for path in plot_run(store.latest(), to or store.path / "plots"):
        click.echo(str(path))
