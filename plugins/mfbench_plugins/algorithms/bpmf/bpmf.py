"""Bayesian matrix factorization by Gibbs sampling (Salakhutdinov & Mnih, ICML 2008), with biases.

Model: ``r = mu + b_u + b_i + p_u . q_i + noise``, ``noise ~ N(0, 1/alpha)``. Each user's unknowns
``x_u = [p_u, b_u]`` are ``N(m_U, Lambda_U^-1)``, and so are the items' ``[q_i, b_i]`` under their
own ``(m_V, Lambda_V)``; each side's mean and precision have a Normal-Wishart hyperprior
(``m_0 = 0``, ``beta_0``, ``W_0 = I``, ``nu_0`` = the row width), and ``alpha`` a Gamma(1, 1)
prior, or a fixed value (``noise_precision > 0``). ``mu`` is the training mean.

One epoch is one Gibbs sweep: ``alpha`` given the residuals, each side's ``(m, Lambda)`` given its
rows, then every user row given the items, then every item row given the users. A row's
conditional is Gaussian (``bpmf._numba``); rows are drawn in parallel, each from a counter-based
generator keyed by (seed, sweep, side, row), so a seed gives the same chain on any thread count.
Rows are stored as ALS stores them, ``[p_u, b_u, 1]`` and ``[q_i, 1, b_i]``, so that one dot
product gives ``p . q + b_u + b_i``.

Prediction averages the model over the kept draws (the sweeps after ``burn_in``, every
``thin``-th): ``mu + 1/S sum_s x_u^s . y_i^s``. The draws are kept side by side, user ``u``'s in
one row of ``samples_X_`` (``S x (k + 2)`` wide), so the average is one dot product of those
rows: memory is ``S (k + 2) (n_users + n_items)`` floats (ml-100k, k=10, 190 draws: 19 MB).
Before the first kept draw, predictions use the current draw. ``state()`` holds the kept draws,
so early stopping and checkpoints restore the posterior mean of their epoch.

With ``implicit=true`` each side's rows also carry implicit feedback, the "flipped" SVD++
features of Rendle, Zhang and Koren (2019): user ``u``'s unknowns are ``x_u + |N(u)|^-1/2
sum_{j in N(u)} y_j`` over the items ``N(u)`` it rated in training, item ``i``'s are ``x_i +
|N(i)|^-1/2 sum_{v in N(i)} z_v`` over the users who rated it, and the implicit rows ``y_j``
(one per item) and ``z_v`` (one per user) are Gibbs-sampled under Normal-Wishart hyperpriors
of their own. ``X_`` and ``Y_`` then hold the sums (what predicts), and a half-sweep is: the
rows given their implicit sums (``sample_rows_shifted``: the prior's mean moves by the sum,
and each row's Gram matrix and residual are kept), then the implicit rows one after another
(``sample_implicit``), each from its conditional given the rest, costing ``O(D^2)`` per row it
feeds instead of per rating: the cached per-row statistics that make myFM's relational blocks
fast. The chain still does not depend on the thread count (the implicit pass is sequential).

On the GPU (and with ``backend=batched`` on the CPU) the rows are drawn in batches by array code
(``sample_rows_batched``: the padded design rows of a batch, a batched Gram product, batched
Cholesky and solves in float64), with the same generator: the same chain up to rounding.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench import devices
from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.devices import is_gpu_namespace
from mfbench.errors import MfbenchError
from mfbench.params import BOOLEAN, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, Options
from mfbench_plugins.algorithms.model import factor_bytes, set_numba_threads, squared_error_chunked

__all__ = ["BPMF", "draws", "stream_key", "implicit_key", "sample_hyper", "sample_rows_batched"]

_MASK = (1 << 64) - 1
#: the Gamma(a, b) prior of the noise precision (shape, rate)
NOISE_PRIOR = (1.0, 1.0)
#: pairs times draw width a device prediction gathers at once (2^26 float32: 256 MB per side)
DEVICE_SCORE_ENTRIES = 1 << 26


def _mix(x: int) -> int:
    """``bpmf._numba._mix`` on Python integers."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def stream_key(seed: int, sweep: int, side: int) -> int:
    """The generator key of one side (0 users, 1 items) of one sweep."""
    return _mix(_mix(seed & _MASK) ^ (2 * sweep + side))


