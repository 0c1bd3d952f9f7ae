"""numba kernels of Bayesian MF: one Gaussian conditional per row, sampled, rows in parallel.

Row ``u`` with rated design rows ``y_j`` and targets ``t_j`` has the conditional (given the other
side, the noise precision ``alpha`` and the prior ``N(m, Lambda^-1)``)::

    precision  P = Lambda + alpha sum_j y_j y_j^T        mean  x = P^-1 (Lambda m + alpha sum_j t_j y_j)

``sample_rows`` builds ``P`` in float64, factors it ``P = L L^T`` (Cholesky), solves for the mean
and adds ``L^-T z``, whose covariance is ``P^-1``. ``z`` comes from ``normal``: a counter-based
generator of the row's index, the dimension and a key per sweep and side, so that a row's draw
does not depend on which thread takes it, or on the thread count; ``draws`` in ``bpmf.py`` is the
same generator in array code (numpy, cupy).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["sample_rows", "sample_rows_shifted", "sample_implicit", "normal", "sample_scores"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_ONE, _TWO = np.uint64(1), np.uint64(2)
_TWO_53 = 1.0 / 9007199254740992.0
#: ratings whose outer products one pass over a row's precision matrix adds (the kernel unrolls 4)
BLOCK = 4


@njit(cache=True, inline="always")
def _mix(x):
    """SplitMix64's output function of ``x + golden`` (Steele et al., OOPSLA 2014)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def normal(key, counter):
    """The standard normal number ``counter`` of stream ``key`` (Box-Muller on two hashes)."""
    c = np.uint64(counter) * _TWO
    h1 = _mix(key + c)
    h2 = _mix(key + c + _ONE)
    u1 = (np.float64(h1 >> _S11) + 1.0) * _TWO_53  # (0, 1]: log is finite
    u2 = np.float64(h2 >> _S11) * _TWO_53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@njit(cache=True, inline="always")
def _row_gram(indptr, indices, targets, design, u, P, b, Yb):
    """The lower triangle of ``P = sum_j y_j y_j^T`` and ``b = sum_j t_j y_j`` over row ``u``'s
    ratings, ``BLOCK`` ratings a pass over ``P``'s triangle (``Yb``: ``BLOCK x D`` scratch)."""
    D = P.shape[0]
    for f in range(D):
        b[f] = 0.0
        for g in range(f + 1):
            P[f, g] = 0.0
    start, end = indptr[u], indptr[u + 1]
    for j0 in range(start, end, BLOCK):
        m = min(BLOCK, end - j0)
        for r in range(BLOCK):
            if r < m:
                row = design[indices[j0 + r]]
                t = np.float64(targets[j0 + r])
                for f in range(D):
                    Yb[r, f] = row[f]
                    b[f] += t * row[f]
            else:
                for f in range(D):
                    Yb[r, f] = 0.0
        for f in range(D):
            a0, a1, a2, a3 = Yb[0, f], Yb[1, f], Yb[2, f], Yb[3, f]
            for g in range(f + 1):
                P[f, g] += a0 * Yb[0, g] + a1 * Yb[1, g] + a2 * Yb[2, g] + a3 * Yb[3, g]


@njit(cache=True, inline="always")
def _draw(P, b, w, key, counter, draw):
    """Factor ``P = L L^T`` (its lower triangle, in place) and overwrite ``b`` with the mean
    ``P^-1 b``, plus ``L^-T z`` when ``draw`` (``z``: normals ``counter, counter + 1, ...`` of
    stream ``key``), whose covariance is ``P^-1``. ``w``: scratch of ``D``."""
    D = P.shape[0]
    for j in range(D):
        s = P[j, j]
        for m in range(j):
            s -= P[j, m] * P[j, m]
        d = np.sqrt(s)
        P[j, j] = d
        for i in range(j + 1, D):
            s = P[i, j]
            for m in range(j):
                s -= P[i, m] * P[j, m]
            P[i, j] = s / d
    # mean: L w = b, then L^T x = w
    for i in range(D):
        s = b[i]
        for m in range(i):
            s -= P[i, m] * w[m]
        w[i] = s / P[i, i]
    if draw:  # x + L^-T z: solve L^T (x + e) = w + z in one pass
        for i in range(D):
            w[i] += normal(key, counter + i)
    for i in range(D - 1, -1, -1):
        s = w[i]
        for m in range(i + 1, D):
            s -= P[m, i] * b[m]
        b[i] = s / P[i, i]


@njit(cache=True, parallel=True)
def sample_rows(indptr, indices, targets, design, X, Lam, Lam_mu, alpha, key, draw):
    """Overwrite ``X[u]`` (``D`` unknowns) with a draw from row ``u``'s conditional (its mean
    when ``draw`` is false), for every row of the CSR ``indptr/indices/targets`` over the rows
    of ``design`` (``(n_other, D)``). Rows without ratings are drawn from the prior."""
    n_rows, D = X.shape
    n_chunks = min(n_rows, 1024)
    # chunk c takes rows c, c + n_chunks, ...: the threads' shares of prange's static split mix
    # popular and rare rows even where ids follow popularity (ml-100k's items do)
    for c in prange(n_chunks):
        P = np.empty((D, D))
        b = np.empty(D)
        Yb = np.empty((BLOCK, D))
        w = np.empty(D)
        for u in range(c, n_rows, n_chunks):
            _row_gram(indptr, indices, targets, design, u, P, b, Yb)
            for f in range(D):
                b[f] = Lam_mu[f] + alpha * b[f]
                for g in range(f + 1):
                    P[f, g] = Lam[f, g] + alpha * P[f, g]
            _draw(P, b, w, key, u * D, draw)
            for f in range(D):
                X[u, f] = b[f]


