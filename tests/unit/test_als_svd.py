"""ALS and imputed truncated SVD: monotone half-sweeps, exact solves, CG, recovery, spectra."""

import numpy as np
import pytest

from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.als.als import ALS, als_loss
from mfbench_plugins.algorithms.svd.svd import FilledMatrix, ImputedSVD, energy_rank
from mfbench_plugins.metrics import rmse
from support.als_check import check_half_sweep, recorded_half_sweeps


@pytest.fixture(scope="module")
def small():
    r, _ = generate(n_users=120, n_items=80, n_ratings=3000, rank=3, seed=5)
    return r


def loss_of(algo, r):
    return als_loss(
        r.users,
        r.items,
        r.values,
        algo.X_,
        algo.Y_,
        float(algo.mu_),
        algo.reg,
        algo.reg_bias,
        algo.weighted,
        algo.biased,
    )


@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_each_half_sweep_lowers_the_loss(small, biased, weighted):
    algo = ALS(k=5, biased=biased, weighted=weighted, reg=0.1, seed=0)
    algo.prepare(small)
    losses = [loss_of(algo, small)]
    for _ in range(4):
        algo._half(algo._csr_u, algo.X_, algo.Y_, "users")
        losses.append(loss_of(algo, small))
        algo._half(algo._csr_i, algo.Y_, algo.X_, "items")
        losses.append(loss_of(algo, small))
    assert all(b <= a * (1 + 1e-6) for a, b in zip(losses, losses[1:])), losses


def test_numba_solve_equals_numpy_reference(small):
    algo = ALS(k=4, biased=False, reg=0.2, seed=1)
    algo.prepare(small)
    Y = algo.Y_.astype(np.float64)
    before = algo.X_.copy()
    algo._half(algo._csr_u, algo.X_, algo.Y_, "users")
    indptr, indices, targets = algo._csr_u
    for u in (0, 7, 33):
        J = indices[indptr[u] : indptr[u + 1]]
        Yj, t = Y[J], targets[indptr[u] : indptr[u + 1]].astype(np.float64)
        A = Yj.T @ Yj + 0.2 * len(J) * np.eye(4)
        x = np.linalg.solve(A, Yj.T @ t)
        # a float32 build and solve: relative error within cond(A) * (n + k) * eps32
        bound = np.linalg.cond(A) * (len(J) + 4) * np.finfo(np.float32).eps
        assert np.linalg.norm(algo.X_[u] - x) <= bound * np.linalg.norm(x)
    assert not np.allclose(before, algo.X_)


@pytest.mark.parametrize("solver", ["cholesky", "batched"])
def test_biased_solve_equals_numpy_reference(small, solver):
    """Every row of a biased half-sweep, both exact solvers, against a float64 solve built from
    the loss's definition (``tests/support/als_check.py``); the constant column stays 1."""
    algo = ALS(k=3, biased=True, reg=0.1, reg_bias=0.05, solver=solver, seed=2)
    algo.prepare(small)
    calls = recorded_half_sweeps(algo)
    algo._half(algo._csr_u, algo.X_, algo.Y_, "users")
    algo._half(algo._csr_i, algo.Y_, algo.X_, "items")
    for side, given, written in calls:
        check_half_sweep(algo, small, side, given, written)
    assert (algo.X_[:, 4] == 1.0).all() and (algo.Y_[:, 3] == 1.0).all()


def test_cg_reaches_the_cholesky_loss_within_one_percent(small):
    exact, cg = ALS(k=8, epochs=10, seed=0), ALS(k=8, epochs=10, solver="cg", cg_steps=3, seed=0)
    for a in (exact, cg):
        a.prepare(small)
        for _ in a.fit(small):
            pass
    assert loss_of(cg, small) <= 1.01 * loss_of(exact, small)


def test_auto_solver_takes_cg_from_k_64_on_the_cpu_at_the_exact_loss(small):
    """``solver=auto`` is exact below ``CG_FROM_K`` and on the GPU, CG from it on the CPU; there
    its loss stays within 1% of the exact solver's after every sweep."""
    from mfbench_plugins.algorithms.als.als import CG_FROM_K

    assert ALS(k=CG_FROM_K - 1)._solver == "cholesky" and ALS(k=CG_FROM_K)._solver == "cg"
    assert ALS(k=CG_FROM_K, device="gpu")._solver == "cholesky"
    auto, exact = ALS(k=CG_FROM_K, epochs=5, seed=0), ALS(k=CG_FROM_K, epochs=5, solver="cholesky", seed=0)
    curves = []
    for a in (auto, exact):
        a.prepare(small)
        curves.append([info["objective"]() for info in a.fit(small)])
    np.testing.assert_allclose(curves[0], curves[1], rtol=0.01)
    assert curves[0] != curves[1]  # auto did not solve exactly


