"""bpmf implicit=true: the shifted row conditionals, the implicit rows' conditionals, the chain
and what it recovers."""

import functools

import numpy as np
import pytest
from scipy import sparse

from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.registry import get_registry
from mfbench_plugins.algorithms.bpmf._numba import sample_implicit, sample_rows, sample_rows_shifted
from mfbench_plugins.algorithms.bpmf.bpmf import BPMF, implicit_key, stream_key
from support.fitting import fitted as fit_to_the_end


def system(rng, D):
    A = rng.normal(0, 1, (D, D))
    return A @ A.T / D + np.eye(D), rng.normal(0, 1, D)


def packed(G):
    """``G``'s lower triangle by rows, as the kernels keep a row's Gram matrix."""
    return G[np.tril_indices(len(G))]


def whitened_ok(draws, mean, P):
    """``draws`` (``n x D``) of ``N(mean, P^-1)``: whitened by ``P``'s Cholesky factor they are
    standard normal, within 5 standard errors."""
    white = (draws - mean) @ np.linalg.cholesky(P)
    n, D = draws.shape
    se = 1 / np.sqrt(n)
    assert np.abs(white.mean(0)).max() < 5 * se
    np.testing.assert_allclose(np.cov(white.T), np.eye(D), atol=6 * np.sqrt(2) * se)


