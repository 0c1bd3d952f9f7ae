"""numba kernels of explicit ALS: one regularized least-squares problem per row, rows in parallel.

For row ``u`` with rated columns ``J`` and targets ``t_J``, the new factors solve::

    (Y_J^T Y_J + lam_u I) x = Y_J^T t_J,    lam_u = reg * |J| (ALS-WR) or reg

``solve_rows`` builds the k x k system from the gathered rows with BLAS ``ssyrk`` (one triangle:
half the flops of a general product) and solves it with LAPACK's Cholesky (``spotrf``/``spotrs``),
all in float32; ``cg_rows`` takes ``steps`` conjugate-gradient steps from the current factors, without
forming the matrix (each step costs ``2 |J| k``, against ``|J| k^2`` for the build). Rows are
independent, so the result does not depend on the thread count. The rows' chunks are shared
among threads of Python's (``compiling.on_threads``), not by a numba parallel loop: a half-epoch
is one hand-off a thread, and a parallel loop around a row solve compiles twice as long.
"""

from __future__ import annotations

import ctypes

import numpy as np
from numba import njit, prange
from numba.extending import get_cython_function_address

from mfbench_plugins.algorithms.kernels.compiling import on_threads

__all__ = ["solve_rows", "cg_rows", "squared_error", "LAPACK", "CHUNKS"]

_p = ctypes.c_void_p
# scipy's BLAS/LAPACK, called from numba through ctypes pointers. They are passed to the kernels
# as arguments (not read as globals) so that numba can cache the compiled kernels on disk.
LAPACK = (
    ctypes.CFUNCTYPE(None, _p, _p, _p, _p, _p, _p, _p, _p, _p, _p)(get_cython_function_address("scipy.linalg.cython_blas", "ssyrk")),
    ctypes.CFUNCTYPE(None, _p, _p, _p, _p, _p)(get_cython_function_address("scipy.linalg.cython_lapack", "spotrf")),
    ctypes.CFUNCTYPE(None, _p, _p, _p, _p, _p, _p, _p, _p)(get_cython_function_address("scipy.linalg.cython_lapack", "spotrs")),
)


@njit(cache=True, parallel=True, fastmath=True)
def squared_error(indptr, indices, targets, X, Y):
    """``sum (t - x_u . y_i)^2`` over a CSR by rows of ``X``, in float64, row by row in parallel."""
    n_rows = X.shape[0]
    acc = np.zeros(n_rows)
    for u in prange(n_rows):
        s = 0.0
        x = X[u]
        for j in range(indptr[u], indptr[u + 1]):
            e = targets[j] - np.dot(x, Y[indices[j]])
            s += e * e
        acc[u] = s
    # summed in one order, not as numba's parallel reduction: the total (bpmf's noise draw) must
    # not depend on the thread count
    total = 0.0
    for u in range(n_rows):
        total += acc[u]
    return total


#: rows go in this many chunks at most, each with its own workspace
CHUNKS = 1024


def solve_rows(indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias, ssyrk, spotrf, spotrs):
    """Overwrite ``X[u]`` with the least-squares solution of each row ``u`` (Cholesky).

    With ``has_bias`` the last column of ``X`` is a bias (its design column in ``Y`` is all ones)
    and is regularized by ``bias_reg`` instead of ``reg``. Rows go in chunks, the chunks shared
    among numba's threads (``on_threads``).
    """
    on_threads(_solve_share, (indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias, ssyrk, spotrf, spotrs))


