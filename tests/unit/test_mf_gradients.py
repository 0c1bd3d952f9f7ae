"""The shared loss of biased MF: gradients against finite differences, dense vs sparse forms."""

import numpy as np
import pytest

from mfbench_plugins.algorithms.minibatch.masked_gd import dense_gradient
from mfbench_plugins.algorithms.model import Factors, gradient, init_factors, loss, predict_pairs


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    n_users, n_items, n = 7, 5, 25
    keys = rng.choice(n_users * n_items, n, replace=False)
    users, items = (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)
    values = rng.integers(1, 6, n).astype(np.float32)
    return users, items, values, n_users, n_items


def factors64(problem, biased):
    users, items, values, n_users, n_items = problem
    f = init_factors(np, n_users, n_items, 3, float(values.mean()), 0.5, biased, seed=1)
    rng = np.random.default_rng(2)
    bu = rng.normal(0, 0.3, n_users) if biased else np.zeros(n_users)
    bi = rng.normal(0, 0.3, n_items) if biased else np.zeros(n_items)
    # float64 copies so that central differences are exact to ~1e-8
    return Factors(f.P.astype(np.float64), f.Q.astype(np.float64), bu, bi, f.mu)


@pytest.mark.parametrize(
    "biased,block", [(True, "P"), (True, "Q"), (True, "bu"), (True, "bi"), (False, "P"), (False, "Q")]
)
def test_gradient_matches_finite_differences(problem, biased, block):
    users, items, values, *_ = problem
    f = factors64(problem, biased)
    reg, reg_bias = 0.07, 0.03
    g = gradient(np, f, users, items, values.astype(np.float64), reg, reg_bias, biased)[block]
    w = getattr(f, block)
    h = 1e-6
    numeric = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        old = w[idx]
        w[idx] = old + h
        up = loss(np, f, users, items, values, reg, reg_bias)
        w[idx] = old - h
        down = loss(np, f, users, items, values, reg, reg_bias)
        w[idx] = old
        numeric[idx] = (up - down) / (2 * h)
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("biased", [True, False])
def test_dense_masked_gradient_equals_the_sparse_one(problem, biased):
    users, items, values, n_users, n_items = problem
    f = factors64(problem, biased)
    R = np.zeros((n_users, n_items))
    M = np.zeros((n_users, n_items))
    R[users, items] = values
    M[users, items] = 1
    n_u = np.bincount(users, minlength=n_users).astype(float)
    n_i = np.bincount(items, minlength=n_items).astype(float)
    total, dense = dense_gradient(np, f, R, M, n_u, n_i, 0.07, 0.03, biased)
    sparse = gradient(np, f, users, items, values.astype(np.float64), 0.07, 0.03, biased)
    assert total == pytest.approx(loss(np, f, users, items, values, 0.07, 0.03), rel=1e-10)
    assert dense.keys() == sparse.keys()
    for key in dense:
        np.testing.assert_allclose(dense[key], sparse[key], rtol=1e-10, atol=1e-12)


def test_unbiased_init_starts_near_the_mean():
    f = init_factors(np, 200, 100, 10, 3.6, 0.01, biased=False, seed=0)
    assert abs(float((f.P @ f.Q.T).mean()) - 3.6) < 0.05


@pytest.mark.parametrize("biased", [True, False])
def test_compiled_pair_scores_equal_the_array_expression(biased):
    """The CPU's compiled predictions are ``predict_pairs`` (the array code the GPU runs)."""
    from mfbench_plugins.algorithms.kernels.predict import pair_scores

    rng = np.random.default_rng(0)
    P, Q = rng.standard_normal((50, 37)).astype(np.float32), rng.standard_normal((30, 37)).astype(np.float32)
    bu, bi = rng.standard_normal(50).astype(np.float32), rng.standard_normal(30).astype(np.float32)
    users, items = rng.integers(0, 50, 1000).astype(np.int32), rng.integers(0, 30, 1000).astype(np.int32)
    if biased:
        got, f = pair_scores(users, items, P, Q, bu, bi, 3.5), Factors(P, Q, bu, bi, 3.5)
    else:
        got, f = pair_scores(users, items, P, Q), Factors(P, Q, np.zeros(50, np.float32), np.zeros(30, np.float32), 0.0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, predict_pairs(np, f, users, items), rtol=1e-5, atol=1e-5)
