"""Biased MF by full-batch gradient descent on the dense masked error: the vectorized approach.

With ``R`` the dense users x items ratings and ``M`` its 0/1 mask of observed entries::

    E = (mu + b 1^T + 1 c^T + P Q^T - R) * M
    dL/dP = E Q + reg diag(n_u) P            dL/dQ = E^T P + reg diag(n_i) Q
    dL/db = E 1 + reg_bias n_u * b           dL/dc = E^T 1 + reg_bias n_i * c

which is the gradient of the loss of ``model.py`` (per-rating regularization; ``n_u``, ``n_i``
rating counts), divided by the number of ratings. Steps are plain gradient descent or Adam
(Kingma & Ba 2015). Everything is dense matrix algebra written against the array namespace:
numpy (BLAS) on the CPU, cupy (cuBLAS) on the GPU. Dense means ``n_users x n_items`` floats three
times over (R, M and the error, which is built in place), plus a float64 slice for the squared
error's sum: the memory is estimated first (``dense_bytes``) and a run that would not fit is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.data import Ratings
from mfbench.devices import ensure_dense_fits
from mfbench.params import OPTIONAL_POSITIVE, POSITIVE, Options
from mfbench_plugins.algorithms.minibatch.minibatch import Adam
from mfbench_plugins.algorithms.model import BiasedMF, Factors

__all__ = ["MaskedGD", "dense_gradient", "dense_bytes", "DENSE_MATRICES"]

#: Dense float32 matrices alive at once: R, M, and the error E (built and masked in place).
DENSE_MATRICES = 3
#: Entries of the float64 slices in which the squared error is summed (32 MiB at a time).
SQUARE_CHUNK = 1 << 22


def _slice_rows(n_items: int) -> int:
    """Rows of the float64 slices in which the squared error is summed."""
    return max(1, SQUARE_CHUNK // max(n_items, 1))


def dense_bytes(n_users: int, n_items: int) -> int:
    """Peak bytes of the dense matrices: ``DENSE_MATRICES`` float32 ones and one float64 slice."""
    return DENSE_MATRICES * n_users * n_items * 4 + min(_slice_rows(n_items), n_users) * n_items * 8


def _sum_squares(xp: Any, E: Any) -> float:
    """``sum(E^2)`` in float64, a slice of rows at a time (a float64 copy of E would double it)."""
    rows = _slice_rows(E.shape[1])
    total = xp.zeros((), xp.float64)
    for start in range(0, E.shape[0], rows):
        part = E[start : start + rows].astype(xp.float64)
        part *= part
        total += part.sum()
    return float(total)


def dense_gradient(
    xp: Any, f: Factors, R: Any, M: Any, n_u: Any, n_i: Any, reg: float, reg_bias: float, biased: bool
) -> tuple[float, dict[str, Any]]:
    """The loss ``L`` of ``model.py`` and its gradient, from dense ``R`` and ``M`` (not divided by N).

    One dense matrix is made (``E``); the biases, ``R`` and ``M`` are applied to it in place."""
    E = f.P @ f.Q.T
    if biased:
        E += f.bu[:, None]
        E += f.bi[None, :]
        E += np.float32(f.mu)
    E -= R
    E *= M
    sq = _sum_squares(xp, E)
    reg_term = reg * float(
        (n_u * (f.P.astype(xp.float64) ** 2).sum(1)).sum() + (n_i * (f.Q.astype(xp.float64) ** 2).sum(1)).sum()
    )
    grads = {"P": E @ f.Q + reg * n_u[:, None] * f.P, "Q": E.T @ f.P + reg * n_i[:, None] * f.Q}
    if biased:
        reg_term += reg_bias * float(
            (n_u * f.bu.astype(xp.float64) ** 2).sum() + (n_i * f.bi.astype(xp.float64) ** 2).sum()
        )
        grads["bu"] = E.sum(1) + reg_bias * n_u * f.bu
        grads["bi"] = E.sum(0) + reg_bias * n_i * f.bi
    return 0.5 * (sq + reg_term), grads


class MaskedGD(BiasedMF):
    """Biased MF by full-batch gradient steps on dense masked matrices.

    Parameters
    ----------
    k, epochs
        Latent factors; full-batch steps (one per epoch).
    lr
        Step size (Adam's, or plain gradient descent's on the mean loss).
    optimizer
        ``adam`` or ``gd``.
    reg, reg_bias, init_std, biased
        As for ``sgd``.
    max_dense_gb
        Memory budget of the dense matrices in GiB; default half the device's free memory.
    """

    parameter_constraints = {
        **BiasedMF.parameter_constraints,
        "lr": POSITIVE,
        "optimizer": [Options("adam", "gd")],
        "max_dense_gb": OPTIONAL_POSITIVE,
    }

    def __init__(
        self,
        *,
        k: int = 64,
        epochs: int = 100,
        lr: float = 0.05,
        optimizer: str = "adam",
        reg: float = 0.1,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        biased: bool = True,
        max_dense_gb: float | None = None,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.lr, self.optimizer = k, epochs, lr, optimizer
        self.reg, self.reg_bias, self.init_std, self.biased = reg, reg_bias, init_std, biased
        self.max_dense_gb = max_dense_gb

    def _prepare(self, train: Ratings) -> None:
        nbytes = dense_bytes(train.n_users, train.n_items)
        ensure_dense_fits(
            self.device,
            nbytes,
            self.max_dense_gb,
            f"masked_gd on {train.n_users:,} x {train.n_items:,}",
            "sgd or adam_sgd (no dense matrix)",
        )
        xp = self.xp
        self._init_factors(train)
        R = xp.zeros((train.n_users, train.n_items), xp.float32)
        M = xp.zeros((train.n_users, train.n_items), xp.float32)
        u, i = xp.asarray(train.users), xp.asarray(train.items)
        R[u, i] = xp.asarray(train.values)
        M[u, i] = 1.0
        self._R, self._M = R, M
        self._n_u = xp.asarray(train.user_counts().astype(np.float32))
        self._n_i = xp.asarray(train.item_counts().astype(np.float32))
        self._n = len(train)
        self._adam = Adam(xp, self.lr, 0.9, 0.999, 1e-8) if self.optimizer == "adam" else None

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        xp = self.xp
        f = self.factors
        scale = np.float32(1.0 / self._n)
        for t in range(1, self.epochs + 1):
            total, grads = dense_gradient(
                xp,
                f,
                self._R,
                self._M,
                self._n_u,
                self._n_i,
                np.float32(self.reg),
                np.float32(self.reg_bias),
                self.biased,
            )
            for name, g in grads.items():
                w = getattr(f, name)
                if self._adam is not None:
                    self._adam.step(name, w, slice(None), g * scale, t)
                else:
                    w -= np.float32(self.lr) * g * scale
            yield {"objective": 2 * total / self._n}
