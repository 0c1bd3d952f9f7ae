"""ALS row solves as batched array code: the same normal equations as ``_als_numba.solve_rows``,
written against the array namespace (numpy here, cupy on a GPU).

Rows are taken in order of rating count, so a batch holds rows of similar length; each batch's
rated design rows are gathered into a zero-padded ``(rows, longest, k)`` tensor, whose batched
product ``Y^T Y`` gives every row's ``k x k`` system at once (one batched GEMM on a GPU), then
``solve`` solves them together. ``budget`` bounds the padded tensor's entries per batch (2^24 on
the host, 2^27, 512 MB, on a device). The batches are planned on the host from the row lengths;
their gather indices are built in ``xp``, so nothing per rating crosses to the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["solve_rows_batched"]


def solve_rows_batched(xp: Any, indptr: np.ndarray, indices: Any, targets: Any, Y: Any, X: Any, reg: float,
                       weighted: bool, bias_reg: float, has_bias: bool, budget: int | None = None) -> None:
    """Overwrite ``X[u]`` with row ``u``'s regularized least-squares solution against the rows
    of ``Y`` it rated (``indptr`` on the host; ``indices``, ``targets``, ``Y``, ``X`` in ``xp``).
    With ``has_bias`` the last column is a bias regularized by ``bias_reg``."""
    k = Y.shape[1]
    if budget is None:
        budget = 1 << (24 if xp is np else 27)
    counts = np.diff(indptr)
    starts_x, counts_x = xp.asarray(indptr[:-1]), xp.asarray(counts)
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
        sel_x = xp.asarray(sel)
        width = xp.arange(longest)
        valid = width[None, :] < counts_x[sel_x][:, None]
        flat = xp.where(valid, starts_x[sel_x][:, None] + width[None, :], 0)
        valid_f = valid.astype(xp.float32)
        Yp = Y[indices[flat]] * valid_f[..., None]  # (rows, longest, k), zero rows past each row's end
        t = targets[flat] * valid_f
        A = xp.matmul(Yp.transpose(0, 2, 1), Yp)
        b = xp.einsum("rlk,rl->rk", Yp, t)
        scale = xp.asarray(counts[sel] if weighted else np.ones(len(sel)), dtype=xp.float32)[:, None, None]
        A += reg * scale * eye + (bias_reg - reg) * scale * bias_eye
        X[sel_x] = xp.linalg.solve(A, b[..., None])[..., 0].astype(X.dtype)
        pos += len(sel)
