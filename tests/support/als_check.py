"""What an ALS half-sweep promises, checked on any BLAS: every row it wrote solves its normal
equations, against a float64 solve, within a bound set by float32 and the row's conditioning.
Shared by the tests of the numba, batched and device solvers."""

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)


def recorded_half_sweeps(algo):
    """Wrap ``algo._half``: each half-sweep's side, the other side's factors it was given, and the
    factors it wrote, as host float64 arrays."""
    calls = []
    half = algo._half

    def recording(csr, X, Y, side):
        given = np.asarray(to_host(Y), np.float64)
        half(csr, X, Y, side)
        calls.append((side, given, np.asarray(to_host(X), np.float64)))

    algo._half = recording
    return calls


def to_host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def check_half_sweep(algo, train, side, given, written):
    """Each row the half-sweep wrote solves its normal equations: against a float64 solve of the
    system ``(D^T D + lam) x = D^T t`` built from the loss's definition (``als.py``), the relative
    error is within what a float32 build and solve allow, ``cond(A) * (n + k) * eps32`` (``n``
    the row's ratings, ``k`` the unknowns), whatever BLAS or thread count did the arithmetic."""
    k, mu = algo.k, float(algo.mu_)
    rows, cols = (train.users, train.items) if side == "users" else (train.items, train.users)
    if algo.biased:  # users: X=[p, b_u, 1], Y=[q, 1, b_i]; items: X=[q, 1, b_i], Y=[p, b_u, 1]
        own_bias, other_bias, other_const = (k, k + 1, k) if side == "users" else (k + 1, k, k + 1)
        unknown, design_cols = list(range(k)) + [own_bias], list(range(k)) + [other_const]
    else:
        unknown = design_cols = list(range(k))
    worst = 0.0
    for r in np.unique(rows):
        j = cols[rows == r]
        D = given[j][:, design_cols]
        t = train.values[rows == r].astype(np.float64) - mu - (given[j, other_bias] if algo.biased else 0.0)
        scale = len(j) if algo.weighted else 1.0
        lam = np.full(len(unknown), algo.reg * scale)
        if algo.biased:
            lam[-1] = algo.reg_bias * scale
        A = D.T @ D + np.diag(lam)
        want = np.linalg.solve(A, D.T @ t)
        err = np.linalg.norm(written[r, unknown] - want) / np.linalg.norm(want)
        bound = np.linalg.cond(A) * (len(j) + len(unknown)) * EPS32
        assert err <= bound, f"{side} row {r}: relative error {err:.2e} over the float32 bound {bound:.2e}"
        worst = max(worst, err / bound)
    return worst
