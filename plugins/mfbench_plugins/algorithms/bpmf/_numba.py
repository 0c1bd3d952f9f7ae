"""numba kernels of Bayesian MF: one Gaussian conditional per row, sampled, rows in parallel.

Row ``u`` with rated design rows ``y_j`` and targets ``t_j`` has the conditional (given the other
side, the noise precision ``alpha`` and the prior ``N(m, Lambda^-1)``)::

    precision  P = Lambda + alpha sum_j y_j y_j^T        mean  x = P^-1 (Lambda m + alpha sum_j t_j y_j)

``sample_rows`` builds ``P`` in float64, factors it ``P = L L^T`` (Cholesky), solves for the mean
and adds ``L^-T z``, whose covariance is ``P^-1``. ``z`` comes from ``normal``: a counter-based
generator of the row's index, the dimension and a key per sweep and side, so that a row's draw
does not depend on which thread takes it, or on the thread count; ``draws`` in ``bpmf.py`` is the
same generator in array code (numpy, cupy).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["sample_rows", "normal", "sample_scores"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE, _TWO = np.uint64(1), np.uint64(2)
_TWO_53 = 1.0 / 9007199254740992.0
#: ratings whose outer products one pass over a row's precision matrix adds (the kernel unrolls 4)
BLOCK = 4


@njit(cache=True, inline="always")
def _mix(x):
    """SplitMix64's output function of ``x + golden`` (Steele et al., OOPSLA 2014)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def normal(key, counter):
    """The standard normal number ``counter`` of stream ``key`` (Box-Muller on two hashes)."""
    c = np.uint64(counter) * _TWO
    h1 = _mix(key + c)
    h2 = _mix(key + c + _ONE)
    u1 = (np.float64(h1 >> _S11) + 1.0) * _TWO_53  # (0, 1]: log is finite
    u2 = np.float64(h2 >> _S11) * _TWO_53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@njit(cache=True, parallel=True)
def sample_rows(indptr, indices, targets, design, X, Lam, Lam_mu, alpha, key, draw):
    """Overwrite ``X[u]`` (``D`` unknowns) with a draw from row ``u``'s conditional (its mean
    when ``draw`` is false), for every row of the CSR ``indptr/indices/targets`` over the rows
    of ``design`` (``(n_other, D)``). Rows without ratings are drawn from the prior."""
    n_rows, D = X.shape
    n_chunks = min(n_rows, 1024)
    # chunk c takes rows c, c + n_chunks, ...: the threads' shares of prange's static split mix
    # popular and rare rows even where ids follow popularity (ml-100k's items do)
    for c in prange(n_chunks):
        P = np.empty((D, D))
        b = np.empty(D)
        Yb = np.empty((BLOCK, D))
        w = np.empty(D)
        for u in range(c, n_rows, n_chunks):
            for f in range(D):
                b[f] = 0.0
                for g in range(f + 1):
                    P[f, g] = 0.0
            # the Gram sum BLOCK ratings at a time: each pass over P's triangle adds BLOCK outer products
            start, end = indptr[u], indptr[u + 1]
            for j0 in range(start, end, BLOCK):
                m = min(BLOCK, end - j0)
                for r in range(BLOCK):
                    if r < m:
                        row = design[indices[j0 + r]]
                        t = np.float64(targets[j0 + r])
                        for f in range(D):
                            Yb[r, f] = row[f]
                            b[f] += t * row[f]
                    else:
                        for f in range(D):
                            Yb[r, f] = 0.0
                for f in range(D):
                    a0, a1, a2, a3 = Yb[0, f], Yb[1, f], Yb[2, f], Yb[3, f]
                    for g in range(f + 1):
                        P[f, g] += a0 * Yb[0, g] + a1 * Yb[1, g] + a2 * Yb[2, g] + a3 * Yb[3, g]
            for f in range(D):
                b[f] = Lam_mu[f] + alpha * b[f]
                for g in range(f + 1):
                    P[f, g] = Lam[f, g] + alpha * P[f, g]
            # P = L L^T, L in the lower triangle of P
            for j in range(D):
                s = P[j, j]
                for m in range(j):
                    s -= P[j, m] * P[j, m]
                d = np.sqrt(s)
                P[j, j] = d
                for i in range(j + 1, D):
                    s = P[i, j]
                    for m in range(j):
                        s -= P[i, m] * P[j, m]
                    P[i, j] = s / d
            # mean: L w = b, then L^T x = w
            for i in range(D):
                s = b[i]
                for m in range(i):
                    s -= P[i, m] * w[m]
                w[i] = s / P[i, i]
            if draw:  # x + L^-T z: solve L^T (x + e) = w + z in one pass
                for i in range(D):
                    w[i] += normal(key, u * D + i)
            for i in range(D - 1, -1, -1):
                s = w[i]
                for m in range(i + 1, D):
                    s -= P[m, i] * b[m]
                b[i] = s / P[i, i]
            for f in range(D):
                X[u, f] = b[f]


@njit(cache=True, parallel=True)
def sample_scores(users, items, A, B, width, out):
    """``out[j] = A[u, :width] . B[i, :width]`` (float32, summed in order) for each pair."""
    for j in prange(len(users)):
        a, bb = A[users[j]], B[items[j]]
        s = np.float32(0.0)
        for f in range(width):
            s += a[f] * bb[f]
        out[j] = s
