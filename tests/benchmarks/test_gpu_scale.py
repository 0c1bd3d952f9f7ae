"""GPU at scale, against numba on the CPU of the same machine, in one run and one table.

``pytest tests/benchmarks/test_gpu_scale.py -s`` on a machine with cupy and an NVIDIA GPU prints,
for each algorithm and shape, seconds per epoch on the GPU and on the CPU, M ratings/s, the GPU's
peak pool memory and the ratio, then one table of them all; it skips with the reason elsewhere.
The shapes are ``synthetic-ml20m`` (every GPU algorithm, ``bpmf`` a sweep an epoch) and ``synthetic-netflix`` (``sgd``),
drawn on the GPU (``generate(device="gpu")``, its time printed); ``MFBENCH_BENCH_SCALE`` shrinks
them. ``tests/gpu/check.sh`` runs this file.
"""

import time

import numpy as np
import pytest
from _bench import SCALE, epoch_runner

from mfbench.devices import GpuPeakMemory, describe_gpu, synchronize
from mfbench.testing import require_device
from mfbench_datasets.synthetic import PRESETS, generate
from mfbench_plugins.algorithms.als.als import ALS
from mfbench_plugins.algorithms.bpmf.bpmf import BPMF
from mfbench_plugins.algorithms.minibatch.minibatch import AdamaxSGD, AdamSGD, MomentumSGD
from mfbench_plugins.algorithms.sgd.sgd import SGD
from mfbench_plugins.algorithms.svd.svd import ImputedSVD


def _generate(name):
    require_device("gpu")
    spec = dict(PRESETS[name])
    spec.update(n_users=int(spec["n_users"] * SCALE), n_ratings=int(spec["n_ratings"] * SCALE))
    start = time.perf_counter()
    ratings, _ = generate(**spec, seed=0, device="gpu")
    print(f"\n{name}: {len(ratings):,} ratings generated on the GPU in {time.perf_counter() - start:.1f} s")
    return ratings


@pytest.fixture(scope="module")
def table():
    """The rows the tests gather, printed as one table when the module ends."""
    rows = []
    yield rows
    if rows:
        from tabulate import tabulate

        gpu = describe_gpu()
        print(f"\nCPU (numba) against GPU ({gpu['name'] if gpu else '?'}), seconds per epoch (median)")
        print(
            tabulate(
                rows,
                headers=["shape", "algorithm", "GPU s", "GPU M/s", "pool GiB", "CPU s", "CPU M/s", "GPU/CPU speed"],
                floatfmt=".3g",
            )
        )


@pytest.fixture(scope="module")
def shapes():
    cache = {}

    def get(name):
        if name not in cache:
            cache.clear()  # one shape on the device at a time
            cache[name] = _generate(name)
        return cache[name]

    return get


def _epochs(algo, ratings, device, rounds):
    """Prepare seconds, median synchronized seconds per epoch, and the GPU pool's peak bytes."""
    import cupy

    with GpuPeakMemory() as peak:
        start = time.perf_counter()
        if "epochs" in algo.params():
            run_epoch = epoch_runner(algo, ratings)
        else:  # one pass (svd): a round is a whole fit
            algo.prepare(ratings)
            run_epoch = lambda: list(algo.fit(ratings))  # noqa: E731
        synchronize(device)
        prepare = time.perf_counter() - start
        run_epoch()  # the first epoch warms caches and the memory pool
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            run_epoch()
            synchronize(device)
            times.append(time.perf_counter() - start)
    cupy.get_default_memory_pool().free_all_blocks()
    return prepare, float(np.median(times)), peak.peak_bytes if device == "gpu" else 0


CASES = [
    ("synthetic-ml20m", "sgd k=128", lambda device: SGD(k=128, device=device, seed=0), 3),
    ("synthetic-ml20m", "als k=64", lambda device: ALS(k=64, device=device, seed=0), 2),
    ("synthetic-ml20m", "adam_sgd", lambda device: AdamSGD(device=device, seed=0), 1),
    ("synthetic-ml20m", "adamax_sgd", lambda device: AdamaxSGD(device=device, seed=0), 1),
    ("synthetic-ml20m", "momentum_sgd", lambda device: MomentumSGD(device=device, seed=0), 1),
    ("synthetic-ml20m", "bpmf k=10", lambda device: BPMF(k=10, device=device, seed=0), 2),
    ("synthetic-ml20m", "svd k=64", lambda device: ImputedSVD(k=64, solver="randomized", device=device, seed=0), 1),
    ("synthetic-netflix", "sgd k=128", lambda device: SGD(k=128, device=device, seed=0), 3),
    ("synthetic-netflix", "sgd k=128 half", lambda device: SGD(k=128, half=True, device=device, seed=0), 3),
]


@pytest.mark.gpu
@pytest.mark.parametrize("shape, name, factory, rounds", CASES, ids=[f"{s}-{n}" for s, n, _, _ in CASES])
def test_gpu_against_cpu(table, shapes, shape, name, factory, rounds):
    ratings = shapes(shape)
    row = {}
    for device in ("gpu", "cpu"):
        if device == "cpu" and "half" in name:
            continue  # a storage option of the GPU kernel
        prepare, epoch, used = _epochs(factory(device), ratings, device, rounds if device == "gpu" else 1)
        row[device] = (epoch, used)
        print(
            f"\n{shape} {name} on {device}: prepare {prepare:.2f} s, {epoch:.3f} s per epoch, "
            f"{len(ratings) / epoch / 1e6:.1f} M ratings/s" + (f", pool peak {used / 2**30:.2f} GiB" if used else "")
        )
    gpu_s, used = row["gpu"]
    cpu_s = row["cpu"][0] if "cpu" in row else None
    table.append(
        [
            shape,
            name,
            gpu_s,
            len(ratings) / gpu_s / 1e6,
            used / 2**30,
            cpu_s,
            len(ratings) / cpu_s / 1e6 if cpu_s else None,
            cpu_s / gpu_s if cpu_s else None,
        ]
    )
    assert np.isfinite(gpu_s) and gpu_s > 0
