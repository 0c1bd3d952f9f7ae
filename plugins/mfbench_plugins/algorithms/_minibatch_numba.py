"""numba kernel of the mini-batch optimizers (``minibatch.py``'s update rule, fused).

One call runs one epoch over a shuffled order. For each batch it adds every rating's gradient
(taken at the batch's starting parameters, as the array code does) into per-row accumulators,
keeping a list of the rows the batch touched, then steps each touched row once with the
optimizer and clears its accumulator: no ``unique``, no scatter matrices, no temporaries.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["minibatch_epoch", "MOMENTUM", "ADAM", "ADAMAX"]

MOMENTUM, ADAM, ADAMAX = 0, 1, 2


@njit(cache=True, inline="always")
def _step(kind, w, m, v, g, lr, b1, b2, eps, c1, c2):
    """One optimizer step of one weight; returns ``(w, m, v)``. ``c1 = 1 - b1^t``, ``c2 = 1 - b2^t``."""
    if kind == MOMENTUM:
        m = b1 * m + g
        return w - lr * m, m, v
    m = b1 * m + (1 - b1) * g
    if kind == ADAM:
        v = b2 * v + (1 - b2) * g * g
        return w - lr * (m / c1) / (np.sqrt(v / c2) + eps), m, v
    v = max(b2 * v, abs(g))
    return w - lr / c1 * m / (v + eps), m, v


@njit(cache=True, inline="always")
def _step_rows(kind, rows, n_rows, W, M, V, G, b, mb, vb, gb, mark, biased, scale, lr, b1, b2, eps, c1, c2):
    """Step the ``n_rows`` touched rows of one side (factors ``W`` and bias ``b``) and clear their
    accumulators and marks."""
    for a in range(n_rows):
        r = rows[a]
        for f in range(W.shape[1]):
            W[r, f], M[r, f], V[r, f] = _step(kind, W[r, f], M[r, f], V[r, f], G[r, f] * scale, lr, b1, b2, eps, c1, c2)
            G[r, f] = 0
        if biased:
            b[r], mb[r], vb[r] = _step(kind, b[r], mb[r], vb[r], gb[r] * scale, lr, b1, b2, eps, c1, c2)
            gb[r] = 0
        mark[r] = 0


@njit(cache=True)
def minibatch_epoch(kind, perm, users, items, values, P, Q, bu, bi, mu, reg, reg_bias, biased, batch, lr, b1, b2,
                    eps, t, mP, vP, mQ, vQ, mbu, vbu, mbi, vbi, gP, gQ, gbu, gbi, mark_u, mark_i, rows_u, rows_i):
    """One epoch; returns ``(sum of squared errors, step count)``. ``gP`` .. ``gbi`` and the
    marks must be zero on entry and are zero on return."""
    n = len(perm)
    k = P.shape[1]
    sse = 0.0
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        nu = 0
        ni = 0
        for j in range(start, stop):
            x = perm[j]
            u = users[x]
            i = items[x]
            pred = mu + bu[u] + bi[i]
            for f in range(k):
                pred += P[u, f] * Q[i, f]
            e = np.float32(pred - values[x])
            sse += e * e
            for f in range(k):
                gP[u, f] += e * Q[i, f] + reg * P[u, f]
                gQ[i, f] += e * P[u, f] + reg * Q[i, f]
            if biased:
                gbu[u] += e + reg_bias * bu[u]
                gbi[i] += e + reg_bias * bi[i]
            if mark_u[u] == 0:
                mark_u[u] = 1
                rows_u[nu] = u
                nu += 1
            if mark_i[i] == 0:
                mark_i[i] = 1
                rows_i[ni] = i
                ni += 1
        t += 1
        scale = np.float32(1.0 / (stop - start))
        c1 = 1.0 - b1 ** t
        c2 = 1.0 - b2 ** t
        _step_rows(kind, rows_u, nu, P, mP, vP, gP, bu, mbu, vbu, gbu, mark_u, biased, scale, lr, b1, b2, eps, c1, c2)
        _step_rows(kind, rows_i, ni, Q, mQ, vQ, gQ, bi, mbi, vbi, gbi, mark_i, biased, scale, lr, b1, b2, eps, c1, c2)
    return sse, t
