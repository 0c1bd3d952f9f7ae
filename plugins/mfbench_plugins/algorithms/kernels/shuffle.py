"""A seeded, parallel shuffle of large arrays: the same permutation on any thread count.

``rng.permutation(n)`` followed by a gather costs about 6 s on 80M ratings (one thread draws
the permutation, then every element is fetched from a random place). This shuffle scatters
instead (Sanders 1998, "Random permutations on distributed, external and hierarchical
memory"): each element gets a bucket from a hash of (key, its index); the buckets are laid out
one after another (a count and a prefix sum); elements are written to their bucket, each chunk
of the input in order, so a thread streams its reads and appends to a few thousand write
cursors; then each bucket, small enough for the L2 cache, is shuffled by Fisher-Yates. Buckets
are independent uniform draws and each is shuffled uniformly, so the result is a uniform
permutation. The hash is SplitMix64's finalizer (Steele, Lea & Flood 2014), counter-based, so
chunks and buckets may run on any thread in any order: the permutation depends only on the key
and ``n``.

``shuffle(key, src, dst)`` writes the permuted arrays; ``permutation(key, n)`` is the same
permutation as indices (``shuffle(key, [x], [y])`` gives ``y == x[permutation(key, len(x))]``),
for backends that index with it (numpy, cupy).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["shuffle", "permutation", "BUCKET", "CHUNKS", "ONE_THREAD_BELOW"]

#: elements per bucket, on average: 32768 ratings' three arrays (384 KB) shuffle inside L2
BUCKET = 1 << 15
#: the input's chunks, a fixed number so that the layout does not depend on the thread count
CHUNKS = 64
#: with fewer buckets than this, one thread shuffles: the threads would share at most three
#: buckets, and the threaded kernels cost about a second more to compile
ONE_THREAD_BELOW = 4

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)


@njit(cache=True, inline="always")
def _mix(z):
    """SplitMix64's finalizer of the uint64 ``z``: a bijection whose every output bit depends on
    every input bit."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _below(x, n):
    """``x``'s high 32 bits scaled to ``[0, n)`` (Lemire's multiply-shift; ``n < 2**32``)."""
    return np.int64(((x >> _S32) * np.uint64(n)) >> _S32)


@njit(cache=True, inline="always")
def _bucket(key, j, buckets):
    return _below(_mix(key + np.uint64(j) * _GOLDEN), buckets)


@njit(cache=True, inline="always")
def _chunk(c, n):
    return c * n // CHUNKS, (c + 1) * n // CHUNKS


@njit(cache=True, inline="always")
def _count_chunk(key, n, buckets, counts, c):
    lo, hi = _chunk(c, n)
    for j in range(lo, hi):
        counts[c, _bucket(key, j, buckets)] += 1


@njit(cache=True, inline="always")
def _cursors(counts):
    """``cursor[c, b]``: where chunk ``c``'s first element of bucket ``b`` goes (buckets one after
    another, chunks in order inside each); ``starts``: the buckets' bounds."""
    buckets = counts.shape[1]
    cursor = np.empty((CHUNKS, buckets), np.int64)
    starts = np.empty(buckets + 1, np.int64)
    total = 0
    for b in range(buckets):
        starts[b] = total
        for c in range(CHUNKS):
            cursor[c, b] = total
            total += counts[c, b]
    starts[buckets] = total
    return cursor, starts


@njit(cache=True, inline="always")
def _scatter_chunk(key, cursor, src, dst, c):
    n, buckets = len(src), cursor.shape[1]
    at = cursor[c].copy()
    lo, hi = _chunk(c, n)
    for j in range(lo, hi):
        b = _bucket(key, j, buckets)
        dst[at[b]] = src[j]
        at[b] += 1


@njit(cache=True, inline="always")
def _shuffle_bucket(key, starts, dst, b):
    seed = _mix(key ^ _M2)
    lo, size = starts[b], starts[b + 1] - starts[b]
    stream = _mix(seed + np.uint64(b) * _GOLDEN)
    for i in range(size - 1, 0, -1):
        j = _below(_mix(stream + np.uint64(i) * _GOLDEN), i + 1)
        dst[lo + i], dst[lo + j] = dst[lo + j], dst[lo + i]


@njit(cache=True, parallel=True, nogil=True)
def _offsets(key, n, buckets):
    counts = np.zeros((CHUNKS, buckets), np.int64)
    for c in prange(CHUNKS):
        _count_chunk(key, n, buckets, counts, c)
    return _cursors(counts)


@njit(cache=True, parallel=True, nogil=True)
def _scatter(key, cursor, src, dst):
    for c in prange(CHUNKS):
        _scatter_chunk(key, cursor, src, dst, c)


@njit(cache=True, parallel=True, nogil=True)
def _fisher_yates(key, starts, dst):
    for b in prange(len(starts) - 1):
        _shuffle_bucket(key, starts, dst, b)


@njit(cache=True, nogil=True)
def _one_thread(key, buckets, src, dst):
    """The three steps above on one thread, for one array. In a bucket the chunks come in order
    and each chunk's elements in order, so the layout is a stable counting sort by bucket."""
    n = len(src)
    at = np.zeros(buckets + 1, np.int64)
    for j in range(n):
        at[_bucket(key, j, buckets) + 1] += 1
    for b in range(buckets):
        at[b + 1] += at[b]
    starts = at.copy()
    for j in range(n):
        b = _bucket(key, j, buckets)
        dst[at[b]] = src[j]
        at[b] += 1
    for b in range(buckets):
        _shuffle_bucket(key, starts, dst, b)


def _key(key: int) -> np.uint64:
    return np.uint64(int(key) % 2**64)


def shuffle(key: int, src: list[np.ndarray], dst: list[np.ndarray], bucket: int = BUCKET) -> None:
    """Write each array of ``src`` into the same-length array of ``dst``, all permuted alike by
    the permutation of ``key`` (an int), their length and ``bucket`` (elements per bucket, on
    average)."""
    n = len(src[0])
    if any(len(a) != n for a in [*src, *dst]):
        raise ValueError(f"shuffle: arrays of different lengths {[len(a) for a in [*src, *dst]]}")
    k, buckets = _key(key), max(1, n // bucket)
    if buckets < ONE_THREAD_BELOW:
        for s, d in zip(src, dst):
            _one_thread(k, buckets, _as_bits(s), _as_bits(d))
        return
    cursor, starts = _offsets(k, n, buckets)
    for s, d in zip(src, dst):
        s, d = _as_bits(s), _as_bits(d)
        _scatter(k, cursor, s, d)
        _fisher_yates(k, starts, d)


def _as_bits(a: np.ndarray) -> np.ndarray:
    """``a`` seen as unsigned integers of its width: a shuffle moves bits, and one compiled kernel
    then serves every dtype of that width (float32 ratings and int32 ids alike)."""
    return a.view(np.dtype(f"u{a.dtype.itemsize}")) if a.dtype.kind in "iuf" else a


def permutation(key: int, n: int, bucket: int = BUCKET) -> np.ndarray:
    """The permutation of ``key`` over ``range(n)``, as indices (int32 below ``2**31``, else int64)."""
    index = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    out = np.empty_like(index)
    shuffle(key, [index], [out], bucket)
    return out
