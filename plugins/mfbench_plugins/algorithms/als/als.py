"""Explicit-feedback alternating least squares (Zhou et al. 2008, ALS-WR; Koren et al. 2009).

Holding the item factors fixed, each user's factors minimize a regularized least-squares problem
over the items that user rated, solved exactly (Cholesky) or approximately (a few conjugate-
gradient steps warm-started from the current factors); then the same for items. The loss is the
one of ``model.py`` with ``weighted=true`` (each row's penalty scales with its rating count)::

    L = 1/2 sum_(u,i) (r - r_hat)^2 + reg/2 (sum_u n_u |p_u|^2 + sum_i n_i |q_i|^2)
        [+ reg_bias/2 (sum_u n_u b_u^2 + sum_i n_i b_i^2)]

Biases ride along as two extra columns: ``[p_u, b_u, 1] . [q_i, 1, b_i]``, so a half-sweep
solves factors and bias together. Each half-sweep only lowers ``L`` (exact solves). Data sits in
CSR by user and by item, built once in ``prepare``; the per-row solves run on ``threads``
threads with numba, independent of each other.

On the GPU the factors, the CSR columns and targets live on the device (moved in ``prepare``),
the row systems are built and solved in batches there (``rows_gpu``: a batched ``Y^T Y`` and
``solve``), and the loss is taken there in chunks; only the CSR row offsets stay on the host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench import devices
from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.params import BOOLEAN, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, Options
from mfbench_plugins.algorithms.model import factor_bytes, set_numba_threads, squared_error_chunked

__all__ = ["ALS", "als_loss", "CG_FROM_K"]

#: ``solver="auto"`` takes conjugate gradients on the CPU from this many factors on
CG_FROM_K = 64


def als_loss(users, items, values, X, Y, mu, reg, reg_bias, weighted, biased) -> float:
    """``L`` above for user rows ``X`` and item rows ``Y`` (bias columns included when biased)."""
    from scipy import sparse

    by_user = sparse.csr_matrix(((values - mu).astype(np.float32), (users, items)), shape=(X.shape[0], Y.shape[0]))
    return _loss(
        by_user.indptr.astype(np.int64),
        by_user.indices.astype(np.int32),
        by_user.data,
        X,
        Y,
        reg,
        reg_bias,
        weighted,
        biased,
    )


def _loss(indptr, indices, targets, X, Y, reg, reg_bias, weighted, biased, rows=None) -> float:
    """``L`` from a CSR by rows of ``X``: through the numba kernel, or, given ``rows`` (each
    rating's row), through chunked array code in the namespace of ``X`` (the device path)."""
    xp = devices.array_namespace_of(X)
    k = X.shape[1] - (2 if biased else 0)
    n_u = xp.asarray(np.diff(indptr))
    n_i = xp.bincount(indices, minlength=Y.shape[0])
    if not weighted:
        n_u, n_i = (n_u > 0).astype(xp.int64), (n_i > 0).astype(xp.int64)
    if rows is None:
        from mfbench_plugins.algorithms.rows import squared_error

        total = squared_error(indptr, indices, targets, X, Y)
    else:
        total = squared_error_chunked(xp, rows, indices, targets, X, Y)
    f64 = xp.float64
    total += reg * float(
        n_u.astype(f64) @ (X[:, :k].astype(f64) ** 2).sum(1) + n_i.astype(f64) @ (Y[:, :k].astype(f64) ** 2).sum(1)
    )
    if biased:
        total += reg_bias * float(
            n_u.astype(f64) @ X[:, k].astype(f64) ** 2 + n_i.astype(f64) @ Y[:, k + 1].astype(f64) ** 2
        )
    return 0.5 * float(total)


class ALS(Algorithm):
    """Explicit ALS with weighted regularization.

    Parameters
    ----------
    k
        Latent factors.
    epochs
        Full sweeps (users, then items).
    reg
        L2 regularization of the factors; multiplied by the row's rating count when ``weighted``.
    weighted
        ALS-WR regularization (``reg * n_u``); plain ``reg`` otherwise.
    biased, reg_bias
        Learn ``mu + b_u + b_i`` with the factors; ``reg_bias`` regularizes the biases.
    solver, cg_steps
        ``auto`` (the default: ``cg`` from ``k = 64`` on the CPU, ``cholesky`` below it and on
        the GPU), ``cholesky`` (exact, numba with LAPACK), ``cg`` (``cg_steps`` conjugate-gradient
        steps from the current factors), or ``batched`` (exact, batched array code, run here on
        numpy). On the GPU, ``cholesky`` and ``batched`` both solve exactly in batches on the
        device; ``cg`` is CPU-only. From ``k = 64`` three warm-started CG steps reach the exact
        solver's loss after every sweep (within 0.1% on 10M ratings and ml-100k), at about 1.8x
        its speed at k=128, because a row's exact solve costs ``O(n k^2 + k^3)`` and a CG step
        ``O(n k)``; at k=64 which of the two is faster depends on the machine
        (``tests/benchmarks/test_als_throughput.py``, ``docs/benchmarks.md``).
    init_std
        Standard deviation of the normal initial factors.
    threads
        numba threads for the row solves; 0 uses numba's default (all cores).
    """

    state_attrs = ("X_", "Y_", "mu_")
    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "reg": NON_NEGATIVE,
        "weighted": BOOLEAN,
        "biased": BOOLEAN,
        "reg_bias": NON_NEGATIVE,
        "solver": [Options("auto", "cholesky", "cg", "batched")],
        "cg_steps": POSITIVE_INT,
        "init_std": NON_NEGATIVE,
        "threads": NON_NEGATIVE_INT,
    }

    def __init__(
        self,
        *,
        k: int = 50,
        epochs: int = 15,
        reg: float = 0.1,
        weighted: bool = True,
        biased: bool = True,
        reg_bias: float = 0.1,
        solver: str = "auto",
        cg_steps: int = 3,
        init_std: float = 0.1,
        threads: int = 0,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.reg, self.weighted = k, epochs, reg, weighted
        self.biased, self.reg_bias, self.solver, self.cg_steps = biased, reg_bias, solver, cg_steps
        self.init_std, self.threads = init_std, threads

    @property
    def _solver(self) -> str:
        """The solver ``auto`` stands for: ``cg`` from ``CG_FROM_K`` factors on the CPU."""
        if self.solver != "auto":
            return self.solver
        return "cg" if self.device == "cpu" and self.k >= CG_FROM_K else "cholesky"

    def memory_bytes(self, train: Ratings) -> int:
        """The factor tables (``k + 2`` columns with the biases) and a half-epoch's design copies."""
        return factor_bytes(train, self.k + 2, 3)

    def _prepare(self, train: Ratings) -> None:
        from scipy import sparse

        if self.device == "gpu" and self._solver == "cg":
            raise MfbenchError(
                "als: solver=cg runs on the CPU only; on the GPU use solver=cholesky (exact, batched on the device)"
            )
        if self.device == "gpu":
            from mfbench_plugins.algorithms.rows_gpu import MAX_DEVICE_SYSTEM

            size = self.k + (1 if self.biased else 0)  # unknowns per row: the factors and the row's bias
            if size > MAX_DEVICE_SYSTEM:
                raise MfbenchError(
                    f"als on the gpu: k={self.k}{' with biased=true' if self.biased else ''} makes {size} x {size} "
                    f"row systems, and cupy solves systems larger than {MAX_DEVICE_SYSTEM} one row at a time; use "
                    f"k <= {MAX_DEVICE_SYSTEM - (1 if self.biased else 0)} on the gpu, or device=cpu"
                )
        xp = self.xp
        self.mu_ = np.float32(train.values.mean() if self.biased else 0.0)
        rng = np.random.default_rng(self.seed)
        kk = self.k + (2 if self.biased else 0)
        X = rng.normal(0, self.init_std, (train.n_users, kk)).astype(np.float32)
        Y = rng.normal(0, self.init_std, (train.n_items, kk)).astype(np.float32)
        if self.biased:  # [p_u, b_u, 1] . [q_i, 1, b_i]
            X[:, self.k] = 0.0
            X[:, self.k + 1] = 1.0
            Y[:, self.k] = 1.0
            Y[:, self.k + 1] = 0.0
        self.X_, self.Y_ = xp.asarray(X), xp.asarray(Y)
        resid = (train.values - self.mu_).astype(np.float32)
        by_user = sparse.csr_matrix((resid, (train.users, train.items)), shape=(train.n_users, train.n_items))
        by_item = by_user.T.tocsr()
        by_user.sort_indices()
        by_item.sort_indices()
        # row offsets stay on the host (they plan the batches); columns and targets go to the device
        self._csr_u = (
            by_user.indptr.astype(np.int64),
            xp.asarray(by_user.indices.astype(np.int32)),
            xp.asarray(by_user.data),
        )
        self._csr_i = (
            by_item.indptr.astype(np.int64),
            xp.asarray(by_item.indices.astype(np.int32)),
            xp.asarray(by_item.data),
        )
        self._train = train
        if xp is not np:  # each rating's user, for the chunked loss on the device
            self._rows_u = xp.asarray(np.repeat(np.arange(train.n_users, dtype=np.int32), np.diff(by_user.indptr)))
            return
        set_numba_threads(self.threads)
        # compile the kernels (or load them from numba's cache) here, not in the first epoch or predict
        from mfbench_plugins.algorithms.kernels.predict import warm_up

        empty = (np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))  # one row, no ratings
        tiny = np.zeros((1, kk), np.float32)
        self._half(empty, tiny.copy(), tiny.copy(), "users")
        warm_up()

    def _half(self, csr, X, Y, side: str) -> None:
        """Solve the rows of ``X`` (the ``side`` being solved) given the other side's ``Y``.

        Biased: users solve ``[p_u, b_u]`` against design rows ``[q_i, 1]`` and targets
        ``r - mu - b_i``; items solve ``[q_i, b_i]`` against ``[p_u, 1]`` and ``r - mu - b_u``.
        """
        indptr, indices, targets = csr
        xp, k = self.xp, self.k
        if self.biased:
            # users: X=[p,b_u,1], Y=[q,1,b_i]; items: X=[q,1,b_i], Y=[p,b_u,1]
            own_bias, other_bias, other_const = (k, k + 1, k) if side == "users" else (k + 1, k, k + 1)
            unknown = xp.asarray(np.r_[np.arange(k), own_bias])
            design = xp.ascontiguousarray(Y[:, xp.asarray(np.r_[np.arange(k), other_const])])
            rows = xp.ascontiguousarray(X[:, unknown])
            tgt = (targets - Y[indices, other_bias]).astype(xp.float32)
        else:
            design, rows, tgt = Y, X, targets
        reg, bias_reg = np.float32(self.reg), np.float32(self.reg_bias)
        if xp is not np:  # the device solver, whichever exact solver was named
            from mfbench_plugins.algorithms.rows_gpu import solve_rows_batched

            solve_rows_batched(xp, indptr, indices, tgt, design, rows, reg, self.weighted, bias_reg, self.biased)
        else:
            self._half_cpu(indptr, indices, tgt, design, rows, reg, bias_reg)
        if self.biased:
            X[:, unknown] = rows

    def _half_cpu(self, indptr, indices, tgt, design, rows, reg, bias_reg) -> None:
        from threadpoolctl import threadpool_limits

        from mfbench_plugins.algorithms.rows import LAPACK, cg_rows, solve_rows

        with threadpool_limits(1):  # BLAS inside parallel row solves must not spawn threads of its own
            if self._solver == "cholesky":
                solve_rows(indptr, indices, tgt, design, rows, reg, self.weighted, bias_reg, self.biased, *LAPACK)
            elif self._solver == "batched":
                from mfbench_plugins.algorithms.rows_gpu import solve_rows_batched

                solve_rows_batched(np, indptr, indices, tgt, design, rows, reg, self.weighted, bias_reg, self.biased)
            else:
                cg_rows(indptr, indices, tgt, design, rows, reg, self.weighted, bias_reg, self.biased, self.cg_steps)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        if self.xp is np:
            set_numba_threads(self.threads)
        for _ in range(self.epochs):
            t0 = time.perf_counter()
            self._half(self._csr_u, self.X_, self.Y_, "users")
            devices.synchronize(self.device)
            t1 = time.perf_counter()
            self._half(self._csr_i, self.Y_, self.X_, "items")
            devices.synchronize(self.device)
            t2 = time.perf_counter()
            # L above over n (2L/n), off the epoch's clock: a full pass over the ratings
            yield {
                "objective": lambda: self._loss() * 2 / len(self._train),
                "users_seconds": t1 - t0,
                "items_seconds": t2 - t1,
            }

    def _loss(self) -> float:
        return _loss(
            *self._csr_u,
            self.X_,
            self.Y_,
            self.reg,
            self.reg_bias,
            self.weighted,
            self.biased,
            rows=getattr(self, "_rows_u", None),
        )

    def _predict(self, users: Any, items: Any) -> Any:
        xp = self.xp
        if xp is np:
            from mfbench_plugins.algorithms.kernels.predict import pair_scores

            return pair_scores(users, items, self.X_, self.Y_, offset=float(self.mu_))
        return self.mu_ + (self.X_[xp.asarray(users)] * self.Y_[xp.asarray(items)]).sum(axis=1)

    def _score_block(self, users: Any) -> Any:
        return self.mu_ + self.X_[self.xp.asarray(users)] @ self.Y_.T

    def export_factors(self) -> dict[str, Any]:
        """User and item factors and biases (host arrays) and the global mean; the rows' bias
        columns (``X[:, k]`` is ``b_u`` against a column of ones in ``Y``, ``Y[:, k + 1]`` is
        ``b_i``) come out as the biases."""
        from mfbench.devices import to_numpy

        X, Y = to_numpy(self.X_), to_numpy(self.Y_)
        k = self.k
        return {
            "user_factors": X[:, :k],
            "item_factors": Y[:, :k],
            "user_bias": X[:, k] if self.biased else None,
            "item_bias": Y[:, k + 1] if self.biased else None,
            "mu": float(self.mu_),
        }
