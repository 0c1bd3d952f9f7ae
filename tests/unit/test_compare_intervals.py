"""``mfbench compare`` with repeats: an interval of the ratio instead of the cells' [min, max]."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from mfbench.compare import _ratio, compare_runs, interval

RUNS = Path(__file__).resolve().parents[1] / "fixtures" / "runs"


def _repeated(run: str, times: list[float]) -> list[dict]:
    """The run's first sgd cell, repeated once per entry of ``times`` (its fit seconds)."""
    rec = next(
        json.loads(line)
        for line in (RUNS / run / "runs.jsonl").read_text().splitlines()
        if json.loads(line)["algorithm"] == "sgd"
    )
    out = []
    for k, t in enumerate(times):
        r = copy.deepcopy(rec)
        r["cell_id"] = f"{rec['cell_id']}|repeat={k}" if k else rec["cell_id"]
        r["repeat"], r["fit_seconds"], r["epoch_seconds"] = k, t, [t / 2, t / 2]
        out.append(r)
    return out


def test_repeats_give_the_ratio_an_interval_and_the_mark_follows_it():
    a = _repeated("a", [1.00, 1.02, 0.98, 1.01, 0.99])
    b = _repeated("a", [1.20, 1.22, 1.19, 1.25, 1.18])
    (row,) = compare_runs(a, b)
    est = interval(row, "fit")
    assert est is not None and 1.15 < est.lo < est.ratio < est.hi < 1.30
    assert _ratio(row, "fit") == f"{est.ratio:.2f} ({est.lo:.2f} to {est.hi:.2f})"
    assert row["mark"] == "+"


def test_an_interval_that_holds_one_is_within_the_noise():
    a = _repeated("a", [1.00, 1.30, 0.90, 1.10, 0.95])
    b = _repeated("a", [1.25, 1.00, 1.20, 0.95, 1.30])  # median 1.2x, but the repeats overlap
    (row,) = compare_runs(a, b)
    est = interval(row, "fit")
    assert est.lo < 1 < est.hi and row["mark"] == "~"


def test_two_repeats_are_too_few_for_an_interval():
    (row,) = compare_runs(_repeated("a", [1.0, 1.1]), _repeated("a", [1.2, 1.3]))
    assert interval(row, "fit") is None and _ratio(row, "fit") == "1.19"  # 1.25 / 1.05, medians