@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_als_is_deterministic_across_thread_counts(small, solver):
    """Rows are shared among threads by chunks; each row's solve is the same whoever runs it."""
    a, b = (ALS(k=5, epochs=3, threads=t, solver=solver, seed=4) for t in (1, 2))
    for algo in (a, b):
        algo.prepare(small)
        for _ in algo.fit(small):
            pass
    np.testing.assert_array_equal(a.X_, b.X_)
    np.testing.assert_array_equal(a.Y_, b.Y_)


def test_on_threads_gives_each_thread_its_share_and_raises_what_a_share_raises():
    import numba

    from mfbench_plugins.algorithms.kernels.compiling import on_threads

    seen = []
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        T = numba.get_num_threads()
        on_threads(lambda w, n, out: out.append((w, n)), (seen,))
        assert sorted(seen) == [(w, T) for w in range(T)]

        def fails(w, n):
            raise ValueError(f"share {w}")

        with pytest.raises(ValueError, match="share"):
            on_threads(fails, ())
    finally:
        numba.set_num_threads(before)


def test_als_epoch_records_half_sweep_times(small):
    algo = ALS(k=4, epochs=2)
    algo.prepare(small)
    infos = list(algo.fit(small))
    assert len(infos) == 2 and all(i["users_seconds"] > 0 and i["items_seconds"] > 0 for i in infos)


def test_als_recovers_planted_structure():
    r, _ = generate(
        n_users=400,
        n_items=300,
        n_ratings=40_000,
        rank=4,
        noise=0.1,
        step=0.001,
        seed=11,
        user_sigma=0.2,
        item_sigma=0.2,
        scale=(-10.0, 10.0),
    )
    test = np.random.default_rng(0).random(len(r)) < 0.1
    algo = ALS(k=4, epochs=15, reg=0.01, seed=0)
    algo.prepare(r.take(~test))
    for _ in algo.fit(r.take(~test)):
        pass
    t = r.take(test)
    assert rmse(t.values, algo.predict(t.users, t.items)) < 0.16


# -- svd -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("center", [True, False])
def test_implicit_operator_matches_the_dense_svd(small, center):
    implicit = ImputedSVD(k=6, center=center)
    dense = ImputedSVD(k=6, center=center, dense=True)
    for a in (implicit, dense):
        a.prepare(small)
        list(a.fit(small))
    np.testing.assert_allclose(implicit.singular_values_, dense.singular_values_, rtol=1e-6)
    # factors equal up to the sign of each singular pair: compare the reconstructions
    np.testing.assert_allclose(implicit.U_ @ implicit.V_.T, dense.U_ @ dense.V_.T, atol=1e-4)


def test_randomized_solver_matches_arpack(small):
    a, b = ImputedSVD(k=5), ImputedSVD(k=5, solver="randomized")
    for algo in (a, b):
        algo.prepare(small)
        list(algo.fit(small))
    np.testing.assert_allclose(b.singular_values_, a.singular_values_, rtol=1e-3)


def test_filled_matrix_products_and_norm_match_dense(small):
    algo = ImputedSVD(center=False)
    algo.prepare(small)
    op = FilledMatrix(np, algo._S, algo.row_.astype(float), algo.col_.astype(float), include_fill=True)
    X = op.dense()
    V = np.random.default_rng(0).normal(size=(X.shape[1], 3))
    W = np.random.default_rng(1).normal(size=(X.shape[0], 3))
    np.testing.assert_allclose(op.matmat(V), X @ V, rtol=1e-10)
    np.testing.assert_allclose(op.rmatmat(W), X.T @ W, rtol=1e-10)
    assert op.frobenius2() == pytest.approx((X**2).sum(), rel=1e-10)


def test_energy_rule_on_a_known_spectrum():
    s = np.array([4.0, 2.0, 1.0, 1.0])  # energies 16, 4, 1, 1 of 22
    assert energy_rank(s, 22.0, 0.70) == 1
    assert energy_rank(s, 22.0, 0.90) == 2
    assert energy_rank(s, 22.0, 0.95) == 3
    assert energy_rank(s, 22.0, 1.0) == 4


