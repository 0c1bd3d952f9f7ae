"""The memory floor of a mini-batch epoch at the Netflix shape, with the lazy update rule.

Each rating of a batch steps its user's row of the weights and of each moment (and nearly every
rating of a 1,024-rating batch has a user of its own among 480,189). This benchmark does only
that traffic: for every rating, in the kernel's order (a batch's users in order of first
appearance, as its slots number them; nearly all distinct) and with its prefetching, read and write back the user's rows of ``P`` and of the optimizer's moments (k=64,
float32: 256 bytes a row), with no arithmetic to speak of. Its time is a lower bound on any epoch
of the same rule and state; the printed figure is scaled to the Netflix shape's 80.4M training
ratings, for one and two threads, with Adam's two moments and momentum's one.

    pytest tests/benchmarks/test_minibatch_floor.py -s
"""

import time

import numba
import numpy as np
import pytest
from numba import njit, prange

from _bench import SCALE
from mfbench_plugins.algorithms._prefetch import prefetch_row

N_USERS, K, BATCH = 480_189, 64, 1024
NETFLIX_TRAIN = 80_384_405
AHEAD = 4


@njit(cache=True, parallel=True)
def _touch_rows(users, batch, P, M, V, moments):
    n = len(users)
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        for j in prange(start, stop):
            if j + AHEAD < stop:
                u2 = users[j + AHEAD]
                prefetch_row(P, u2)
                prefetch_row(M, u2)
                if moments == 2:
                    prefetch_row(V, u2)
            u = users[j]
            for f in range(P.shape[1]):
                m = M[u, f] * np.float32(0.9) + np.float32(1e-9)
                M[u, f] = m
                if moments == 2:
                    V[u, f] = V[u, f] * np.float32(0.999)
                P[u, f] -= m
    return P[0, 0]


@pytest.mark.parametrize("moments", [2, 1], ids=["adam", "momentum"])
def test_floor_of_the_user_steps(moments):
    n = int(20_000_000 * SCALE)
    rng = np.random.default_rng(0)
    users = rng.integers(0, N_USERS, n).astype(np.int32)  # the shuffle's order, as the kernel's slots visit them
    # written once first, as the model's tables are by their initialization: a fresh np.zeros
    # table timed the one-moment pass 7x slower (4.1 s against 0.34 s on 2M ratings)
    P, M, V = (np.full((N_USERS, K), 0.5, np.float32) for _ in range(3))
    _touch_rows(users[:BATCH], BATCH, P, M, V, moments)  # compile
    out = []
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            _touch_rows(users, BATCH, P, M, V, moments)
            times.append(time.perf_counter() - t0)
        best = min(times) * NETFLIX_TRAIN / n
        out.append(f"{threads} thread(s): {best:.1f} s an epoch ({NETFLIX_TRAIN / best / 1e6:.2f} M ratings/s), "
                   f"{(moments + 1) * K * 4 * 2 * NETFLIX_TRAIN / best / 1e9:.1f} GB/s of row reads and writes")
    print(f"\nfloor of the user steps at the Netflix shape, {moments} moment(s), best of 3:\n  " + "\n  ".join(out))
