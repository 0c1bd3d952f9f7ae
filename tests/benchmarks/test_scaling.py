"""How each built-in scales: epoch throughput at the ml-100k, ML-20M and Netflix shapes.

``pytest tests/benchmarks/test_scaling.py -s`` trains every built-in (defaults, numba and BLAS
on ``MFBENCH_BENCH_THREADS`` threads, default 2) on synthetic data of each shape, 80% of the
preset's ratings as training data, and prints M ratings/s per epoch (the median of timed epochs
after a warm-up epoch), with each rate's ratio to the same algorithm's rate at the ml-100k
shape: per rating, a method that scales keeps that ratio near 1. ``MFBENCH_BENCH_SCALE`` shrinks
the two large shapes. Methods that cannot run at a shape say why (``masked_gd`` needs the dense
matrix); ``bpmf``'s epoch is a Gibbs sweep; ``dmf`` is left out of the Netflix shape, where one epoch is several minutes on 2 cores.
"""

import os
import time

import numpy as np
import pytest
from _bench import SCALE, run_forever

from mfbench.errors import MfbenchError
from mfbench.registry import get_registry
from mfbench_datasets.synthetic import PRESETS, generate

THREADS = int(os.environ.get("MFBENCH_BENCH_THREADS", "2"))
SHAPES = {
    "ml-100k": dict(n_users=943, n_items=1682, n_ratings=100_000),
    "ML-20M": PRESETS["synthetic-ml20m"],
    "Netflix": PRESETS["synthetic-netflix"],
}
#: timed epochs after the warm-up epoch
EPOCHS = {"ml-100k": 5, "ML-20M": 2, "Netflix": 1}
LEFT_OUT = {("dmf", "Netflix"): "several minutes an epoch on 2 cores"}
PEERS = ("surprise_", "lenskit_", "spark_", "myfm")
RATES: dict[tuple[str, str], float] = {}


def _builtins():
    return [
        e.spec
        for e in get_registry().listing("algorithm")
        if e.distribution.startswith("mfbench ") and not e.spec.name.startswith(PEERS)
    ]


@pytest.fixture(scope="module", params=list(SHAPES))
def shape(request):
    name = request.param
    spec = dict(SHAPES[name])
    if name != "ml-100k":
        spec.update(n_users=int(spec["n_users"] * SCALE), n_ratings=int(spec["n_ratings"] * SCALE))
    spec["n_ratings"] = int(spec["n_ratings"] * 0.8)  # the training part of a holdout:0.2 split
    ratings, _ = generate(**spec, seed=0)
    return name, ratings


def _throughput(spec, ratings, timed):
    """Median seconds of ``timed`` epochs after a warm-up epoch (a whole fit per round for a
    method without epochs)."""
    params = spec.defaults
    algo = spec.factory(seed=0)
    if "epochs" in params:
        run_forever(algo)
    algo.prepare(ratings)
    seconds = []
    if "epochs" in params:
        epochs = algo.fit(ratings)
        next(epochs)
        for _ in range(timed):
            start = time.perf_counter()
            info = next(epochs)
            seconds.append(time.perf_counter() - start)
            for value in info.values():
                assert np.isfinite(float(value() if callable(value) else value))
    else:
        for _ in range(timed):
            start = time.perf_counter()
            list(algo.fit(ratings))
            seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


@pytest.mark.parametrize("spec", _builtins(), ids=lambda s: s.name)
def test_epoch_throughput(benchmark, shape, spec):
    import numba
    from threadpoolctl import threadpool_limits

    name, ratings = shape
    if (spec.name, name) in LEFT_OUT:
        pytest.skip(f"{spec.name} at the {name} shape: {LEFT_OUT[spec.name, name]}")
    numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
    with threadpool_limits(THREADS):
        try:
            seconds = benchmark.pedantic(_throughput, args=(spec, ratings, EPOCHS[name]), rounds=1, iterations=1)
        except MfbenchError as exc:
            pytest.skip(f"{spec.name} at the {name} shape: {exc}")
    rate = len(ratings) / seconds / 1e6
    RATES[spec.name, name] = rate
    base = RATES.get((spec.name, "ml-100k"))
    scaled = f", {rate / base:.2f}x its ml-100k rate" if base and name != "ml-100k" else ""
    benchmark.extra_info.update(
        {
            "M_ratings_per_s": rate,
            "epoch_seconds": seconds,
            "shape": name,
            "n_ratings": len(ratings),
            "threads": THREADS,
            "k": spec.defaults.get("k"),
        }
    )
    print(
        f"\n{spec.name} ({', '.join(f'{k}={v}' for k, v in spec.defaults.items() if k in ('k', 'batch_size'))}) "
        f"at {name} ({len(ratings):,} training ratings, {THREADS} threads): {seconds:.3f} s an epoch, "
        f"{rate:.2f} M ratings/s{scaled}"
    )
    assert seconds > 0
