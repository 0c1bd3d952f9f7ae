"""Charts of a run (the ``plot`` extra, matplotlib): ``mfbench plot RUN`` writes them as PNG
files; ``mfbench report RUN --html`` puts the same figures, as SVG, into one HTML page.

Each ``*_figure`` function takes run records and returns a matplotlib figure.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from .errors import MfbenchError
from .report import group_key, summarize

__all__ = ["plot_run", "curve_figures", "costs_figure", "pareto_figure", "pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or an error saying what to install."""
    try:
        import matplotlib
    except ImportError:
        raise MfbenchError('charts need matplotlib: pip install "mfbench[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rows(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records by table row (``algorithm · dataset · device``), in table order."""
    keys = group_key(records)
    by_row: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n, r in enumerate(records):
        by_row[f"{keys[n][0]} · {keys[n][2]} · {keys[n][3]}"].append(r)
    return by_row


def curve_figures(records: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """``[("curves_by_epoch", fig), ("curves_by_time", fig)]``: validation RMSE (when every cell
    has it, else training MSE) by epoch and by training time, one line per cell."""
    plt = pyplot()
    ok = [r for r in records if r.get("status") == "ok" and r.get("curve")]
    if not ok:
        raise MfbenchError("no finished cell with a learning curve in this run")
    # only quantities measured alike for every algorithm share an axis (never "objective")
    metric = "valid_rmse" if all("valid_rmse" in p for r in ok for p in r["curve"]) else "train_mse"
    label = {"valid_rmse": "validation RMSE", "train_mse": "training MSE"}[metric]
    by_row = _rows(ok)
    out = []
    for name, x_of, xlabel in (
        ("curves_by_epoch", lambda p: p["epoch"], "epoch"),
        ("curves_by_time", lambda p: p["elapsed_seconds"], "training time (s)"),
    ):
        fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
        for row, recs in by_row.items():
            for n, r in enumerate(recs):
                pts = [(x_of(p), p[metric]) for p in r["curve"] if metric in p]
                if pts:
                    ax.plot(
                        *zip(*pts),
                        marker="o" if len(pts) < 30 else None,
                        ms=3,
                        alpha=0.8,
                        color=f"C{list(by_row).index(row) % 10}",
                        label=row if n == 0 else None,
                    )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.set_title(f"{label} by {xlabel.split(' (')[0]}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append((name, fig))
    return out


def costs_figure(records: list[dict[str, Any]]) -> Any:
    """Time per epoch (median with [min, max]) and peak memory (host, and GPU where measured)
    of each table row."""
    plt = pyplot()
    rows = [r for r in summarize(records) if r["epoch_s"] == r["epoch_s"]]  # rows with a finished cell
    if not rows:
        raise MfbenchError("no finished cell in this run")
    has_gpu = any("peak_gpu_mb" in r for r in rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.5), dpi=110)
    names = [f"{r['algorithm']}\n{r['dataset']} {r['device']}" for r in rows]
    left.bar(
        names,
        [r["epoch_s"] for r in rows],
        yerr=[[r["epoch_s"] - r["epoch_s_min"] for r in rows], [r["epoch_s_max"] - r["epoch_s"] for r in rows]],
        capsize=3,
    )
    left.set_ylabel("time per epoch (s, median [min, max])")
    left.set_yscale("log")
    if has_gpu:
        x = range(len(rows))
        right.bar([i - 0.2 for i in x], [r["peak_rss_mb"] for r in rows], width=0.4, color="C1", label="host RSS")
        right.bar([i + 0.2 for i in x], [r.get("peak_gpu_mb", 0) for r in rows], width=0.4, color="C2", label="GPU")
        right.set_xticks(list(x), names)
        right.legend(fontsize=8)
        right.set_ylabel("peak memory (MB)")
    else:
        right.bar(names, [r["peak_rss_mb"] for r in rows], color="C1")
        right.set_ylabel("peak RSS (MB)")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    fig.tight_layout()
    return fig


def pareto_figure(records: list[dict[str, Any]], metric: str = "rmse") -> Any:
    """Accuracy against fit time: one small point per finished cell (seeds, folds, repeats: the
    spread), one large point per table row at its medians; lower left is better."""
    from statistics import median

    plt = pyplot()
    ok = [r for r in records if r.get("status") == "ok" and metric in (r.get("metrics") or {}) and r.get("fit_seconds")]
    if not ok:
        raise MfbenchError(f"no finished cell with {metric} in this run")
    by_row = _rows(ok)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for n, (row, recs) in enumerate(by_row.items()):
        xs = [r["fit_seconds"] for r in recs]
        ys = [r["metrics"][metric] for r in recs]
        color = f"C{n % 10}"
        ax.scatter(xs, ys, s=12, alpha=0.45, color=color)
        ax.scatter([median(xs)], [median(ys)], s=70, color=color, edgecolor="black", linewidth=0.6, label=row)
    ax.set_xscale("log")
    ax.set_xlabel("fit time (s, log scale)")
    ax.set_ylabel(f"test {metric.upper()}")
    ax.set_title(f"test {metric.upper()} against fit time (lower left is better)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_run(records: list[dict[str, Any]], folder: Path) -> list[Path]:
    """Write ``curves_by_epoch.png``, ``curves_by_time.png`` and ``costs.png``; return their paths."""
    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    figures = [*curve_figures(records), ("costs", costs_figure(records))]
    paths = []
    for name, fig in figures:
        fig.savefig(folder / f"{name}.png")
        plt.close(fig)
        paths.append(folder / f"{name}.png")
    return paths
