"""Imputed truncated SVD (Sarwar et al. 2000): fill the missing ratings, keep the top k singular
triplets, predict from the reconstruction.

The filled matrix is never formed. With ``B`` the fill (``fill="baseline"``: ``mu + b_u + b_i``;
``fill="item_mean"``: the damped item means) and ``S`` the sparse residual ``r - B`` on observed
entries, the filled matrix is ``X = B + S``: ``B`` has rank at most 3 and ``S`` is sparse, so
``X v`` and ``X^T v`` cost ``O(nnz + n k)``. ``center=true`` (the default) factors ``S`` alone and
predicts ``B + S_k``; ``center=false`` factors ``X`` itself, as in the original method.

Solvers: ``arpack`` (scipy.sparse.linalg.svds on that implicit operator) or ``randomized`` (the
range finder of Halko, Martinsson & Tropp 2011, written against the array namespace so that it
runs on cupy too, with the sparse part in cupyx.scipy.sparse); ``auto`` is ``arpack`` on the CPU
and ``randomized`` on the GPU. ``dense=true`` takes ``numpy.linalg.svd`` of the filled matrix: for small data
and tests, refused like ``masked_gd`` when it would not fit. ``k="energy:0.95"`` picks the
smallest k whose singular values keep 95% of the squared (Frobenius) energy; the chosen k is
reported in the first epoch's record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from mfbench.algorithm import Algorithm, fit_biases
from mfbench.data import Ratings
from mfbench.devices import ensure_dense_fits, is_gpu_namespace, to_numpy
from mfbench.errors import MfbenchError
from mfbench.params import BOOLEAN, NON_NEGATIVE, OPTIONAL_POSITIVE, POSITIVE_INT, Interval, Options, Pattern

if TYPE_CHECKING:  # annotations only: importing it costs every mfbench command its start-up
    from scipy import sparse
    from scipy.sparse import linalg as splinalg

__all__ = ["ImputedSVD", "energy_rank", "FilledMatrix", "randomized_svd", "device_sparse"]


def energy_rank(singular_values: np.ndarray, total_energy: float, fraction: float) -> int:
    """Smallest k with ``sum(s[:k]^2) >= fraction * total_energy`` (len(s) when none reaches it)."""
    cum = np.cumsum(np.asarray(singular_values, np.float64) ** 2)
    hit = np.flatnonzero(cum >= fraction * total_energy)
    return int(hit[0] + 1) if hit.size else len(cum)


def device_sparse(xp: Any, S: sparse.csr_matrix) -> Any:
    """``S`` where ``xp`` computes: a ``cupyx.scipy.sparse`` copy on a GPU, ``S`` itself on the host."""
    if not is_gpu_namespace(xp):
        return S
    import cupyx.scipy.sparse as cusparse

    return cusparse.csr_matrix(S)


class FilledMatrix:
    """``X = center? S : B + S`` as products, with ``B = a 1^T + 1 c^T`` (rank <= 2, mu folded into a)."""

    def __init__(self, xp: Any, S: Any, row: Any, col: Any, include_fill: bool):
        self.xp, self.S, self.row, self.col, self.include_fill = xp, S, row, col, include_fill
        self.shape = S.shape

    def matmat(self, V: Any) -> Any:
        out = self.S @ V
        if self.include_fill:
            out = out + self.row[:, None] * V.sum(0)[None, :] + (self.col @ V)[None, :]
        return out

    def rmatmat(self, V: Any) -> Any:
        out = self.S.T @ V
        if self.include_fill:
            out = out + (self.row @ V)[None, :] + self.col[:, None] * V.sum(0)[None, :]
        return out

    def frobenius2(self) -> float:
        """``|X|_F^2`` without forming X."""
        xp = self.xp
        s2 = float((self.S.data.astype(xp.float64) ** 2).sum())
        if not self.include_fill:
            return s2
        n, m = self.shape
        row, col = self.row.astype(xp.float64), self.col.astype(xp.float64)
        b2 = m * float((row**2).sum()) + n * float((col**2).sum()) + 2 * float(row.sum()) * float(col.sum())
        S = self.S.tocoo()
        cross = float((S.data * (row[S.row] + col[S.col])).sum())
        return b2 + 2 * cross + s2

    def dense(self) -> np.ndarray:
        X = self.S.toarray()
        if self.include_fill:
            X = X + self.row[:, None] + self.col[None, :]
        return X

    def linear_operator(self) -> splinalg.LinearOperator:
        from scipy.sparse import linalg as splinalg

        return splinalg.LinearOperator(
            self.shape,
            matvec=lambda v: self.matmat(v[:, None]).ravel(),
            rmatvec=lambda v: self.rmatmat(v[:, None]).ravel(),
            matmat=self.matmat,
            rmatmat=self.rmatmat,
            dtype=np.float64,
        )


def randomized_svd(
    xp: Any, op: FilledMatrix, k: int, oversample: int = 10, power_iters: int = 4, seed: int = 0
) -> tuple[Any, Any, Any]:
    """Top-``k`` SVD by a randomized range finder with power iterations (Halko et al. 2011, alg. 4.4)."""
    n, m = op.shape
    rng = np.random.default_rng(seed)
    width = min(k + oversample, min(n, m))
    Y = op.matmat(xp.asarray(rng.standard_normal((m, width))))
    Qm, _ = xp.linalg.qr(Y)
    for _ in range(power_iters):
        Z, _ = xp.linalg.qr(op.rmatmat(Qm))
        Qm, _ = xp.linalg.qr(op.matmat(Z))
    Bt = op.rmatmat(Qm)  # (m, width) = (Q^T X)^T
    Ub, s, Vt = xp.linalg.svd(Bt.T, full_matrices=False)
    return (Qm @ Ub)[:, :k], s[:k], Vt[:k]


class ImputedSVD(Algorithm):
    """Truncated SVD of the imputed ratings matrix.

    Parameters
    ----------
    k
        Rank: an integer, or ``"energy:F"`` for the smallest rank keeping the fraction ``F`` of
        the squared energy (searched up to ``k_max``).
    fill
        ``baseline`` (``mu + b_u + b_i``, regularized by ``reg_user``/``reg_item``) or
        ``item_mean`` (damped item means).
    center
        Factor the residual ``S`` alone (predict ``fill + S_k``) instead of the filled matrix.
    solver
        ``arpack`` (CPU), ``randomized`` (numpy or cupy), or ``auto`` (``arpack`` on the CPU,
        ``randomized`` on the GPU).
    dense
        Take a dense SVD of the filled matrix (small data and tests; memory-checked).
    max_dense_gb
        Budget of the dense path in GiB; default half the free memory.
    """

    state_attrs = ("U_", "V_", "row_", "col_")
    parameter_constraints = {
        "k": [
            Interval(int, 1, None),
            Pattern(r"energy:([0-9]*\.?[0-9]+)", "energy:F with 0 < F <= 1", lambda m: 0 < float(m.group(1)) <= 1),
        ],
        "fill": [Options("baseline", "item_mean")],
        "center": BOOLEAN,
        "reg_user": NON_NEGATIVE,
        "reg_item": NON_NEGATIVE,
        "solver": [Options("auto", "arpack", "randomized")],
        "dense": BOOLEAN,
        "k_max": POSITIVE_INT,
        "max_dense_gb": OPTIONAL_POSITIVE,
    }

    def __init__(
        self,
        *,
        k: Any = 15,
        fill: str = "baseline",
        center: bool = True,
        reg_user: float = 15.0,
        reg_item: float = 10.0,
        solver: str = "auto",
        dense: bool = False,
        k_max: int = 200,
        max_dense_gb: float | None = None,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.fill, self.center, self.reg_user, self.reg_item = k, fill, center, reg_user, reg_item
        self.solver, self.dense, self.k_max, self.max_dense_gb = solver, dense, k_max, max_dense_gb

    def _parse_k(self) -> tuple[int | None, float | None]:
        """``(k, None)``, or ``(None, F)`` for ``k=energy:F``; ``prepare`` has checked ``k`` against
        ``parameter_constraints``."""
        if isinstance(self.k, str):
            return None, float(self.k.strip().split(":", 1)[1])
        return int(self.k), None

    def _prepare(self, train: Ratings) -> None:
        from scipy import sparse

        if self.device == "gpu" and self.solver == "arpack" and not self.dense:
            raise MfbenchError("svd on gpu needs solver=randomized or auto (arpack runs on the CPU)")
        self._solver = self.solver if self.solver != "auto" else "arpack" if self.device == "cpu" else "randomized"
        self._k, self._fraction = self._parse_k()
        if self.xp is np:
            from mfbench_plugins.algorithms.kernels.predict import warm_up

            warm_up()
        n, m = train.n_users, train.n_items
        if self.dense:
            ensure_dense_fits(
                self.device,
                3 * n * m * 8,
                self.max_dense_gb,
                f"svd dense=true on {n:,} x {m:,}",
                "the default dense=false (implicit operator)",
            )
        if self.fill == "baseline":
            *_, (mu, bu, bi) = fit_biases(
                np, train.users, train.items, train.values, n, m, self.reg_user, self.reg_item, passes=3
            )
            row, col = mu + bu.astype(np.float64), bi.astype(np.float64)
        else:
            mu = float(train.values.mean())
            counts = train.item_counts()
            sums = np.bincount(train.items, weights=train.values, minlength=m)
            row, col = np.zeros(n), (sums + 5.0 * mu) / (counts + 5.0)
        resid = train.values - (row[train.users] + col[train.items])
        self._S = device_sparse(self.xp, sparse.csr_matrix((resid, (train.users, train.items)), shape=(n, m)))
        self.row_, self.col_ = row.astype(np.float32), col.astype(np.float32)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        from scipy.sparse import linalg as splinalg

        xp = self.xp
        op = FilledMatrix(
            xp,
            self._S,
            xp.asarray(self.row_, dtype=xp.float64),
            xp.asarray(self.col_, dtype=xp.float64),
            include_fill=not self.center,
        )
        kmax = min(op.shape) - 1
        want = self._k if self._k is not None else min(self.k_max, kmax)
        if want > kmax and not self.dense:
            raise MfbenchError(f"svd: k={want} must be below min(n_users, n_items)={kmax + 1}; lower k")
        if self.dense:
            U, s, Vt = np.linalg.svd(to_numpy(op.dense()), full_matrices=False)
            U, s, Vt = xp.asarray(U), xp.asarray(s), xp.asarray(Vt)
        elif self._solver == "arpack":
            U, s, Vt = splinalg.svds(op.linear_operator(), k=want, random_state=self.seed)
            order = np.argsort(s)[::-1]
            U, s, Vt = U[:, order], s[order], Vt[order]
        else:
            U, s, Vt = randomized_svd(xp, op, want, seed=self.seed)
        chosen = want if self._fraction is None else energy_rank(to_numpy(s), op.frobenius2(), self._fraction)
        self.singular_values_ = s[:chosen]
        self.U_ = xp.ascontiguousarray(U[:, :chosen] * s[:chosen], dtype=xp.float32)
        self.V_ = xp.ascontiguousarray(Vt[:chosen].T, dtype=xp.float32)
        if not self.center:  # the reconstruction already holds the fill
            self.row_, self.col_ = np.zeros_like(self.row_), np.zeros_like(self.col_)
        yield {"k": float(chosen)}

    def _predict(self, users: Any, items: Any) -> Any:
        xp = self.xp
        if xp is np:
            from mfbench_plugins.algorithms.kernels.predict import pair_scores

            return pair_scores(users, items, self.U_, self.V_, self.row_, self.col_)
        u, i = xp.asarray(users), xp.asarray(items)
        base = xp.asarray(self.row_)[u] + xp.asarray(self.col_)[i]
        return base + xp.sum(xp.asarray(self.U_)[u] * xp.asarray(self.V_)[i], axis=1)

    def _score_block(self, users: Any) -> Any:
        xp = self.xp
        u = xp.asarray(users)
        U, V = xp.asarray(self.U_), xp.asarray(self.V_)
        return xp.asarray(self.row_)[u][:, None] + xp.asarray(self.col_)[None, :] + U[u] @ V.T
