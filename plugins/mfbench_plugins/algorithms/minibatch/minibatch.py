"""Biased MF by mini-batch gradient steps: heavy-ball momentum, Adam, Adamax.

Each step takes ``batch_size`` ratings of a seeded per-epoch shuffle, forms the mean of their
gradients (the loss of ``model.py``, per-rating regularization), adds them up per touched row, and
updates only those rows. The optimizers are *lazy* (TensorFlow's LazyAdam): moments live per
row and move only when the row is in a batch; bias corrections use the global step count.

- momentum (Polyak 1964): ``v = beta v + g``; ``w -= lr v``
- Adam (Kingma & Ba 2015): ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``;
  ``w -= lr m_hat / (sqrt(v_hat) + eps)``
- Adamax (Kingma & Ba 2015, sec. 7.1): ``u = max(b2 u, |g|)``; ``w -= lr / (1 - b1^t) m / (u + eps)``

Three backends with the same rule: a fused, threaded numba kernel (``minibatch/_numba.py``, the
default on the CPU), two CUDA kernels a batch (``minibatch/_cuda.py``, the default on the GPU)
and array code written once against the array namespace (``backend=array``: numpy on the CPU,
cupy on the GPU, about 175 launches a batch there). The tests hold them equal to float32
tolerance. Every backend takes an epoch's order from the same seeded shuffle
(``kernels/shuffle.py``); on the GPU the next epoch's is made on the host while the device runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.params import DECAY, POSITIVE, POSITIVE_INT, Options
from mfbench_plugins.algorithms.model import BiasedMF, Factors, rating_gradients, sum_touched, touched_rows

__all__ = ["MomentumSGD", "AdamSGD", "AdamaxSGD", "Momentum", "Adam", "Adamax"]


def _moment(store: dict[str, Any], name: str, xp: Any, w: Any) -> Any:
    """``store[name]``, made (zeros like ``w``) on first use only: ``setdefault(name, zeros_like(w))``
    would build a table-sized array on every step."""
    m = store.get(name)
    if m is None:
        m = store[name] = xp.zeros_like(w)
    return m


class Momentum:
    def __init__(self, xp: Any, lr: float, beta: float):
        self.xp, self.lr, self.beta = xp, lr, beta
        self.v: dict[str, Any] = {}

    def step(self, name: str, w: Any, rows: Any, g: Any, t: int) -> None:
        v = _moment(self.v, name, self.xp, w)
        v[rows] = self.beta * v[rows] + g
        w[rows] -= self.lr * v[rows]


class Adam:
    def __init__(self, xp: Any, lr: float, beta1: float, beta2: float, eps: float):
        self.xp, self.lr, self.b1, self.b2, self.eps = xp, lr, beta1, beta2, eps
        self.m: dict[str, Any] = {}
        self.v: dict[str, Any] = {}

    def step(self, name: str, w: Any, rows: Any, g: Any, t: int) -> None:
        xp = self.xp
        m, v = _moment(self.m, name, xp, w), _moment(self.v, name, xp, w)
        m[rows] = self.b1 * m[rows] + (1 - self.b1) * g
        v[rows] = self.b2 * v[rows] + (1 - self.b2) * g * g
        m_hat = m[rows] / (1 - self.b1**t)
        v_hat = v[rows] / (1 - self.b2**t)
        w[rows] -= (self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)).astype(w.dtype)


class Adamax(Adam):
    def step(self, name: str, w: Any, rows: Any, g: Any, t: int) -> None:
        xp = self.xp
        m, u = _moment(self.m, name, xp, w), _moment(self.v, name, xp, w)
        m[rows] = self.b1 * m[rows] + (1 - self.b1) * g
        u[rows] = xp.maximum(self.b2 * u[rows], xp.abs(g))
        w[rows] -= (self.lr / (1 - self.b1**t) * m[rows] / (u[rows] + self.eps)).astype(w.dtype)


class _MiniBatchMF(BiasedMF):
    """Shared training loop; subclasses name their optimizer's hyper-parameters."""

    #: the model, and its packed rows: weights with a first and a second moment (Adam, Adamax)
    factor_copies = 4
    parameter_constraints = {
        **BiasedMF.parameter_constraints,
        "batch_size": POSITIVE_INT,
        "lr": POSITIVE,
        "backend": [Options("auto", "numba", "array")],
    }

    def _kernel_args(self) -> tuple[int, float, float, float]:
        """``(kind, beta1 or momentum, beta2, eps)`` of the numba kernel."""
        raise NotImplementedError

    def _store_shared_params(
        self,
        k: int,
        epochs: int,
        batch_size: int,
        lr: float,
        reg: float,
        reg_bias: float,
        init_std: float,
        biased: bool,
        backend: str = "auto",
    ) -> None:
        self.k, self.epochs, self.batch_size, self.lr = k, epochs, batch_size, lr
        self.reg, self.reg_bias, self.init_std, self.biased = reg, reg_bias, init_std, biased
        self.backend = backend

    def _optimizer(self, xp: Any) -> Any:
        raise NotImplementedError

    def _use_numba(self) -> bool:
        if self.backend == "numba" and self.device != "cpu":
            raise MfbenchError(
                f"{type(self).__name__}: backend=numba runs on the CPU; use backend=auto on {self.device}"
            )
        return self.device == "cpu" and self.backend != "array"

    def _fused(self) -> bool:
        """The CUDA kernels of ``_cuda.py``: on the GPU, unless ``backend=array``."""
        return self.device != "cpu" and self.backend != "array"

    def _prepare(self, train: Ratings) -> None:
        xp = self.xp
        self._init_factors(train)
        self._u, self._i, self._r = xp.asarray(train.users), xp.asarray(train.items), xp.asarray(train.values)
        self._rng = np.random.default_rng(self.seed)
        self._opt = self._optimizer(xp)
        self._t = 0
        if self._use_numba():
            from . import _numba as kernel

            kind = self._kernel_args()[0]
            k = self.k
            # the state: packed rows (weights, bias, moments side by side); then scratch: the
            # epoch's ratings in shuffle order, the slot tables (-1 over every user and item); a
            # batch's own scratch is made per thread count (_batch_scratch)
            self._packed = [kernel.packed(kind, k, train.n_users), kernel.packed(kind, k, train.n_items)]
            self._shuffled = [np.empty_like(self._u), np.empty_like(self._i), np.empty_like(self._r)]
            self._scratch = [np.full(train.n_users, -1, np.int32), np.full(train.n_items, -1, np.int32)]
            self._warm_up(kernel)
        else:
            from mfbench_plugins.algorithms.kernels.shuffle import permutation

            permutation(0, 1)  # compiled (or loaded from the cache) here, not in the first epoch
            if self._fused():
                from ._cuda import MiniBatchState, kernels

                kernels(xp)  # compiled (or loaded from cupy's cache) here too
                kind = self._kernel_args()[0]
                self._steps = MiniBatchState(xp, train.n_users, train.n_items, self.k, self.batch_size, kind)

    def _epoch_key(self) -> int:
        """The seed of the next epoch's shuffle (``kernels/shuffle.py``), from the fit's generator."""
        return int(self._rng.integers(2**63))

    def _warm_up(self, kernel: Any) -> None:
        """Compile the kernel and the shuffle (or load them from the cache) on a one-rating copy:
        no state moves, and no epoch's clock holds a compilation."""
        from mfbench_plugins.algorithms.kernels.shuffle import shuffle

        shuffle(0, [a[:1] for a in (self._u, self._i, self._r)], [a[:1] for a in self._shuffled])
        one = np.zeros(1, self._u.dtype), np.zeros(1, self._i.dtype), np.ones(1, self._r.dtype)
        slots = np.full(1, -1, np.int32), np.full(1, -1, np.int32)
        self._kernel_epoch(kernel, one, [z[:1].copy() for z in self._packed], 0, slots)

    def _kernel_epoch(
        self, kernel: Any, ratings: Any, packed: list[np.ndarray], t: int, slots: Any
    ) -> tuple[float, int]:
        """Run ``kernel.minibatch_epoch`` over ``ratings`` (users, items, values in epoch order)
        and the packed rows from step ``t``, on the thread count of ``_threads``; returns
        ``(sum of squared errors, step count)``."""
        kind, b1, b2, eps = self._kernel_args()
        om, ov, _ = kernel.columns(kind, self.k)
        threads = self._threads(kernel)
        self.threads_used_ = threads  # the record's threads_in_force says this, not numba's count
        return kernel.minibatch_epoch(
            kind,
            *ratings,
            *packed,
            self.k,
            om,
            ov,
            np.float32(self.mu_),
            np.float32(self.reg),
            np.float32(self.reg_bias),
            self.biased,
            self.batch_size,
            float(self.lr),
            float(b1),
            float(b2),
            float(eps),
            t,
            *slots,
            *self._batch_scratch(kernel, threads),
            threads,
        )

    def _threads(self, kernel: Any) -> int:
        """numba's thread count, or one where the packed rows fit in one core's cache
        (``kernel.ONE_THREAD_BYTES``)."""
        import numba

        return numba.get_num_threads() if sum(z.nbytes for z in self._packed) > kernel.ONE_THREAD_BYTES else 1

    def _batch_scratch(self, kernel: Any, threads: int) -> list[np.ndarray]:
        """The kernel's per-batch scratch for ``threads`` threads, kept while their number holds."""
        if getattr(self, "_batch", (None,))[0] != threads:
            self._batch = (threads, kernel.scratch(self.k, self.batch_size, threads))
        return self._batch[1]

    def _epoch_with_kernel(self, kernel: Any) -> float:
        """One epoch of the numba kernel: shuffle, pack the weights in, run, unpack them."""
        from mfbench_plugins.algorithms.kernels.shuffle import shuffle

        shuffle(self._epoch_key(), [self._u, self._i, self._r], self._shuffled)
        k = self.k
        zu, zi = self._packed
        zu[:, :k], zu[:, k], zi[:, :k], zi[:, k] = self.P_, self.bu_, self.Q_, self.bi_
        sse, self._t = self._kernel_epoch(kernel, self._shuffled, self._packed, self._t, self._scratch)
        self.P_[:], self.bu_[:], self.Q_[:], self.bi_[:] = zu[:, :k], zu[:, k], zi[:, :k], zi[:, k]
        return sse

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        if self._use_numba():
            from . import _numba as kernel

            for _ in range(self.epochs):
                yield {"objective": self._epoch_with_kernel(kernel) / len(self._r)}
            return
        xp = self.xp
        n = len(self._r)
        f = self.factors
        reg, reg_bias = np.float32(self.reg), np.float32(self.reg_bias)
        if self._fused():
            from . import _cuda

            _, b1, b2, eps = self._kernel_args()
            for perm in self._orders():
                sse_d, self._t = _cuda.epoch(
                    xp, self._steps, perm, self._u, self._i, self._r, f, reg, reg_bias, self.biased,
                    self.lr, b1, b2, eps, self._t,
                )  # fmt: skip
                yield {"objective": float(sse_d[0]) / n}
            return
        for perm in self._orders():
            sse = xp.zeros((), xp.float64)  # summed on the device: no transfer, no wait, per batch
            for start in range(0, n, self.batch_size):
                idx = perm[start : start + self.batch_size]
                u, i, r = self._u[idx], self._i[idx], self._r[idx]
                e, dP, dQ, dbu, dbi = rating_gradients(xp, f, u, i, r, reg, reg_bias, self.biased)
                scale = np.float32(1.0 / len(idx))
                self._t += 1
                for index, groups in self._sides(f, u, i, dP, dQ, dbu, dbi):
                    rows, inverse = touched_rows(xp, index, groups[0][1].shape[0])  # no wait, no sort
                    for name, w, g in groups:
                        self._opt.step(name, w, rows, sum_touched(xp, inverse, g) * scale, self._t)
                sse += (e.astype(xp.float64) ** 2).sum()
            yield {"objective": float(sse) / n}

    def _orders(self) -> Iterator[Any]:
        """Each epoch's order of the ratings (int64, in the array namespace): the permutation of
        the CPU kernel's shuffle for the same seed, the next epoch's made on the host, in a
        thread, while the device runs this one."""
        from concurrent.futures import ThreadPoolExecutor

        from mfbench_plugins.algorithms.kernels.shuffle import permutation

        n = len(self._r)
        with ThreadPoolExecutor(1) as pool:
            ahead = pool.submit(permutation, self._epoch_key(), n)
            for e in range(self.epochs):
                perm = ahead.result()
                if e + 1 < self.epochs:
                    ahead = pool.submit(permutation, self._epoch_key(), n)
                yield self.xp.asarray(perm).astype(self.xp.int64)

    def _sides(self, f: Factors, u: Any, i: Any, dP: Any, dQ: Any, dbu: Any, dbi: Any) -> list[tuple]:
        """The batch's user rows and item rows, each with the arrays stepped on them."""
        users, items = [("P", f.P, dP)], [("Q", f.Q, dQ)]
        if self.biased:
            users.append(("bu", f.bu, dbu))
            items.append(("bi", f.bi, dbi))
        return [(u, users), (i, items)]


