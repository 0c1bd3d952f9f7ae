"""ALS full-sweep throughput on 10M uniform ratings, against the machine's own sgemm.

For k = 32, 64, 128 on 1 and 2 threads, each solver's sweep is timed (M ratings/s) and turned
into an efficiency: the sweep's floating-point work over its time, divided by the rate of a
float32 ``sgemm`` (4096 x 4096, numpy's BLAS, same thread count) measured in the same session.
Absolute rates differ between machines; the efficiency is what carries over.

The work of an exact sweep, with ``D = k + 1`` unknowns per row (the factors and the row's bias)::

    Gram products   2 * nnz * D^2          (both sides; ssyrk's n D (D + 1) flops per row)
    Cholesky        (n_users + n_items) * D^3 / 3

``cg`` is counted by the work it replaces (the exact sweep's), so its efficiency is comparable;
its own rate is printed beside it in ratings/s. At the end one table of every case is printed.

    pytest tests/benchmarks/test_als_throughput.py -s
"""

import time

import numpy as np
import pytest
from _bench import epoch_runner, report_throughput
from threadpoolctl import threadpool_limits

from mfbench_plugins.algorithms.als.als import ALS

N_USERS, N_ITEMS = 70_000, 10_000


@pytest.fixture(scope="module")
def sgemm_rate():
    """GFLOP/s of a 4096 x 4096 float32 matmul on 1 and 2 threads (best of 5)."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((4096, 4096), dtype=np.float32) for _ in range(2))
    out = {}
    for threads in (1, 2):
        with threadpool_limits(threads):
            a @ b
            best = min(_timed(lambda: a @ b) for _ in range(5))
        out[threads] = 2 * 4096**3 / best / 1e9
    return out


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.fixture(scope="module")
def table(sgemm_rate):
    rows = []
    yield rows
    if rows:
        from tabulate import tabulate

        print(f"\nsgemm 4096^2 float32: {sgemm_rate[1]:.0f} GFLOP/s on 1 thread, {sgemm_rate[2]:.0f} on 2")
        print(
            tabulate(
                rows,
                headers=["solver", "k", "threads", "sweep s", "M ratings/s", "GFLOP/s (exact work)", "of sgemm"],
                floatfmt=".3g",
            )
        )


def exact_sweep_flops(nnz: int, k: int) -> float:
    D = k + 1
    return 2.0 * nnz * D * D + (N_USERS + N_ITEMS) * D**3 / 3


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [32, 64, 128])
def test_als_sweep(benchmark, uniform_10m, sgemm_rate, table, k, threads, solver):
    run_epoch = epoch_runner(ALS(k=k, threads=threads, solver=solver, seed=0), uniform_10m)
    run_epoch()  # the first sweep from the random start, untimed
    benchmark.pedantic(run_epoch, rounds=2, warmup_rounds=0)
    rate = report_throughput(benchmark, len(uniform_10m))
    seconds = benchmark.stats.stats.median
    gflops = exact_sweep_flops(len(uniform_10m), k) / seconds / 1e9
    efficiency = gflops / sgemm_rate[threads]
    benchmark.extra_info.update(
        {
            "gflops_exact_work": round(gflops, 1),
            "efficiency_of_sgemm": round(efficiency, 3),
            "sgemm_gflops": round(sgemm_rate[threads], 1),
        }
    )
    table.append([solver, k, threads, seconds, rate, gflops, efficiency])
    print(
        f"\nals {solver} k={k} threads={threads}: {rate:.2f} M ratings/s per sweep, {gflops:.0f} GFLOP/s of exact-sweep "
        f"work, {efficiency:.2f} of sgemm ({sgemm_rate[threads]:.0f} GFLOP/s)"
    )
    assert np.isfinite(seconds) and 0 < efficiency
