"""The memory floor of a mini-batch epoch at the Netflix shape, with the lazy update rule.

Each rating of a batch steps its user's row (and nearly every rating of a 1,024-rating batch has
a user of its own among 480,189). This benchmark does only that traffic: for every rating, in
the shuffle's order and with the kernel's prefetching, read and write back the user's packed
row (weights, bias and the optimizer's moments side by side, k=64, float32: 832 bytes with
Adam's two moments, 576 with momentum's one), with no arithmetic to speak of. Its time is a
lower bound on any epoch of the same rule and state; the printed figure is scaled to the
Netflix shape's 80.4M training ratings, for one and two threads.

    pytest tests/benchmarks/test_minibatch_floor.py -s
"""

import time

import numba
import numpy as np
import pytest
from _bench import SCALE
from numba import njit, prange

from mfbench_plugins.algorithms.kernels.prefetch import prefetch_row
from mfbench_plugins.algorithms.minibatch._numba import ADAM, AHEAD, MOMENTUM, packed

N_USERS, K, BATCH = 480_189, 64, 1024
NETFLIX_TRAIN = 80_384_405


@njit(cache=True, parallel=True)
def _touch_rows(users, batch, Z):
    n = len(users)
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        for j in prange(start, stop):
            if j + AHEAD < stop:
                prefetch_row(Z, users[j + AHEAD])
            u = users[j]
            for f in range(Z.shape[1]):
                Z[u, f] = Z[u, f] * np.float32(0.9) + np.float32(1e-9)
    return Z[0, 0]


@pytest.mark.parametrize("moments", [2, 1], ids=["adam", "momentum"])
def test_floor_of_the_user_steps(moments):
    n = int(20_000_000 * SCALE)
    rng = np.random.default_rng(0)
    users = rng.integers(0, N_USERS, n).astype(np.int32)  # the shuffle's order, as the kernel's slots visit them
    # written once first, as the model's tables are by their initialization: a fresh np.zeros
    # table timed the one-moment pass 7x slower (4.1 s against 0.34 s on 2M ratings)
    Z = packed(ADAM if moments == 2 else MOMENTUM, K, N_USERS)
    Z[:] = 0.5
    _touch_rows(users[:BATCH], BATCH, Z)  # compile
    out = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            _touch_rows(users, BATCH, Z)
            times.append(time.perf_counter() - t0)
        best = min(times) * NETFLIX_TRAIN / n
        out.append(
            f"{threads} thread(s): {best:.1f} s an epoch ({NETFLIX_TRAIN / best / 1e6:.2f} M ratings/s), "
            f"{Z.shape[1] * 4 * 2 * NETFLIX_TRAIN / best / 1e9:.1f} GB/s of row reads and writes"
        )
    print(f"\nfloor of the user steps at the Netflix shape, {moments} moment(s), best of 3:\n  " + "\n  ".join(out))
