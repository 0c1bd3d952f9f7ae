"""ALS row solves as batched array code: the same normal equations as ``_als_numba.solve_rows``,
written against the array namespace (numpy here, cupy on a GPU).

Rows are taken in order of rating count, so a batch holds rows of similar length; each batch's
rated design rows are gathered into a zero-padded ``(rows, longest, k)`` tensor, whose batched
product ``Y^T Y`` gives every row's ``k x k`` system at once (one batched GEMM on a GPU), then
``solve`` solves them together. ``budget`` bounds the padded tensor's entries per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["solve_rows_batched"]


def solve_rows_batched(xp: Any, indptr: np.ndarray, indices: Any, targets: Any, Y: Any, X: Any, reg: float,
                       weighted: bool, bias_reg: float, has_bias: bool, budget: int = 1 << 24) -> None:
    """Overwrite ``X[u]`` with row ``u``'s regularized least-squares solution against the rows
    of ``Y`` it rated (``indptr`` on the host; ``indices``, ``targets``, ``Y``, ``X`` in ``xp``).
    With ``has_bias`` the last column is a bias regularized by ``bias_reg``."""
    k = Y.shape[1]
    counts = np.diff(indptr)
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    eye = xp.eye(k, dtype=xp.float32)
    bias_eye = xp.zeros((k, k), dtype=xp.float32)
    if has_bias:
        bias_eye[k - 1, k - 1] = 1.0
    pos = 0
    while pos < len(order):
        sel = order[pos:pos + max(1, budget // (k * int(counts[order[pos]])))]
        longest = int(counts[sel[-1]])  # ascending counts: the last row is the longest
        while len(sel) > 1 and len(sel) * longest * k > budget:
            sel = sel[:max(1, budget // (k * longest))]
            longest = int(counts[sel[-1]])
        width = np.arange(longest)
        valid = width[None, :] < counts[sel][:, None]
        flat = np.where(valid, indptr[sel][:, None] + width[None, :], 0)
        flat_d, valid_d = xp.asarray(flat), xp.asarray(valid, dtype=xp.float32)
        Yp = Y[indices[flat_d]] * valid_d[..., None]  # (rows, longest, k), zero rows past each row's end
        t = targets[flat_d] * valid_d
        A = xp.matmul(Yp.transpose(0, 2, 1), Yp)
        b = xp.einsum("rlk,rl->rk", Yp, t)
        scale = xp.asarray(counts[sel] if weighted else np.ones(len(sel)), dtype=xp.float32)[:, None, None]
        A += reg * scale * eye + (bias_reg - reg) * scale * bias_eye
        X[xp.asarray(sel)] = xp.linalg.solve(A, b[..., None])[..., 0].astype(X.dtype)
        pos += len(sel)
