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

__all__ = ["epoch_blocks", "sgd_step", "sort_by_block", "sort_within_blocks"]


@njit(cache=True, fastmath=True, inline="always")
def sgd_step(u, i, r, P, Q, bu, bi, Gp, Gq, Gbu, Gbi, mu, lr, reg, reg_bias, biased, adaptive):
    """One rating's update; returns its squared error before the update.

    With ``adaptive`` the step of a row is ``lr / sqrt(G)`` with ``G`` its accumulated mean
    squared gradient *before* this rating (LIBMF's order). The squared gradient norms come from
    three dot products taken in the first pass, since for ``g_p = e q + reg p``::

        |g_p|^2 = e^2 |q|^2 + 2 e reg (p . q) + reg^2 |p|^2

    so the update pass is the same as plain SGD's (this halves the adaptive kernel's time).
    """
    pu = P[u]
    qi = Q[i]
    k = pu.shape[0]
    dot = np.float32(0.0)
    pp = np.float32(0.0)
    qq = np.float32(0.0)
    for f in range(k):
        a = pu[f]
        b = qi[f]
        dot += a * b
        pp += a * a
        qq += b * b
    pred = dot
    if biased:
        pred += mu + bu[u] + bi[i]
    e = pred - r
    step_p = lr
    step_q = lr
    if adaptive:
        step_p = lr / np.sqrt(Gp[u])
        step_q = lr / np.sqrt(Gq[i])
        cross = 2 * e * reg * dot
        Gp[u] += (e * e * qq + cross + reg * reg * pp) / k
        Gq[i] += (e * e * pp + cross + reg * reg * qq) / k
    for f in range(k):
        pf = pu[f]
        qf = qi[f]
        pu[f] = pf - step_p * (e * qf + reg * pf)
        qi[f] = qf - step_q * (e * pf + reg * qf)
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


@njit(cache=True)
def sort_by_block(block, n_blocks2, order):
    """Counting sort of the ratings by block (stable); fills ``order``, returns the block offsets."""
    counts = np.zeros(n_blocks2 + 1, np.int64)
    for j in range(len(block)):
        counts[block[j] + 1] += 1
    for b in range(n_blocks2):
        counts[b + 1] += counts[b]
    ptr = counts.copy()
    for j in range(len(block)):
        b = block[j]
        order[counts[b]] = j
        counts[b] += 1
    return ptr


@njit(cache=True, parallel=True)
def sort_within_blocks(order, ptr, users, items, n_items):
    """Sort each block's part of ``order`` by user, then item; blocks in parallel."""
    for b in prange(len(ptr) - 1):
        seg = order[ptr[b]:ptr[b + 1]]
        keys = np.empty(len(seg), np.int64)
        for j in range(len(seg)):
            keys[j] = np.int64(users[seg[j]]) * n_items + items[seg[j]]
        order[ptr[b]:ptr[b + 1]] = seg[np.argsort(keys)]
