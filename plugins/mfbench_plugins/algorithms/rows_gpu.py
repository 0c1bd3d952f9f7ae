"""ALS row solves as batched array code: the same normal equations as ``rows.solve_rows``,
written against the array namespace (numpy here, cupy on a GPU).

Rows are taken in order of rating count, so a batch holds rows of similar length; each batch's
rated design rows are gathered into a zero-padded ``(rows, longest, k)`` tensor, whose batched
product ``Y^T Y`` gives every row's ``k x k`` system at once (one batched GEMM on a GPU), then
``solve`` solves them together.

``plan_batches`` packs the rows greedily: each batch takes as many of the next rows (by length)
as fit ``budget`` entries, counting for each row its padded design rows (``longest * k``) and
about four ``k x k`` matrices (the system, the solver's copy and its factors). The budget is
2^24 entries on the host and 2^27 (512 MB of float32) on a device. The batches are planned on the
host from the row lengths; their gather indices are built in ``xp``, so nothing per rating
crosses to the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["solve_rows_batched", "plan_batches", "gather_padded", "SYSTEM_COPIES", "MAX_DEVICE_SYSTEM"]

#: ``k x k`` matrices a row's system costs at once: ``A``, the solver's copy, its factor and slack
SYSTEM_COPIES = 4
#: the largest system cupy's ``linalg.solve`` solves as one batched call; beyond it, it loops in Python
MAX_DEVICE_SYSTEM = 256


def plan_batches(sorted_counts: np.ndarray, k: int, budget: int) -> list[tuple[int, int]]:
    """``[(start, stop), ...]`` over rows sorted by ascending rating count: each batch is the
    longest run from ``start`` whose cost ``rows * (longest * k + SYSTEM_COPIES * k^2)`` stays
    within ``budget`` entries (at least one row, whatever its cost)."""
    c = np.asarray(sorted_counts, np.int64)
    n = len(c)
    per_row = (
        c * k + SYSTEM_COPIES * k * k
    )  # nondecreasing: the cost of a run ending at e is (e - start) * per_row[e - 1]
    out = []
    start = 0
    while start < n:
        lo, hi = start + 1, n  # the answer lies in [lo, hi]; cost(lo) may exceed the budget (one long row)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if (mid - start) * int(per_row[mid - 1]) <= budget:
                lo = mid
            else:
                hi = mid - 1
        out.append((start, lo))
        start = lo
    return out


def gather_padded(
    xp: Any, starts_x: Any, counts_x: Any, sel_x: Any, longest: int, indices: Any, Y: Any, targets: Any, dtype: Any
) -> tuple[Any, Any]:
    """The rated design rows and targets of the CSR rows ``sel_x``, as a zero-padded
    ``(rows, longest, k)`` tensor and ``(rows, longest)`` targets in ``dtype`` (zeros past each
    row's end, so that they add nothing to ``Y^T Y`` or ``Y^T t``)."""
    width = xp.arange(longest)
    valid = width[None, :] < counts_x[sel_x][:, None]
    flat = xp.where(valid, starts_x[sel_x][:, None] + width[None, :], 0)
    valid_f = valid.astype(dtype)
    return Y[indices[flat]].astype(dtype, copy=False) * valid_f[..., None], targets[flat].astype(
        dtype, copy=False
    ) * valid_f


def solve_rows_batched(
    xp: Any,
    indptr: np.ndarray,
    indices: Any,
    targets: Any,
    Y: Any,
    X: Any,
    reg: float,
    weighted: bool,
    bias_reg: float,
    has_bias: bool,
    budget: int | None = None,
) -> None:
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
    diag = xp.arange(k)
    for start, stop in plan_batches(counts[order], k, budget):
        sel = order[start:stop]
        longest = int(counts[sel[-1]])  # ascending counts: the last row is the longest
        sel_x = xp.asarray(sel)
        Yp, t = gather_padded(xp, starts_x, counts_x, sel_x, longest, indices, Y, targets, xp.float32)
        A = xp.matmul(Yp.transpose(0, 2, 1), Yp)
        b = xp.einsum("rlk,rl->rk", Yp, t)
        del Yp, t
        # the ridge on the diagonal, in place (no k x k temporaries per row)
        scale = xp.asarray(counts[sel] if weighted else np.ones(len(sel)), dtype=xp.float32)
        ridge = xp.repeat((reg * scale)[:, None], k, axis=1)
        if has_bias:
            ridge[:, k - 1] = bias_reg * scale
        A[:, diag, diag] += ridge
        X[sel_x] = xp.linalg.solve(A, b[..., None])[..., 0].astype(X.dtype)
