"""Benchmarks: run only when named (``pytest tests/benchmarks``); compare runs with
``--benchmark-autosave`` and ``--benchmark-compare``. Sizes shrink with ``MFBENCH_BENCH_SCALE``."""

import os

import numpy as np
import pytest

from mfbench_datasets.synthetic import generate

SCALE = float(os.environ.get("MFBENCH_BENCH_SCALE", "1"))


@pytest.fixture(scope="session")
def uniform_10m():
    """10M ratings over 70,000 x 10,000 with uniform random ids: the worst case for caches."""
    n = int(10_000_000 * SCALE)
    r, _ = generate(n_users=70_000, n_items=10_000, n_ratings=n, user_alpha=0.0, item_alpha=0.0, seed=0)
    return r


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


@pytest.fixture
def rng():
    return np.random.default_rng(0)
