"""numba kernels of per-rating SGD for biased MF (the update rule of ``sgd.py``'s reference).

Flat loops over uint32/float32 arrays. ``epoch_blocks`` runs one epoch under the stratified
schedule of DSGD (Gemulla et al., KDD 2011): the rating matrix is cut into ``G x G`` blocks;
stratum ``s`` is the ``G`` blocks ``(a, (a + s) mod G)``, which share no user and no item, so
they run in parallel with no locks and no races, and the result does not depend on the thread
count. Inside a block the ratings are stored sorted by user, then item (LIBMF's cache-friendly
order: a user's row stays in L1 across that user's ratings, the block's item rows in L2).

The kernels index with unsigned integers (the rating arrays are ``uint32``, positions ``uint64``):
numba then emits no negative-index wraparound, and all scalar arithmetic stays in float32
(``error_model="numpy"``: no division check, the accumulators start at 1). The two passes over
the rows are emitted as explicit 8-wide vector code (``_simd``). From k = 64 on, the item row of
the rating two ahead is prefetched: past L1 the row's lines would otherwise arrive one rating at a
time (about 7% faster at k = 128); below that the prefetch costs more than it hides.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._prefetch import prefetch_row
from ._simd import dot3, update2

__all__ = ["epoch_blocks", "gather_rows", "sgd_step", "sort_by_block", "sort_within_blocks"]

#: the smallest k at which the kernel prefetches the item row of the rating two ahead
PREFETCH_MIN_K = 64


@njit(cache=True, fastmath=True, inline="always", error_model="numpy")
def sgd_step(u, i, r, P, Q, bu, bi, Gp, Gq, Gbu, Gbi, mu, lr, reg, reg_bias, biased, adaptive, rk):
    """One rating's update; returns its squared error before the update (``rk`` is ``1 / k``).

    With ``adaptive`` the step of a row is ``lr / sqrt(G)`` with ``G`` its accumulated mean
    squared gradient *before* this rating (LIBMF's order). The squared gradient norms come from
    three dot products taken in the first pass, since for ``g_p = e q + reg p``::

        |g_p|^2 = e^2 |q|^2 + 2 e reg (p . q) + reg^2 |p|^2

    so the update pass is the same as plain SGD's (this halves the adaptive kernel's time).
    """
    pu = P[u]
    qi = Q[i]
    k = pu.shape[0]
    dot, pp, qq = dot3(pu, qi, k)
    pred = dot
    if biased:
        pred += mu + bu[u] + bi[i]
    e = pred - r
    if biased:  # the bias steps first: they need only e, and the user's next rating waits on b_u
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
    step_p = lr
    step_q = lr
    if adaptive:
        step_p = lr / np.sqrt(Gp[u])
        step_q = lr / np.sqrt(Gq[i])
        cross = np.float32(2.0) * e * reg * dot
        Gp[u] += (e * e * qq + cross + reg * reg * pp) * rk
        Gq[i] += (e * e * pp + cross + reg * reg * qq) * rk
    update2(pu, qi, k, -step_p * reg, -step_p * e, -step_q * reg, -step_q * e)
    return e * e


@njit(cache=True, fastmath=True, parallel=True, error_model="numpy")
def epoch_blocks(users, items, values, block_ptr, n_blocks, strata, P, Q, bu, bi, Gp, Gq, Gbu, Gbi,
                 mu, lr, reg, reg_bias, biased, adaptive):
    """One epoch over the strata in the given order; returns the sum of squared errors seen.
    ``users`` and ``items`` are ``uint32``."""
    sse = np.zeros(n_blocks, np.float64)
    rk = np.float32(1.0) / np.float32(P.shape[1])
    ahead = P.shape[1] >= PREFETCH_MIN_K
    for s in strata:
        for a in prange(n_blocks):
            blk = a * n_blocks + (a + s) % n_blocks
            lo = np.uint64(block_ptr[blk])
            hi = np.uint64(block_ptr[blk + 1])
            acc = 0.0
            if ahead:  # two copies of the loop: a test inside it costs more than the prefetch saves at small k
                for j in range(lo, hi):
                    prefetch_row(Q, np.uint64(items[min(j + np.uint64(2), hi - np.uint64(1))]))
                    acc += sgd_step(np.uint64(users[j]), np.uint64(items[j]), values[j], P, Q, bu, bi, Gp, Gq, Gbu,
                                    Gbi, mu, lr, reg, reg_bias, biased, adaptive, rk)
            else:
                for j in range(lo, hi):
                    acc += sgd_step(np.uint64(users[j]), np.uint64(items[j]), values[j], P, Q, bu, bi, Gp, Gq, Gbu,
                                    Gbi, mu, lr, reg, reg_bias, biased, adaptive, rk)
            sse[a] += acc
    return sse.sum()


@njit(cache=True, parallel=True)
def gather_rows(src, index, out):
    """``out[r] = src[index[r]]`` for every row, rows in parallel (``np.take`` on one thread)."""
    for r in prange(index.shape[0]):
        out[r] = src[index[r]]


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
