"""GPU at scale: ``sgd`` k=128 and ``als`` k=64 on the ML-20M and Netflix shapes, on the GPU and,
for the ratio, with numba on the CPU of the same machine, in one run.

``pytest tests/benchmarks/test_gpu_scale.py -s`` on a machine with cupy and an NVIDIA GPU prints
seconds per epoch, M ratings/s, the GPU's peak pool memory and the device name; it skips with
the reason elsewhere. ``MFBENCH_BENCH_SCALE`` shrinks both shapes. The data is drawn on the GPU
(``generate(device="gpu")``) and its generation time printed.
"""

import time

import numpy as np
import pytest
from _bench import SCALE, epoch_runner

from mfbench.devices import GpuPeakMemory, describe_gpu, synchronize
from mfbench.testing import require_device
from mfbench_datasets.synthetic import PRESETS, generate
from mfbench_plugins.algorithms.als import ALS
from mfbench_plugins.algorithms.sgd import SGD


@pytest.fixture(scope="module", params=["synthetic-ml20m", "synthetic-netflix"])
def shape(request):
    require_device("gpu")
    spec = dict(PRESETS[request.param])
    spec.update(n_users=int(spec["n_users"] * SCALE), n_ratings=int(spec["n_ratings"] * SCALE))
    start = time.perf_counter()
    ratings, _ = generate(**spec, seed=0, device="gpu")
    print(f"\n{request.param}: {len(ratings):,} ratings generated on the GPU in {time.perf_counter() - start:.1f} s")
    return request.param, ratings


def _epochs(algo, ratings, device, rounds):
    """Prepare seconds, median synchronized seconds per epoch, and the GPU pool's peak bytes."""
    import cupy

    with GpuPeakMemory() as peak:
        start = time.perf_counter()
        run_epoch = epoch_runner(algo, ratings)
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


@pytest.mark.gpu
@pytest.mark.parametrize("name, factory, rounds", [
    ("sgd k=128", lambda device: SGD(k=128, device=device, seed=0), 3),
    ("sgd k=128 half", lambda device: SGD(k=128, half=True, device=device, seed=0), 3),
    ("als k=64", lambda device: ALS(k=64, device=device, seed=0), 2),
])
def test_gpu_against_cpu(shape, name, factory, rounds):
    label, ratings = shape
    row = {}
    for device in ("gpu", "cpu"):
        if device == "cpu" and "half" in name:
            continue
        prepare, epoch, used = _epochs(factory(device), ratings, device, rounds if device == "gpu" else 1)
        row[device] = epoch
        print(f"\n{label} {name} on {device}: prepare {prepare:.2f} s, {epoch:.3f} s per epoch, "
              f"{len(ratings) / epoch / 1e6:.1f} M ratings/s" + (f", pool peak {used / 2**30:.2f} GiB" if used else ""))
    if "cpu" in row:
        print(f"{label} {name}: GPU ({describe_gpu()['name']}) {row['cpu'] / row['gpu']:.1f}x the CPU's numba")
