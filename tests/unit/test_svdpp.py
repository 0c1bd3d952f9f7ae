"""svdpp: the numba epoch against the Python reference, its steps against the loss's gradient,
the model's prediction."""

import numpy as np
import pytest

from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench_plugins.algorithms.svdpp.svdpp import SVDpp, python_epoch

F32 = np.float32


def ratings(n_users=40, n_items=30, density=0.3, seed=0):
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(mask)
    values = rng.integers(1, 6, len(u)).astype(np.float32)
    return Ratings(u.astype(np.int32), i.astype(np.int32), values, np.arange(n_users), np.arange(n_items))


def prepared(train, **params):
    algo = SVDpp(**params)
    algo.prepare(train)
    return algo


def test_the_numba_epoch_makes_the_reference_epochs_steps():
    train = ratings()
    params = dict(k=5, epochs=3, lr=0.01, reg=0.05, reg_y=0.02, reg_bias=0.01, seed=3)
    fast, slow = prepared(train, **params), prepared(train, backend="python", **params)
    for a, b in zip(fast.fit(train), slow.fit(train)):
        assert a["objective"] == pytest.approx(b["objective"], rel=1e-5)
    for name in ("P_", "Q_", "Y_", "Z_", "bu_", "bi_"):
        np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-4, atol=1e-6, err_msg=name)


def visit_loss(theta, rated, values, mu, reg, reg_bias, reg_y):
    """The loss one user's visit descends, in float64: each rating charges its own squared error
    and the regularization of the rows it touches (``y_j`` once per rating of the user)."""
    p, bu, Q, bi, Y = theta
    n = len(rated)
    z = p + Y[rated].sum(0) / np.sqrt(n)
    total = 0.0
    for i, r in zip(rated, values):
        e = r - (mu + bu + bi[i] + Q[i] @ z)
        total += 0.5 * e * e + 0.5 * reg * (p @ p + Q[i] @ Q[i]) + 0.5 * reg_bias * (bu * bu + bi[i] * bi[i])
        total += 0.5 * reg_y * (Y[rated] ** 2).sum()
    return total


def test_a_visit_steps_along_the_gradient_of_its_loss():
    """With a small step, one user's visit moves every parameter by ``-lr`` times the gradient of
    ``visit_loss`` (central finite differences): the implicit sum held for the visit and the
    ``y`` steps applied at its end are first-order exact."""
    rng = np.random.default_rng(4)
    k, n_items, lr = 3, 6, F32(1e-3)
    reg, reg_bias, reg_y, mu = 0.1, 0.05, 0.2, 3.5
    rated = np.array([0, 2, 3, 5], np.int32)
    values = np.array([4, 2, 5, 3], np.float32)
    P = rng.normal(0, 0.5, (1, k)).astype(F32)
    Q = rng.normal(0, 0.5, (n_items, k)).astype(F32)
    Y = rng.normal(0, 0.5, (n_items, k)).astype(F32)
    bu, bi = np.array([0.2], F32), rng.normal(0, 0.3, n_items).astype(F32)
    before = [P[0].astype(float), float(bu[0]), Q.astype(float), bi.astype(float), Y.astype(float)]
    python_epoch(
        np.array([0, 4]),
        rated,
        values,
        np.array([0]),
        P,
        Q,
        Y,
        bu,
        bi,
        F32(mu),
        lr,
        F32(reg),
        F32(reg_bias),
        F32(reg_y),
    )
    after = [P[0], bu[0], Q, bi, Y]
    h = 1e-6
    for which, shape in ((0, (k,)), (1, ()), (2, (n_items, k)), (3, (n_items,)), (4, (n_items, k))):
        for idx in np.ndindex(*shape):
            plus = [np.array(t, dtype=float, copy=True) for t in before]
            minus = [np.array(t, dtype=float, copy=True) for t in before]
            plus[which][idx] += h
            minus[which][idx] -= h
            args = (rated, values, mu, reg, reg_bias, reg_y)
            grad = (
                visit_loss([t if np.ndim(t) else float(t) for t in plus], *args)
                - visit_loss([t if np.ndim(t) else float(t) for t in minus], *args)
            ) / (2 * h)
            step = (np.asarray(after[which], float)[idx] - np.asarray(before[which], float)[idx]) / float(lr)
            assert step == pytest.approx(-grad, rel=0.03, abs=0.01), (which, idx)


def test_predictions_use_the_implicit_sum_of_the_training_items():
    train = ratings()
    algo = prepared(train, k=4, epochs=3)
    for _ in algo.fit(train):
        pass
    u, i = 7, 11
    rated = train.items[train.users == u]
    z = algo.P_[u] + algo.Y_[rated].sum(0) / np.sqrt(len(rated))
    expected = algo.mu_ + algo.bu_[u] + algo.bi_[i] + algo.Q_[i] @ z
    assert algo._predict(np.array([u], np.int32), np.array([i], np.int32))[0] == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(algo._score_block(np.array([u]))[0, i], expected, rtol=1e-5)


def test_the_python_backend_refuses_large_data(monkeypatch):
    import mfbench_plugins.algorithms.svdpp.svdpp as svdpp

    monkeypatch.setattr(svdpp, "PYTHON_BACKEND_LIMIT", 10)
    with pytest.raises(MfbenchError, match="backend=python .* use backend=numba"):
        prepared(ratings(), backend="python")