def test_a_zero_shift_draws_what_sample_rows_draws_and_keeps_each_rows_statistics():
    rng = np.random.default_rng(0)
    D, n_rows, n_cols = 5, 60, 40
    m = sparse.random(n_rows, n_cols, density=0.2, random_state=rng, format="csr", dtype=np.float32)
    m.data[:] = rng.normal(0, 1, m.nnz)
    indptr, indices, targets = m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data
    design = rng.normal(0, 1, (n_cols, D)).astype(np.float32)
    Lam, Lam_mu = system(rng, D)
    key = np.uint64(stream_key(3, 1, 0))
    a, b = np.empty((n_rows, D), np.float32), np.empty((n_rows, D), np.float32)
    gram, resid = np.empty((n_rows, D * (D + 1) // 2)), np.empty((n_rows, D))
    sample_rows(indptr, indices, targets, design, a, Lam, Lam_mu, 2.0, key, True)
    sample_rows_shifted(indptr, indices, targets, design, b, Lam, Lam_mu, np.zeros((n_rows, D)), 2.0, key, gram, resid)
    np.testing.assert_array_equal(a, b)
    for u in range(n_rows):
        Y = design[indices[indptr[u] : indptr[u + 1]]].astype(np.float64)
        t = targets[indptr[u] : indptr[u + 1]].astype(np.float64)
        np.testing.assert_allclose(gram[u], packed(Y.T @ Y), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(resid[u], Y.T @ (t - Y @ b[u].astype(np.float64)), rtol=1e-9, atol=1e-9)


def test_a_shifted_prior_moves_the_draws_by_its_precision_times_the_shift():
    """Row ``u``'s prior ``N(m + s_u, Lambda^-1)``: its draws have the mean
    ``P^-1 (Lambda (m + s_u) + alpha Y^T t)`` and the covariance ``P^-1`` (whitened draws)."""
    rng = np.random.default_rng(1)
    D, n, alpha = 4, 30_000, 3.0
    design = rng.normal(0, 1, (20, D)).astype(np.float32)
    cols = np.array([2, 5, 11, 19], np.int32)
    t = rng.normal(0, 1, len(cols)).astype(np.float32)
    indptr = np.arange(n + 1, dtype=np.int64) * len(cols)
    Lam, Lam_mu = system(rng, D)
    shift = np.tile(rng.normal(0, 2, D), (n, 1))
    X = np.empty((n, D), np.float32)
    sample_rows_shifted(
        indptr, np.tile(cols, n), np.tile(t, n), design, X, Lam, Lam_mu, shift, alpha,
        np.uint64(7), np.empty((n, D * (D + 1) // 2)), np.empty((n, D)),
    )  # fmt: skip
    Y = design[cols].astype(np.float64)
    P = Lam + alpha * Y.T @ Y
    whitened_ok(X, np.linalg.solve(P, Lam_mu + Lam @ shift[0] + alpha * Y.T @ t), P)


def implicit_problem(rng, n_copies, D=3, n_items=6):
    """``n_copies`` copies of one implicit row feeding three users, each user rating a few of
    ``n_items`` design rows: ``(indptr, indices, scale, gram, resid, X, V, targets by user)``
    with ``gram`` and ``resid`` at ``X`` as ``sample_rows_shifted`` leaves them."""
    users_per_row, rated = 3, [np.array([0, 2, 3]), np.array([1, 4]), np.array([0, 1, 2, 5])]
    design = rng.normal(0, 1, (n_items, D))
    t = [rng.normal(0, 1, len(r)) for r in rated]
    scale = np.array([1 / np.sqrt(len(r)) for r in rated] * n_copies)
    indptr = np.arange(n_copies + 1, dtype=np.int64) * users_per_row
    indices = np.arange(n_copies * users_per_row, dtype=np.int32)
    X = np.tile(rng.normal(0, 1, (users_per_row, D)), (n_copies, 1)).astype(np.float32)
    V = np.tile(rng.normal(0, 1, D), (n_copies, 1))
    gram = np.empty((n_copies * users_per_row, D * (D + 1) // 2))
    resid = np.empty((n_copies * users_per_row, D))
    for u in range(n_copies * users_per_row):
        Y = design[rated[u % 3]]
        gram[u] = packed(Y.T @ Y)
        resid[u] = Y.T @ (t[u % 3] - Y @ X[u].astype(np.float64))
    return indptr, indices, scale, gram, resid, X, V, (design, rated, t)


def test_an_implicit_rows_draws_follow_its_closed_form_conditional():
    """The conditional of ``V[j]`` built rating by rating: each rating ``(u, i)`` of a user it
    feeds is a regression of ``t_ui - (x_u - s_u V[j]) . y_i`` on ``s_u y_i``. Many independent
    copies of one implicit row, drawn by the kernel, whiten to standard normals."""
    rng = np.random.default_rng(2)
    D, n, alpha = 3, 30_000, 2.0
    indptr, indices, scale, gram, resid, X, V, (design, rated, t) = implicit_problem(rng, n, D)
    Lam, Lam_mu = system(rng, D)
    X0, V0 = X[:3].astype(np.float64), V[0].copy()
    P, h = Lam.copy(), Lam_mu.copy()
    for u in range(3):
        s, Y = scale[u], design[rated[u]]
        others = X0[u] - s * V0  # x_u with V[j]'s share taken out
        P += alpha * s * s * Y.T @ Y
        h += alpha * s * Y.T @ (t[u] - Y @ others)
    sample_implicit(indptr, indices, scale, gram, resid, X, V, Lam, Lam_mu, alpha, np.uint64(5))
    whitened_ok(V, np.linalg.solve(P, h), P)


def test_the_rows_and_their_residuals_follow_each_implicit_draw():
    rng = np.random.default_rng(3)
    indptr, indices, scale, gram, resid, X, V, (design, rated, t) = implicit_problem(rng, 4)
    X0, V0 = X.copy(), V.copy()
    Lam, Lam_mu = system(rng, 3)
    sample_implicit(indptr, indices, scale, gram, resid, X, V, Lam, Lam_mu, 1.5, np.uint64(9))
    for u in range(len(X)):
        j = u // 3
        np.testing.assert_allclose(X[u], X0[u] + scale[u] * (V[j] - V0[j]), rtol=1e-5, atol=1e-5)
        Y = design[rated[u % 3]]
        np.testing.assert_allclose(resid[u], Y.T @ (t[u % 3] - Y @ X[u].astype(np.float64)), atol=1e-5)


def planted_implicit(n_users=150, n_items=100, rank=3, density=0.25, noise=0.2, seed=0):
    """Ratings whose user factors are mostly their implicit sums: ``r = 3 + (0.3 p_u +
    |N(u)|^-1/2 sum_{j in N(u)} y_j) . q_i``, ``N(u)`` the items ``u`` rated in training."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    mask[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    held = mask & (rng.random(mask.shape) < 0.1)
    train_mask = mask & ~held
    P, Yi, Q = rng.normal(0, 1, (n_users, rank)), rng.normal(0, 1, (n_items, rank)), rng.normal(0, 1, (n_items, rank))
    sums = (train_mask @ Yi) / np.sqrt(np.maximum(train_mask.sum(1, keepdims=True), 1))
    truth = 3.0 + (0.3 * P + sums) @ Q.T
    u, i = np.nonzero(train_mask)
    values = (truth[u, i] + rng.normal(0, noise, len(u))).astype(np.float32)
    train = Ratings(u.astype(np.int32), i.astype(np.int32), values, np.arange(n_users), np.arange(n_items))
    return train, truth, held


fitted = functools.partial(fit_to_the_end, BPMF)


def test_the_posterior_mean_recovers_planted_implicit_structure():
    train, truth, held = planted_implicit()
    u, i = np.nonzero(held)
    algo = fitted(train, k=3, epochs=80, burn_in=30, implicit=True)
    err = np.sqrt(np.mean((algo.predict(u, i) - truth[u, i]) ** 2))
    # well inside the spread of the truth (about 1.6) and below the noise (0.2) the ratings carry
    assert err < 0.2 * truth[u, i].std() and err < 0.2, err


def test_the_implicit_chain_does_not_depend_on_the_thread_count():
    train, *_ = planted_implicit(n_users=60, n_items=40)
    one = fitted(train, k=3, epochs=5, burn_in=2, threads=1, seed=4, implicit=True)
    two = fitted(train, k=3, epochs=5, burn_in=2, threads=2, seed=4, implicit=True)
    # the implicit rows are float64: any difference in the order of a sum would show
    np.testing.assert_array_equal(one.samples_X_, two.samples_X_)
    np.testing.assert_array_equal(one.item_implicit_, two.item_implicit_)
    np.testing.assert_array_equal(one.user_implicit_, two.user_implicit_)


def test_the_implicit_streams_are_apart_from_the_rows_streams():
    keys = {stream_key(s, w, d) for s in range(3) for w in range(50) for d in (0, 1)}
    keys |= {implicit_key(s, w, d) for s in range(3) for w in range(50) for d in (0, 1)}
    assert len(keys) == 3 * 50 * 2 * 2


def test_state_restores_the_implicit_model():
    train, *_ = planted_implicit(n_users=60, n_items=40)
    algo = fitted(train, k=3, epochs=4, burn_in=1, implicit=True)
    state = algo.state()
    assert state["item_implicit_"].shape == (40, 4) and state["user_implicit_"].shape == (60, 4)
    restored = BPMF(k=3, epochs=4, burn_in=1, implicit=True)
    restored.load_state(state)
    np.testing.assert_array_equal(restored.predict(train.users, train.items), algo.predict(train.users, train.items))
    assert "item_implicit_" not in fitted(train, k=3, epochs=2).state()


def test_implicit_is_refused_where_it_cannot_run(stand_in_gpu):
    train, *_ = planted_implicit(n_users=30, n_items=20)
    for kwargs in (dict(backend="batched"), dict(device="gpu")):
        with pytest.raises(MfbenchError, match=r"implicit=true .* backend=numba"):
            BPMF(k=2, implicit=True, **kwargs).prepare(train)


def test_cells_that_leave_implicit_off_keep_their_ids():
    """``implicit`` came after bpmf's cells were recorded: left at its default, given or not,
    it stays out of a cell's parameters, so older runs and the gate still match them."""
    spec = get_registry().algorithm("bpmf")
    assert "implicit" not in spec.cell_params({})
    assert spec.cell_params({"implicit": False}) == spec.cell_params({})
    assert spec.cell_params({"implicit": True})["implicit"] is True
    assert spec.cell_params({"k": 16})["k"] == 16
    assert "implicit" not in get_registry().algorithm("myfm").cell_params({})


def test_the_myfm_peer_gets_the_same_features_as_relational_blocks():
    """``myfm implicit=true``: one block row per user (its one-hot column, then the items it
    rated scaled by ``|N(u)|^-1/2``), one per item likewise, and a fit that learns."""
    pytest.importorskip("myfm", reason='the peers extra: pip install "mfbench[peers]"')
    from mfbench_plugins.peers import MyFM

    train, truth, held = planted_implicit(n_users=60, n_items=40)
    peer = MyFM(k=3, epochs=100, burn_in=20, implicit=True)
    peer.prepare(train)
    rated = np.zeros((60, 40))
    rated[train.users, train.items] = 1.0
    expected = np.hstack([np.eye(60), rated / np.sqrt(rated.sum(1, keepdims=True))])
    np.testing.assert_allclose(peer._user_rows.toarray(), expected)
    expected = np.hstack([np.eye(40), rated.T / np.sqrt(rated.sum(0)[:, None])])
    np.testing.assert_allclose(peer._item_rows.toarray(), expected)
    for _ in peer.fit(train):
        pass
    u, i = np.nonzero(held)
    err = np.sqrt(np.mean((peer.predict(u, i) - truth[u, i]) ** 2))
    assert err < 0.35 * truth[u, i].std(), err  # 0.38 of 1.7 measured; users and items alone: 0.71


def test_tables_name_the_default_of_a_parameter_a_cell_leaves_out():
    from mfbench.report import group_key

    base = {"dataset": "ml-100k", "device": "cpu", "algorithm": "bpmf"}
    records = [{**base, "params": {"k": 10}}, {**base, "params": {"k": 10, "implicit": True}}]
    labels = [key[0] for key in group_key(records).values()]
    assert labels == ["bpmf (implicit=False)", "bpmf (implicit=True)"]
    gone = [{**r, "algorithm": "gone"} for r in records]
    assert [key[0] for key in group_key(gone).values()] == ["gone (implicit=default)", "gone (implicit=True)"]
