"""Where an exact ALS half-sweep spends its time: gathers, Gram products, factorizations.

``python tests/benchmarks/als_phases.py --k 128 --threads 1`` runs a copy of
``rows.solve_rows`` three times per side on 10M uniform ratings (70,000 x 10,000, the ALS
throughput benchmark's data): gathers only, gathers and ``ssyrk``, and the whole solve
(``spotrf`` + ``spotrs`` too). The differences are each phase's seconds. The copy drops the bias
handling, which costs nothing next to these phases.
"""

import argparse
import time

import numba
import numpy as np
from numba import njit, prange
from scipy import sparse
from threadpoolctl import threadpool_limits

from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.rows import LAPACK

GATHER, GRAM, SOLVE = 0, 1, 2


@njit(parallel=True)
def phases(indptr, indices, targets, Y, X, reg, upto, ssyrk, spotrf, spotrs):
    n_rows, k = X.shape
    uplo, trans = np.array([85], np.int8), np.array([78], np.int8)
    kk, one = np.array([k], np.int32), np.array([1], np.int32)
    alpha, beta = np.array([1.0], np.float32), np.array([0.0], np.float32)
    n_chunks = min(n_rows, 1024)
    for c in prange(n_chunks):
        lo, hi = c * n_rows // n_chunks, (c + 1) * n_rows // n_chunks
        longest = 0
        for u in range(lo, hi):
            longest = max(longest, indptr[u + 1] - indptr[u])
        Yj = np.empty(max(longest, 1) * k, np.float32)
        b, A = np.empty(k, np.float32), np.zeros((k, k), np.float32)
        nn, info = np.zeros(1, np.int32), np.zeros(1, np.int32)
        for u in range(lo, hi):
            start, end = indptr[u], indptr[u + 1]
            n = end - start
            if n == 0:
                continue
            b[:] = 0.0
            for j in range(n):
                y = Y[indices[start + j]]
                t = targets[start + j]
                for f in range(k):
                    Yj[j * k + f] = y[f]
                    b[f] += t * y[f]
            if upto >= GRAM:
                nn[0] = n
                ssyrk(
                    uplo.ctypes,
                    trans.ctypes,
                    kk.ctypes,
                    nn.ctypes,
                    alpha.ctypes,
                    Yj.ctypes,
                    kk.ctypes,
                    beta.ctypes,
                    A.ctypes,
                    kk.ctypes,
                )
            for f in range(k):
                A[f, f] += reg * n
            if upto >= SOLVE:
                spotrf(uplo.ctypes, kk.ctypes, A.ctypes, kk.ctypes, info.ctypes)
                spotrs(uplo.ctypes, kk.ctypes, one.ctypes, A.ctypes, kk.ctypes, b.ctypes, kk.ctypes, info.ctypes)
            for f in range(k):
                X[u, f] = b[f]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=128, help="latent factors (the systems are k + 1 wide)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    width = args.k + 1
    r, _ = generate(n_users=70_000, n_items=10_000, n_ratings=10_000_000, user_sigma=0.0, item_sigma=0.0, seed=0)
    by_user = sparse.csr_matrix((r.values, (r.users, r.items)), shape=(70_000, 10_000))
    rng = np.random.default_rng(0)
    X = rng.normal(0, 0.1, (70_000, width)).astype(np.float32)
    Y = rng.normal(0, 0.1, (10_000, width)).astype(np.float32)
    with threadpool_limits(1):  # BLAS inside the parallel rows, as solve_rows runs it
        for side, m, rows, other in (("users", by_user, X, Y), ("items", by_user.T.tocsr(), Y, X)):
            m.sort_indices()
            csr = (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data)
            seconds = []
            for upto in (GATHER, GRAM, SOLVE):
                phases(*csr, other, rows, np.float32(0.1), upto, *LAPACK)  # compile, warm the caches
                start = time.perf_counter()
                phases(*csr, other, rows, np.float32(0.1), upto, *LAPACK)
                seconds.append(time.perf_counter() - start)
            print(
                f"{side} (k={args.k}, {args.threads} threads): gathers {seconds[0]:.2f} s, ssyrk "
                f"{seconds[1] - seconds[0]:.2f} s, spotrf + spotrs {seconds[2] - seconds[1]:.2f} s"
            )


if __name__ == "__main__":
    main()