def implicit_key(seed: int, sweep: int, side: int) -> int:
    """The generator key of one side's implicit rows (0: the items' ``y``, which feed the users;
    1: the users' ``z``) in one sweep: a stream apart from ``stream_key``'s."""
    return _mix(stream_key(seed, sweep, side) ^ 0x5851F42D4C957F2D)


def draws(xp: Any, key: int, rows: Any, width: int) -> Any:
    """Standard normals ``(len(rows), width)`` in float64: entry ``(r, f)`` is the draw of
    counter ``rows[r] * width + f`` of stream ``key``, as ``bpmf._numba.normal`` computes it."""
    u64 = xp.uint64

    def mix(x):
        z = x + u64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> u64(30))) * u64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> u64(27))) * u64(0x94D049BB133111EB)
        return z ^ (z >> u64(31))

    c = (xp.asarray(rows).astype(u64)[:, None] * u64(width) + xp.arange(width, dtype=u64)[None, :]) * u64(2)
    h1, h2 = mix(u64(key) + c), mix(u64(key) + c + u64(1))
    u1 = ((h1 >> u64(11)).astype(xp.float64) + 1.0) * 2.0**-53
    u2 = (h2 >> u64(11)).astype(xp.float64) * 2.0**-53
    return xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(2.0 * np.pi * u2)


