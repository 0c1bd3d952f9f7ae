"""numba kernels of per-rating SGD for biased MF (the update rule of ``sgd.py``'s reference).

Flat loops over int32/float32 arrays. ``epoch_blocks`` runs one epoch under the stratified
schedule of DSGD (Gemulla et al., KDD 2011): the rating matrix is cut into ``G x G`` blocks;
stratum ``s`` is the ``G`` blocks ``(a, (a + s) mod G)``, which share no user and no item, so
they run in parallel with no locks and no races, and the result does not depend on the thread
count. Inside a block the ratings are stored sorted by user, then item (LIBMF's cache-friendly
order: a user's row stays in L1 across that user's ratings, the block's item rows in L2).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["epoch_blocks", "sgd_step"]


@njit(cache=True, fastmath=True, inline="always")
def sgd_step(u, i, r, P, Q, bu, bi, Gp, Gq, Gbu, Gbi, mu, lr, reg, reg_bias, biased, adaptive):
    """One rating's update; returns its squared error before the update.

    With ``adaptive`` the step of a row is ``lr / sqrt(G)`` with ``G`` its accumulated mean
    squared gradient *before* this rating (LIBMF's order), so one pass over ``k`` does both the
    update and the accumulation.
    """
    pu = P[u]
    qi = Q[i]
    k = pu.shape[0]
    dot = np.float32(0.0)
    for f in range(k):
        dot += pu[f] * qi[f]
    pred = dot
    if biased:
        pred += mu + bu[u] + bi[i]
    e = pred - r
    step_p = lr
    step_q = lr
    if adaptive:
        step_p = lr / np.sqrt(Gp[u])
        step_q = lr / np.sqrt(Gq[i])
    gp2 = np.float32(0.0)
    gq2 = np.float32(0.0)
    for f in range(k):
        pf = pu[f]
        qf = qi[f]
        gp = e * qf + reg * pf
        gq = e * pf + reg * qf
        gp2 += gp * gp
        gq2 += gq * gq
        pu[f] = pf - step_p * gp
        qi[f] = qf - step_q * gq
    if adaptive:
        Gp[u] += gp2 / k
        Gq[i] += gq2 / k
    if biased:
        gbu = e + reg_bias * bu[u]
        gbi = e + reg_bias * bi[i]
        if adaptive:
            bu[u] -= lr / np.sqrt(Gbu[u]) * gbu
            bi[i] -= lr / np.sqrt(Gbi[i]) * gbi
            Gbu[u] += gbu * gbu
            Gbi[i] += gbi * gbi
        else:
            bu[u] -= lr * gbu
            bi[i] -= lr * gbi
    return e * e


@njit(cache=True, fastmath=True, parallel=True)
def epoch_blocks(users, items, values, block_ptr, n_blocks, strata, P, Q, bu, bi, Gp, Gq, Gbu, Gbi,
                 mu, lr, reg, reg_bias, biased, adaptive):
    """One epoch over the strata in the given order; returns the sum of squared errors seen."""
    sse = np.zeros(n_blocks, np.float64)
    for s in strata:
        for a in prange(n_blocks):
            blk = a * n_blocks + (a + s) % n_blocks
            acc = 0.0
            for j in range(block_ptr[blk], block_ptr[blk + 1]):
                acc += sgd_step(users[j], items[j], values[j], P, Q, bu, bi, Gp, Gq, Gbu, Gbi,
                                mu, lr, reg, reg_bias, biased, adaptive)
            sse[a] += acc
    return sse.sum()
