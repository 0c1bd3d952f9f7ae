"""numba kernels of SVD++: one epoch of SGD over ratings grouped by user, and the users' rows.

``epoch`` is ``svdpp.python_epoch`` compiled: the same updates in the same order, in float32.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["epoch", "user_rows"]


@njit(cache=True, fastmath=True)
def epoch(indptr, items, values, user_order, P, Q, Y, bu, bi, mu, lr, reg, reg_bias, reg_y):
    """One pass over the users in ``user_order``; returns the sum of squared errors (float64)."""
    k = P.shape[1]
    imp = np.empty(k, np.float32)
    gy = np.empty(k, np.float32)
    z = np.empty(k, np.float32)
    one = np.float32(1.0)
    sse = 0.0
    for u in user_order:
        start, end = indptr[u], indptr[u + 1]
        n = end - start
        if n == 0:
            continue
        norm = one / np.sqrt(np.float32(n))
        imp[:] = 0.0
        for j in range(start, end):
            y = Y[items[j]]
            for f in range(k):
                imp[f] += y[f]
        for f in range(k):
            imp[f] *= norm
            gy[f] = 0.0
        p = P[u]
        for j in range(start, end):
            i = items[j]
            q = Q[i]
            s = np.float32(0.0)
            for f in range(k):
                z[f] = p[f] + imp[f]
                s += q[f] * z[f]
            e = values[j] - (mu + bu[u] + bi[i] + s)
            sse += e * e
            bu[u] += lr * (e - reg_bias * bu[u])
            bi[i] += lr * (e - reg_bias * bi[i])
            for f in range(k):
                qf = q[f]
                q[f] = qf + lr * (e * z[f] - reg * qf)
                p[f] += lr * (e * qf - reg * p[f])
                gy[f] += e * qf
        # the user's n steps on each y_j at once: n decays of (1 - lr reg_y), and the summed gradient
        decay = (one - lr * reg_y) ** np.float32(n)
        step = lr * norm
        for j in range(start, end):
            y = Y[items[j]]
            for f in range(k):
                y[f] = decay * y[f] + step * gy[f]
    return sse


@njit(cache=True, parallel=True)
def user_rows(indptr, items, P, Y, Z):
    """``Z[u] = p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j``: the user's row in every prediction."""
    k = P.shape[1]
    for u in prange(P.shape[0]):
        start, end = indptr[u], indptr[u + 1]
        for f in range(k):
            Z[u, f] = 0.0
        for j in range(start, end):
            for f in range(k):
                Z[u, f] += Y[items[j], f]
        norm = np.float32(1.0) / np.sqrt(np.float32(max(end - start, 1)))
        for f in range(k):
            Z[u, f] = P[u, f] + norm * Z[u, f]
