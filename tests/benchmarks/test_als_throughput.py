"""ALS full-sweep throughput on 10M uniform ratings: M ratings/s at k = 32, 64, 128, 1 and 2 threads."""

import pytest
from _bench import epoch_runner, report_throughput

from mfbench_plugins.algorithms.als import ALS


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [32, 64, 128])
def test_als_sweep(benchmark, uniform_10m, k, threads, solver):
    run_epoch = epoch_runner(ALS(k=k, threads=threads, solver=solver, seed=0), uniform_10m)
    benchmark.pedantic(run_epoch, rounds=2, warmup_rounds=0)
    rate = report_throughput(benchmark, len(uniform_10m))
    print(f"\nals {solver} k={k} threads={threads}: {rate:.2f} M ratings/s per sweep")
