"""Deep MF: every parameter tensor's gradient against finite differences, in every variant."""

import numpy as np
import pytest

from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.deep.deep import DeepMF, loss_and_grads


def make_params(rng, n_users, n_items, n_genres, dims, hidden, out, batchnorm, genres):
    p = {"U": rng.normal(0, 0.5, (n_users, dims)), "V": rng.normal(0, 0.5, (n_items, dims))}
    width = 2 * dims
    if genres:
        p["G"] = rng.normal(0, 0.5, (n_genres, 2))
        width += 2
    for l, size in enumerate(hidden):
        p[f"W{l}"] = rng.normal(0, 0.7, (width, size))
        p[f"b{l}"] = rng.normal(0, 0.1, size)
        if batchnorm:
            p[f"gamma{l}"], p[f"beta{l}"] = rng.normal(1, 0.2, size), rng.normal(0, 0.2, size)
        width = size
    p["Wo"], p["bo"] = rng.normal(0, 0.5, (width, out)), rng.normal(0, 0.1, out)
    return p


CASES = [
    ("regression", False, False),
    ("regression", True, False),
    ("classes", False, False),
    ("classes", True, False),
    ("regression", False, True),
    ("classes", True, True),
]


@pytest.mark.parametrize("head,batchnorm,genres", CASES)
def test_every_gradient_matches_finite_differences(head, batchnorm, genres):
    rng = np.random.default_rng(0)
    n_users, n_items, n_genres, batch = 6, 5, 4, 9
    users = rng.integers(0, n_users, batch)
    items = rng.integers(0, n_items, batch)
    out = 1 if head == "regression" else 3
    target = rng.normal(3, 1, batch) if head == "regression" else rng.integers(0, 3, batch)
    gmat = (rng.random((n_items, n_genres)) < 0.5).astype(float) / 2 if genres else None
    params = make_params(rng, n_users, n_items, n_genres, 3, (4, 3), out, batchnorm, genres)

    def f():
        return loss_and_grads(np, params, users, items, target, gmat, head, 3.0, 0.03, 0.2, batchnorm)[0]

    _, grads = loss_and_grads(np, params, users, items, target, gmat, head, 3.0, 0.03, 0.2, batchnorm)
    assert set(grads) == set(params)
    for name, index in (("U", users), ("V", items)):  # the touched rows only, expanded here
        rows, g = grads[name]  # each rating's row, with the row's summed gradient (touched_rows)
        assert rows.tolist() == index.tolist()
        for row in set(index.tolist()):  # a repeated row carries one gradient, so writes agree
            same = g[rows == row]
            np.testing.assert_array_equal(same, np.broadcast_to(same[0], same.shape))
        grads[name] = np.zeros_like(params[name])
        grads[name][rows] = g
    h = 1e-6
    for name, w in params.items():
        numeric = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + h
            up = f()
            w[idx] = old - h
            down = f()
            w[idx] = old
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grads[name], numeric, rtol=1e-4, atol=1e-7, err_msg=f"gradient of {name}")


@pytest.fixture(scope="module")
def small():
    r, _ = generate(n_users=80, n_items=50, n_ratings=2500, seed=2)
    genres = (np.random.default_rng(0).random((r.n_items, 5)) < 0.3).astype(np.float32)
    from dataclasses import replace

    return replace(r, item_meta={"genres": genres})


@pytest.mark.parametrize(
    "kw", [{}, {"batchnorm": True}, {"head": "classes"}, {"head": "classes", "predict": "argmax"}, {"genre_dim": 3}]
)
def test_variants_train_and_predict_on_the_scale(small, kw):
    algo = DeepMF(epochs=3, batch_size=128, **kw)
    algo.prepare(small)
    losses = [i["objective"] for i in algo.fit(small)]
    assert losses[-1] < losses[0]
    pred = algo.predict(small.users[:50], small.items[:50])
    assert pred.dtype == np.float32 and np.isfinite(pred).all() and pred.min() >= 1 and pred.max() <= 5
    if kw.get("predict") == "argmax":
        assert set(np.unique(pred)) <= set(np.unique(small.values))


