"""The synthetic generator's inner loop: distinct popular items per user and their ratings."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _draw(cdf: np.ndarray) -> int:
    """An item index drawn with probabilities ``diff(cdf)`` (binary search of a uniform draw)."""
    x = np.random.random() * cdf[-1]
    lo, hi = 0, len(cdf) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True)
def fill_ratings(deg, cdf, P, Q, bu, bi, mean, noise, step, low, high, seed, users, items, values, clean):
    """Give user ``u`` ``deg[u]`` distinct items drawn by popularity (``cdf``) and rate them.

    Draws with replacement and skips items the user already has; a user who still lacks items
    after ``8 deg + 64`` draws (one rating most of the catalogue) takes the rest uniformly from
    the items left. Writes ``users``, ``items``, ``values`` (rounded to ``step``, clipped to
    ``[low, high]``) and the noiseless ``clean`` ratings in user order. Deterministic for ``seed``.
    """
    np.random.seed(seed)
    n_items = len(cdf)
    mark = np.zeros(n_items, np.uint8)
    free = np.empty(n_items, np.int64)
    k = P.shape[1]
    pos = 0
    for u in range(len(deg)):
        start = pos
        end = start + deg[u]
        tries = 0
        while pos < end and tries < 8 * deg[u] + 64:
            i = _draw(cdf)
            tries += 1
            if mark[i] == 0:
                mark[i] = 1
                items[pos] = i
                pos += 1
        if pos < end:  # partial Fisher-Yates over the items this user lacks
            m = 0
            for i in range(n_items):
                if mark[i] == 0:
                    free[m] = i
                    m += 1
            while pos < end:
                j = np.random.randint(0, m)
                i = free[j]
                free[j] = free[m - 1]
                m -= 1
                mark[i] = 1
                items[pos] = i
                pos += 1
        for p in range(start, end):
            i = items[p]
            mark[i] = 0
            users[p] = u
            dot = 0.0
            for f in range(k):
                dot += P[u, f] * Q[i, f]
            c = mean + bu[u] + bi[i] + dot
            clean[p] = c
            v = np.round((c + noise * np.random.standard_normal()) / step) * step
            values[p] = min(max(v, low), high)
