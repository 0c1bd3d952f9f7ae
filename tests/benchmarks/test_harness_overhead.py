"""What the harness itself costs a cell: process start, imports, the data's hand-off, the record.

Runs 200 ``global_mean`` cells (seeds 0..199 on the embedded synthetic dataset, each cell in its
own process as always) through ``mfbench.run`` and compares the run's wall time with the sum of
the cells' own ``prepare + fit + predict``; the difference over the cells is the overhead a cell.
Three rounds; prints each and asserts the median under 0.05 s.

    pytest tests/benchmarks/test_harness_overhead.py -s
"""

from __future__ import annotations

import time
from statistics import median

import mfbench

CELLS = 200


def test_per_cell_overhead(tmp_path):
    mfbench.run(algos=["global_mean"], datasets=["synthetic"], seeds=2, calibrate=False, out=tmp_path)  # warm
    overheads = []
    for r in range(3):
        t0 = time.perf_counter()
        res = mfbench.run(
            algos=["global_mean"], datasets=["synthetic"], seeds=CELLS, calibrate=False, out=tmp_path, run_id=f"r{r}"
        )
        wall = time.perf_counter() - t0
        own = sum(rec["prepare_seconds"] + rec["fit_seconds"] + rec["predict_seconds"] for rec in res.records)
        assert res.ok and len(res.records) == CELLS
        overheads.append((wall - own) / CELLS)
        print(
            f"round {r + 1}: {CELLS} cells in {wall:.2f} s, their own work {own:.3f} s: "
            f"{overheads[-1] * 1000:.1f} ms a cell",
            flush=True,
        )
    print(
        f"harness overhead a cell: {median(overheads) * 1000:.1f} ms [{min(overheads) * 1000:.1f}, "
        f"{max(overheads) * 1000:.1f}]"
    )
    assert median(overheads) < 0.05
