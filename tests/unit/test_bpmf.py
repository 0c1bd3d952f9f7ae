"""bpmf: the row conditionals, the generator, the chain and what it predicts."""

import functools

import numpy as np
import pytest
from scipy import sparse, stats

from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench_plugins.algorithms.bpmf._numba import normal, sample_rows
from mfbench_plugins.algorithms.bpmf.bpmf import BPMF, draws, sample_rows_batched, stream_key
from support.fitting import fitted as fit_to_the_end


def csr(n_rows, n_cols, density, rng, empty=0):
    """A random CSR whose first ``empty`` rows have no entries."""
    m = sparse.random(n_rows, n_cols, density=density, random_state=rng, format="lil", dtype=np.float32)
    m[:empty] = 0
    m = m.tocsr()
    m.eliminate_zeros()
    m.data[:] = rng.normal(0, 1, m.nnz).astype(np.float32)
    m.sort_indices()
    return m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data


def system(rng, D, scale=1.0):
    """A random symmetric positive definite prior precision and its ``Lambda m``."""
    A = rng.normal(0, 1, (D, D))
    Lam = scale * (A @ A.T / D + np.eye(D))
    return Lam, rng.normal(0, 1, D)


def planted(n_users=120, n_items=90, rank=3, density=0.35, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    U, V = rng.normal(0, 1, (n_users, rank)), rng.normal(0, 1, (n_items, rank))
    truth = 3.0 + U @ V.T / np.sqrt(rank)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # every user and item seen
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    u, i = np.nonzero(mask)
    values = (truth[u, i] + rng.normal(0, noise, len(u))).astype(np.float32)
    train = Ratings(u.astype(np.int32), i.astype(np.int32), values, np.arange(n_users), np.arange(n_items))
    return train, truth, mask


fitted = functools.partial(fit_to_the_end, BPMF)


def test_the_counter_generator_is_the_same_in_numba_and_in_array_code():
    key = stream_key(7, 3, 1)
    rows = np.array([0, 5, 123456789])
    expected = np.array([[normal(np.uint64(key), r * 4 + f) for f in range(4)] for r in rows])
    np.testing.assert_allclose(draws(np, key, rows, 4), expected, rtol=1e-12)
    assert stream_key(7, 3, 1) != stream_key(7, 3, 0) != stream_key(7, 4, 0) != stream_key(8, 3, 0)


def test_the_counter_generator_draws_standard_normals():
    z = draws(np, stream_key(0, 0, 0), np.arange(50_000), 4).ravel()
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 5 / np.sqrt(len(z)) and abs(z.var() - 1) < 0.02
    # neighbouring counters and streams are uncorrelated
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.02
    other = draws(np, stream_key(0, 0, 1), np.arange(50_000), 4).ravel()
    assert abs(np.corrcoef(z, other)[0, 1]) < 0.02


def test_the_conditional_mean_is_the_ridge_solution_of_an_als_step():
    """With the prior ``N(0, (alpha reg)^-1 I)`` the conditional mean solves ALS's normal equations
    ``(Y^T Y + reg I) x = Y^T t``: what an (unweighted) ALS half-step computes."""
    from mfbench_plugins.algorithms.rows import LAPACK, solve_rows

    rng = np.random.default_rng(1)
    D, reg, alpha = 6, 0.5, 40.0
    indptr, indices, targets = csr(50, 80, 0.2, rng)
    design = rng.normal(0, 1, (80, D)).astype(np.float32)
    means = np.empty((50, D), np.float32)
    sample_rows(
        indptr, indices, targets, design, means, alpha * reg * np.eye(D), np.zeros(D), alpha, np.uint64(0), False
    )
    ridge = np.zeros((50, D), np.float32)
    solve_rows(indptr, indices, targets, design, ridge, np.float32(reg), False, np.float32(reg), False, *LAPACK)
    np.testing.assert_allclose(means, ridge, rtol=1e-4, atol=1e-5)


def test_draws_have_the_conditional_mean_and_covariance():
    """Many rows with the same ratings are independent draws of one conditional: whitened by
    its precision's Cholesky factor they must be standard normal."""
    rng = np.random.default_rng(2)
    D, n_draws, alpha = 5, 40_000, 3.0
    design = rng.normal(0, 1, (30, D)).astype(np.float32)
    cols = np.array([1, 4, 7, 8, 20, 29], np.int32)
    t = rng.normal(0, 1, len(cols)).astype(np.float32)
    indptr = np.arange(n_draws + 1, dtype=np.int64) * len(cols)
    Lam, Lam_mu = system(rng, D)
    X = np.empty((n_draws, D), np.float32)
    sample_rows(indptr, np.tile(cols, n_draws), np.tile(t, n_draws), design, X, Lam, Lam_mu, alpha, np.uint64(11), True)
    Yj = design[cols].astype(np.float64)
    P = Lam + alpha * Yj.T @ Yj
    mean = np.linalg.solve(P, Lam_mu + alpha * Yj.T @ t)
    white = (X - mean) @ np.linalg.cholesky(P)  # L^T (x - mean) ~ N(0, I)
    se = 1 / np.sqrt(n_draws)
    assert np.abs(white.mean(0)).max() < 5 * se
    np.testing.assert_allclose(np.cov(white.T), np.eye(D), atol=6 * np.sqrt(2) * se)


def test_batched_array_code_draws_what_the_numba_kernel_draws():
    rng = np.random.default_rng(3)
    D = 7
    indptr, indices, targets = csr(300, 60, 0.15, rng, empty=5)  # empty rows are drawn from the prior
    design = rng.normal(0, 1, (60, D)).astype(np.float32)
    Lam, Lam_mu = system(rng, D)
    key = stream_key(0, 1, 0)
    a, b = np.empty((300, D), np.float32), np.empty((300, D), np.float32)
    sample_rows(indptr, indices, targets, design, a, Lam, Lam_mu, 2.5, np.uint64(key), True)
    sample_rows_batched(np, indptr, indices, targets, design, b, Lam, Lam_mu, 2.5, key, budget=4000)
    assert (np.diff(indptr) == 0).any()
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_the_chain_does_not_depend_on_the_thread_count():
    """Bit for bit, the float64 noise draws included (the training loss they read is summed in
    one order, not by a reduction across threads)."""
    train, *_ = planted()
    runs = []
    for threads in (1, 2):
        algo = BPMF(k=4, epochs=6, burn_in=2, threads=threads, seed=5)
        algo.prepare(train)
        alphas = [info["noise_precision"] for info in algo.fit(train)]
        runs.append((algo, alphas))
    (one, alphas_one), (two, alphas_two) = runs
    assert alphas_one == alphas_two
    np.testing.assert_array_equal(one.X_, two.X_)
    np.testing.assert_array_equal(one.samples_Y_, two.samples_Y_)


def test_the_batched_backend_runs_the_same_chain():
    train, *_ = planted()
    a = fitted(train, k=4, epochs=4, burn_in=1, seed=5)
    b = fitted(train, k=4, epochs=4, burn_in=1, seed=5, backend="batched")
    np.testing.assert_allclose(a.X_, b.X_, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(a.predict(train.users, train.items), b.predict(train.users, train.items), atol=1e-3)


def test_the_posterior_mean_recovers_planted_low_rank_structure():
    train, truth, mask = planted(n_users=200, n_items=150, density=0.3, noise=0.2)
    algo = fitted(train, k=3, epochs=60, burn_in=20)
    u, i = np.nonzero(~mask)
    held_out = algo.predict(u, i)
    err = np.sqrt(np.mean((held_out - truth[u, i]) ** 2))
    # well inside the spread of the truth (0.94) and below the noise (0.2) the ratings carry
    assert err < 0.6 * 0.2 and err < 0.15 * truth[u, i].std(), err


def test_the_noise_precision_is_learned():
    train, *_ = planted(noise=0.2)
    algo = BPMF(k=3, epochs=40, burn_in=10)
    algo.prepare(train)
    alphas = [info["noise_precision"] for info in algo.fit(train)]
    # 1 / 0.2^2 = 25, less what the model overfits of the noise
    assert 15 < np.median(alphas[10:]) < 40


def test_prediction_is_the_average_over_the_kept_draws():
    train, *_ = planted()
    algo = BPMF(k=3, epochs=7, burn_in=2, thin=2, seed=1)
    algo.prepare(train)
    u, i = train.users[:50], train.items[:50]
    kept = []
    for sweep, info in enumerate(algo.fit(train)):
        one = algo.mu_ + (algo.X_[u] * algo.Y_[i]).sum(1)
        if sweep >= 2 and (sweep - 2) % 2 == 0:
            kept.append(one)
            np.testing.assert_allclose(algo._predict(u, i), np.mean(kept, axis=0), rtol=1e-5)
        elif not kept:  # before the first kept draw: the current draw
            np.testing.assert_allclose(algo._predict(u, i), one, rtol=1e-5)
        assert info["kept_draws"] == len(kept)
    assert len(kept) == 3 == algo.kept_
    block = algo._score_block(u[:5])
    np.testing.assert_allclose(block[np.arange(5), i[:5]], np.mean(kept, axis=0)[:5], rtol=1e-5)


def test_state_restores_the_average():
    train, *_ = planted()
    algo = fitted(train, k=3, epochs=5, burn_in=1)
    restored = BPMF(k=3, epochs=5, burn_in=1)
    restored.load_state(algo.state())
    np.testing.assert_array_equal(restored.predict(train.users, train.items), algo.predict(train.users, train.items))


def test_a_run_shorter_than_its_burn_in_keeps_its_last_draw():
    train, *_ = planted()
    algo = fitted(train, k=3, epochs=3, burn_in=10)
    assert algo.kept_ == 1
    np.testing.assert_array_equal(algo.samples_X_, algo.X_)


def test_more_draws_than_memory_holds_are_refused_before_allocating(monkeypatch):
    import mfbench.devices as devices

    train, *_ = planted()
    monkeypatch.setattr(devices, "memory_info", lambda device: (2 * 2**20, 8 * 2**20))  # 2 MiB free
    with pytest.raises(MfbenchError, match=r"bpmf keeps 190 draws .* GiB .* thin=N"):
        BPMF(k=10, epochs=200, burn_in=10).prepare(train)
    BPMF(k=10, epochs=200, burn_in=10, thin=50).prepare(train)  # 4 draws: 0.04 MiB


def test_the_device_path_runs_the_same_chain(stand_in_gpu):
    """``device="gpu"`` on the numpy stand-in: the batched rows, the chunked loss and the
    device prediction, against the CPU chain."""
    train, *_ = planted()
    cpu = fitted(train, k=4, epochs=4, burn_in=1, seed=2)
    gpu = fitted(train, k=4, epochs=4, burn_in=1, seed=2, device="gpu")
    assert gpu._backend == "batched"
    np.testing.assert_allclose(cpu.predict(train.users, train.items), gpu.predict(train.users, train.items), atol=1e-3)
    np.testing.assert_allclose(cpu._score_block(np.arange(3)), gpu._score_block(np.arange(3)), atol=1e-3)


@pytest.mark.gpu
def test_on_a_gpu_the_chain_matches_the_cpu():
    from mfbench.testing import require_device

    require_device("gpu")
    train, *_ = planted()
    cpu = fitted(train, k=4, epochs=4, burn_in=1, seed=2)
    gpu = fitted(train, k=4, epochs=4, burn_in=1, seed=2, device="gpu")
    np.testing.assert_allclose(cpu.predict(train.users, train.items), gpu.predict(train.users, train.items), atol=1e-3)


def test_the_gpu_path_refuses_row_systems_it_cannot_batch(stand_in_gpu):
    """Past 256 x 256 cupy factors the row systems one at a time (hours at the ML-20M shape):
    the GPU path refuses such a k in one line before any work, and takes k = 255."""
    from mfbench.errors import MfbenchError
    from mfbench_datasets.synthetic import generate
    from mfbench_plugins.algorithms.bpmf.bpmf import BPMF

    r, _ = generate(n_users=30, n_items=20, n_ratings=300, seed=0)
    with pytest.raises(MfbenchError, match=r"bpmf: k=256 on the GPU solves \(257 x 257\) row systems"):
        BPMF(k=256, epochs=1, device="gpu").prepare(r)
    BPMF(k=255, epochs=1, device="gpu").prepare(r)


def test_row_systems_are_solved_as_triangles_where_cupy_batches_them(monkeypatch):
    """cupy 14 batches ``solve_triangular`` (cuBLAS trsm, ``D^2`` a system): the batched path
    takes it there for both of a row's solves, and general solves on cupy 13 and numpy."""
    import sys
    import types

    from mfbench_plugins.algorithms.bpmf import bpmf

    calls = []
    fake_linalg = types.ModuleType("cupyx.scipy.linalg")

    def solve_triangular(L, b, trans, lower):
        calls.append((trans, lower))
        return np.linalg.solve(L.transpose(0, 2, 1) if trans == "T" else L, b)

    fake_linalg.solve_triangular = solve_triangular
    monkeypatch.setitem(sys.modules, "cupyx.scipy.linalg", fake_linalg)
    monkeypatch.setattr(bpmf, "is_gpu_namespace", lambda xp: True)
    rng = np.random.default_rng(4)
    L = np.tril(rng.normal(0, 1, (3, 4, 4))) + 4 * np.eye(4)
    b = rng.normal(0, 1, (3, 4, 1))
    for version, expected in (("14.2.0", [("N", True), ("T", True)]), ("13.6.0", [])):
        calls.clear()
        fake_cupy = types.SimpleNamespace(__version__=version, linalg=np.linalg)
        solve = bpmf.lower_solver(fake_cupy)
        np.testing.assert_allclose(solve(L, b, False), np.linalg.solve(L, b))
        np.testing.assert_allclose(solve(L, b, True), np.linalg.solve(L.transpose(0, 2, 1), b))
        assert calls == expected
