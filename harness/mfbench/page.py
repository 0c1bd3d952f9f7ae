"""One self-contained HTML page for a run (``mfbench report RUN --html``) or a comparison of two
(``mfbench compare A B --html``): tables, the accuracy-against-time picture, learning curves,
cost bars, CPU against GPU, and the environment. No network, no CDN: the charts are inline SVG
(matplotlib, the ``plot`` extra), the style and the few lines of script (click a column header
to sort) are in the page.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .report import summarize, table_cells

__all__ = ["run_page", "compare_page", "write_page"]

_STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1180px;
       padding: 0 1em; color: #1d2330; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #d8dce4; }
.meta { color: #5b6475; } .note { color: #5b6475; font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.8em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.3em 0.7em; border-bottom: 1px solid #e6e9ef; text-align: left; vertical-align: top; }
th { background: #f3f5f9; cursor: pointer; user-select: none; white-space: nowrap; }
th:hover { background: #e6eaf2; } td.num { text-align: right; white-space: nowrap; }
tr.bad td { color: #a3242d; } .mark { font-weight: bold; text-align: center; }
.wide { overflow-x: auto; } figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
.warn { background: #fff4e0; border-left: 4px solid #e39b17; padding: 0.5em 1em; }
"""

_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var dir = th.dataset.dir === "asc" ? -1 : 1;
    th.dataset.dir = dir === 1 ? "asc" : "desc";
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x !== undefined && y !== undefined) { return dir * (parseFloat(x) - parseFloat(y)); }
      return dir * a.cells[col].textContent.localeCompare(b.cells[col].textContent);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def _cell(value: Any, sort: float | None = None, klass: str = "") -> str:
    """A ``<td>``: ``sort`` (a number) makes the column sort numerically."""
    attrs = f' class="{klass}"' if klass else ""
    if sort is not None and not (isinstance(sort, float) and math.isnan(sort)):
        attrs += f' data-v="{sort!r}"'
    return f"<td{attrs}>{_esc(value)}</td>"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] | None = None) -> str:
    """A sortable table; each row a list of ready ``<td>`` strings."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = []
    for n, cells in enumerate(rows):
        klass = f' class="{row_classes[n]}"' if row_classes and row_classes[n] else ""
        body.append(f"<tr{klass}>{''.join(cells)}</tr>")
    return (
        f'<div class="wide"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _svg(fig: Any) -> str:
    """``fig`` as inline SVG markup (text kept as text), and the figure closed."""
    from .plot import pyplot

    plt = pyplot()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _figure(make: Any, caption: str) -> str:
    """A chart, or a note saying why there is none (no finished cell, say)."""
    import matplotlib

    from .errors import MfbenchError

    try:
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mfbench"}):
            svg = _svg(make())
    except MfbenchError as exc:
        return f'<p class="note">{_esc(caption)}: none ({_esc(exc)}).</p>'
    return f'<figure>{svg}<figcaption class="note">{_esc(caption)}</figcaption></figure>'


def _summary_table(records: list[dict[str, Any]]) -> str:
    rows = summarize(records)
    headers, lines = table_cells(rows)
    body = [[_cell(text, number, "num" if number is not None else "") for text, number in line] for line in lines]
    out = _table(headers, body, ["bad" if r["problems"] else "" for r in rows])
    problems = [f"{r['algorithm']} on {r['dataset']} ({r['device']}): {r['problems']}" for r in rows if r["problems"]]
    if problems:
        out += "<p><b>Not ok:</b></p><ul>" + "".join(f"<li>{_esc(p)}</li>" for p in problems) + "</ul>"
    return out


def _devices_table(records: list[dict[str, Any]]) -> str | None:
    """CPU and GPU side by side for each algorithm and dataset run on both, or ``None``."""
    rows = summarize(records)
    by: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["algorithm"], r["dataset"]), {})[r["device"]] = r
    pairs = [(key, d) for key, d in by.items() if "cpu" in d and "gpu" in d]
    if not pairs:
        return None
    body = []
    for (algo, dataset), d in pairs:
        cpu, gpu = d["cpu"], d["gpu"]
        speedup = cpu["epoch_s"] / gpu["epoch_s"] if gpu["epoch_s"] and not math.isnan(gpu["epoch_s"]) else math.nan
        body.append(
            [
                _cell(algo),
                _cell(dataset),
                _cell(_num(cpu["epoch_s"], 3), cpu["epoch_s"], "num"),
                _cell(_num(gpu["epoch_s"], 3), gpu["epoch_s"], "num"),
                _cell(f"{speedup:.2f}x" if not math.isnan(speedup) else "–", speedup, "num"),
                _cell(_num(cpu.get("rmse")), cpu.get("rmse"), "num"),
                _cell(_num(gpu.get("rmse")), gpu.get("rmse"), "num"),
            ]
        )
    return _table(["algorithm", "dataset", "epoch s CPU", "epoch s GPU", "GPU speed-up", "RMSE CPU", "RMSE GPU"], body)


def _environment_table(env: dict[str, Any], records: list[dict[str, Any]]) -> str:
    blas = "; ".join(
        f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, "
        f"{b.get('num_threads')} threads, {b.get('threading_layer')})"
        for b in env.get("blas") or []
    )
    forced = sorted(
        {(t.get("numba"), t.get("numba_layer"), t.get("blas")) for r in records if (t := r.get("threads_in_force"))},
        key=str,
    )
    threads = (
        "; ".join(
            f"numba {n if n is not None else '–'}"
            + (f" ({layer})" if layer else "")
            + f", BLAS {b if b is not None else '–'}"
            for n, layer, b in forced
        )
        or "–"
    )
    gpu = env.get("gpu")
    gpu_text = (
        "none" if not gpu else (", ".join(f"{k}: {v}" for k, v in gpu.items()) if isinstance(gpu, dict) else str(gpu))
    )
    cal = env.get("calibration_seconds")
    rows = [
        ("host", env.get("hostname")),
        ("platform", env.get("platform")),
        ("Python", env.get("python")),
        ("CPU", env.get("cpu")),
        ("cores", f"{env.get('cpu_count')} ({env.get('cpu_affinity')} usable)"),
        ("memory", f"{env['memory_total_bytes'] / 2**30:.1f} GiB" if env.get("memory_total_bytes") else "–"),
        ("BLAS", blas or "–"),
        ("threads in the cells", threads),
        ("GPU", gpu_text),
        ("calibration", f"{cal:.3f} s (the fixed workload mfbench gate divides by)" if cal else "not measured"),
        ("libraries", ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items() if v)),
        ("recorded", env.get("created_at")),
    ]
    return _table(["", ""], [[_cell(k), _cell(v if v is not None else "–")] for k, v in rows])


def _page(title: str, subtitle: str, sections: list[tuple[str, str]]) -> str:
    body = "".join(f"<section><h2>{_esc(name)}</h2>{content}</section>" for name, content in sections)
    made = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>"
        f'<h1>{_esc(title)}</h1><p class="meta">{_esc(subtitle)}</p>{body}'
        f'<p class="note">Written by mfbench {_esc(_version())} on {made}. Click a column header to sort.</p>'
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mfbench")
    except PackageNotFoundError:
        return "?"


def run_page(records: list[dict[str, Any]], env: dict[str, Any], name: str, command: str | None = None) -> str:
    """The HTML page of one run's ``records`` (its latest record per cell) and ``environment.json``."""
    from .plot import costs_figure, curve_figures, pareto_figure

    ok = sum(r.get("status") == "ok" for r in records)
    subtitle = f"{ok} of {len(records)} cells ok · {env.get('cpu', '?')} · {env.get('created_at', '')}"
    if command:
        subtitle += f" · {command}"
    curves: dict[str, Any] = {}

    def curve(which: str) -> Any:
        if not curves:
            curves.update(curve_figures(records))
        return curves[which]

    sections = [
        (
            "Comparison",
            _summary_table(records)
            + '<p class="note">Metrics: mean ± standard deviation over seeds and folds. Times: median '
            "[min, max] over cells and repeats.</p>",
        ),
        (
            "Accuracy against time",
            _figure(
                lambda: pareto_figure(records), "One small point per cell, one large point per row at its medians."
            ),
        ),
        (
            "Learning curves",
            _figure(lambda: curve("curves_by_epoch"), "By epoch")
            + _figure(lambda: curve("curves_by_time"), "By training time"),
        ),
        ("Costs", _figure(lambda: costs_figure(records), "Time per epoch and peak memory")),
    ]
    devices = _devices_table(records)
    if devices:
        sections.append(("CPU and GPU", devices))
    sections.append(("Environment", _environment_table(env, records)))
    return _page(f"mfbench run {name}", subtitle, sections)


