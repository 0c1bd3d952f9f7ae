"""numba kernel of the mini-batch optimizers (``minibatch.py``'s update rule, fused and threaded).

The gradients of a batch are taken at the batch's starting parameters, so its ratings may be
visited in any order. Each epoch first lays its ratings' users, items and values out in the
shuffle's order (``kernels/shuffle.py``, in parallel), so the epoch reads ratings in order and pays a
random access only for rows.

A row is packed (``packed``): a user's (or item's) weights, bias, first and second moments sit
side by side, ``[w (k) | b, mb, vb, pad | m (k) | v (k)]``, each part on its own cache lines and
the row 64-byte aligned, so that a row's step reads and writes one contiguous run of lines
rather than three rows of three tables; the weights and bias, all a rating's prediction reads,
are the row's first lines.

Threads own rows: thread ``w`` of ``T`` owns user (or item) ``x`` when ``owner(x, T) == w``, a
multiplicative hash, so a thread's rows are spread over the table and the batch's work evenly
over threads. Batch by batch:

1. errors: thread ``w`` lists the batch positions of its users' ratings (a branch-free pass:
   a test of ownership per rating would be a mispredicted branch every other rating on two
   threads) and takes them in order. A user gets a slot at its first rating in the batch, the
   next of the thread's own block of slots (``slot[user]``, ``-1`` outside a batch), where its
   gradient and rating count are summed; each rating's item term ``e p_u`` and error go to the
   next row of the thread's own block of ``C`` (``P[j]`` says which), so the item side never
   reads the user rows, and a thread writes only lines it wrote the batch before. Then the
   thread steps its users' rows (no other thread reads them), in the order their slots opened,
   and frees the slots.
2. items: thread ``w`` lists its items' ratings likewise, sums their item terms into slots in
   batch order, then steps those rows and frees their slots. The regularization, ``reg`` times
   the row once per rating, is added as a row is stepped (``count * reg * row``): the row is in
   hand then.

A thread's slots and item terms are its own blocks of scratch and its rows' slot entries share
no cache line with another thread's (ownership goes by groups of 16 rows), so what crosses
between cores in a batch is what must: the item terms of ratings whose user and item have
different owners, and the item rows every thread reads.

Two parallel regions a batch, no locks: no two threads write one row or one slot. While the
packed rows fit twice over in one core's L2 cache (``ONE_THREAD_BYTES``; ml-100k's, 2.2 MB at
k=64, do) the kernel runs on one thread: there rows never wait on memory, and a batch's traffic
between cores costs more than a second core gains. The one-thread kernel is compiled apart,
without numba's parallel machinery, so a cell compiles only the kernel it runs; both call the
same two passes (``_user_pass``, ``_item_pass``), each compiled once and called once a batch. Each row's
gradient is summed over its ratings in shuffle order whatever the thread count, so results do
not depend on it. Rows are prefetched ``AHEAD`` ratings ahead: past the caches, every rating
would otherwise wait on memory for its user's row.

Arithmetic stays in float32 (the optimizer's constants are rounded to float32 once, as numpy
rounds a Python float that meets a float32 array), and the kernels compile with a subset of
fast-math (``FAST``: reassociation, contraction, reciprocals, no signed zeros; NaN and infinity
keep their meaning, so a diverging run is still seen), so that the row loops vectorize. They
also compile with ``error_model="numpy"``: a float division does not first test its divisor for
zero (none can be zero: ``1 - b1^t``, and ``eps`` added to a root or a maximum).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numba import literally, njit, prange

from mfbench_plugins.algorithms.kernels.compiling import Specialized
from mfbench_plugins.algorithms.kernels.prefetch import LINE, prefetch, prefetch_row, prefetch_span

__all__ = ["minibatch_epoch", "packed", "columns", "scratch", "MOMENTUM", "ADAM", "ADAMAX"]

MOMENTUM, ADAM, ADAMAX = 0, 1, 2
#: how many ratings ahead the kernels prefetch rows
AHEAD = 8
#: fast-math flags that let reductions and row loops vectorize without assuming away NaN or inf
FAST = {"reassoc", "contract", "nsz", "arcp"}

_HASH, _LOW, _S32 = np.uint64(2654435761), np.uint64(0xFFFFFFFF), np.uint64(32)


def l2_cache_bytes(default: int = 1 << 20, root: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int:
    """One core's L2 cache in bytes, from Linux's sysfs; ``default`` where it cannot be read."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    try:
        for index in sorted(root.glob("index*")):
            if (index / "level").read_text().strip() == "2" and (index / "type").read_text().strip() != "Instruction":
                size = (index / "size").read_text().strip()
                return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)
    except (OSError, ValueError):
        pass
    return default