def test_genres_needed_for_genre_dim():
    r = Ratings.from_ids([1, 2], [1, 2], [3, 4], rating_scale=(1, 5))
    with pytest.raises(MfbenchError, match="item genres"):
        DeepMF(genre_dim=4).prepare(r)


def test_a_batch_costs_what_the_batch_holds_whatever_the_tables_size():
    """Each batch built and cleared gradient arrays the size of the whole embedding tables: at
    the ML-20M shape a dmf epoch ran at 0.026 M ratings/s. The memory a batch allocates must not
    grow with the number of users and items (1,000 against 100,000 of each here)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    peaks = []
    for n in (1_000, 100_000):
        params = make_params(rng, n, n, 0, 32, (64, 64), 1, False, False)
        users, items = rng.integers(0, n, 512), rng.integers(0, n, 512)
        target = rng.normal(3.5, 1, 512)
        tracemalloc.start()
        loss_and_grads(np, params, users, items, target, None, "regression", 3.5, 1e-4, 4.0, False)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0], peaks


def test_weights_of_dead_units_are_flushed_before_they_turn_subnormal(monkeypatch):
    """Units that never fire get only weight decay: their weights and moments shrink
    geometrically into the float32 subnormals, where many x86 cores run about 100x slower.
    Every dense step flushes what falls below ``FLUSH``; without it, this run leaves hundreds of
    such values."""
    from mfbench_plugins.algorithms.deep import deep

    r, _ = generate(n_users=300, n_items=200, n_ratings=20_000, seed=1)

    def tiny_after_fit():
        algo = DeepMF(epochs=4, batch_size=64, seed=0)
        algo.prepare(r)
        algo.params_["b0"][:16] = -1e3  # 16 units of the first layer that never fire
        list(algo.fit(r))
        dense = [name for name in algo.params_ if name not in ("U", "V")]
        arrays = [algo.params_[n] for n in dense] + [algo._opt.m[n] for n in dense] + [algo._opt.v[n] for n in dense]
        return sum(int(((a != 0) & (np.abs(a) < 1e-20)).sum()) for a in arrays)

    assert tiny_after_fit() == 0
    monkeypatch.setattr(deep, "FLUSH", 0.0)
    assert tiny_after_fit() > 100


def test_flush_tiny_zeroes_only_what_is_below_the_threshold():
    from mfbench_plugins.algorithms.deep.deep import FLUSH, flush_tiny

    a = np.array([1e-30, -1e-25, 0.0, FLUSH, -2 * FLUSH, 0.5, np.float32(1e-45)], np.float32)
    b = np.array([-1e-21, 3.0], np.float32)
    flush_tiny(np, a, b)
    np.testing.assert_array_equal(a, np.array([0, 0, 0, FLUSH, -2 * FLUSH, 0.5, 0], np.float32))
    np.testing.assert_array_equal(b, [0, 3.0])


def test_the_flush_runs_on_the_host_only(stand_in_gpu, monkeypatch):
    """x86 subnormals need the flush; a GPU does not, where it cost about 50 launches a batch."""
    from mfbench_plugins.algorithms.deep import deep

    r, _ = generate(n_users=100, n_items=80, n_ratings=3000, seed=2)
    calls = {"cpu": 0, "gpu": 0}
    real = deep.flush_tiny
    for device in ("cpu", "gpu"):
        monkeypatch.setattr(
            deep, "flush_tiny", lambda xp, *a, d=device: (calls.__setitem__(d, calls[d] + 1), real(xp, *a))
        )
        algo = DeepMF(epochs=1, batch_size=256, seed=0, device=device)
        algo.prepare(r)
        list(algo.fit(r))
    assert calls["cpu"] > 0 and calls["gpu"] == 0
