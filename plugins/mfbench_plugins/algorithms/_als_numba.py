"""numba kernels of explicit ALS: one regularized least-squares problem per row, rows in parallel.

For row ``u`` with rated columns ``J`` and targets ``t_J``, the new factors solve::

    (Y_J^T Y_J + lam_u I) x = Y_J^T t_J,    lam_u = reg * |J| (ALS-WR) or reg

``solve_rows`` builds the k x k system from the gathered rows (BLAS ``Y_J^T Y_J``) and solves it by
Cholesky; ``cg_rows`` takes ``steps`` conjugate-gradient steps from the current factors, without
forming the matrix (each step costs ``2 |J| k``, against ``|J| k^2`` for the build). Rows are
independent, so the result does not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["solve_rows", "cg_rows", "cholesky_solve"]


@njit(cache=True, fastmath=False)
def cholesky_solve(A, b):
    """Solve ``A x = b`` for symmetric positive definite ``A`` (k x k), in float64."""
    L = np.linalg.cholesky(A)
    k = b.shape[0]
    y = np.empty(k)
    for r in range(k):
        s = b[r]
        for c in range(r):
            s -= L[r, c] * y[c]
        y[r] = s / L[r, r]
    x = np.empty(k)
    for r in range(k - 1, -1, -1):
        s = y[r]
        for c in range(r + 1, k):
            s -= L[c, r] * x[c]
        x[r] = s / L[r, r]
    return x


@njit(cache=True, parallel=True)
def solve_rows(indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias):
    """Overwrite ``X[u]`` with the least-squares solution of each row ``u`` (Cholesky).

    With ``has_bias`` the last column of ``X`` is a bias (its design column in ``Y`` is all ones)
    and is regularized by ``bias_reg`` instead of ``reg``.
    """
    n_rows, k = X.shape
    for u in prange(n_rows):
        start, end = indptr[u], indptr[u + 1]
        n = end - start
        if n == 0:
            continue
        Yj = np.empty((n, k), np.float64)
        t = np.empty(n, np.float64)
        for j in range(n):
            Yj[j] = Y[indices[start + j]]
            t[j] = targets[start + j]
        A = Yj.T @ Yj
        b = Yj.T @ t
        scale = n if weighted else 1.0
        for f in range(k):
            A[f, f] += reg * scale
        if has_bias:
            A[k - 1, k - 1] += (bias_reg - reg) * scale
        x = cholesky_solve(A, b)
        for f in range(k):
            X[u, f] = x[f]


@njit(cache=True, parallel=True, fastmath=True)
def cg_rows(indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias, steps):
    """Overwrite ``X[u]`` after ``steps`` conjugate-gradient steps on each row's normal equations."""
    n_rows, k = X.shape
    for u in prange(n_rows):
        start, end = indptr[u], indptr[u + 1]
        n = end - start
        if n == 0:
            continue
        scale = n if weighted else 1.0
        lam = np.empty(k, np.float32)
        for f in range(k):
            lam[f] = reg * scale
        if has_bias:
            lam[k - 1] = bias_reg * scale
        x = X[u].copy()
        # residual r = b - A x, with A v = sum_j y_j (y_j . v) + lam * v
        r = np.zeros(k, np.float32)
        for j in range(n):
            y = Y[indices[start + j]]
            d = targets[start + j] - np.dot(y, x)
            for f in range(k):
                r[f] += d * y[f]
        for f in range(k):
            r[f] -= lam[f] * x[f]
        p = r.copy()
        rs = np.dot(r, r)
        for _ in range(steps):
            if rs < 1e-20:
                break
            Ap = lam * p
            for j in range(n):
                y = Y[indices[start + j]]
                d = np.dot(y, p)
                for f in range(k):
                    Ap[f] += d * y[f]
            alpha = rs / np.dot(p, Ap)
            for f in range(k):
                x[f] += alpha * p[f]
                r[f] -= alpha * Ap[f]
            rs_new = np.dot(r, r)
            for f in range(k):
                p[f] = r[f] + (rs_new / rs) * p[f]
            rs = rs_new
        for f in range(k):
            X[u, f] = x[f]