def sample_hyper(rows: Any, rng: np.random.Generator, beta0: float) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``(Lambda, Lambda m)`` of one side from its Normal-Wishart posterior given its rows
    (``(n, D)`` in any namespace; only ``D x D`` statistics come to the host)."""
    from scipy import stats

    xp = devices.array_namespace_of(rows)
    n, D = rows.shape
    r64 = rows.astype(xp.float64)
    mean = r64.mean(axis=0)
    centered = r64 - mean
    scatter = devices.to_numpy(centered.T @ centered)
    mean = devices.to_numpy(mean)
    beta_n, nu_n = beta0 + n, D + n  # nu_0 = D, m_0 = 0, W_0 = I
    mu_n = n * mean / beta_n
    W_inv = np.eye(D) + scatter + (beta0 * n / beta_n) * np.outer(mean, mean)
    W = np.linalg.inv(W_inv)
    Lam = stats.wishart.rvs(df=nu_n, scale=(W + W.T) / 2, random_state=rng)
    Lam = np.atleast_2d(Lam)
    # m ~ N(mu_n, (beta_n Lambda)^-1): mu_n + L^-T z with beta_n Lambda = L L^T
    L = np.linalg.cholesky(beta_n * Lam)
    m = mu_n + np.linalg.solve(L.T, rng.standard_normal(D))
    return Lam, Lam @ m


def lower_solver(xp: Any) -> Any:
    """``solve(L, b, transposed)``: ``L x = b`` (or ``L^T x = b``) for a batch of lower-triangular
    ``L`` (``(B, D, D)``) and ``b`` (``(B, D, 1)``). On cupy 14 and later cuBLAS's batched
    triangular solve (``cupyx.scipy.linalg.solve_triangular``, batched from cupy 14), about
    ``D^2`` a system; elsewhere (cupy 13, numpy and the test suite's stand-in) a general solve,
    an LU factorization of each triangle, about ``D^3``."""
    if is_gpu_namespace(xp) and int(xp.__version__.split(".")[0]) >= 14:
        from cupyx.scipy.linalg import solve_triangular

        return lambda L, b, transposed: solve_triangular(L, b, trans="T" if transposed else "N", lower=True)
    return lambda L, b, transposed: xp.linalg.solve(L.transpose(0, 2, 1) if transposed else L, b)


#: the largest row system (k + 1, the factors and a bias) the GPU path factors in batches: past
#: it cupy's batched Cholesky and solves fall back to one system at a time
GPU_MAX_SYSTEM = 256


def sample_rows_batched(
    xp: Any,
    indptr: np.ndarray,
    indices: Any,
    targets: Any,
    design: Any,
    X: Any,
    Lam: np.ndarray,
    Lam_mu: np.ndarray,
    alpha: float,
    key: int,
    draw: bool = True,
    budget: int | None = None,
) -> None:
    """``bpmf._numba.sample_rows`` as batched array code: rows by rating count in batches
    (``rows_gpu.plan_batches``), each batch's systems built by one batched product and
    factored together, in float64. ``indptr`` on the host; the rest in ``xp``."""
    from mfbench_plugins.algorithms.rows_gpu import gather_padded, plan_batches

    n_rows, D = X.shape
    if budget is None:
        budget = 1 << (23 if xp is np else 26)  # float64 entries
    Lam_d, Lam_mu_d = xp.asarray(Lam), xp.asarray(Lam_mu)
    counts = np.diff(indptr)
    empty = np.flatnonzero(counts == 0)
    if len(empty):  # prior draws: m + L0^-T z, with Lambda = L0 L0^T
        L0 = xp.linalg.cholesky(Lam_d)
        w = xp.linalg.solve(L0, Lam_mu_d)
        z = draws(xp, key, xp.asarray(empty), D) if draw else xp.zeros((len(empty), D))
        X[xp.asarray(empty)] = xp.linalg.solve(L0.T, (w[None, :] + z).T).T.astype(X.dtype)
    starts_x, counts_x = xp.asarray(indptr[:-1]), xp.asarray(counts)
    solve = lower_solver(xp)
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    for start, stop in plan_batches(counts[order], D, budget):
        sel = order[start:stop]
        longest = int(counts[sel[-1]])
        sel_x = xp.asarray(sel)
        Yp, t = gather_padded(xp, starts_x, counts_x, sel_x, longest, indices, design, targets, xp.float64)
        A = alpha * xp.matmul(Yp.transpose(0, 2, 1), Yp) + Lam_d[None]
        b = alpha * xp.einsum("rlk,rl->rk", Yp, t) + Lam_mu_d[None]
        del Yp, t
        L = xp.linalg.cholesky(A)
        w = solve(L, b[..., None], False)
        if draw:
            w += draws(xp, key, sel_x, D)[..., None]
        X[sel_x] = solve(L, w, True)[..., 0].astype(X.dtype)


class BPMF(Algorithm):
    """Bayesian MF with biases, by Gibbs sampling.

    Parameters
    ----------
    k
        Latent factors.
    epochs
        Gibbs sweeps.
    burn_in
        Sweeps whose draws are discarded; the draws of the later sweeps (every ``thin``-th) are
        averaged for prediction. A run of ``epochs <= burn_in`` sweeps keeps its last draw.
    thin
        Keep every ``thin``-th draw after the burn-in (fewer kept draws: less memory).
    noise_precision
        ``0`` (the default) samples the noise precision under a Gamma(1, 1) prior; a positive
        value fixes it.
    beta0
        The Normal-Wishart's confidence in its prior mean (``m_0 = 0``).
    init_std
        Standard deviation of the normal initial factors (biases start at 0).
    backend
        ``auto`` (``numba`` on the CPU, ``batched`` on the GPU), ``numba`` (rows in parallel,
        CPU) or ``batched`` (array code in batches; numpy on the CPU, cupy on the GPU).
    threads
        numba threads for the rows; 0 uses numba's default (all cores). Results do not depend on it.
    implicit
        Add implicit feedback to both sides (the module docstring): each user's row gains the
        normalized sum of implicit rows of the items it rated, each item's that of the users who
        rated it. CPU, ``backend=numba``.
    """

    state_attrs = ("X_", "Y_", "samples_X_", "samples_Y_", "kept_", "mu_", "item_implicit_", "user_implicit_")
    added_params = ("implicit",)
    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "burn_in": NON_NEGATIVE_INT,
        "thin": POSITIVE_INT,
        "noise_precision": NON_NEGATIVE,
        "beta0": POSITIVE,
        "init_std": NON_NEGATIVE,
        "backend": [Options("auto", "numba", "batched")],
        "threads": NON_NEGATIVE_INT,
        "implicit": BOOLEAN,
    }

    def __init__(
        self,
        *,
        k: int = 10,
        epochs: int = 200,
        burn_in: int = 10,
        thin: int = 1,
        noise_precision: float = 0.0,
        beta0: float = 2.0,
        init_std: float = 0.1,
        backend: str = "auto",
        threads: int = 0,
        implicit: bool = False,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.burn_in, self.thin = k, epochs, burn_in, thin
        self.noise_precision, self.beta0, self.init_std = noise_precision, beta0, init_std
        self.backend, self.threads, self.implicit = backend, threads, implicit

    @property
    def _backend(self) -> str:
        if self.backend == "auto":
            return "batched" if self.device == "gpu" else "numba"
        return self.backend

    @property
    def _burn_in(self) -> int:
        """The sweeps discarded: ``burn_in``, but never the last sweep (as myFM keeps at least one)."""
        return min(self.burn_in, self.epochs - 1)

    def memory_bytes(self, train: Ratings) -> int:
        """The current draw, the running mean of the predictions' tables and a half-sweep's copies;
        with ``implicit``, the implicit rows and a half-sweep's Gram matrices and residuals."""
        out = factor_bytes(train, self.k + 2, 4)
        if self.implicit:
            D = self.k + 1
            out += 8 * (max(train.n_users, train.n_items) * (D * D + D) + 2 * (train.n_users + train.n_items) * D)
        return out

    def _prepare(self, train: Ratings) -> None:
        from scipy import sparse

        if self._backend == "numba" and self.device == "gpu":
            raise MfbenchError("bpmf: backend=numba runs on the CPU; on the GPU use backend=auto (batched)")
        if self.implicit and self._backend != "numba":
            raise MfbenchError(
                "bpmf: implicit=true draws its implicit rows one after another, a pass for the CPU kernels; "
                "use backend=numba (the default on the CPU), or implicit=false on the GPU"
            )
        if self.device == "gpu" and self.k + 1 > GPU_MAX_SYSTEM:
            raise MfbenchError(
                f"bpmf: k={self.k} on the GPU solves ({self.k + 1} x {self.k + 1}) row systems, past the "
                f"{GPU_MAX_SYSTEM} that cupy factors in batches (beyond it, one row at a time); use "
                f"k <= {GPU_MAX_SYSTEM - 1} on the GPU, or the CPU"
            )
        xp, k = self.xp, self.k
        self.mu_ = np.float32(train.values.mean())
        rng = np.random.default_rng(self.seed)
        X = rng.normal(0, self.init_std, (train.n_users, k + 2)).astype(np.float32)
        Y = rng.normal(0, self.init_std, (train.n_items, k + 2)).astype(np.float32)
        X[:, k], X[:, k + 1] = 0.0, 1.0  # [p_u, b_u, 1]
        Y[:, k], Y[:, k + 1] = 1.0, 0.0  # [q_i, 1, b_i]
        self.X_, self.Y_ = xp.asarray(X), xp.asarray(Y)
        n_kept = len(range(self._burn_in, self.epochs, self.thin))
        need = 4 * n_kept * (k + 2) * (train.n_users + train.n_items)
        free, _ = devices.memory_info(self.device)
        if need > free // 2:
            raise MfbenchError(
                f"bpmf keeps {n_kept:,} draws (epochs={self.epochs}, burn_in={self._burn_in}, thin={self.thin}) of "
                f"{train.n_users:,} users and {train.n_items:,} items at k={k}: {need / 2**30:.2f} GiB of {self.device} "
                f"memory, more than half of the {free / 2**30:.2f} GiB free; keep fewer with thin=N, a larger burn_in "
                f"or fewer epochs"
            )
        self.samples_X_ = xp.zeros((train.n_users, n_kept * (k + 2)), xp.float32)
        self.samples_Y_ = xp.zeros((train.n_items, n_kept * (k + 2)), xp.float32)
        self.kept_ = 0
        resid = (train.values - self.mu_).astype(np.float32)
        by_user = sparse.csr_matrix((resid, (train.users, train.items)), shape=(train.n_users, train.n_items))
        by_item = by_user.T.tocsr()
        self._csr = {}
        for side, m in (("users", by_user), ("items", by_item)):
            m.sort_indices()
            self._csr[side] = (m.indptr.astype(np.int64), xp.asarray(m.indices.astype(np.int32)), xp.asarray(m.data))
        self._n = len(train)
        self.item_implicit_ = self.user_implicit_ = None
        if self.implicit:
            self._prepare_implicit(train, rng)
        importlib.import_module("scipy.stats")  # sample_hyper's Wishart: imported here, not in the first sweep
        if xp is not np:  # each rating's user, for the chunked loss on the device
            indptr = self._csr["users"][0]
            self._rows_u = xp.asarray(np.repeat(np.arange(train.n_users, dtype=np.int32), np.diff(indptr)))
            return
        set_numba_threads(self.threads)
        from mfbench_plugins.algorithms.bpmf._numba import sample_rows, sample_scores
        from mfbench_plugins.algorithms.kernels.predict import warm_up
        from mfbench_plugins.algorithms.rows import squared_error

        # compile (or load from numba's cache) now, not in the first sweep or predict
        one = np.ones((1, 3), np.float32)
        if self._backend == "numba":
            sample_rows(
                np.zeros(2, np.int64),
                np.zeros(0, np.int32),
                np.zeros(0, np.float32),
                one,
                one.copy(),
                np.eye(3),
                np.zeros(3),
                1.0,
                np.uint64(0),
                True,
            )
        if self.implicit:
            from mfbench_plugins.algorithms.bpmf._numba import sample_implicit, sample_rows_shifted

            two = np.ones((1, 2), np.float32)
            G, r, eye = np.zeros((1, 3)), np.zeros((1, 2)), np.eye(2)
            sample_rows_shifted(
                np.zeros(2, np.int64),
                np.zeros(0, np.int32),
                np.zeros(0, np.float32),
                two,
                two.copy(),
                eye,
                np.zeros(2),
                np.zeros((1, 2)),
                1.0,
                np.uint64(0),
                G,
                r,
            )
            sample_implicit(
                np.zeros(2, np.int64),
                np.zeros(0, np.int32),
                np.zeros(1),
                G,
                r,
                two.copy(),
                np.zeros((1, 2)),
                eye,
                np.zeros(2),
                1.0,
                np.uint64(0),
            )
        squared_error(np.zeros(2, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), one, one)
        sample_scores(np.zeros(1, np.int32), np.zeros(1, np.int32), one, one, 3, np.empty(1, np.float32))
        warm_up()

    def _prepare_implicit(self, train: Ratings, rng: np.random.Generator) -> None:
        """The implicit rows (factors as the rows start, linear weights 0), each side's
        normalization ``|N|^-1/2`` and the sums they start ``X_`` and ``Y_`` with."""
        D = self.k + 1
        implicit = {}
        for name, n in (("item_implicit_", train.n_items), ("user_implicit_", train.n_users)):
            V = rng.normal(0, self.init_std, (n, D))
            V[:, -1] = 0.0
            implicit[name] = V
        self.item_implicit_, self.user_implicit_ = implicit["item_implicit_"], implicit["user_implicit_"]
        from scipy import sparse

        # each side's |N|^-1/2, and its rated matrix scaled by it (the sums are one product a sweep)
        self._scale, self._normalized = {}, {}
        for side in ("users", "items"):
            indptr, indices, _ = self._csr[side]
            counts = np.diff(indptr).astype(np.float64)
            scale = np.divide(1.0, np.sqrt(counts), out=np.zeros_like(counts), where=counts > 0)
            n_cols = train.n_items if side == "users" else train.n_users
            self._scale[side] = scale
            self._normalized[side] = sparse.csr_matrix(
                (np.repeat(scale, np.diff(indptr)), indices, indptr), shape=(len(indptr) - 1, n_cols)
            )
        for side in ("users", "items"):
            own = self._columns(side)[0]
            X = self.X_ if side == "users" else self.Y_
            X[:, own] += self._implicit_sums(side).astype(np.float32)

    def _implicit_sums(self, side: str) -> np.ndarray:
        """Each row's implicit sum on ``side``: ``|N(u)|^-1/2 sum_{j in N(u)} y_j`` for the users
        (over their ``N(u)``, the CSR's columns), likewise ``z`` for the items."""
        V = self.item_implicit_ if side == "users" else self.user_implicit_
        assert V is not None
        return np.asarray(self._normalized[side] @ V)

    # -- one sweep ---------------------------------------------------------------------------------
    def _columns(self, side: str) -> tuple[np.ndarray, np.ndarray, int]:
        """The unknowns' columns of this side's rows, the design columns of the other side's rows
        and the other side's bias column (see the module docstring for the layouts)."""
        k = self.k
        if side == "users":  # solve [p_u, b_u] against [q_i, 1], targets r - mu - b_i
            return np.r_[np.arange(k), k], np.r_[np.arange(k), k], k + 1
        return np.r_[np.arange(k), k + 1], np.r_[np.arange(k), k + 1], k  # [q_i, b_i] against [p_u, 1]

    def _sse(self) -> float:
        indptr, indices, targets = self._csr["users"]
        if self.xp is np:
            from mfbench_plugins.algorithms.rows import squared_error

            return float(squared_error(indptr, indices, targets, self.X_, self.Y_))

        return squared_error_chunked(self.xp, self._rows_u, indices, targets, self.X_, self.Y_)

    def _half(
        self,
        side: str,
        hyper: tuple[np.ndarray, np.ndarray],
        alpha: float,
        key: int,
        implicit: tuple[np.ndarray, tuple[np.ndarray, np.ndarray], int] | None = None,
    ) -> None:
        """Draw this side's rows; with ``implicit`` (the rows' current implicit sums, the
        implicit rows' hyper-parameters and their key), then the implicit rows that feed them."""
        xp = self.xp
        X, Y = (self.X_, self.Y_) if side == "users" else (self.Y_, self.X_)
        own, other, other_bias = self._columns(side)
        indptr, indices, targets = self._csr[side]
        own_x = xp.asarray(own)
        design = xp.ascontiguousarray(Y[:, xp.asarray(other)])
        tgt = (targets - Y[indices, other_bias]).astype(xp.float32)
        rows = xp.empty((X.shape[0], len(own)), xp.float32)
        Lam, Lam_mu = hyper
        if implicit is not None:
            from mfbench_plugins.algorithms.bpmf._numba import sample_implicit, sample_rows_shifted

            sums, (Lam_v, Lam_mu_v), key_v = implicit
            n_rows, D = rows.shape
            gram, resid = np.empty((n_rows, D * (D + 1) // 2)), np.empty((n_rows, D))
            sample_rows_shifted(
                indptr, indices, tgt, design, rows, Lam, Lam_mu, sums, float(alpha), np.uint64(key), gram, resid
            )
            # the implicit rows go to the rows that rated them: the other side's CSR
            other_indptr, other_indices, _ = self._csr["items" if side == "users" else "users"]
            V = self.item_implicit_ if side == "users" else self.user_implicit_
            sample_implicit(
                other_indptr,
                other_indices,
                self._scale[side],
                gram,
                resid,
                rows,
                V,
                Lam_v,
                Lam_mu_v,
                float(alpha),
                np.uint64(key_v),
            )
        elif self._backend == "numba":
            from mfbench_plugins.algorithms.bpmf._numba import sample_rows

            sample_rows(indptr, indices, tgt, design, rows, Lam, Lam_mu, float(alpha), np.uint64(key), True)
        else:
            sample_rows_batched(xp, indptr, indices, tgt, design, rows, Lam, Lam_mu, float(alpha), key)
        X[:, own_x] = rows

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        if self._backend == "numba":
            set_numba_threads(self.threads)
        a0, b0 = NOISE_PRIOR
        width = self.k + 2
        for sweep in range(self.epochs):
            rng = np.random.default_rng([self.seed, sweep])
            if self.noise_precision > 0:
                alpha = float(self.noise_precision)
            else:
                alpha = float(rng.gamma(a0 + self._n / 2, 1.0 / (b0 + self._sse() / 2)))
            own_u, own_i = self.xp.asarray(self._columns("users")[0]), self.xp.asarray(self._columns("items")[0])
            if not self.implicit:
                hyper_u = sample_hyper(self.X_[:, own_u], rng, self.beta0)
                hyper_i = sample_hyper(self.Y_[:, own_i], rng, self.beta0)
                self._half("users", hyper_u, alpha, stream_key(self.seed, sweep, 0))
                self._half("items", hyper_i, alpha, stream_key(self.seed, sweep, 1))
            else:  # the rows' own parts (the sums less the implicit parts) set the rows' hyperprior
                sums_u, sums_i = self._implicit_sums("users"), self._implicit_sums("items")
                hyper_u = sample_hyper(self.X_[:, own_u] - sums_u, rng, self.beta0)
                hyper_i = sample_hyper(self.Y_[:, own_i] - sums_i, rng, self.beta0)
                hyper_y = sample_hyper(self.item_implicit_, rng, self.beta0)
                hyper_z = sample_hyper(self.user_implicit_, rng, self.beta0)
                self._half(
                    "users",
                    hyper_u,
                    alpha,
                    stream_key(self.seed, sweep, 0),
                    (sums_u, hyper_y, implicit_key(self.seed, sweep, 0)),
                )
                self._half(
                    "items",
                    hyper_i,
                    alpha,
                    stream_key(self.seed, sweep, 1),
                    (sums_i, hyper_z, implicit_key(self.seed, sweep, 1)),
                )
            if sweep >= self._burn_in and (sweep - self._burn_in) % self.thin == 0:
                cols = slice(self.kept_ * width, (self.kept_ + 1) * width)
                self.samples_X_[:, cols] = self.X_
                self.samples_Y_[:, cols] = self.Y_
                self.kept_ += 1
            devices.synchronize(self.device)
            # the current draw's training MSE, off the clock; train_mse (the runner's) is the average's
            yield {
                "objective": lambda: self._sse() / max(self._n, 1),
                "noise_precision": alpha,
                "kept_draws": float(self.kept_),
            }

    # -- prediction --------------------------------------------------------------------------------
    def _model_rows(self) -> tuple[Any, Any, int, float]:
        """The rows to score with, their used width and the scale: the kept draws side by side
        (averaged by ``1 / kept``), or the current draw before the first is kept."""
        if self.kept_ == 0:
            return self.X_, self.Y_, self.k + 2, 1.0
        return self.samples_X_, self.samples_Y_, self.kept_ * (self.k + 2), 1.0 / self.kept_

    def _predict(self, users: Any, items: Any) -> Any:
        A, B, width, scale = self._model_rows()
        xp = self.xp
        if xp is np:
            from mfbench_plugins.algorithms.bpmf._numba import sample_scores

            out = np.empty(len(users), np.float32)
            sample_scores(np.ascontiguousarray(users), np.ascontiguousarray(items), A, B, width, out)
            return self.mu_ + np.float32(scale) * out
        u, i = xp.asarray(users), xp.asarray(items)
        out = xp.empty(len(u), xp.float32)
        step = max(1, DEVICE_SCORE_ENTRIES // width)
        for s in range(0, len(u), step):
            sl = slice(s, s + step)
            out[sl] = (A[u[sl], :width] * B[i[sl], :width]).sum(axis=1)
        return self.mu_ + np.float32(scale) * out

    def _score_block(self, users: Any) -> Any:
        A, B, width, scale = self._model_rows()
        u = self.xp.asarray(users)
        return self.mu_ + np.float32(scale) * (A[u, :width] @ B[:, :width].T)
