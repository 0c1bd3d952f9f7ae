"""Per-rating SGD epoch throughput on 10M uniform ratings: M ratings/s at k = 32, 64, 128, 1 and 2 threads."""

import pytest
from _bench import epoch_runner, report_throughput

from mfbench_plugins.algorithms.sgd.sgd import SGD


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("k", [32, 64, 128])
def test_sgd_epoch(benchmark, uniform_10m, k, threads):
    run_epoch = epoch_runner(SGD(k=k, threads=threads, seed=0), uniform_10m)
    benchmark.pedantic(run_epoch, rounds=3, warmup_rounds=1)
    rate = report_throughput(benchmark, len(uniform_10m))
    print(f"\nsgd k={k} threads={threads}: {rate:.1f} M ratings/s per epoch")
