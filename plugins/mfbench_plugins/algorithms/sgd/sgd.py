"""Per-rating stochastic gradient descent for biased MF (Funk 2006; Koren, Bell & Volinsky 2009).

For each rating, with ``e = r_hat - r`` (the model and loss of ``model.py``)::

    b_u -= lr (e + reg_bias b_u)          b_i -= lr (e + reg_bias b_i)
    p_u -= lr (e q_i + reg p_u)           q_i -= lr (e p_u + reg q_i)

``adaptive=true`` scales each row's step by AdaGrad accumulators, one per user row and item
row (LIBMF; Chin et al., PAKDD 2015). Order: the ratings are cut into ``blocks x blocks`` blocks
over randomly permuted users and items; each epoch visits the strata (sets of blocks sharing no
row or column) in a fresh seeded order, and the blocks of a stratum run in parallel on
``threads`` threads without locks (DSGD, Gemulla et al., KDD 2011). Inside a block ratings are
sorted by user for cache locality (LIBMF). Training runs on row-permuted copies of the factors
in which each block's rows are contiguous, so blocks running at once touch disjoint memory. The
schedule makes results independent of the thread count. ``backend="python"`` runs the same
updates in the same order in plain Python: the readable reference and the test oracle of the
numba kernel (small data only).

On the GPU (``backend="cuda"``, the default there) the same update runs as the CUDA kernel of
``sgd/_cuda.cu``: one warp per rating, lock-free across warps (Hogwild; cuMF_SGD's scheme), over
a permutation of the ratings drawn on the device each epoch. Its result depends on the order in
which warps meet, so it matches the CPU run in accuracy, not bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.params import BOOLEAN, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, Options
from mfbench_plugins.algorithms.model import BiasedMF, Factors, set_numba_threads

__all__ = ["SGD", "block_order", "device_order", "python_epoch"]

#: The python backend refuses more ratings than this (it runs at about 100k ratings/s).
PYTHON_BACKEND_LIMIT = 500_000


def block_order(
    users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, n_blocks: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rating order of the block layout, the ``n_blocks^2 + 1`` block offsets, and the row
    permutations of users and items.

    Users and items are spread over blocks by a random permutation (balancing popular rows): user
    ``u`` is stored as row ``perm_u[u]`` and falls in block ``perm_u[u] * n_blocks // n_users``,
    so every block's rows are one contiguous range of the permuted arrays. Without that, rows of
    blocks that run at the same time would interleave in memory, and the threads would keep
    invalidating each other's cache lines (false sharing on the biases and step accumulators;
    it halved two-thread throughput). Ratings are sorted by block (numpy's radix sort), then by
    user, then item inside each block (the blocks on numba's thread count).
    """
    from mfbench_plugins.algorithms.sgd._numba import sort_by_block, sort_within_blocks

    perm_u = rng.permutation(n_users).astype(np.int64)
    perm_i = rng.permutation(n_items).astype(np.int64)
    ublock = (perm_u * n_blocks // max(n_users, 1))[users]
    iblock = (perm_i * n_blocks // max(n_items, 1))[items]
    order = np.empty(len(users), np.int64)
    ptr = sort_by_block(ublock * n_blocks + iblock, n_blocks * n_blocks, order)
    sort_within_blocks(order, ptr, users, items, n_items)
    return order, ptr, perm_u, perm_i


def python_epoch(
    users,
    items,
    values,
    block_ptr,
    n_blocks,
    strata,
    f: Factors,
    G: dict[str, np.ndarray],
    lr: float,
    reg: float,
    reg_bias: float,
    biased: bool,
    adaptive: bool,
) -> float:
    """The reference epoch: the same updates as the numba kernel, one rating at a time."""
    sse = 0.0
    k = f.P.shape[1]
    for s in strata:
        for a in range(n_blocks):
            blk = a * n_blocks + (a + s) % n_blocks
            for j in range(block_ptr[blk], block_ptr[blk + 1]):
                u, i, r = users[j], items[j], values[j]
                pu, qi = f.P[u].copy(), f.Q[i].copy()
                e = np.float32(pu @ qi) + (np.float32(f.mu) + f.bu[u] + f.bi[i] if biased else 0) - r
                gp, gq = e * qi + reg * pu, e * pu + reg * qi
                step_p = step_q = lr
                if adaptive:  # the step uses the accumulator before this rating (LIBMF's order)
                    step_p, step_q = lr / np.sqrt(G["p"][u]), lr / np.sqrt(G["q"][i])
                    G["p"][u] += (gp @ gp) / k
                    G["q"][i] += (gq @ gq) / k
                f.P[u] = pu - step_p * gp
                f.Q[i] = qi - step_q * gq
                if biased:
                    gbu, gbi = e + reg_bias * f.bu[u], e + reg_bias * f.bi[i]
                    if adaptive:
                        f.bu[u] -= lr / np.sqrt(G["bu"][u]) * gbu
                        f.bi[i] -= lr / np.sqrt(G["bi"][i]) * gbi
                        G["bu"][u] += gbu * gbu
                        G["bi"][i] += gbi * gbi
                    else:
                        f.bu[u] -= lr * gbu
                        f.bi[i] -= lr * gbi
                sse += float(e * e)
    return sse


def device_order(xp: Any, rng: Any, n: int) -> Any:
    """An epoch's order of ``n`` ratings on the device (int64): the ranks of ``n`` uniform
    float64 keys. cupy's ``RandomState.permutation`` sorts 32-bit keys, which tie about 1.2M times
    at 100M ratings (``n^2 / 2^33``), and a sort keeps tied ratings in their stored order; 53-bit
    keys tie about once."""
    return xp.argsort(rng.random_sample(n)).astype(xp.int64, copy=False)


class SGD(BiasedMF):
    """Biased MF by per-rating SGD.

    Parameters
    ----------
    k
        Number of latent factors.
    epochs
        Passes over the training ratings.
    lr, lr_decay
        Step size, multiplied by ``lr_decay`` after each epoch. With ``adaptive`` (the default)
        it is the AdaGrad base step; with ``adaptive=false`` use about 0.01.
    reg, reg_bias
        L2 regularization of the factors and of the biases, per rating.
    init_std
        Standard deviation of the normal initial factors (centred on ``sqrt(mean / k)`` when
        unbiased, so that first predictions sit near the mean rating).
    biased
        Learn ``mu + b_u + b_i`` besides ``p_u . q_i``.
    adaptive
        Per-row AdaGrad step sizes (LIBMF).
    backend
        ``auto`` (``numba`` on the CPU, ``cuda`` on the GPU), ``numba`` (parallel, float32),
        ``python`` (the reference loop; small data only) or ``cuda`` (the GPU kernel).
    half
        ``cuda`` only: store the factors in IEEE half precision (arithmetic stays float32),
        halving the memory traffic of an epoch.
    threads
        numba threads for the blocks of a stratum; 0 uses numba's default (all cores).
    blocks
        The grid is ``blocks x blocks``; at least ``threads`` (2 to 4 times is best).
    """

    parameter_constraints = {
        **BiasedMF.parameter_constraints,
        "lr": POSITIVE,
        "lr_decay": POSITIVE,
        "adaptive": BOOLEAN,
        "backend": [Options("auto", "numba", "python", "cuda")],
        "half": BOOLEAN,
        "threads": NON_NEGATIVE_INT,
        "blocks": POSITIVE_INT,
    }

    def __init__(
        self,
        *,
        k: int = 100,
        epochs: int = 20,
        lr: float = 0.1,
        lr_decay: float = 1.0,
        reg: float = 0.1,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        biased: bool = True,
        adaptive: bool = True,
        backend: str = "auto",
        half: bool = False,
        threads: int = 0,
        blocks: int = 8,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.lr, self.lr_decay = k, epochs, lr, lr_decay
        self.reg, self.reg_bias, self.init_std = reg, reg_bias, init_std
        self.biased, self.adaptive = biased, adaptive
        self.backend, self.half, self.threads, self.blocks = backend, half, threads, blocks

    @property
    def _backend(self) -> str:
        if self.backend == "auto":
            return "cuda" if self.device == "gpu" else "numba"
        return self.backend

    def _prepare(self, train: Ratings) -> None:
        backend = self._backend
        if (backend == "cuda") != (self.device == "gpu"):
            raise MfbenchError(
                f"sgd: backend={backend} runs on the {'gpu' if backend == 'cuda' else 'cpu'}, "
                f"not on device={self.device}; use backend=auto"
            )
        if self.half and backend != "cuda":
            raise MfbenchError("sgd: half=true is a storage option of the GPU kernel (backend=cuda)")
        if backend == "python" and len(train) > PYTHON_BACKEND_LIMIT:
            raise MfbenchError(
                f"sgd: backend=python is the reference loop for small data ({len(train):,} ratings "
                f"> {PYTHON_BACKEND_LIMIT:,}); use backend=numba"
            )
        if backend == "cuda":
            self._prepare_cuda(train)
            return
        self._rng = np.random.default_rng(self.seed)
        order, self._ptr, self._perm_u, self._perm_i = block_order(
            train.users, train.items, train.n_users, train.n_items, self.blocks, self._rng
        )
        # training runs on permuted rows (see block_order); _sync copies them back after each epoch.
        # Unsigned ids: the kernel's indexing then needs no negative-index wraparound.
        self._u = self._perm_u[train.users[order]].astype(np.uint32)
        self._i = self._perm_i[train.items[order]].astype(np.uint32)
        self._r = train.values[order]
        f = self._init_factors(train)
        inv_u, inv_i = np.argsort(self._perm_u), np.argsort(self._perm_i)
        self._work = Factors(f.P[inv_u], f.Q[inv_i], f.bu[inv_u], f.bi[inv_i], f.mu)
        self._adagrad = self._accumulators(train)
        if backend == "numba":
            set_numba_threads(self.threads)
            self._epoch_on_cpu(np.zeros(0, np.int64), 0.0)  # compile (or load from cache) now, not in epoch 1
        self._sync()  # and the row gather every CPU epoch ends with

    def _prepare_cuda(self, train: Ratings) -> None:
        """Training data and factors to the device (timed in prepare), the kernel compiled."""
        from mfbench_plugins.algorithms.sgd._cuda import kernel

        xp = self.xp
        self._u, self._i = xp.asarray(train.users, dtype=xp.int32), xp.asarray(train.items, dtype=xp.int32)
        self._r = xp.asarray(train.values, dtype=xp.float32)
        f = self._init_factors(train)
        storage = xp.float16 if self.half else xp.float32
        self._work = Factors(f.P.astype(storage, copy=self.half), f.Q.astype(storage, copy=self.half), f.bu, f.bi, f.mu)
        self._adagrad = self._accumulators(train)
        self._device_rng = xp.random.RandomState(self.seed)
        kernel(self.half)  # compile (or load from cupy's cache) now, not in epoch 1
        from mfbench_plugins.algorithms.sgd._cuda import planned_warps, resident_warps

        self._warps = planned_warps(train.n_users, train.n_items, resident_warps(self.half))

    def _accumulators(self, train: Ratings) -> dict[str, Any]:
        """AdaGrad's squared-gradient sums per user row, item row and bias, starting at 1."""
        xp = self.xp
        return {
            name: xp.ones(n, xp.float32)
            for name, n in (("p", train.n_users), ("q", train.n_items), ("bu", train.n_users), ("bi", train.n_items))
        }

    def _epoch_on_gpu(self, order: Any, lr: float) -> float:
        from mfbench_plugins.algorithms.sgd._cuda import epoch

        w = self._work
        return epoch(
            order,
            self._u,
            self._i,
            self._r,
            w.P,
            w.Q,
            w.bu,
            w.bi,
            self._adagrad,
            w.mu,
            lr,
            self.reg,
            self.reg_bias,
            self.biased,
            self.adaptive,
            warps=self._warps,
        )

    def _epoch_on_cpu(self, strata: np.ndarray, lr: float) -> float:
        G = self._adagrad
        if self._backend == "python":
            return python_epoch(
                self._u,
                self._i,
                self._r,
                self._ptr,
                self.blocks,
                strata,
                self._work,
                G,
                np.float32(lr),
                np.float32(self.reg),
                np.float32(self.reg_bias),
                self.biased,
                self.adaptive,
            )
        from mfbench_plugins.algorithms.sgd._numba import epoch_blocks

        w = self._work
        return epoch_blocks(
            self._u,
            self._i,
            self._r,
            self._ptr,
            self.blocks,
            strata,
            w.P,
            w.Q,
            w.bu,
            w.bi,
            G["p"],
            G["q"],
            G["bu"],
            G["bi"],
            np.float32(w.mu),
            np.float32(lr),
            np.float32(self.reg),
            np.float32(self.reg_bias),
            self.biased,
            self.adaptive,
        )

    def _sync(self) -> None:
        """Copy the permuted working rows back into the model's arrays (user ``u`` is row ``perm_u[u]``)."""
        w = self._work
        if self._backend == "cuda":  # the GPU trains the model's own arrays, or half copies of them
            if self.half:
                self.P_[...] = w.P.astype(self.P_.dtype)
                self.Q_[...] = w.Q.astype(self.Q_.dtype)
            return
        from mfbench_plugins.algorithms.sgd._numba import gather_rows

        gather_rows(w.P, self._perm_u, self.P_)
        gather_rows(w.Q, self._perm_i, self.Q_)
        np.take(w.bu, self._perm_u, out=self.bu_)
        np.take(w.bi, self._perm_i, out=self.bi_)

    def _one_epoch(self, lr: float) -> float:
        """One epoch in a fresh seeded order: strata on the CPU, a permutation of the ratings on the GPU."""
        if self._backend == "cuda":
            return self._epoch_on_gpu(device_order(self.xp, self._device_rng, len(self._r)), lr)
        return self._epoch_on_cpu(self._rng.permutation(self.blocks).astype(np.int64), lr)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        if self._backend != "cuda":
            set_numba_threads(self.threads)
        lr = self.lr
        for _ in range(self.epochs):
            sse = self._one_epoch(lr)
            lr *= self.lr_decay
            self._sync()
            yield {"objective": sse / max(len(self._r), 1)}