class MomentumSGD(_MiniBatchMF):
    """Biased MF by mini-batch SGD with heavy-ball momentum (see the module docstring)."""

    factor_copies = 3  # the model, and packed weights with one moment
    parameter_constraints = {**_MiniBatchMF.parameter_constraints, "momentum": DECAY}

    def __init__(
        self,
        *,
        k: int = 64,
        epochs: int = 30,
        batch_size: int = 1024,
        lr: float = 3.0,
        momentum: float = 0.9,
        reg: float = 0.1,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        biased: bool = True,
        backend: str = "auto",
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self._store_shared_params(k, epochs, batch_size, lr, reg, reg_bias, init_std, biased, backend)
        self.momentum = momentum

    def _optimizer(self, xp: Any) -> Any:
        return Momentum(xp, self.lr, self.momentum)

    def _kernel_args(self) -> tuple[int, float, float, float]:
        from mfbench_plugins.algorithms.minibatch._numba import MOMENTUM

        return MOMENTUM, self.momentum, 0.0, 0.0


class AdamSGD(_MiniBatchMF):
    """Biased MF by mini-batch lazy Adam (see the module docstring)."""

    parameter_constraints = {**_MiniBatchMF.parameter_constraints, "beta1": DECAY, "beta2": DECAY, "eps": POSITIVE}

    def __init__(
        self,
        *,
        k: int = 64,
        epochs: int = 20,
        batch_size: int = 1024,
        lr: float = 0.01,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        reg: float = 0.1,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        biased: bool = True,
        backend: str = "auto",
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self._store_shared_params(k, epochs, batch_size, lr, reg, reg_bias, init_std, biased, backend)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def _optimizer(self, xp: Any) -> Any:
        return Adam(xp, self.lr, self.beta1, self.beta2, self.eps)

    def _kernel_args(self) -> tuple[int, float, float, float]:
        from mfbench_plugins.algorithms.minibatch._numba import ADAM

        return ADAM, self.beta1, self.beta2, self.eps


class AdamaxSGD(AdamSGD):
    """Biased MF by mini-batch lazy Adamax (see the module docstring)."""

    def __init__(
        self,
        *,
        k: int = 64,
        epochs: int = 20,
        batch_size: int = 1024,
        lr: float = 0.02,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        reg: float = 0.1,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        biased: bool = True,
        backend: str = "auto",
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(
            k=k,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            reg=reg,
            reg_bias=reg_bias,
            init_std=init_std,
            biased=biased,
            backend=backend,
            device=device,
            seed=seed,
        )

    def _optimizer(self, xp: Any) -> Any:
        return Adamax(xp, self.lr, self.beta1, self.beta2, self.eps)

    def _kernel_args(self) -> tuple[int, float, float, float]:
        from mfbench_plugins.algorithms.minibatch._numba import ADAMAX

        return ADAMAX, self.beta1, self.beta2, self.eps
