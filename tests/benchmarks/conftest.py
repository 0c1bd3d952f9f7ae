"""Benchmarks: run only when named (``pytest tests/benchmarks``); compare runs with
``--benchmark-autosave`` and ``--benchmark-compare``. Sizes shrink with ``MFBENCH_BENCH_SCALE``."""

import pytest
from _bench import SCALE

from mfbench_datasets.synthetic import generate


@pytest.fixture(scope="session")
def uniform_10m():
    """10M ratings over 70,000 x 10,000 with uniform random ids: the worst case for caches."""
    n = int(10_000_000 * SCALE)
    r, _ = generate(n_users=70_000, n_items=10_000, n_ratings=n, user_sigma=0.0, item_sigma=0.0, seed=0)
    return r