def compare_page(
    a: list[dict[str, Any]],
    b: list[dict[str, Any]],
    env_a: dict[str, Any],
    env_b: dict[str, Any],
    name_a: str,
    name_b: str,
    rows: list[dict[str, Any]],
    warnings: list[str],
) -> str:
    """The HTML page of ``mfbench compare A B``: ``rows`` from ``compare_runs``."""
    from statistics import mean, median

    from .plot import pareto_figure

    def ratio(values: list[float]) -> tuple[str, float | None]:
        if not values:
            return "–", None
        text = f"{median(values):.2f}" + (f" [{min(values):.2f}, {max(values):.2f}]" if len(values) > 1 else "")
        return text, median(values)

    def diff(x: list[float], y: list[float]) -> tuple[str, float | None]:
        return (f"{mean(y) - mean(x):+.4f}", mean(y) - mean(x)) if x else ("–", None)

    body, classes = [], []
    for r in rows:
        notes = " ".join(
            filter(
                None,
                [
                    f"{r['new_failures']} newly failing" if r["new_failures"] else "",
                    f"{r['fixed']} passing again" if r["fixed"] else "",
                    f"{r['unmatched']} not in A" if r["unmatched"] else "",
                ],
            )
        )
        cells = [_cell(r["mark"], klass="mark"), _cell(r["algorithm"]), _cell(r["dataset"]), _cell(r["device"])]
        for values in (r["epoch"], r["fit"]):
            text, v = ratio(values)
            cells.append(_cell(text, v, "num"))
        for m in ("rmse", "mae"):
            text, v = diff(r[f"{m}_a"], r[f"{m}_b"])
            cells.append(_cell(text, v, "num"))
        cells.append(_cell(notes))
        body.append(cells)
        classes.append("bad" if r["mark"] in ("!", "+") else "")
    table = _table(
        ["", "algorithm", "dataset", "device", "epoch B/A", "fit B/A", "Δ rmse", "Δ mae", "notes"], body, classes
    )
    legend = (
        '<p class="note">+ slower · − faster · ! failing or less accurate · * passing again · ~ within the '
        "noise · x not comparable (the algorithm's code changed). Ratios: median [min, max] over matched "
        "cells.</p>"
    )
    warn = "".join(f'<p class="warn">{_esc(w)}</p>' for w in warnings)

    def tagged(records: list[dict[str, Any]], tag: str) -> list[dict[str, Any]]:
        return [{**r, "algorithm": f"{tag}: {r['algorithm']}"} for r in records]

    sections = [
        ("Comparison", warn + table + legend),
        (
            "Accuracy against time",
            _figure(
                lambda: pareto_figure(tagged(a, "A") + tagged(b, "B")),
                "Both runs: one small point per cell, one large point per row.",
            ),
        ),
        (f"A: {name_a}", _summary_table(a)),
        (f"B: {name_b}", _summary_table(b)),
        ("Environment of A", _environment_table(env_a, a)),
        ("Environment of B", _environment_table(env_b, b)),
    ]
    return _page(f"mfbench compare {name_a} {name_b}", f"B = {name_b} against A = {name_a}", sections)


def write_page(path: Path, text: str) -> Path:
    """Write the page atomically (a temporary file renamed into place)."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # a page to share: readable as any new file would be
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
