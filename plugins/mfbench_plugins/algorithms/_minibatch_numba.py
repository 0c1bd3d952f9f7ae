"""numba kernel of the mini-batch optimizers (``minibatch.py``'s update rule, fused and threaded).

The gradients of a batch are taken at the batch's starting parameters, so its ratings may be
visited in any order. Each epoch first gathers its ratings' users, items and values into
contiguous arrays in the shuffle's order (``batch_layout``, in parallel), so the epoch reads
ratings in order and pays a random access only for factor rows. Then, batch by batch:

0. slots: each distinct user (and item) of the batch gets a slot, numbered in order of first
   appearance, from a table over all users (``-1`` outside a batch, reset after it), and a
   count of its ratings. No sort.
1. errors: thread ``w`` of ``T`` takes the ratings whose user slot is ``w`` modulo ``T``: their
   errors at the batch's starting parameters, the sum of their ``e q_i`` in their user's slot,
   and each rating's item term ``e p_u`` (kept per rating, so the item side never reads ``P``);
2. steps: thread ``w`` sums the item terms of its item slots (``w`` modulo ``T``), then steps
   its item rows and its user rows once each, and frees their slots. The regularization,
   ``reg`` times the row once per rating, is added as a row is stepped (``count * reg * row``):
   the row is in hand then, and the passes above need not read it again.

Two parallel regions a batch, no locks: no two threads write one row or one slot. Each row's
gradient is summed over its ratings in shuffle order whatever the thread count, so results do
not depend on it.

Arithmetic stays in float32 (the optimizer's constants are rounded to float32 once, as numpy
rounds a Python float that meets a float32 array), and the kernels compile with a subset of
fast-math (``FAST``: reassociation, contraction, reciprocals, no signed zeros; NaN and infinity
keep their meaning, so a diverging run is still seen), so that the row loops vectorize. They
also compile with ``error_model="numpy"``: a float division does not first test its divisor for
zero (none can be zero: ``1 - b1^t``, and ``eps`` added to a root or a maximum).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._prefetch import prefetch, prefetch_row

__all__ = ["minibatch_epoch", "batch_layout", "MOMENTUM", "ADAM", "ADAMAX"]

MOMENTUM, ADAM, ADAMAX = 0, 1, 2
#: how many rows (or ratings) ahead the kernels prefetch
AHEAD = 4
#: fast-math flags that let reductions and row loops vectorize without assuming away NaN or inf
FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, inline="always", error_model="numpy", fastmath=FAST)
def _step(kind, w, m, v, g, lr, b1, nb1, b2, nb2, eps, c1, c2):
    """One optimizer step of one weight; returns ``(w, m, v)``. Every argument is float32, so
    the row loops stay in float32 and vectorize: ``nb1 = 1 - b1``, ``nb2 = 1 - b2``,
    ``c1 = 1 - b1^t``, ``c2 = 1 - b2^t`` (each rounded once from float64, as numpy rounds a
    Python float that meets a float32 array)."""
    if kind == MOMENTUM:
        m = b1 * m + g
        return w - lr * m, m, v
    m = b1 * m + nb1 * g
    if kind == ADAM:
        v = b2 * v + nb2 * g * g
        return w - lr * (m / c1) / (np.sqrt(v / c2) + eps), m, v
    v = max(b2 * v, abs(g))
    return w - lr / c1 * m / (v + eps), m, v


@njit(cache=True, parallel=True)
def batch_layout(perm, users, items, values, U, I, R):
    """The epoch's ratings in the shuffle's order: ``U[j], I[j], R[j]`` of rating ``perm[j]``."""
    n = len(perm)
    for j in prange(n):
        if j + 16 < n:
            y = perm[j + 16]
            prefetch(users, y)
            prefetch(items, y)
            prefetch(values, y)
        x = perm[j]
        U[j], I[j], R[j] = users[x], items[x], values[x]


@njit(cache=True)
def _slots(keys, start, stop, slot, rows, of, counts):
    """Number the distinct ``keys[start:stop]`` in order of first appearance: ``slot[key]`` (``-1``
    before), ``rows[s]`` the key of slot ``s``, ``counts[s]`` its ratings in the batch,
    ``of[j - start]`` the slot of rating ``j``; returns the number of slots."""
    count = 0
    for j in range(start, stop):
        key = keys[j]
        s = slot[key]
        if s < 0:
            s = count
            slot[key] = s
            rows[s] = key
            counts[s] = 0
            count += 1
        counts[s] += 1
        of[j - start] = s
    return count


@njit(cache=True, inline="always", error_model="numpy", fastmath=FAST)
def _step_row(kind, W, M, V, b, mb, vb, r, G, gb, g, biased, n, reg, reg_bias, scale, lr, b1, nb1, b2, nb2, eps,
              c1, c2):
    """Step row ``r`` of ``W`` (and bias ``b[r]``) along the mean gradient of its ``n`` ratings
    in the batch: ``G[g]`` holds their error terms; each rating adds ``reg`` times the row."""
    rw, rb = n * reg, n * reg_bias
    if kind == MOMENTUM:  # no second moment: its rows are neither read nor written (a third of the traffic)
        for f in range(W.shape[1]):
            m = b1 * M[r, f] + (G[g, f] + rw * W[r, f]) * scale
            M[r, f] = m
            W[r, f] -= lr * m
        if biased:
            m = b1 * mb[r] + (gb[g] + rb * b[r]) * scale
            mb[r] = m
            b[r] -= lr * m
        return
    for f in range(W.shape[1]):
        W[r, f], M[r, f], V[r, f] = _step(kind, W[r, f], M[r, f], V[r, f], (G[g, f] + rw * W[r, f]) * scale, lr, b1,
                                          nb1, b2, nb2, eps, c1, c2)
    if biased:
        b[r], mb[r], vb[r] = _step(kind, b[r], mb[r], vb[r], (gb[g] + rb * b[r]) * scale, lr, b1, nb1, b2, nb2, eps,
                                   c1, c2)


@njit(cache=True, inline="always")
def _prefetch_step(kind, W, M, V, r):
    prefetch_row(W, r)
    prefetch_row(M, r)
    if kind != MOMENTUM:
        prefetch_row(V, r)


@njit(cache=True, inline="always")
def _zero_slots(G, gb, w, T, count):
    """Zero the gradient rows of slots ``w, w + T, ...`` below ``count``."""
    for g in range(w, count, T):
        for f in range(G.shape[1]):
            G[g, f] = 0.0
        gb[g] = 0.0


@njit(cache=True, inline="always", error_model="numpy", fastmath=FAST)
def _step_slots(kind, W, M, V, b, mb, vb, rows, counts, slot, G, gb, w, T, count, biased, reg, reg_bias, scale, lr,
                b1, nb1, b2, nb2, eps, c1, c2):
    """Step the rows of slots ``w, w + T, ...`` below ``count`` (thread ``w``'s) and free their slots."""
    for g in range(w, count, T):
        if g + AHEAD * T < count:
            _prefetch_step(kind, W, M, V, rows[g + AHEAD * T])
        r = rows[g]
        _step_row(kind, W, M, V, b, mb, vb, r, G, gb, g, biased, counts[g], reg, reg_bias, scale, lr, b1, nb1, b2,
                  nb2, eps, c1, c2)
        slot[r] = -1


@njit(cache=True, parallel=True, error_model="numpy", fastmath=FAST)
def minibatch_epoch(kind, U, I, R, P, Q, bu, bi, mu, reg, reg_bias, biased, batch, lr, b1, b2, eps, t,
                    mP, vP, mQ, vQ, mbu, vbu, mbi, vbi, slot_u, slot_i, rows_u, rows_i, su, si, n_u, n_i, err, C, gP,
                    gQ, gbu, gbi, T):
    """One epoch over the ratings gathered by ``batch_layout``; returns ``(sum of squared errors,
    step count)``. ``slot_u``, ``slot_i``: ``-1`` over all users and items (left so); ``rows_*``,
    ``su``, ``si``: ``batch`` ints; ``n_u``, ``n_i``, ``err``, ``gbu``, ``gbi``: ``batch``
    float32; ``C``, ``gP``, ``gQ``: ``(batch, k)`` float32 scratch. ``T``: the threads
    (``numba.get_num_threads()``)."""
    n = len(U)
    k = P.shape[1]
    lr32, b1_32, b2_32, eps32 = np.float32(lr), np.float32(b1), np.float32(b2), np.float32(eps)
    nb1, nb2 = np.float32(1.0 - b1), np.float32(1.0 - b2)
    sse = 0.0
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        m = stop - start
        nu = _slots(U, start, stop, slot_u, rows_u, su, n_u)
        ni = _slots(I, start, stop, slot_i, rows_i, si, n_i)
        # 1. errors at the batch's starting parameters, their user terms summed per user slot,
        #    their item terms kept per rating
        for w in prange(T):
            _zero_slots(gP, gbu, w, T, nu)
            for j in range(m):
                if j + AHEAD < m and su[j + AHEAD] % T == w:
                    prefetch_row(P, U[start + j + AHEAD])
                    prefetch_row(Q, I[start + j + AHEAD])
                g = su[j]
                if g % T != w:
                    continue
                u, i = U[start + j], I[start + j]
                pred = mu + bu[u] + bi[i]
                for f in range(k):
                    pred += P[u, f] * Q[i, f]
                e = np.float32(pred - R[start + j])
                err[j] = e
                for f in range(k):
                    gP[g, f] += e * Q[i, f]
                    C[j, f] = e * P[u, f]
                gbu[g] += e
        for j in range(m):  # in order: the same sum whatever the thread count
            sse += err[j] * err[j]
        # 2. item terms summed per item slot, then one optimizer step of every touched row (the
        #    regularization, a row's own multiple, added as it is stepped)
        t += 1
        scale = np.float32(1.0 / m)
        c1 = np.float32(1.0 - b1 ** t)
        c2 = np.float32(1.0 - b2 ** t)
        for w in prange(T):
            _zero_slots(gQ, gbi, w, T, ni)
            for j in range(m):
                h = si[j]
                if h % T != w:
                    continue
                for f in range(k):
                    gQ[h, f] += C[j, f]
                gbi[h] += err[j]
            _step_slots(kind, Q, mQ, vQ, bi, mbi, vbi, rows_i, n_i, slot_i, gQ, gbi, w, T, ni, biased, reg, reg_bias,
                        scale, lr32, b1_32, nb1, b2_32, nb2, eps32, c1, c2)
            _step_slots(kind, P, mP, vP, bu, mbu, vbu, rows_u, n_u, slot_u, gP, gbu, w, T, nu, biased, reg, reg_bias,
                        scale, lr32, b1_32, nb1, b2_32, nb2, eps32, c1, c2)
    return sse, t
