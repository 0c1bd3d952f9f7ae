"""Helpers of the benchmarks."""

import os

SCALE = float(os.environ.get("MFBENCH_BENCH_SCALE", "1"))


def epoch_runner(algo, ratings):
    """Prepare once (compile, layout), then return a callable that runs one epoch."""
    algo.epochs = 10**9
    algo.prepare(ratings)
    it = algo.fit(ratings)
    return lambda: next(it)


def report_throughput(benchmark, n_ratings):
    stats = benchmark.stats.stats
    benchmark.extra_info["M_ratings_per_s_median"] = round(n_ratings / stats.median / 1e6, 2)
    benchmark.extra_info["n_ratings"] = n_ratings
    return n_ratings / stats.median / 1e6

