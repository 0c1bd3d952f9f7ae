"""How far ``sgd``'s kernel runs from its in-cache floor, and what a rating costs in instructions.

``python tools/sgd_kernel_floor.py --k 128`` times ``sgd._numba.epoch_blocks`` on one
thread (default settings: AdaGrad steps, biases) over two rating sets of the same size:

- ``in L1``: 16 users x 16 items, users in runs of 16 ratings (the 10M set has about 18 a block),
  ratings from a planted rank-8 model so that no factor decays into float32 subnormals. Every row
  stays in the L1 cache: the time is the kernel's own instruction stream.
- ``10M uniform``: the LIBMF benchmark's data (70,000 x 10,000, uniform ids), laid out by
  ``sgd``'s own blocking: the item rows of a block live in L2.

The difference is what moving rows between the caches costs. Both are timed in interleaved rounds
(``--rounds``) and reported as median [min, max] ns a rating.

``--count-epochs N`` instead runs N epochs over 200,000 ratings (k = ``--k``) and nothing else,
for an instruction count: run it under ``valgrind --tool=callgrind`` with N = 1 and N = 3 and
divide the difference of the two totals by 400,000. valgrind does not decode AVX-512, so set
``NUMBA_CPU_NAME=skylake`` (AVX2 code) and a ``NUMBA_CACHE_DIR`` of its own; the first run under
valgrind compiles for the CPU valgrind reports (minutes, and its total counts the compiler), so
count from the runs after it::

    export NUMBA_CPU_NAME=skylake NUMBA_CACHE_DIR=/tmp/sgd-icount
    for n in 1 1 3; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        python tools/sgd_kernel_floor.py --count-epochs $n 2>&1 | grep refs; done
"""

import argparse
import time

import numpy as np

from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.model import set_numba_threads
from mfbench_plugins.algorithms.sgd.sgd import SGD


def in_l1_set(n, k, seed=0):
    """The arrays ``epoch_blocks`` takes, for ``n`` ratings over 16 users x 16 items, one block."""
    rng = np.random.default_rng(seed)
    rows = 16
    users = ((np.arange(n) // 16) % rows).astype(np.uint32)
    items = rng.integers(0, rows, n).astype(np.uint32)
    truth_u, truth_i = rng.standard_normal((rows, 8)), rng.standard_normal((rows, 8))
    values = (3 + 0.3 * np.einsum("nf,nf->n", truth_u[users], truth_i[items])).astype(np.float32)
    P = (0.1 * rng.standard_normal((rows, k))).astype(np.float32)
    Q = (0.1 * rng.standard_normal((rows, k))).astype(np.float32)
    zeros, ones = np.zeros(rows, np.float32), np.ones(rows, np.float32)
    return (
        users,
        items,
        values,
        np.array([0, n], np.int64),
        1,
        P,
        Q,
        zeros,
        zeros.copy(),
        ones,
        ones.copy(),
        ones.copy(),
        ones.copy(),
        np.float32(3.0),
    )


def blocked_set(ratings, k):
    """``sgd``'s own layout of ``ratings``: the arrays ``epoch_blocks`` takes."""
    algo = SGD(k=k, threads=1, seed=0)
    algo.prepare(ratings)
    w, G = algo._work, algo._G
    return (
        algo._u,
        algo._i,
        algo._r,
        algo._ptr,
        algo.blocks,
        w.P,
        w.Q,
        w.bu,
        w.bi,
        G["p"],
        G["q"],
        G["bu"],
        G["bi"],
        np.float32(w.mu),
    )


def epoch(arrays, rng):
    from mfbench_plugins.algorithms.sgd._numba import epoch_blocks

    users, items, values, ptr, blocks, *rest, mu = arrays
    return epoch_blocks(
        users,
        items,
        values,
        ptr,
        blocks,
        rng.permutation(blocks).astype(np.int64),
        *rest,
        mu,
        np.float32(0.1),
        np.float32(0.1),
        np.float32(0.01),
        True,
        True,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count-epochs", type=int, default=0, help="only run this many epochs over 200,000 ratings")
    args = ap.parse_args()
    set_numba_threads(1)
    rng = np.random.default_rng(0)
    if args.count_epochs:
        ratings, _ = generate(n_users=7_000, n_items=1_000, n_ratings=200_000, user_sigma=0.0, item_sigma=0.0, seed=0)
        arrays = blocked_set(ratings, args.k)
        for _ in range(args.count_epochs):
            epoch(arrays, rng)
        return
    ratings, _ = generate(n_users=70_000, n_items=10_000, n_ratings=10_000_000, user_sigma=0.0, item_sigma=0.0, seed=0)
    n = len(ratings)
    sets = {"in L1": in_l1_set(n, args.k), "10M uniform": blocked_set(ratings, args.k)}
    for arrays in sets.values():
        epoch(arrays, rng)  # warm: compile or load, fault the pages in
    seconds = {name: [] for name in sets}
    for r in range(args.rounds):
        for name in list(sets) if r % 2 == 0 else list(sets)[::-1]:
            t0 = time.perf_counter()
            epoch(sets[name], rng)
            seconds[name].append(time.perf_counter() - t0)
    print(f"sgd kernel, k={args.k}, 1 thread, {n:,} ratings an epoch, {args.rounds} interleaved rounds")
    for name, s in seconds.items():
        ns = [x * 1e9 / n for x in s]
        print(f"  {name:12s} {np.median(ns):6.1f} ns a rating [{min(ns):.1f}, {max(ns):.1f}]")


if __name__ == "__main__":
    main()
