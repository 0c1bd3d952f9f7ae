"""SVD++ (Koren, KDD 2008): biased MF plus implicit feedback from the items each user rated.

Model, with ``N(u)`` the items user ``u`` rated in training::

    r_hat(u, i) = mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)

Trained by SGD on ``e = r - r_hat``, ratings grouped by user (the users in a fresh seeded order
each epoch, each user's ratings in a seeded order fixed at ``prepare``). On a user's visit the
implicit sum is computed once; each rating then steps::

    b_u += lr (e - reg_bias b_u)       b_i += lr (e - reg_bias b_i)
    q_i += lr (e z_u - reg q_i)        p_u += lr (e q_i - reg p_u)       z_u = p_u + implicit sum

and the ``y`` gradient ``e |N(u)|^-1/2 q_i`` is summed over the visit and applied once at its end,
after the ``|N(u)|`` weight decays of ``(1 - lr reg_y)`` that per-rating steps would apply. So an
epoch costs about what biased MF's costs (``O(|R| k)``), not ``O(sum_u |N(u)|^2 k)`` as with a
``y`` step per rating (Surprise's SVDpp). The epoch runs on one thread (numba); ``backend=python``
runs the same updates in plain Python: the readable reference and the test oracle (small data).
Predictions use each user's row ``p_u + |N(u)|^-1/2 sum y_j``, formed after every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.params import NON_NEGATIVE, POSITIVE, POSITIVE_INT, Options
from mfbench_plugins.algorithms.model import factor_bytes

__all__ = ["SVDpp", "python_epoch"]

#: The python backend refuses more ratings than this.
PYTHON_BACKEND_LIMIT = 200_000


def python_epoch(indptr, items, values, user_order, P, Q, Y, bu, bi, mu, lr, reg, reg_bias, reg_y) -> float:
    """The reference epoch: the updates of the module docstring, one rating at a time (float32)."""
    f32 = np.float32
    sse = 0.0
    for u in user_order:
        start, end = indptr[u], indptr[u + 1]
        n = end - start
        if n == 0:
            continue
        rated = items[start:end]
        norm = f32(1.0) / np.sqrt(f32(n))
        implicit = Y[rated].sum(axis=0, dtype=np.float32) * norm
        gy = np.zeros(P.shape[1], np.float32)
        for j in range(start, end):
            i, r = items[j], values[j]
            z = P[u] + implicit
            e = r - (mu + bu[u] + bi[i] + f32(Q[i] @ z))
            sse += float(e) ** 2
            bu[u] += lr * (e - reg_bias * bu[u])
            bi[i] += lr * (e - reg_bias * bi[i])
            q = Q[i].copy()
            Q[i] = q + lr * (e * z - reg * q)
            P[u] = P[u] + lr * (e * q - reg * P[u])
            gy += e * q
        Y[rated] = (f32(1.0) - lr * reg_y) ** f32(n) * Y[rated] + (lr * norm) * gy
    return sse


class SVDpp(Algorithm):
    """SVD++ by SGD over ratings grouped by user.

    Parameters
    ----------
    k
        Latent factors.
    epochs
        Passes over the training ratings.
    lr, lr_decay
        Step size, multiplied by ``lr_decay`` after each epoch.
    reg, reg_bias, reg_y
        L2 regularization of the factors (``p``, ``q``), the biases and the implicit rows ``y``.
    init_std
        Standard deviation of the normal initial ``p``, ``q`` and ``y`` (biases start at 0).
    backend
        ``numba`` (one thread, float32) or ``python`` (the reference loop; small data only).
    """

    state_attrs = ("P_", "Q_", "Y_", "Z_", "bu_", "bi_", "mu_")
    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "lr": POSITIVE,
        "lr_decay": POSITIVE,
        "reg": NON_NEGATIVE,
        "reg_bias": NON_NEGATIVE,
        "reg_y": NON_NEGATIVE,
        "init_std": NON_NEGATIVE,
        "backend": [Options("numba", "python")],
    }

    def __init__(
        self,
        *,
        k: int = 50,
        epochs: int = 60,
        lr: float = 0.003,
        lr_decay: float = 1.0,
        reg: float = 0.08,
        reg_bias: float = 0.05,
        reg_y: float = 0.01,
        init_std: float = 0.1,
        backend: str = "numba",
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.lr, self.lr_decay = k, epochs, lr, lr_decay
        self.reg, self.reg_bias, self.reg_y, self.init_std, self.backend = reg, reg_bias, reg_y, init_std, backend

    def memory_bytes(self, train: Ratings) -> int:
        """The user, item and implicit tables (``k + 1`` columns with the biases), and a user's sum."""
        return factor_bytes(train, self.k + 1, 3)

    def _prepare(self, train: Ratings) -> None:
        if self.backend == "python" and len(train) > PYTHON_BACKEND_LIMIT:
            raise MfbenchError(
                f"svdpp: backend=python is the reference loop for small data ({len(train):,} ratings "
                f"> {PYTHON_BACKEND_LIMIT:,}); use backend=numba"
            )
        rng = np.random.default_rng(self.seed)
        k = self.k
        self.P_ = rng.normal(0, self.init_std, (train.n_users, k)).astype(np.float32)
        self.Q_ = rng.normal(0, self.init_std, (train.n_items, k)).astype(np.float32)
        self.Y_ = rng.normal(0, self.init_std, (train.n_items, k)).astype(np.float32)
        self.bu_ = np.zeros(train.n_users, np.float32)
        self.bi_ = np.zeros(train.n_items, np.float32)
        self.mu_ = np.float32(train.values.mean())
        self.Z_ = np.empty_like(self.P_)
        # ratings grouped by user, each user's in a seeded order
        order = np.lexsort((rng.random(len(train)), train.users))
        self._items = train.items[order].astype(np.int32)
        self._values = train.values[order].astype(np.float32)
        self._indptr = np.zeros(train.n_users + 1, np.int64)
        np.cumsum(np.bincount(train.users, minlength=train.n_users), out=self._indptr[1:])
        self._rng = rng
        from mfbench_plugins.algorithms.kernels.predict import warm_up
        from mfbench_plugins.algorithms.svdpp._numba import epoch, user_rows

        # compile (or load from numba's cache) now, not in the first epoch
        one = np.zeros((1, 1), np.float32)
        f32 = np.float32
        epoch(
            np.zeros(2, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.float32),
            np.zeros(1, np.int64),
            one,
            one,
            one,
            np.zeros(1, np.float32),
            np.zeros(1, np.float32),
            f32(0),
            f32(0),
            f32(0),
            f32(0),
            f32(0),
        )
        user_rows(np.zeros(2, np.int64), np.zeros(0, np.int32), one, one, one.copy())
        warm_up()
        self._user_rows()

    def _user_rows(self) -> None:
        from mfbench_plugins.algorithms.svdpp._numba import user_rows

        user_rows(self._indptr, self._items, self.P_, self.Y_, self.Z_)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        from mfbench_plugins.algorithms.svdpp._numba import epoch

        run = python_epoch if self.backend == "python" else epoch
        f32 = np.float32
        lr = self.lr
        for _ in range(self.epochs):
            order = self._rng.permutation(len(self._indptr) - 1).astype(np.int64)
            sse = run(
                self._indptr,
                self._items,
                self._values,
                order,
                self.P_,
                self.Q_,
                self.Y_,
                self.bu_,
                self.bi_,
                self.mu_,
                f32(lr),
                f32(self.reg),
                f32(self.reg_bias),
                f32(self.reg_y),
            )
            lr *= self.lr_decay
            self._user_rows()
            # the mean squared error of the epoch's own steps (each rating before its step)
            yield {"objective": sse / max(len(self._values), 1)}

    def _predict(self, users: Any, items: Any) -> Any:
        from mfbench_plugins.algorithms.kernels.predict import pair_scores

        return pair_scores(users, items, self.Z_, self.Q_, self.bu_, self.bi_, float(self.mu_))

    def _score_block(self, users: Any) -> Any:
        return self.mu_ + self.bu_[users][:, None] + self.bi_[None, :] + self.Z_[users] @ self.Q_.T