def test_energy_k_is_chosen_and_recorded():
    rng = np.random.default_rng(0)
    U, _ = np.linalg.qr(rng.normal(size=(60, 4)))
    V, _ = np.linalg.qr(rng.normal(size=(40, 4)))
    X = (U * [10.0, 5.0, 1.0, 0.5]) @ V.T
    from mfbench.data import Ratings

    uu, ii = np.meshgrid(np.arange(60), np.arange(40), indexing="ij")
    r = Ratings.from_ids(uu.ravel(), ii.ravel(), X.ravel())
    algo = ImputedSVD(k="energy:0.95", center=False, fill="item_mean")
    algo.prepare(r)
    (info,) = list(algo.fit(r))
    # a complete matrix has nothing to fill: the filled matrix is X itself, whose spectrum is known
    assert info["k"] == energy_rank(np.array([10.0, 5.0, 1.0, 0.5]), 10**2 + 5**2 + 1 + 0.25, 0.95) == 2


@pytest.mark.parametrize("k", [0, "energy:2", "many", True])
def test_bad_k_is_refused(small, k):
    with pytest.raises(MfbenchError, match="k must be an int >= 1 or energy:F with 0 < F <= 1"):
        ImputedSVD(k=k).prepare(small)


def test_dense_path_is_memory_checked(small):
    with pytest.raises(MfbenchError, match="dense=false"):
        ImputedSVD(dense=True, max_dense_gb=1e-9).prepare(small)


def test_svd_never_densifies_a_matrix_too_big_to_fit():
    """200,000 x 50,000 would be 80 GB dense; the implicit operator stays far below that."""
    from mfbench.data import Split
    from mfbench.runner import Cell, Job
    from mfbench_plugins.executors import LocalExecutor

    r, _ = generate(n_users=200_000, n_items=50_000, n_ratings=1_000_000, seed=3)
    test = np.random.default_rng(0).random(len(r)) < 0.05
    split = Split(train=r.take(~test), test=r.take(test), name="holdout")
    cell = Cell("svd", {"k": 10}, "big", "holdout", "cpu", 0)
    job = Job("t", cell, split, ImputedSVD, {"rmse": rmse})
    (rec,) = LocalExecutor().run([job], lambda e: None)
    assert rec["status"] == "ok", rec["error"]
    assert rec["peak_rss_bytes"] < 1.5 * 2**30, rec["peak_rss_bytes"]


@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("weighted", [True, False])
def test_batched_array_solver_solves_what_the_numba_cholesky_solves(small, biased, weighted):
    """The batched array-code solver (the GPU path's, on numpy here) and the numba Cholesky
    solver each solve every row's normal equations after each half-sweep (held to a float64
    solve at a bound from float32 and the row's conditioning, not to each other element by
    element: their float32 arithmetic legitimately differs on an ill-conditioned row), and
    reach the same loss; small budgets (many batches) change nothing that matters."""
    from mfbench_plugins.algorithms import rows_gpu as _als_batched

    def sweep(solver, budget=None):
        a = ALS(k=6, epochs=1, biased=biased, weighted=weighted, solver=solver, seed=2)
        a.prepare(small)
        calls = recorded_half_sweeps(a)
        original = _als_batched.solve_rows_batched.__defaults__
        if budget is not None:
            _als_batched.solve_rows_batched.__defaults__ = (budget,)
        try:
            loss = [info["objective"]() for info in a.fit(small)][-1]
        finally:
            _als_batched.solve_rows_batched.__defaults__ = original
        for side, given, written in calls:
            check_half_sweep(a, small, side, given, written)
        return loss

    losses = [sweep("cholesky"), sweep("batched"), sweep("batched", budget=64)]
    np.testing.assert_allclose(losses[1:], [losses[0]] * 2, rtol=1e-4)


def test_als_refuses_cg_on_the_gpu(small):
    a = ALS(solver="cg", device="gpu")
    a.xp = np
    with pytest.raises(MfbenchError, match="solver=cg runs on the CPU only"):
        a._prepare(small)


def test_the_device_loss_gathers_a_bounded_chunk():
    """The chunked loss of ``als`` and ``bpmf`` on the device gathered 4M ratings' rows a chunk
    (2.2 GB at k=64), which set the GPU cell's recorded peak; its chunk now follows the width."""
    from mfbench_plugins.algorithms.model import LOSS_GATHER_BYTES, loss_chunk, squared_error_chunked

    for k in (8, 64, 256):
        width = k + 2
        assert 3 * loss_chunk(width) * width * 4 <= LOSS_GATHER_BYTES
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 6)).astype(np.float32), rng.normal(size=(40, 6)).astype(np.float32)
    rows, cols = rng.integers(0, 50, 5000), rng.integers(0, 40, 5000)
    t = rng.normal(size=5000).astype(np.float32)
    whole = float((((t - (X[rows] * Y[cols]).sum(1)).astype(np.float64)) ** 2).sum())
    assert squared_error_chunked(np, rows, cols, t, X, Y) == pytest.approx(whole, rel=1e-9)
    assert squared_error_chunked(np, rows, cols, t, X, Y, chunk=7) == pytest.approx(whole, rel=1e-9)