@njit(cache=True, nogil=True)
def _solve_share(w, T, indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias, ssyrk, spotrf, spotrs):
    """``solve_rows`` for chunks ``w``, ``w + T``, ... in one workspace: no allocation per row. A
    row-major ``n x k`` array is a column-major ``k x n`` one, so ``ssyrk('U', 'N')`` on it gives
    ``Y_J^T Y_J``."""
    n_rows, k = X.shape
    n_chunks = min(n_rows, CHUNKS)
    uplo = np.array([85], np.int8)  # 'U'
    trans = np.array([78], np.int8)  # 'N'
    kk = np.array([k], np.int32)
    one = np.array([1], np.int32)
    alpha = np.array([1.0], np.float32)
    beta = np.array([0.0], np.float32)
    longest = 0
    for c in range(w, n_chunks, T):
        for u in range(c * n_rows // n_chunks, (c + 1) * n_rows // n_chunks):
            longest = max(longest, indptr[u + 1] - indptr[u])
    Yj = np.empty(max(longest, 1) * k, np.float32)
    b = np.empty(k, np.float32)
    A = np.empty((k, k), np.float32)
    nn = np.zeros(1, np.int32)
    info = np.zeros(1, np.int32)
    for c in range(w, n_chunks, T):
        for u in range(c * n_rows // n_chunks, (c + 1) * n_rows // n_chunks):
            start, end = indptr[u], indptr[u + 1]
            n = end - start
            if n == 0:
                continue
            for f in range(k):
                b[f] = 0.0
            for j in range(n):
                y = Y[indices[start + j]]
                t = targets[start + j]
                for f in range(k):
                    Yj[j * k + f] = y[f]
                    b[f] += t * y[f]
            nn[0] = n
            ssyrk(uplo.ctypes, trans.ctypes, kk.ctypes, nn.ctypes, alpha.ctypes, Yj.ctypes, kk.ctypes, beta.ctypes,
                  A.ctypes, kk.ctypes)
            scale = n if weighted else 1.0
            for f in range(k):
                A[f, f] += reg * scale
            if has_bias:
                A[k - 1, k - 1] += (bias_reg - reg) * scale
            spotrf(uplo.ctypes, kk.ctypes, A.ctypes, kk.ctypes, info.ctypes)
            spotrs(uplo.ctypes, kk.ctypes, one.ctypes, A.ctypes, kk.ctypes, b.ctypes, kk.ctypes, info.ctypes)
            for f in range(k):
                X[u, f] = b[f]


def cg_rows(indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias, steps):
    """Overwrite ``X[u]`` after ``steps`` conjugate-gradient steps on each row's normal equations;
    chunks of rows shared among numba's threads (``on_threads``)."""
    on_threads(_cg_share, (indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias, steps))


@njit(cache=True, nogil=True, fastmath=True)
def _cg_share(w, T, indptr, indices, targets, Y, X, reg, weighted, bias_reg, has_bias, steps):
    """``cg_rows`` for chunks ``w``, ``w + T``, ..."""
    n_rows, k = X.shape
    n_chunks = min(n_rows, CHUNKS)
    lam = np.empty(k, np.float32)
    x = np.empty(k, np.float32)
    r = np.empty(k, np.float32)
    p = np.empty(k, np.float32)
    Ap = np.empty(k, np.float32)
    for c in range(w, n_chunks, T):
        for u in range(c * n_rows // n_chunks, (c + 1) * n_rows // n_chunks):
            start, end = indptr[u], indptr[u + 1]
            n = end - start
            if n == 0:
                continue
            scale = n if weighted else 1.0
            for f in range(k):
                lam[f] = reg * scale
                x[f] = X[u, f]
                r[f] = 0.0
            if has_bias:
                lam[k - 1] = bias_reg * scale
            # residual r = b - A x, with A v = sum_j y_j (y_j . v) + lam * v
            for j in range(n):
                y = Y[indices[start + j]]
                d = targets[start + j] - np.dot(y, x)
                for f in range(k):
                    r[f] += d * y[f]
            for f in range(k):
                r[f] -= lam[f] * x[f]
                p[f] = r[f]
            rs = np.dot(r, r)
            for _ in range(steps):
                if rs < 1e-20:
                    break
                for f in range(k):
                    Ap[f] = lam[f] * p[f]
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
