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
the rows are emitted as explicit 8-wide vector code (``kernels.simd``), compiled for each ``k`` and each
pair of the ``biased`` / ``adaptive`` flags: the passes unroll, and up to k = 64 the update pass
reuses the chunks the dot pass loaded, since every scalar store of a step comes after it. From
k = 64 on, the item row of the rating two ahead is prefetched: past L1 the row's lines would
otherwise arrive one rating at a time (about 7% faster at k = 128); below that the prefetch costs
more than it hides.
"""

from __future__ import annotations

import numpy as np
from numba import literally, njit, prange

from mfbench_plugins.algorithms.kernels.compiling import Specialized, on_threads
from mfbench_plugins.algorithms.kernels.prefetch import prefetch_row
from mfbench_plugins.algorithms.kernels.simd import dot3, update2

__all__ = ["epoch_blocks", "gather_rows", "sgd_step", "sort_by_block", "sort_within_blocks"]

#: the smallest k at which the kernel prefetches the item row of the rating two ahead
PREFETCH_MIN_K = 64


@njit(cache=True, fastmath=True, inline="always", error_model="numpy")
def sgd_step(u, i, r, P, Q, bu, bi, Gp, Gq, Gbu, Gbi, mu, lr, reg, reg_bias, biased, adaptive, k):
    """One rating's update; returns its squared error before the update (``k`` the row length).

    With ``adaptive`` the step of a row is ``lr / sqrt(G)`` with ``G`` its accumulated mean
    squared gradient *before* this rating (LIBMF's order). The squared gradient norms come from
    three dot products taken in the first pass, since for ``g_p = e q + reg p``::

        |g_p|^2 = e^2 |q|^2 + 2 e reg (p . q) + reg^2 |p|^2

    so the update pass is the same as plain SGD's (this halves the adaptive kernel's time).
    """
    pu = P[u]
    qi = Q[i]
    dot, pp, qq = dot3(pu, qi, k)
    # every store after the update pass: with no store between the passes, the rows' chunks
    # loaded by the first pass are reused by the second, not loaded again
    pred = dot
    # defined on every path: parfor would otherwise take them for values carried between ratings
    bias_user = bias_item = acc_user = acc_item = np.float32(0.0)
    if biased:
        bias_user = bu[u]
        bias_item = bi[i]
        pred += mu + bias_user + bias_item
    e = pred - r
    step_p = lr
    step_q = lr
    if adaptive:
        acc_user = Gp[u]
        acc_item = Gq[i]
        step_p = lr / np.sqrt(acc_user)
        step_q = lr / np.sqrt(acc_item)
    update2(pu, qi, k, -step_p * reg, -step_p * e, -step_q * reg, -step_q * e)
    if biased:
        gbu = e + reg_bias * bias_user
        gbi = e + reg_bias * bias_item
        if adaptive:
            acc_bias_user = Gbu[u]
            acc_bias_item = Gbi[i]
            bu[u] = bias_user - lr / np.sqrt(acc_bias_user) * gbu
            bi[i] = bias_item - lr / np.sqrt(acc_bias_item) * gbi
            Gbu[u] = acc_bias_user + gbu * gbu
            Gbi[i] = acc_bias_item + gbi * gbi
        else:
            bu[u] = bias_user - lr * gbu
            bi[i] = bias_item - lr * gbi
    if adaptive:
        rk = np.float32(1.0) / np.float32(k)
        cross = np.float32(2.0) * e * reg * dot
        Gp[u] = acc_user + (e * e * qq + cross + reg * reg * pp) * rk
        Gq[i] = acc_item + (e * e * pp + cross + reg * reg * qq) * rk
    return e * e


def epoch_blocks(users, items, values, block_ptr, n_blocks, strata, P, Q, bu, bi, Gp, Gq, Gbu, Gbi,
                 mu, lr, reg, reg_bias, biased, adaptive):
    """One epoch over the strata in the given order; returns the sum of squared errors seen.
    ``users`` and ``items`` are ``uint32``.

    Runs ``_epoch_blocks`` compiled for this ``k`` and these two flags (``kernels.compiling``): with the
    row length a constant the passes over the rows unroll with no loop control and no tail test,
    and the branches of the flags not taken are gone (about 6% faster at k = 32).
    """
    args = (users, items, values, block_ptr, n_blocks, strata, P, Q, bu, bi, Gp, Gq, Gbu, Gbi, mu, lr, reg, reg_bias)
    return _EPOCH(args, (bool(biased), bool(adaptive), int(P.shape[1])))


@njit(cache=True, fastmath=True, error_model="numpy")
def _block(users, items, values, lo, hi, P, Q, bu, bi, Gp, Gq, Gbu, Gbi, mu, lr, reg, reg_bias, biased, adaptive, k):
    """The ratings ``lo`` to ``hi`` of one block, in order; returns their sum of squared errors.
    A function of its own, not inlined into the parallel loop: numba compiles a parallel loop's
    body twice over, and this one holds the whole step."""
    acc = 0.0
    for j in range(lo, hi):
        if k >= PREFETCH_MIN_K:  # k is a literal: decided when compiling, no test in the loop
            prefetch_row(Q, np.uint64(items[min(j + np.uint64(2), hi - np.uint64(1))]))
        acc += sgd_step(np.uint64(users[j]), np.uint64(items[j]), values[j], P, Q, bu, bi, Gp, Gq, Gbu, Gbi, mu, lr,
                        reg, reg_bias, biased, adaptive, k)
    return acc


@njit(cache=True, parallel=True)
def _epoch_blocks(users, items, values, block_ptr, n_blocks, strata, P, Q, bu, bi, Gp, Gq, Gbu, Gbi,
                  mu, lr, reg, reg_bias, biased, adaptive, k):
    """``epoch_blocks`` for rows of length ``k``, compiled for each ``(biased, adaptive, k)``."""
    literally(k)
    literally(biased)
    literally(adaptive)
    sse = np.zeros(n_blocks, np.float64)
    for s in strata:
        for a in prange(n_blocks):
            blk = a * n_blocks + (a + s) % n_blocks
            sse[a] += _block(users, items, values, np.uint64(block_ptr[blk]), np.uint64(block_ptr[blk + 1]), P, Q, bu,
                             bi, Gp, Gq, Gbu, Gbi, mu, lr, reg, reg_bias, biased, adaptive, k)
    total = 0.0
    for a in range(n_blocks):  # a loop: sse.sum() compiles numpy's reduction (0.15 s)
        total += sse[a]
    return total


_EPOCH = Specialized(_epoch_blocks)


@njit(cache=True, parallel=True)
def gather_rows(src, index, out):
    """``out[r] = src[index[r]]`` for every row, rows in parallel (``np.take`` on one thread)."""
    for r in prange(index.shape[0]):
        row = index[r]
        for f in range(src.shape[1]):  # element by element: a row assignment compiles a shape check and its message
            out[r, f] = src[row, f]


def sort_by_block(block, n_blocks2, order):
    """Stable sort of the ratings by block; fills ``order``, returns the block offsets. numpy's
    stable sort of 16-bit keys is a radix sort (one pass, no compilation)."""
    keys = block.astype(np.uint16) if n_blocks2 <= 1 << 16 else block
    order[:] = np.argsort(keys, kind="stable")
    ptr = np.zeros(n_blocks2 + 1, np.int64)
    np.cumsum(np.bincount(block, minlength=n_blocks2), out=ptr[1:])
    return ptr


def sort_within_blocks(order, ptr, users, items, n_items):
    """Sort each block's part of ``order`` by user, then item; the blocks shared among numba's
    threads (``on_threads``: numpy's sort lets go of the GIL; in numba it would compile a
    quicksort, about 2 s)."""
    keys = users[order].astype(np.int64) * n_items + items[order]

    def sort_blocks(w, T):
        for b in range(w, len(ptr) - 1, T):
            lo, hi = ptr[b], ptr[b + 1]
            order[lo:hi] = order[lo:hi][np.argsort(keys[lo:hi])]

    on_threads(sort_blocks, ())