@njit(cache=True, parallel=True)
def sample_rows_shifted(indptr, indices, targets, design, X, Lam, Lam_mu, shift, alpha, key, gram, resid):
    """``sample_rows`` (drawing) for rows whose prior mean is shifted row by row: row ``u``'s
    prior is ``N(m + shift[u], Lambda^-1)`` (the implicit sum of ``bpmf implicit=true``). Also
    leaves, for ``sample_implicit``, each row's data Gram ``G_u = sum_j y_j y_j^T`` (float64,
    its lower triangle packed by rows in ``gram[u]``: ``(f, g)``, ``g <= f``, at
    ``f (f + 1) / 2 + g``) and its residual ``resid[u] = sum_j y_j (t_j - y_j . x_u)`` at the new
    draw."""
    n_rows, D = X.shape
    n_chunks = min(n_rows, 1024)
    for c in prange(n_chunks):
        P = np.empty((D, D))
        b = np.empty(D)
        Yb = np.empty((BLOCK, D))
        w = np.empty(D)
        for u in range(c, n_rows, n_chunks):
            G, r = gram[u], resid[u]
            _row_gram(indptr, indices, targets, design, u, P, b, Yb)
            for f in range(D):
                r[f] = b[f]
                for g in range(f + 1):
                    G[f * (f + 1) // 2 + g] = P[f, g]
            for f in range(D):
                s = Lam_mu[f]
                for g in range(D):
                    s += Lam[f, g] * shift[u, g]
                b[f] = s + alpha * b[f]
                for g in range(f + 1):
                    P[f, g] = Lam[f, g] + alpha * P[f, g]
            _draw(P, b, w, key, u * D, True)
            for f in range(D):
                X[u, f] = b[f]
            for f in range(D):  # float32 as stored, so that the residual is of what predicts
                s = r[f]
                for g in range(D):
                    s -= (G[f * (f + 1) // 2 + g] if g <= f else G[g * (g + 1) // 2 + f]) * np.float64(X[u, g])
                r[f] = s


@njit(cache=True)
def sample_implicit(indptr, indices, scale, gram, resid, X, V, Lam, Lam_mu, alpha, key):
    """One Gibbs pass over the implicit rows ``V`` (``(n_v, D)``, float64): row ``j`` adds
    ``scale[u] V[j]`` to each row ``u`` of ``X`` in ``indices[indptr[j]:indptr[j + 1]]``
    (``X[u] = x_u + scale[u] sum_j V[j]``). Each ``V[j]`` is drawn from its conditional given
    the others, one after another (a row's draw moves the residuals of the next), and ``X``
    and ``resid`` follow it. Row ``u``'s ratings enter only through ``gram[u]`` and
    ``resid[u]`` (``sample_rows_shifted``), so a row costs ``O(D^2)`` per ``u``, not per rating::

        precision  Lambda + alpha sum_u s_u^2 G_u
        mean       P^-1 (Lambda m + alpha sum_u s_u (r_u + s_u G_u V[j]))
    """
    n_v, D = V.shape
    T = D * (D + 1) // 2
    acc = np.empty(T)
    P = np.empty((D, D))
    b = np.empty(D)
    w = np.empty(D)
    delta = np.empty(D)
    t = np.empty(D)
    for j in range(n_v):
        acc[:] = 0.0
        b[:] = 0.0
        for p in range(indptr[j], indptr[j + 1]):
            u = indices[p]
            s = scale[u]
            s2 = s * s
            g, r = gram[u], resid[u]
            for q in range(T):  # packed: one run of memory a row, a sum that vectorizes
                acc[q] += s2 * g[q]
            for f in range(D):
                b[f] += s * r[f]
        for f in range(D):
            for e in range(f + 1):
                P[f, e] = acc[f * (f + 1) // 2 + e]
        # the residuals without V[j]'s own share: sum_u s_u^2 G_u V[j] = (the data part) V[j]
        for f in range(D):
            c = 0.0
            for e in range(D):
                c += (P[f, e] if e <= f else P[e, f]) * V[j, e]
            b[f] = Lam_mu[f] + alpha * (b[f] + c)
            for e in range(f + 1):
                P[f, e] = Lam[f, e] + alpha * P[f, e]
        _draw(P, b, w, key, j * D, True)
        for f in range(D):
            delta[f] = b[f] - V[j, f]
            V[j, f] = b[f]
        for p in range(indptr[j], indptr[j + 1]):
            u = indices[p]
            s = scale[u]
            g, r = gram[u], resid[u]
            for f in range(D):
                X[u, f] += s * delta[f]
            # t = G_u delta from the packed rows: row f's part below the diagonal is also
            # column f's part above it
            t[:] = 0.0
            for f in range(D):
                o = f * (f + 1) // 2
                c = 0.0
                d = delta[f]
                for e in range(f):
                    c += g[o + e] * delta[e]
                    t[e] += g[o + e] * d
                t[f] += c + g[o + f] * d
            for f in range(D):
                r[f] -= s * t[f]


@njit(cache=True, parallel=True)
def sample_scores(users, items, A, B, width, out):
    """``out[j] = A[u, :width] . B[i, :width]`` (float32, summed in order) for each pair."""
    for j in prange(len(users)):
        a, bb = A[users[j]], B[items[j]]
        s = np.float32(0.0)
        for f in range(width):
            s += a[f] * bb[f]
        out[j] = s
