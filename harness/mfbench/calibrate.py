"""A fixed workload timed on this machine: an index of its speed, recorded with each run.

``calibration_seconds`` runs a numpy part (float32 matrix products and a sort: BLAS and memory
bandwidth) and a numba part (a scalar loop over a gather: the shape of the per-rating kernels),
each a few times, and keeps the fastest of each. Both run on one thread: the calibration measures
a core, not how many cores the machine lent the run at that moment. A run calibrates before its
cells and again after them, and keeps the faster (``mfbench.api.execute``). ``mfbench gate RUN
--baseline`` divides every cell's time by it to compare with a stored baseline: history, since no
fixed workload moves like every algorithm across CPU generations; the CI verdict times both
revisions on one machine instead (``docs/gate.md``).
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["calibration_seconds"]


def _numpy_part(rng: np.random.Generator) -> float:
    a = rng.standard_normal((384, 384), dtype=np.float32)
    b = rng.standard_normal((384, 384), dtype=np.float32)
    keys = rng.integers(0, 1 << 40, 1_000_000)
    t0 = time.perf_counter()
    for _ in range(24):
        a = (a @ b) * np.float32(1e-2)
    np.sort(keys)
    return time.perf_counter() - t0


def _numba_part(rng: np.random.Generator) -> float:
    from ._calibrate_numba import gather_dot

    idx = rng.integers(0, 20_000, 2_000_000).astype(np.int32)
    table = rng.standard_normal((20_000, 32), dtype=np.float32)
    gather_dot(idx[:10], table)  # compile or load from the cache outside the clock
    t0 = time.perf_counter()
    gather_dot(idx, table)
    return time.perf_counter() - t0


def calibration_seconds(rounds: int = 5) -> float:
    """Seconds of the fixed workload (best of ``rounds`` for each part, added)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    with threadpool_limits(limits=1, user_api="blas"):
        return min(_numpy_part(rng) for _ in range(rounds)) + min(_numba_part(rng) for _ in range(rounds))
