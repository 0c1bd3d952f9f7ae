"""The biased matrix-factorization model and its loss, defined once for every optimizer.

Model (Koren, Bell & Volinsky 2009): ``r_hat(u, i) = mu + b_u + b_i + p_u . q_i``; the unbiased
variant fixes ``mu = b_u = b_i = 0``. Loss over observed ratings, regularized per occurrence
(each rating charges its own user's and item's parameters, as per-rating SGD does)::

    L = 1/2 sum_(u,i) [ (r_hat - r)^2 + reg (|p_u|^2 + |q_i|^2) + reg_bias (b_u^2 + b_i^2) ]

``rating_gradients`` gives each rating's gradient rows; ``gradient`` adds them up per parameter
row. Per-rating SGD, the mini-batch optimizers and the dense masked gradient all step along
these, and the finite-difference tests check them. Written against the array namespace ``xp``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.devices import is_gpu_namespace
from mfbench.params import BOOLEAN, NON_NEGATIVE, POSITIVE_INT

__all__ = [
    "squared_error_chunked",
    "BiasedMF",
    "Factors",
    "factor_bytes",
    "init_factors",
    "predict_pairs",
    "loss",
    "rating_gradients",
    "gradient",
    "scatter_rows",
    "touched_rows",
    "sum_touched",
    "set_numba_threads",
]


@dataclass
class Factors:
    P: Any  # (n_users, k) float32
    Q: Any  # (n_items, k) float32
    bu: Any  # (n_users,) float32, zeros when unbiased
    bi: Any  # (n_items,) float32
    mu: float

    def arrays(self) -> dict[str, Any]:
        return {"P": self.P, "Q": self.Q, "bu": self.bu, "bi": self.bi}


def init_factors(
    xp: Any, n_users: int, n_items: int, k: int, mean: float, init_std: float, biased: bool, seed: int
) -> Factors:
    """Normal factors around 0 (biased), or around ``sqrt(mean / k)`` so that ``p.q ~ mean`` (unbiased)."""
    rng = np.random.default_rng(seed)
    center = 0.0 if biased else float(np.sqrt(max(mean, 0.0) / k))
    P = rng.normal(center, init_std, (n_users, k)).astype(np.float32)
    Q = rng.normal(center, init_std, (n_items, k)).astype(np.float32)
    zeros_u = np.zeros(n_users, np.float32)
    zeros_i = np.zeros(n_items, np.float32)
    return Factors(xp.asarray(P), xp.asarray(Q), xp.asarray(zeros_u), xp.asarray(zeros_i), mean if biased else 0.0)


def predict_pairs(xp: Any, f: Factors, users: Any, items: Any) -> Any:
    return f.mu + f.bu[users] + f.bi[items] + xp.sum(f.P[users] * f.Q[items], axis=1)


def loss(xp: Any, f: Factors, users: Any, items: Any, values: Any, reg: float, reg_bias: float) -> float:
    """``L`` above, in float64."""
    e = (predict_pairs(xp, f, users, items) - values).astype(xp.float64)
    Pu, Qi = f.P[users].astype(xp.float64), f.Q[items].astype(xp.float64)
    total = (e * e).sum() + reg * ((Pu * Pu).sum() + (Qi * Qi).sum())
    total += reg_bias * ((f.bu[users].astype(xp.float64) ** 2).sum() + (f.bi[items].astype(xp.float64) ** 2).sum())
    return float(0.5 * total)


def rating_gradients(
    xp: Any, f: Factors, users: Any, items: Any, values: Any, reg: float, reg_bias: float, biased: bool
) -> tuple[Any, Any, Any, Any | None, Any | None]:
    """Each rating's gradient rows: ``(e, dP_u, dQ_i, db_u, db_i)`` with ``e = r_hat - r``."""
    Pu, Qi = f.P[users], f.Q[items]
    e = predict_pairs(xp, f, users, items) - values
    dP = e[:, None] * Qi + reg * Pu
    dQ = e[:, None] * Pu + reg * Qi
    if not biased:
        return e, dP, dQ, None, None
    return e, dP, dQ, e + reg_bias * f.bu[users], e + reg_bias * f.bi[items]


