"""The synthetic generator at scale: presets, distinct pairs, heavy users, MovieLens-like degrees."""

from __future__ import annotations

import numpy as np
import pytest

from mfbench.data import Dataset, _gini
from mfbench.registry import get_registry
from mfbench_datasets.synthetic import PRESETS, _fill_array, generate


def test_presets_are_registered_with_the_published_shapes():
    reg = get_registry()
    assert (
        PRESETS["synthetic-netflix"]["n_users"],
        PRESETS["synthetic-netflix"]["n_items"],
        PRESETS["synthetic-netflix"]["n_ratings"],
    ) == (480_189, 17_770, 100_480_507)
    assert (
        PRESETS["synthetic-ml20m"]["n_users"],
        PRESETS["synthetic-ml20m"]["n_items"],
        PRESETS["synthetic-ml20m"]["n_ratings"],
    ) == (138_493, 26_744, 20_000_263)
    for name in PRESETS:
        assert reg.dataset(name).options == {"rank": 10, "noise": 0.5, "seed": 0, "device": "cpu"}


def test_a_scaled_down_netflix_shape_has_distinct_pairs_and_exact_counts():
    shape = dict(PRESETS["synthetic-netflix"])
    shape.update(n_users=shape["n_users"] // 100, n_ratings=shape["n_ratings"] // 100)
    r, truth = generate(**shape, seed=3)
    assert len(r) == shape["n_ratings"]
    keys = r.pair_keys()
    assert len(np.unique(keys)) == len(keys)
    assert r.users.min() == 0 and np.all(np.diff(r.users) >= 0)  # written user by user
    assert set(np.unique(r.values)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    clean = (
        truth["mu"]
        + truth["user_bias"][r.users]
        + truth["item_bias"][r.items]
        + np.einsum("nk,nk->n", truth["P"][r.users], truth["Q"][r.items])
    )
    np.testing.assert_allclose(truth["clean"], clean, rtol=1e-5, atol=1e-5)


def test_users_who_rate_almost_everything_get_distinct_items():
    r, _ = generate(n_users=30, n_items=50, n_ratings=1400, min_user_ratings=40, seed=1)
    counts = r.user_counts()
    assert counts.max() == 50 and len(np.unique(r.pair_keys())) == 1400


@pytest.mark.realdata
def test_degree_distributions_are_close_to_ml_latest_small(data_dir):
    """Same shape as ml-latest-small: ratings per user and per item have close quantiles and Gini."""
    from mfbench_datasets.movielens import load_ml_latest_small

    real = load_ml_latest_small(None, data_dir).ratings
    syn, _ = generate(n_users=real.n_users, n_items=real.n_items, n_ratings=len(real), seed=0)
    for counts in ("user_counts", "item_counts"):
        a = getattr(real, counts)()
        b = getattr(syn, counts)()
        a, b = a[a > 0], b[b > 0]
        assert abs(_gini(a) - _gini(b)) < 0.06, counts
        for q in (0.1, 0.5, 0.9):
            qa, qb = np.quantile(a, q), np.quantile(b, q)
            assert 0.5 <= (qb + 1) / (qa + 1) <= 2.0, (counts, q, qa, qb)
    assert Dataset("s", syn).describe()["ratings_per_user"]["min"] == 20


def test_the_gpu_generator_keeps_the_shape_and_the_planted_truth(gpu_namespace):
    """``device="gpu"``: distinct pairs in user order, the CPU's degrees and planted factors for
    the seed, ratings on the scale, ``clean`` consistent with the truth, and item popularity
    close to the CPU's."""
    shape = dict(PRESETS["synthetic-netflix"])
    shape.update(n_users=shape["n_users"] // 200, n_ratings=shape["n_ratings"] // 200)
    cpu, cpu_truth = generate(**shape, seed=3)
    gpu, truth = generate(**shape, seed=3, device="gpu")
    assert isinstance(gpu.users, np.ndarray) and len(gpu) == shape["n_ratings"]
    keys = gpu.pair_keys()
    assert len(np.unique(keys)) == len(keys)
    assert np.all(np.diff(gpu.users) >= 0)
    np.testing.assert_array_equal(gpu.user_counts(), cpu.user_counts())
    assert gpu.user_counts().max() == shape["n_items"]  # someone rates the whole catalogue
    for name in ("P", "Q", "user_bias", "item_bias"):
        np.testing.assert_array_equal(truth[name], cpu_truth[name])
    assert set(np.unique(gpu.values)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    clean = (
        truth["mu"]
        + truth["user_bias"][gpu.users]
        + truth["item_bias"][gpu.items]
        + np.einsum("nk,nk->n", truth["P"][gpu.users], truth["Q"][gpu.items])
    )
    np.testing.assert_allclose(truth["clean"], clean, rtol=1e-5, atol=1e-5)
    assert abs(gpu.values.mean() - cpu.values.mean()) < 0.01
    a, b = np.sort(cpu.item_counts())[::-1], np.sort(gpu.item_counts())[::-1]
    assert abs(_gini(a) - _gini(b)) < 0.01
    again, _ = generate(**shape, seed=3, device="gpu")
    np.testing.assert_array_equal(again.items, gpu.items)
    np.testing.assert_array_equal(again.values, gpu.values)


@pytest.mark.parametrize("dense_share", [0.0, 1.0], ids=["exponential-keys", "streams"])
def test_both_ways_of_drawing_distinct_items_sample_without_replacement_by_weight(dense_share):
    """Two items per user out of four weighted ones: how often each item is taken matches the
    exact inclusion probability of weighted sampling without replacement, whether users take
    the first distinct items of a stream or all take exponential keys."""
    w = np.array([0.5, 0.25, 0.15, 0.1])
    n_users = 40_000
    deg = np.full(n_users, 2, np.int64)
    one = np.ones(n_users, np.float32)
    _, items, _, _ = _fill_array(
        np,
        deg,
        np.cumsum(w),
        np.zeros((n_users, 1), np.float32),
        np.zeros((4, 1), np.float32),
        one,
        np.ones(4, np.float32),
        3.0,
        0.0,
        1.0,
        1.0,
        5.0,
        seed=1,
        dense_share=dense_share,
        chunk=1 << 16,
    )
    pairs = items.reshape(n_users, 2)
    assert (pairs[:, 0] != pairs[:, 1]).all()
    exact = np.array([w[i] + sum(w[j] * w[i] / (1 - w[j]) for j in range(4) if j != i) for i in range(4)])
    freq = np.bincount(items, minlength=4) / n_users
    sd = np.sqrt(exact * (1 - exact) / n_users)
    assert (np.abs(freq - exact) < 4 * sd).all(), (freq, exact)