#: packed rows up to this size (users' and items' together) train on one thread
ONE_THREAD_BYTES = 2 * l2_cache_bytes()


def _lines(n: int) -> int:
    return -(-n // LINE) * LINE


def columns(kind: int, k: int) -> tuple[int, int, int]:
    """A packed row's layout: ``(om, ov, width)``; the weights at ``[0, k)``, bias and its
    moments at ``k, k + 1, k + 2``, first moments at ``[om, om + k)``, second at ``[ov, ov + k)``
    (none for momentum: ``ov == width``)."""
    om = _lines(k + 3)
    ov = om + _lines(k)
    return om, ov, ov if kind == MOMENTUM else ov + _lines(k)


def aligned(n_rows: int, width: int) -> np.ndarray:
    """Zeroed ``(n_rows, width)`` float32, the first row on a cache-line boundary."""
    buf = np.zeros(n_rows * width + LINE, np.float32)
    skip = (-buf.ctypes.data % (4 * LINE)) // 4
    return buf[skip:skip + n_rows * width].reshape(n_rows, width)


def packed(kind: int, k: int, n_rows: int) -> np.ndarray:
    """Zeroed packed rows (see ``columns``), the table aligned to a cache line."""
    return aligned(n_rows, columns(kind, k)[2])


def scratch(k: int, batch: int, threads: int) -> list[np.ndarray]:
    """A batch's scratch. Per thread ``w``, ``batch`` entries from ``w * batch`` (a thread's
    entries stay in its cache from batch to batch, and it alone writes them), rows each on cache
    lines of their own: ``C[c] = [e p_u (k) | e]``, the item term and error of the thread's
    ``c``-th rating; ``Gu[s]``, ``Gi[s]`` ``= [gradient (k) | bias gradient | ratings]`` of the
    user (item) ``rows_u[s]`` (``rows_i[s]``); ``L``, the batch positions of the thread's ratings.
    Then ``P[j]``, the row of ``C`` that holds rating ``j``'s terms (on one thread, ``j``)."""
    slots = threads * batch
    return [aligned(slots, _lines(k + 1)), aligned(slots, _lines(k + 2)), aligned(slots, _lines(k + 2)),
            np.zeros(slots, np.int32), np.zeros(slots, np.int32), np.zeros(slots, np.int32), np.zeros(batch, np.int32)]


@njit(cache=True, inline="always")
def _owner(x, T):
    """The thread of ``T`` that owns row ``x``: Knuth's multiplicative hash of ``x``'s group of
    16 (a cache line of the int32 slot table, which only its owner writes), scaled to ``[0, T)``."""
    return np.int64((((np.uint64(x >> 4) * _HASH) & _LOW) * np.uint64(T)) >> _S32)


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


@njit(cache=True, inline="always", error_model="numpy", fastmath=FAST)
def _step_row(kind, z, G, k, om, ov, biased, reg, reg_bias, scale, lr, b1, nb1, b2, nb2, eps, c1, c2):
    """Step the packed row ``z`` along the mean gradient of its ratings in the batch: ``G`` holds
    the sum of their error terms, then that of the bias, then their count; each rating adds
    ``reg`` times the row."""
    n = G[k + 1]
    rw, rb = n * reg, n * reg_bias
    w, m, v = z[:k], z[om:om + k], z[ov:ov + k]
    if kind == MOMENTUM:  # no second moment: the row is a third shorter
        for f in range(k):
            a = b1 * m[f] + (G[f] + rw * w[f]) * scale
            m[f] = a
            w[f] -= lr * a
        if biased:
            a = b1 * z[k + 1] + (G[k] + rb * z[k]) * scale
            z[k + 1] = a
            z[k] -= lr * a
        return
    for f in range(k):
        w[f], m[f], v[f] = _step(kind, w[f], m[f], v[f], (G[f] + rw * w[f]) * scale, lr, b1, nb1, b2, nb2, eps,
                                 c1, c2)
    if biased:
        z[k], z[k + 1], z[k + 2] = _step(kind, z[k], z[k + 1], z[k + 2], (G[k] + rb * z[k]) * scale, lr, b1, nb1,
                                         b2, nb2, eps, c1, c2)


@njit(cache=True, inline="always")
def _own(X, start, m, T, w, L, lo):
    """Lay out in ``L`` from ``lo`` the batch positions ``j < m`` of the ratings whose row
    ``X[start + j]`` thread ``w`` owns, in order, without a branch; returns where they end."""
    if T == 1:  # one thread owns every row
        for j in range(m):
            L[lo + j] = j
        return lo + m
    end = lo
    for j in range(m):
        L[end] = j
        end += _owner(X[start + j], T) == w
    return end


@njit(cache=True, inline="always")
def _prefetch_rating(U, I, Zu, Zi, slot_u, k, a):
    """Prefetch what rating ``a`` reads: the weights and biases of its user and item (the
    moments come as the rows are stepped), and its user's slot."""
    prefetch_span(Zu, U[a], k + 3)
    prefetch(slot_u, U[a])
    prefetch_span(Zi, I[a], k + 3)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def _step_slots(kind, Z, slot, rows, G, lo, hi, k, om, ov, biased, reg, reg_bias, scale, lr, b1, nb1, b2, nb2, eps, c1,
                c2):
    """Step the rows of slots ``lo`` to ``hi`` (a thread's, in order of opening), and free the slots.
    Not inlined: both passes call it, once a batch, and it is compiled once for both."""
    for s in range(lo, hi):
        if s + AHEAD < hi:
            prefetch_row(Z, rows[s + AHEAD])
        x = rows[s]
        _step_row(kind, Z[x], G[s], k, om, ov, biased, reg, reg_bias, scale, lr, b1, nb1, b2, nb2, eps, c1, c2)
        slot[x] = -1


@njit(cache=True, inline="always", fastmath=FAST)
def _open(slot, rows, x, s, G):
    """``x``'s slot: ``s`` (its sums zeroed) on its first rating of the batch, else the one it
    has; returns ``(slot, whether it was opened)``."""
    g = slot[x]
    if g >= 0:
        return g, False
    slot[x] = s
    rows[s] = x
    for f in range(G.shape[1]):
        G[s, f] = 0.0
    return s, True


@njit(cache=True, error_model="numpy", fastmath=FAST)
def _user_pass(kind, w, start, m, U, I, R, Zu, Zi, k, om, ov, mu, reg, reg_bias, biased, batch, scale, lr, b1, nb1, b2,
               nb2, eps, c1, c2, slot_u, C, Gu, rows_u, L, P, T):
    """Thread ``w``'s part of a batch's first step: the errors of its users' ratings, their user
    terms summed per user and item terms kept per rating, then its users' rows stepped. Each
    pass is a function of its own, not inlined into the parallel loop: numba compiles a parallel
    loop's body twice over."""
    lo = hi = w * batch
    end = _own(U, start, m, T, w, L, lo)
    for c in range(lo, min(lo + AHEAD, end)):
        _prefetch_rating(U, I, Zu, Zi, slot_u, k, start + L[c])
    for c in range(lo, end):
        if c + AHEAD < end:
            _prefetch_rating(U, I, Zu, Zi, slot_u, k, start + L[c + AHEAD])
        j = L[c]
        u = U[start + j]
        g, opened = _open(slot_u, rows_u, u, hi, Gu)
        hi += opened
        i = I[start + j]
        pred = mu + Zu[u, k] + Zi[i, k]
        for f in range(k):
            pred += Zu[u, f] * Zi[i, f]
        e = np.float32(pred - R[start + j])
        for f in range(k):
            Gu[g, f] += e * Zi[i, f]
            C[c, f] = e * Zu[u, f]
        C[c, k] = e
        if T > 1:  # on one thread, rating j's terms are in C[j]
            P[j] = c
        Gu[g, k] += e
        Gu[g, k + 1] += 1.0
    _step_slots(kind, Zu, slot_u, rows_u, Gu, lo, hi, k, om, ov, biased, reg, reg_bias, scale, lr, b1, nb1, b2, nb2,
                eps, c1, c2)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def _item_pass(kind, w, start, m, I, Zi, k, om, ov, reg, reg_bias, biased, batch, scale, lr, b1, nb1, b2, nb2, eps, c1,
               c2, slot_i, C, Gi, rows_i, L, P, T):
    """Thread ``w``'s part of a batch's second step: its items' terms summed per item, then its
    items' rows stepped."""
    lo = hi = w * batch
    end = _own(I, start, m, T, w, L, lo)
    for c in range(lo, end):
        j = L[c]
        h, opened = _open(slot_i, rows_i, I[start + j], hi, Gi)
        hi += opened
        x = P[j] if T > 1 else j  # read once: stores to Gi might alias P for all numba knows
        for f in range(k + 1):
            Gi[h, f] += C[x, f]
        Gi[h, k + 1] += 1.0
    _step_slots(kind, Zi, slot_i, rows_i, Gi, lo, hi, k, om, ov, biased, reg, reg_bias, scale, lr, b1, nb1, b2, nb2,
                eps, c1, c2)


def minibatch_epoch(kind, U, I, R, Zu, Zi, k, om, ov, mu, reg, reg_bias, biased, batch, lr, b1, b2, eps, t, slot_u,
                    slot_i, C, Gu, Gi, rows_u, rows_i, L, P, T):
    """One epoch over the shuffled ratings ``U, I, R`` and the packed rows ``Zu``, ``Zi`` (see
    ``columns``); returns ``(sum of squared errors, step count)``. ``slot_u``, ``slot_i``:
    ``-1`` over all users and items (left so); ``C`` to ``P``: ``scratch(k, batch, T)``.
    ``T``: the threads (``numba.get_num_threads()``, or 1).

    Compiled for the optimizer ``kind`` alone (``kernels.compiling``), and on one thread without numba's
    parallel machinery (about 2 s of compilation): a cell compiles only the variant it runs."""
    args = (U, I, R, Zu, Zi, k, om, ov, mu, reg, reg_bias, biased, batch, lr, b1, b2, eps, t, slot_u, slot_i, C, Gu, Gi,
            rows_u, rows_i, L, P)
    if T > 1:
        return _THREADS((*args, T), (int(kind),))
    return _ONE_THREAD(args, (int(kind),))


@njit(cache=True, inline="always")
def _batch_constants(start, n, batch, t, b1, b2):
    """A batch's size, its step number and the constants of its step: ``(m, t, 1/m, 1 - b1^t,
    1 - b2^t)``, rounded to float32 once."""
    m = min(start + batch, n) - start
    t += 1
    return m, t, np.float32(1.0 / m), np.float32(1.0 - b1 ** t), np.float32(1.0 - b2 ** t)


@njit(cache=True, error_model="numpy", fastmath=FAST)
def _epoch_one_thread(U, I, R, Zu, Zi, k, om, ov, mu, reg, reg_bias, biased, batch, lr, b1, b2, eps, t, slot_u, slot_i,
                      C, Gu, Gi, rows_u, rows_i, L, P, kind):
    """``minibatch_epoch`` on one thread."""
    literally(kind)
    w, T = np.int64(0), np.int64(1)  # not literals: the passes are the ones the threaded kernel calls
    n = len(U)
    lr32, b1_32, b2_32, eps32 = np.float32(lr), np.float32(b1), np.float32(b2), np.float32(eps)
    nb1, nb2 = np.float32(1.0 - b1), np.float32(1.0 - b2)
    sse = 0.0
    for start in range(0, n, batch):
        m, t, scale, c1, c2 = _batch_constants(start, n, batch, t, b1, b2)
        _user_pass(kind, w, start, m, U, I, R, Zu, Zi, k, om, ov, mu, reg, reg_bias, biased, batch, scale, lr32, b1_32,
                   nb1, b2_32, nb2, eps32, c1, c2, slot_u, C, Gu, rows_u, L, P, T)
        for j in range(m):
            e = C[j, k]
            sse += e * e
        _item_pass(kind, w, start, m, I, Zi, k, om, ov, reg, reg_bias, biased, batch, scale, lr32, b1_32, nb1, b2_32,
                   nb2, eps32, c1, c2, slot_i, C, Gi, rows_i, L, P, T)
    return sse, t


@njit(cache=True, parallel=True, error_model="numpy", fastmath=FAST)
def _epoch_threads(U, I, R, Zu, Zi, k, om, ov, mu, reg, reg_bias, biased, batch, lr, b1, b2, eps, t, slot_u, slot_i, C,
                   Gu, Gi, rows_u, rows_i, L, P, T, kind):
    """``minibatch_epoch`` on ``T`` threads, each on the rows it owns."""
    literally(kind)
    n = len(U)
    lr32, b1_32, b2_32, eps32 = np.float32(lr), np.float32(b1), np.float32(b2), np.float32(eps)
    nb1, nb2 = np.float32(1.0 - b1), np.float32(1.0 - b2)
    sse = 0.0
    for start in range(0, n, batch):
        m, t, scale, c1, c2 = _batch_constants(start, n, batch, t, b1, b2)
        # 1. errors at the batch's starting parameters, their user terms summed per user, their
        #    item terms kept per rating; then the thread's user rows stepped
        for w in prange(T):
            _user_pass(kind, np.int64(w), start, m, U, I, R, Zu, Zi, k, om, ov, mu, reg, reg_bias, biased, batch, scale,
                       lr32, b1_32, nb1, b2_32, nb2, eps32, c1, c2, slot_u, C, Gu, rows_u, L, P, T)
        for j in range(m):  # in order: the same sum whatever the thread count
            e = C[P[j], k]
            sse += e * e
        # 2. item terms summed per item, then the items' rows stepped
        for w in prange(T):
            _item_pass(kind, np.int64(w), start, m, I, Zi, k, om, ov, reg, reg_bias, biased, batch, scale, lr32, b1_32,
                       nb1, b2_32, nb2, eps32, c1, c2, slot_i, C, Gi, rows_i, L, P, T)
    return sse, t


_ONE_THREAD = Specialized(_epoch_one_thread)
_THREADS = Specialized(_epoch_threads)