def scatter_rows(xp: Any, index: Any, rows: Any, n: int) -> Any:
    """``out[index[j]] += rows[j]`` for an ``(m,)`` or ``(m, k)`` ``rows``; ``out`` has ``n`` rows.

    On the host a sparse product (or ``bincount``); on a device an atomic scatter-add into zeros,
    which needs nothing read back (cupy's ``bincount`` reads its input's maximum to the host)."""
    if xp is not np:
        out = xp.zeros((n,) + tuple(rows.shape[1:]), dtype=rows.dtype)
        if is_gpu_namespace(xp):
            import cupyx

            cupyx.scatter_add(out, index, rows)
        else:  # the numpy stand-in of the device path (tests)
            np.add.at(out, index, rows)
        return out
    if rows.ndim == 1:
        return np.bincount(index, weights=rows, minlength=n).astype(rows.dtype)
    from scipy import sparse

    agg = sparse.csr_matrix((np.ones(len(index), rows.dtype), (index, np.arange(len(index)))), shape=(n, len(index)))
    return np.asarray(agg @ rows)


def touched_rows(xp: Any, index: Any, n_rows: int) -> tuple[Any, Any]:
    """The distinct values of ``index`` (rows of a table of ``n_rows``) found without reading
    anything back from a device, and without sorting.

    ``unique`` must learn how many values are distinct before it can size its result, a round
    trip to the host per call; and cupy 13 sorts through Thrust's synchronous policy, a wait per
    sort. This keeps the result at ``len(index)`` entries and writes a table instead: each entry
    writes its position into its row's cell of a table of ``n_rows``, one writer per row wins,
    and each entry reads back its row's winner. Returns ``(rows, inverse)``: ``rows`` is ``index``
    itself and ``inverse[j]`` the winning position of ``index[j]``'s row. Sum a per-entry array
    with ``sum_touched``: each entry then gets its row's sum,
    and a step on ``rows`` writes a repeated row several times with the same value, which is
    harmless. Four array operations, against a dozen and two sorts for ``unique``'s way."""
    table = xp.empty(n_rows, dtype=xp.int64)
    table[index] = xp.arange(len(index))
    return index, table[index]


def sum_touched(xp: Any, inverse: Any, values: Any) -> Any:
    """``values`` summed per row of ``touched_rows``, each entry given its row's sum."""
    return scatter_rows(xp, inverse, values, len(inverse))[inverse]


def gradient(
    xp: Any, f: Factors, users: Any, items: Any, values: Any, reg: float, reg_bias: float, biased: bool
) -> dict[str, Any]:
    """``dL/dP``, ``dL/dQ`` (and ``dL/db_u``, ``dL/db_i`` when biased) as full arrays."""
    e, dP, dQ, dbu, dbi = rating_gradients(xp, f, users, items, values, reg, reg_bias, biased)
    out = {"P": scatter_rows(xp, users, dP, f.P.shape[0]), "Q": scatter_rows(xp, items, dQ, f.Q.shape[0])}
    if biased:
        out["bu"] = scatter_rows(xp, users, dbu, f.P.shape[0])
        out["bi"] = scatter_rows(xp, items, dbi, f.Q.shape[0])
    return out


#: the bytes ``squared_error_chunked`` gathers at a time (the rows of both sides for a chunk of
#: ratings): 4M ratings a chunk at k=64 gathered 2.2 GB, the GPU cell's recorded peak
LOSS_GATHER_BYTES = 128 << 20


def loss_chunk(width: int, itemsize: int = 4) -> int:
    """Ratings a chunk of ``squared_error_chunked`` for rows of ``width`` values: as many as keep
    the chunk's two gathers (and their product) within ``LOSS_GATHER_BYTES``."""
    return max(1024, LOSS_GATHER_BYTES // (3 * max(width, 1) * itemsize))


def squared_error_chunked(xp, rows, indices, targets, X, Y, chunk: int | None = None) -> float:
    """``sum (t - x_row . y_col)^2`` in float64, ``chunk`` ratings at a time (bounded gathers;
    default ``loss_chunk`` of the rows' width)."""
    total = 0.0
    chunk = chunk or loss_chunk(int(X.shape[1]), X.dtype.itemsize)
    for start in range(0, int(targets.shape[0]), chunk):
        sl = slice(start, start + chunk)
        e = targets[sl] - (X[rows[sl]] * Y[indices[sl]]).sum(axis=1)
        total += float((e.astype(xp.float64) ** 2).sum())
    return total


def factor_bytes(train: Ratings, width: int, copies: int) -> int:
    """Bytes of ``copies`` float32 tables of ``width`` columns over the users and items of ``train``
    (the estimate ``Algorithm.memory_bytes`` gives for a factor model)."""
    return 4 * width * (train.n_users + train.n_items) * copies


class BiasedMF(Algorithm):
    """Base of the algorithms that learn this model (``sgd``, the mini-batch optimizers,
    ``masked_gd``): its learned arrays, their initialization and the prediction. Subclasses set
    ``k``, ``init_std`` and ``biased``."""

    state_attrs = ("P_", "Q_", "bu_", "bi_", "mu_")
    #: the model's parameters; each optimizer adds its own
    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "reg": NON_NEGATIVE,
        "reg_bias": NON_NEGATIVE,
        "init_std": NON_NEGATIVE,
        "biased": BOOLEAN,
    }

    #: float32 rows of ``k + 1`` (factors and bias) per user and item it holds: the model's, its
    #: working copies and an optimizer's moments
    factor_copies: ClassVar[int] = 2

    def memory_bytes(self, train: Ratings) -> int:
        return factor_bytes(train, self.k + 1, self.factor_copies)

    def _init_factors(self, train: Ratings) -> Factors:
        f = init_factors(
            self.xp,
            train.n_users,
            train.n_items,
            self.k,
            float(train.values.mean()),
            self.init_std,
            self.biased,
            self.seed,
        )
        self.P_, self.Q_, self.bu_, self.bi_, self.mu_ = f.P, f.Q, f.bu, f.bi, f.mu
        if self.xp is np:
            from mfbench_plugins.algorithms.kernels.predict import warm_up

            warm_up()
        return f

    @property
    def factors(self) -> Factors:
        """The learned arrays as a ``Factors`` (the same arrays: updates through it are in place)."""
        return Factors(self.P_, self.Q_, self.bu_, self.bi_, float(self.mu_))

    def _predict(self, users: Any, items: Any) -> Any:
        xp = self.xp
        if xp is np:
            from mfbench_plugins.algorithms.kernels.predict import pair_scores

            return pair_scores(users, items, self.P_, self.Q_, self.bu_, self.bi_, float(self.mu_))
        return predict_pairs(xp, self.factors, xp.asarray(users), xp.asarray(items))

    def _score_block(self, users: Any) -> Any:
        u = self.xp.asarray(users)
        return float(self.mu_) + self.bu_[u][:, None] + self.bi_[None, :] + self.P_[u] @ self.Q_.T

    def export_factors(self) -> dict[str, Any]:
        """User and item factors and biases (host arrays) and the global mean:
        ``r_hat = mu + user_bias[u] + item_bias[i] + user_factors[u] . item_factors[i]``."""
        from mfbench.devices import to_numpy

        return {
            "user_factors": to_numpy(self.P_),
            "item_factors": to_numpy(self.Q_),
            "user_bias": to_numpy(self.bu_),
            "item_bias": to_numpy(self.bi_),
            "mu": float(self.mu_),
        }


def set_numba_threads(threads: int) -> None:
    """Run numba's parallel loops on ``threads`` threads; 0 keeps numba's current setting."""
    if threads:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
